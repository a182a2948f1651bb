/*
 * ioeventfd: a guest write to a port or MMIO address signals an eventfd
 * inside KVM, with no exit to userspace (KVM_IOEVENTFD). Options are checked
 * here so that a mistake gets a message naming the field, rather than KVM's
 * bare EINVAL.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include <kvmhost/events.h>

#include "../core/internal.h"
#include "../kvm/kvm_internal.h"

static const char *kh_space_name(enum kvmhost_io_space space)
{
	return space == KVMHOST_IO_SPACE_PIO ? "PIO" : "MMIO";
}

/* Check @o and fill @k (everything but the DEASSIGN flag). */
static int kh_ioeventfd_prepare(const char *func, const struct kvmhost_vm *vm,
				const struct kvmhost_ioeventfd_options *o, struct kvm_ioeventfd *k)
{
	uint64_t last;

	if (o->space != KVMHOST_IO_SPACE_PIO && o->space != KVMHOST_IO_SPACE_MMIO)
		return kh_fail(EINVAL, func, "%s: unknown address space %d", vm->name, (int)o->space);
	if (o->len != 0 && o->len != 1 && o->len != 2 && o->len != 4 && o->len != 8)
		return kh_fail(EINVAL, func, "%s: length %u is not 0, 1, 2, 4 or 8", vm->name, o->len);
	if (o->len == 0 && o->space != KVMHOST_IO_SPACE_MMIO)
		return kh_fail(EINVAL, func, "%s: length 0 (any access size) is only allowed for MMIO", vm->name);
	if (o->fd < 0)
		return kh_fail(EINVAL, func, "%s: eventfd %d is negative", vm->name, o->fd);
	if (o->datamatch) {
		if (o->len == 0)
			return kh_fail(EINVAL, func, "%s: datamatch needs a length (1, 2, 4 or 8)", vm->name);
		if (o->len < 8 && (o->datamatch_value >> (8 * o->len)) != 0)
			return kh_fail(EINVAL, func, "%s: datamatch value 0x%llx does not fit in %u bytes", vm->name,
				       (unsigned long long)o->datamatch_value, o->len);
	} else if (o->datamatch_value) {
		return kh_fail(EINVAL, func, "%s: datamatch_value 0x%llx set without datamatch", vm->name,
			       (unsigned long long)o->datamatch_value);
	}
	if (kh_add_overflows(o->addr, o->len ? o->len - 1 : 0, &last))
		return kh_fail(EINVAL, func, "%s: %s address 0x%llx + %u wraps", vm->name, kh_space_name(o->space),
			       (unsigned long long)o->addr, o->len);
	if (o->space == KVMHOST_IO_SPACE_PIO && last > 0xffff)
		return kh_fail(EINVAL, func, "%s: port 0x%llx (length %u) is beyond 0xffff", vm->name,
			       (unsigned long long)o->addr, o->len);

	memset(k, 0, sizeof(*k));
	k->addr = o->addr;
	k->len = o->len;
	k->fd = o->fd;
	if (o->space == KVMHOST_IO_SPACE_PIO)
		k->flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (o->datamatch) {
		k->flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		k->datamatch = o->datamatch_value;
	}
	return 0;
}

/* "PIO 0x510 len 2 datamatch 0x1234 fd 7", for messages. */
static void kh_ioeventfd_describe(const struct kvmhost_ioeventfd_options *o, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s 0x%llx len %u", kh_space_name(o->space), (unsigned long long)o->addr, o->len);

	if (o->datamatch && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " datamatch 0x%llx", (unsigned long long)o->datamatch_value);
	if (n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " fd %d", o->fd);
}

KVMHOST_API int kvmhost_vm_add_ioeventfd(struct kvmhost_vm *vm, const struct kvmhost_ioeventfd_options *opts)
{
	struct kvmhost_ioeventfd_options o;
	struct kvm_ioeventfd k;
	char what[128];
	int r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (!opts)
		return KH_FAIL(EINVAL, "%s: opts is NULL", vm->name);
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	r = kh_ioeventfd_prepare(__func__, vm, &o, &k);
	if (r < 0)
		return r;
	kh_ioeventfd_describe(&o, what, sizeof(what));
	if (ioctl(vm->fd, KVM_IOEVENTFD, &k) < 0) {
		if (errno == EEXIST)
			return KH_FAIL(EEXIST,
				       "%s: an ioeventfd for %s already exists (same address, length and "
				       "datamatch; remove it first)",
				       vm->name, what);
		if (errno == ENOSPC)
			return KH_FAIL(ENOSPC, "%s: KVM_IOEVENTFD(%s): KVM's I/O bus is full", vm->name, what);
		return KH_FAIL_ERRNO("%s: KVM_IOEVENTFD(%s) failed", vm->name, what);
	}
	kh_log(KVMHOST_LOG_DEBUG, "%s: ioeventfd added: %s", vm->name, what);
	return 0;
}

KVMHOST_API int kvmhost_vm_remove_ioeventfd(struct kvmhost_vm *vm, const struct kvmhost_ioeventfd_options *opts)
{
	struct kvmhost_ioeventfd_options o;
	struct kvm_ioeventfd k;
	char what[128];
	int r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (!opts)
		return KH_FAIL(EINVAL, "%s: opts is NULL", vm->name);
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	r = kh_ioeventfd_prepare(__func__, vm, &o, &k);
	if (r < 0)
		return r;
	k.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	kh_ioeventfd_describe(&o, what, sizeof(what));
	if (ioctl(vm->fd, KVM_IOEVENTFD, &k) < 0) {
		if (errno == ENOENT)
			return KH_FAIL(ENOENT, "%s: no ioeventfd %s is registered", vm->name, what);
		return KH_FAIL_ERRNO("%s: KVM_IOEVENTFD(deassign %s) failed", vm->name, what);
	}
	kh_log(KVMHOST_LOG_DEBUG, "%s: ioeventfd removed: %s", vm->name, what);
	return 0;
}

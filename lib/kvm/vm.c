/*
 * VM objects: creation and teardown, VM capabilities, and interrupt delivery
 * that is common to all architectures (IRQ lines, MSIs, GSI routing).
 * x86-only VM calls live in lib/arch/x86/vm_x86.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "kvm_internal.h"

static atomic_uint kh_vm_counter;

void kh_vm_attach_child(struct kvmhost_vm *vm, struct kh_vm_child *child)
{
	pthread_mutex_lock(&vm->lock);
	child->next = vm->children.next;
	child->prev = &vm->children;
	vm->children.next->prev = child;
	vm->children.next = child;
	pthread_mutex_unlock(&vm->lock);
}

void kh_vm_detach_child(struct kvmhost_vm *vm, struct kh_vm_child *child)
{
	pthread_mutex_lock(&vm->lock);
	child->prev->next = child->next;
	child->next->prev = child->prev;
	child->next = child->prev = child;
	pthread_mutex_unlock(&vm->lock);
}

/* Turn on what the library relies on when KVM offers it. */
static void kh_vm_enable_defaults(struct kvmhost_vm *vm)
{
	struct kvm_enable_cap cap;
	int r;

	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (r > 0) {
		memset(&cap, 0, sizeof(cap));
		cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) == 0)
			vm->manual_dirty_protect = 1;
	}
#ifdef KVM_CAP_EXIT_ON_EMULATION_FAILURE
	/* Lets KVM report the bytes of an instruction it failed to emulate. */
	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_ON_EMULATION_FAILURE);
	if (r > 0) {
		memset(&cap, 0, sizeof(cap));
		cap.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE;
		cap.args[0] = 1;
		(void)ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
	}
#endif
}

KVMHOST_API int kvmhost_vm_create(struct kvmhost_system *sys, const struct kvmhost_vm_options *opts,
				  struct kvmhost_vm **out)
{
	struct kvmhost_vm_options o;
	struct kvmhost_vm *vm;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return KH_FAIL(ENOMEM, "cannot allocate a VM");
	vm->sys = sys;
	vm->children.next = vm->children.prev = &vm->children;
	pthread_mutex_init(&vm->lock, NULL);
	if (o.name && o.name[0])
		snprintf(vm->name, sizeof(vm->name), "%s", o.name);
	else
		snprintf(vm->name, sizeof(vm->name), "vm%u", atomic_fetch_add(&kh_vm_counter, 1));

	vm->fd = (int)KH_RETRY_EINTR(ioctl(sys->fd, KVM_CREATE_VM, o.type));
	if (vm->fd < 0) {
		r = KH_FAIL_ERRNO("%s: KVM_CREATE_VM (type %lu) failed", vm->name, o.type);
		goto fail;
	}
	r = kh_memory_new(&vm->mem, vm->name, sys->max_memslots);
	if (r < 0)
		goto fail_fd;
	kh_vm_enable_defaults(vm);
	kh_log(KVMHOST_LOG_INFO, "%s: created (fd %d)", vm->name, vm->fd);
	*out = vm;
	return 0;
fail_fd:
	close(vm->fd);
fail:
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return r;
}

KVMHOST_API void kvmhost_vm_destroy(struct kvmhost_vm *vm)
{
	if (!vm)
		return;
	/* Children (vCPUs, slot bookkeeping) go first, newest first. */
	for (;;) {
		struct kh_vm_child *c;

		pthread_mutex_lock(&vm->lock);
		c = vm->children.next;
		if (c == &vm->children) {
			pthread_mutex_unlock(&vm->lock);
			break;
		}
		c->prev->next = c->next;
		c->next->prev = c->prev;
		c->next = c->prev = c;
		pthread_mutex_unlock(&vm->lock);
		c->destroy(c);
	}
	/* Closing the VM fd drops KVM's slots, ioeventfds and irqfds; the memory
	 * is unmapped only after that. */
	close(vm->fd);
	kh_memory_free(vm->mem);
	kh_log(KVMHOST_LOG_INFO, "%s: destroyed", vm->name);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

KVMHOST_API int kvmhost_vm_fd(const struct kvmhost_vm *vm)
{
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	return vm->fd;
}

KVMHOST_API struct kvmhost_system *kvmhost_vm_system(const struct kvmhost_vm *vm)
{
	if (!vm) {
		KH_FAIL(EINVAL, "vm is NULL");
		return NULL;
	}
	return vm->sys;
}

KVMHOST_API const char *kvmhost_vm_name(const struct kvmhost_vm *vm)
{
	return vm ? vm->name : "(null)";
}

KVMHOST_API int kvmhost_vm_check_extension(struct kvmhost_vm *vm, long cap)
{
	int r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (cap < 0)
		return KH_FAIL(EINVAL, "capability %ld is negative", cap);
	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, cap);
	if (r < 0)
		return KH_FAIL_ERRNO("%s: KVM_CHECK_EXTENSION(%ld) failed", vm->name, cap);
	return r;
}

KVMHOST_API int kvmhost_vm_enable_cap(struct kvmhost_vm *vm, uint32_t cap, const uint64_t *args)
{
	struct kvm_enable_cap ec;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	memset(&ec, 0, sizeof(ec));
	ec.cap = cap;
	if (args)
		memcpy(ec.args, args, 4 * sizeof(uint64_t));
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &ec) < 0)
		return KH_FAIL_ERRNO("%s: KVM_ENABLE_CAP(%u) failed", vm->name, cap);
	return 0;
}

KVMHOST_API int kvmhost_vm_set_irq_line(struct kvmhost_vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (level != 0 && level != 1)
		return KH_FAIL(EINVAL, "%s: level %d is not 0 or 1", vm->name, level);
	irq.irq = gsi;
	irq.level = (uint32_t)level;
	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		return KH_FAIL_ERRNO("%s: KVM_IRQ_LINE(gsi %u, %d) failed", vm->name, gsi, level);
	return 0;
}

KVMHOST_API int kvmhost_vm_signal_msi(struct kvmhost_vm *vm, uint64_t address, uint32_t data, uint32_t devid,
				      uint32_t flags)
{
	struct kvm_msi msi;
	int r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (flags & ~(uint32_t)KVM_MSI_VALID_DEVID)
		return KH_FAIL(EINVAL, "%s: unknown MSI flags 0x%x", vm->name, flags);
	memset(&msi, 0, sizeof(msi));
	msi.address_lo = (uint32_t)address;
	msi.address_hi = (uint32_t)(address >> 32);
	msi.data = data;
	msi.flags = flags;
	msi.devid = devid;
	r = ioctl(vm->fd, KVM_SIGNAL_MSI, &msi);
	if (r < 0)
		return KH_FAIL_ERRNO("%s: KVM_SIGNAL_MSI(0x%llx, 0x%x) failed", vm->name, (unsigned long long)address,
				     data);
	if (r == 0)
		return KH_FAIL(ECANCELED, "%s: MSI 0x%llx/0x%x was blocked by the guest", vm->name,
			       (unsigned long long)address, data);
	return 0;
}

KVMHOST_API int kvmhost_vm_set_gsi_routing(struct kvmhost_vm *vm, const struct kvm_irq_routing_entry *entries,
					   uint32_t count)
{
	struct kvm_irq_routing *table;
	int max, r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (count && !entries)
		return KH_FAIL(EINVAL, "%s: entries is NULL with count %u", vm->name, count);
	max = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	if (max <= 0)
		return KH_FAIL(ENOTSUP, "%s: KVM has no IRQ routing", vm->name);
	if (count > (uint32_t)max)
		return KH_FAIL(EINVAL, "%s: %u routing entries, KVM allows %d", vm->name, count, max);
	table = calloc(1, sizeof(*table) + (size_t)count * sizeof(*entries));
	if (!table)
		return KH_FAIL(ENOMEM, "%s: cannot allocate a routing table", vm->name);
	table->nr = count;
	if (count)
		memcpy(table->entries, entries, (size_t)count * sizeof(*entries));
	pthread_mutex_lock(&vm->lock);
	r = ioctl(vm->fd, KVM_SET_GSI_ROUTING, table);
	if (r < 0)
		r = KH_FAIL_ERRNO("%s: KVM_SET_GSI_ROUTING (%u entries) failed", vm->name, count);
	pthread_mutex_unlock(&vm->lock);
	free(table);
	return r < 0 ? r : 0;
}

KVMHOST_API int kvmhost_vm_create_device(struct kvmhost_vm *vm, uint32_t type, uint32_t flags, int *fd)
{
	struct kvm_create_device cd;

	if (!vm || !fd)
		return KH_FAIL(EINVAL, "vm or fd is NULL");
	if (flags & ~(uint32_t)KVM_CREATE_DEVICE_TEST)
		return KH_FAIL(EINVAL, "%s: unknown KVM_CREATE_DEVICE flags 0x%x", vm->name, flags);
	memset(&cd, 0, sizeof(cd));
	cd.type = type;
	cd.flags = flags;
	if (ioctl(vm->fd, KVM_CREATE_DEVICE, &cd) < 0)
		return KH_FAIL_ERRNO("%s: KVM_CREATE_DEVICE(type %u) failed", vm->name, type);
	*fd = (flags & KVM_CREATE_DEVICE_TEST) ? -1 : (int)cd.fd;
	return 0;
}

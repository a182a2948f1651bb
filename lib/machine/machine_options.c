/*
 * A machine's options as the library keeps them (struct kh_machine_config):
 * the caller's struct copied under the size rule, each array element under
 * the same rule with the caller's element size, strings copied, and every
 * value checked before anything is built. The architecture's own options are
 * checked by its half (kh_machine_arch_check()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "machine_internal.h"

int kh_copy_element(void *dst, size_t dst_size, const void *src, size_t src_size, size_t min_size, const char *what,
		    uint32_t index, const char *func)
{
	memset(dst, 0, dst_size);
	if (src_size < min_size || src_size > 65536)
		return kh_fail(EINVAL, func, "%s[%u]: element size %zu, want sizeof(the element) (%zu here)", what,
			       index, src_size, dst_size);
	for (size_t i = dst_size; i < src_size; i++)
		if (((const unsigned char *)src)[i])
			return kh_fail(E2BIG, func,
				       "%s[%u]: the element of %zu bytes sets fields (byte %zu) this library "
				       "(%zu bytes) does not know",
				       what, index, src_size, i, dst_size);
	memcpy(dst, src, KH_MIN(src_size, dst_size));
	return 0;
}

static int check_name(const char *s, const char *what, const char *func)
{
	size_t n = strlen(s);

	if (n == 0 || n > KVMHOST_MACHINE_NAME_MAX)
		return kh_fail(EINVAL, func, "%s \"%.40s\": want 1 to %u characters", what, s,
			       KVMHOST_MACHINE_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return kh_fail(EINVAL, func, "%s \"%s\": only printable characters without spaces", what, s);
	return 0;
}

static int dup_str(char **dst, const char *src, const char *what, const char *func)
{
	if (!src)
		return 0;
	if (strnlen(src, 65536) == 65536)
		return kh_fail(EINVAL, func, "%s is longer than 64 KiB", what);
	*dst = strdup(src);
	return *dst ? 0 : kh_fail(ENOMEM, func, "cannot copy %s", what);
}

static const char *const type_names[] = {NULL, "blk", "net", "console", "rng", "custom"};

static int load_device(struct kh_machine_config *c, const struct kvmhost_machine_options *o, uint32_t i,
		       const char *func)
{
	struct kvmhost_machine_device e;
	struct kh_mdevice *d = &c->devices[i];
	const void *src = (const char *)o->devices + (size_t)i * o->device_size;
	int r = kh_copy_element(&e, sizeof(e), src, o->device_size, offsetof(struct kvmhost_machine_device, id),
				"devices", i, func);

	if (r < 0)
		return r;
	d->in_fd = d->out_fd = -1;
	if (e.type < KVMHOST_MACHINE_DEVICE_BLK || e.type > KVMHOST_MACHINE_DEVICE_CUSTOM)
		return kh_fail(EINVAL, func, "devices[%u]: unknown type %u", i, e.type);
	d->type = e.type;
	if (e.flags & ~(KVMHOST_MACHINE_DEVICE_READONLY | KVMHOST_MACHINE_DEVICE_SOCKET) ||
	    ((e.flags & KVMHOST_MACHINE_DEVICE_READONLY) && e.type != KVMHOST_MACHINE_DEVICE_BLK) ||
	    ((e.flags & KVMHOST_MACHINE_DEVICE_SOCKET) && (e.type != KVMHOST_MACHINE_DEVICE_CONSOLE || !e.path)))
		return kh_fail(EINVAL, func, "devices[%u] (%s): unknown or misplaced flags 0x%x", i, type_names[e.type],
			       e.flags);
	d->flags = e.flags;
	if (e.id) {
		if ((r = check_name(e.id, "device id", func)) < 0)
			return r;
		snprintf(d->id, sizeof(d->id), "%s", e.id);
	} else {
		snprintf(d->id, sizeof(d->id), "%s%u", type_names[e.type], i);
	}
	for (uint32_t k = 0; k < i; k++)
		if (!strcmp(c->devices[k].id, d->id))
			return kh_fail(EINVAL, func, "devices[%u]: id \"%s\" is also devices[%u]'s", i, d->id, k);
	switch (e.type) {
	case KVMHOST_MACHINE_DEVICE_BLK:
		if (!e.path || !*e.path)
			return kh_fail(EINVAL, func, "devices[%u] (%s): a block device needs path (the image)", i,
				       d->id);
		break;
	case KVMHOST_MACHINE_DEVICE_NET:
		if (e.path && (!*e.path || strlen(e.path) > 15))
			return kh_fail(EINVAL, func, "devices[%u] (%s): TAP name \"%.20s\": 1 to 15 characters", i,
				       d->id, e.path);
		if (!e.path && e.in_fd < 0)
			return kh_fail(EINVAL, func, "devices[%u] (%s): a net device needs path (a TAP name) or in_fd",
				       i, d->id);
		if (e.mac[0] & 1)
			return kh_fail(EINVAL, func, "devices[%u] (%s): mac %02x:...: a multicast address", i, d->id,
				       e.mac[0]);
		break;
	case KVMHOST_MACHINE_DEVICE_CONSOLE:
		if (e.path && !*e.path)
			return kh_fail(EINVAL, func, "devices[%u] (%s): path is empty", i, d->id);
		if (e.path && (e.in_fd >= 0 || e.out_fd >= 0))
			return kh_fail(EINVAL, func,
				       "devices[%u] (%s): a console on path takes no fds (set them to -1)", i, d->id);
		break;
	case KVMHOST_MACHINE_DEVICE_CUSTOM:
		if (!e.ops)
			return kh_fail(EINVAL, func, "devices[%u] (%s): a custom device needs ops", i, d->id);
		if ((r = kh_copy_options(&d->ops, sizeof(d->ops), e.ops, func)) < 0)
			return r;
		if (!d->ops.create || !d->ops.destroy || !d->ops.pause != !d->ops.resume)
			return kh_fail(EINVAL, func,
				       "devices[%u] (%s): ops needs create and destroy, and pause with resume", i,
				       d->id);
		break;
	default:
		break;
	}
	if (e.type != KVMHOST_MACHINE_DEVICE_BLK && e.type != KVMHOST_MACHINE_DEVICE_NET &&
	    e.type != KVMHOST_MACHINE_DEVICE_CONSOLE && e.path)
		return kh_fail(EINVAL, func, "devices[%u] (%s): path is for blk, net and console", i, d->id);
	if (e.type != KVMHOST_MACHINE_DEVICE_CUSTOM && (e.ops || e.opaque))
		return kh_fail(EINVAL, func, "devices[%u] (%s): ops and opaque are for custom devices", i, d->id);
	if (e.num_queues && e.type != KVMHOST_MACHINE_DEVICE_BLK)
		return kh_fail(EINVAL, func, "devices[%u] (%s): num_queues is for blk", i, d->id);
	if (e.type == KVMHOST_MACHINE_DEVICE_CONSOLE || e.type == KVMHOST_MACHINE_DEVICE_NET)
		d->in_fd = e.in_fd;
	if (e.type == KVMHOST_MACHINE_DEVICE_CONSOLE)
		d->out_fd = e.out_fd;
	if (e.type != KVMHOST_MACHINE_DEVICE_NET && memcmp(e.mac, "\0\0\0\0\0\0", 6))
		return kh_fail(EINVAL, func, "devices[%u] (%s): mac is for net", i, d->id);
	memcpy(d->mac, e.mac, 6);
	d->num_queues = e.num_queues;
	d->opaque = e.opaque;
	return dup_str(&d->path, e.path, "a device path", func);
}

static int load_vcpus(struct kh_machine_config *c, const struct kvmhost_machine_options *o, const char *func)
{
	c->vcpus = calloc(c->vcpu_count, sizeof(*c->vcpus));
	if (!c->vcpus)
		return kh_fail(ENOMEM, func, "cannot allocate the vCPU settings");
	if (!o->vcpus) {
		if (o->vcpu_size)
			return kh_fail(EINVAL, func, "vcpu_size %zu without vcpus", o->vcpu_size);
		return 0;
	}
	for (uint32_t i = 0; i < c->vcpu_count; i++) {
		struct kvmhost_machine_vcpu e;
		const void *src = (const char *)o->vcpus + (size_t)i * o->vcpu_size;
		int r = kh_copy_element(&e, sizeof(e), src, o->vcpu_size, sizeof(void *), "vcpus", i, func);

		if (r < 0)
			return r;
		if (!e.affinity != !e.affinity_size || e.affinity_size > 8192)
			return kh_fail(EINVAL, func, "vcpus[%u]: affinity_size %zu: want 1 to 8192 with an affinity", i,
				       e.affinity_size);
		if (e.affinity) {
			if (!(c->vcpus[i].affinity = malloc(e.affinity_size)))
				return kh_fail(ENOMEM, func, "cannot copy vcpus[%u].affinity", i);
			memcpy(c->vcpus[i].affinity, e.affinity, e.affinity_size);
			c->vcpus[i].affinity_size = e.affinity_size;
		}
	}
	return 0;
}

static int load_ram(struct kh_machine_config *c, const struct kvmhost_machine_options *o, const char *func)
{
	const uint32_t known = KVMHOST_MACHINE_RAM_SHARED | KVMHOST_MACHINE_RAM_THP | KVMHOST_MACHINE_RAM_PREFAULT |
			       KVMHOST_MACHINE_RAM_LOG_DIRTY;

	if (o->ram_size < (2u << 20) || o->ram_size % 4096)
		return kh_fail(EINVAL, func, "ram_size %llu: want 2 MiB or more, in whole 4 KiB pages",
			       (unsigned long long)o->ram_size);
	if (o->ram_backing > KVMHOST_MACHINE_RAM_FILE)
		return kh_fail(EINVAL, func, "ram_backing %u is unknown", o->ram_backing);
	if (o->ram_flags & ~known)
		return kh_fail(EINVAL, func, "ram_flags 0x%x has unknown bits 0x%x", o->ram_flags,
			       o->ram_flags & ~known);
	if ((o->ram_backing == KVMHOST_MACHINE_RAM_FILE) != (o->ram_path != NULL))
		return kh_fail(EINVAL, func, "ram_path is for (and required by) KVMHOST_MACHINE_RAM_FILE");
	if (o->ram_backing == KVMHOST_MACHINE_RAM_FILE && !(o->ram_flags & KVMHOST_MACHINE_RAM_SHARED))
		return kh_fail(ENOTSUP, func,
			       "a RAM file is mapped shared: set KVMHOST_MACHINE_RAM_SHARED (private file RAM "
			       "is not offered)");
	if (o->hugepage_size && (o->ram_backing != KVMHOST_MACHINE_RAM_HUGETLB ||
				 (o->hugepage_size != (2u << 20) && o->hugepage_size != (1u << 30))))
		return kh_fail(EINVAL, func,
			       "hugepage_size %llu: 2 MiB or 1 GiB, with KVMHOST_MACHINE_RAM_HUGETLB only",
			       (unsigned long long)o->hugepage_size);
	if (o->ram_backing == KVMHOST_MACHINE_RAM_HUGETLB && (o->ram_flags & KVMHOST_MACHINE_RAM_THP))
		return kh_fail(EINVAL, func, "KVMHOST_MACHINE_RAM_THP does not go with hugetlbfs RAM");
	c->ram_size = o->ram_size;
	c->ram_backing = o->ram_backing;
	c->ram_flags = o->ram_flags;
	c->hugepage_size = o->hugepage_size;
	return dup_str(&c->ram_path, o->ram_path, "ram_path", func);
}

static int load_kernel(struct kh_machine_config *c, const struct kvmhost_machine_options *o, const char *func)
{
	int r;

	if (!o->kernel_path == !o->kernel)
		return kh_fail(EINVAL, func, "give the kernel as kernel_path or as the kernel buffer (one of the two)");
	if (o->kernel && !o->kernel_size)
		return kh_fail(EINVAL, func, "kernel_size is 0");
	if (!o->kernel && o->kernel_size)
		return kh_fail(EINVAL, func, "kernel_size without a kernel buffer");
	if (o->initrd_path && o->initrd)
		return kh_fail(EINVAL, func, "give the initrd as initrd_path or as the initrd buffer, not both");
	if (!o->initrd != !o->initrd_size)
		return kh_fail(EINVAL, func, "initrd and initrd_size go together");
	c->kernel = o->kernel;
	c->kernel_size = o->kernel_size;
	c->kernel_format = o->kernel_format;
	c->initrd = o->initrd;
	c->initrd_size = o->initrd_size;
	if ((r = dup_str(&c->kernel_path, o->kernel_path, "kernel_path", func)) < 0 ||
	    (r = dup_str(&c->initrd_path, o->initrd_path, "initrd_path", func)) < 0)
		return r;
	return dup_str(&c->cmdline, o->cmdline, "cmdline", func);
}

int kh_machine_config_load(struct kh_machine_config *c, const struct kvmhost_machine_options *opts, const char *func)
{
	struct kvmhost_machine_options o;
	int r;

	memset(c, 0, sizeof(*c));
	c->func = func;
	c->serial_in_fd = c->serial_out_fd = -1;
	if (!opts)
		return kh_fail(EINVAL, func, "opts is NULL: a machine needs at least a kernel and its RAM size");
	if ((r = kh_copy_options(&o, sizeof(o), opts, func)) < 0)
		return r;
	if (o.name && (r = check_name(o.name, "name", func)) < 0)
		return r;
	snprintf(c->name, sizeof(c->name), "%s", o.name ? o.name : "machine");
	if ((r = load_kernel(c, &o, func)) < 0 || (r = load_ram(c, &o, func)) < 0)
		return r;
	if (o.vcpu_count < 1 || o.vcpu_count > KVMHOST_MACHINE_MAX_VCPUS)
		return kh_fail(EINVAL, func, "vcpu_count %u: want 1 to %u", o.vcpu_count, KVMHOST_MACHINE_MAX_VCPUS);
	c->vcpu_count = o.vcpu_count;
	if (o.flags & ~(KVMHOST_MACHINE_EXTERNAL_IO | KVMHOST_MACHINE_INCOMING))
		return kh_fail(EINVAL, func, "flags 0x%x has unknown bits", o.flags);
	c->flags = o.flags;
	if ((r = load_vcpus(c, &o, func)) < 0)
		return r;
	if (o.serial) {
		struct kvmhost_machine_serial s;

		if ((r = kh_copy_options(&s, sizeof(s), o.serial, func)) < 0)
			return r;
		if (s.size < offsetof(struct kvmhost_machine_serial, out_fd) + sizeof(int))
			return kh_fail(EINVAL, func, "serial->size %zu: too small for its fds", o.serial->size);
		c->has_serial = 1;
		c->serial_in_fd = s.in_fd < 0 ? -1 : s.in_fd;
		c->serial_out_fd = s.out_fd < 0 ? -1 : s.out_fd;
	}
	if (o.device_count > KVMHOST_MACHINE_MAX_DEVICES)
		return kh_fail(EINVAL, func, "device_count %u: at most %u", o.device_count,
			       KVMHOST_MACHINE_MAX_DEVICES);
	if (o.device_count && !o.devices)
		return kh_fail(EINVAL, func, "device_count %u with devices NULL", o.device_count);
	if (o.transport > KVMHOST_MACHINE_TRANSPORT_MMIO_CMDLINE)
		return kh_fail(EINVAL, func, "transport %u is unknown", o.transport);
	c->transport = o.transport;
	if (o.device_count) {
		if (!(c->devices = calloc(o.device_count, sizeof(*c->devices))))
			return kh_fail(ENOMEM, func, "cannot allocate the devices");
		for (uint32_t i = 0; i < o.device_count; i++) {
			c->device_count = i + 1; /* so that config_free frees what was copied */
			if ((r = load_device(c, &o, i, func)) < 0)
				return r;
		}
	}
	if (o.on_reset > KVMHOST_MACHINE_RESET_REBOOT)
		return kh_fail(EINVAL, func, "on_reset %u is unknown", o.on_reset);
	c->on_reset = o.on_reset;
	if (!o.on_event && o.event_opaque)
		return kh_fail(EINVAL, func, "event_opaque without on_event");
	c->on_event = o.on_event;
	c->event_opaque = o.event_opaque;
	c->arch_options = o.arch_options;
	return 0;
}

void kh_machine_config_free(struct kh_machine_config *c)
{
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->cmdline);
	free(c->ram_path);
	for (uint32_t i = 0; c->vcpus && i < c->vcpu_count; i++)
		free(c->vcpus[i].affinity);
	free(c->vcpus);
	for (uint32_t i = 0; c->devices && i < c->device_count; i++)
		free(c->devices[i].path);
	free(c->devices);
	memset(c, 0, sizeof(*c));
}

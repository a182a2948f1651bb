/*
 * The arm64 in-kernel interrupt controller (include/kvmhost/arm64.h): a GICv3 made with KVM_CREATE_DEVICE
 * (KVM_DEV_TYPE_ARM_VGIC_V3), its distributor and redistributor addresses and interrupt count as device
 * attributes, an optional ITS (KVM_DEV_TYPE_ARM_VGIC_ITS), the init after the vCPUs exist, and SPI levels by
 * KVM_IRQ_LINE in arm64's encoding. irqfds and GSI routing need nothing here: KVM's vGIC init installs the
 * routing GSI n -> SPI n, and lib/events/irqfd.c and kvmhost_vm_set_gsi_routing() are arch-neutral.
 * Built on arm64 only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/kvm_internal.h"
#include <kvmhost/arm64.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/vm.h>

#include "gic_internal.h" /* struct kvmhost_arm64_gic */

struct kh_gic_line {
	struct kh_gic_line *next;
	struct kvmhost_arm64_gic *gic;
	uint32_t spi;
};

/* The VM's vGIC (struct kvmhost_vm's arch_irqchip), for the VM-level state save (migration_arm64.c). */
struct kvmhost_arm64_gic *kh_gic_of_vm(struct kvmhost_vm *vm)
{
	struct kvmhost_arm64_gic *g;

	pthread_mutex_lock(&vm->lock);
	g = vm->arch_irqchip;
	pthread_mutex_unlock(&vm->lock);
	return g;
}

static void gic_unlist(struct kvmhost_arm64_gic *gic)
{
	pthread_mutex_lock(&gic->vm->lock);
	if (gic->vm->arch_irqchip == gic)
		gic->vm->arch_irqchip = NULL;
	pthread_mutex_unlock(&gic->vm->lock);
}

static int kh_gic_set_attr(int fd, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a;

	memset(&a, 0, sizeof(a));
	a.group = group;
	a.attr = attr;
	a.addr = (uint64_t)(uintptr_t)value;
	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

/* A region [base, base + size) that is non-zero, 64 KiB aligned and does not wrap. */
static int kh_gic_region_ok(uint64_t base, uint64_t size)
{
	uint64_t end;

	return base && !(base & 0xffff) && !kh_add_overflows(base, size, &end);
}

static int kh_gic_overlap(uint64_t a, uint64_t asize, uint64_t b, uint64_t bsize)
{
	return a < b + bsize && b < a + asize;
}

KVMHOST_API int kvmhost_arm64_gic_create(struct kvmhost_vm *vm, const struct kvmhost_arm64_gic_options *opts,
					 struct kvmhost_arm64_gic **out)
{
	struct kvmhost_arm64_gic_options o;
	struct kvmhost_arm64_gic *gic;
	uint64_t redist_size;
	uint32_t nr_irqs;
	int r, vcpus;

	if (out)
		*out = NULL;
	if (!vm || !opts || !out)
		return KH_FAIL(EINVAL, "vm, opts or out is NULL");
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (o.flags)
		return KH_FAIL(EINVAL, "%s: unknown GIC flags 0x%x", vm->name, o.flags);
	if (o.nr_spis > KVMHOST_ARM64_GIC_MAX_SPIS)
		return KH_FAIL(EINVAL, "%s: %u SPIs, at most %u", vm->name, o.nr_spis, KVMHOST_ARM64_GIC_MAX_SPIS);
	if (!o.nr_spis)
		o.nr_spis = KVMHOST_ARM64_GIC_DEFAULT_SPIS;
	/* KVM wants the total (32 private + SPIs) in multiples of 32, at most 1024 (INTIDs 1020-1023 special). */
	nr_irqs = (32u + o.nr_spis + 31u) & ~31u;
	if (nr_irqs > 1024u)
		nr_irqs = 1024u;
	/* The redistributor region's size is known when the vCPUs are: check it for the vCPUs so far, and 1. */
	pthread_mutex_lock(&vm->lock);
	vcpus = vm->vcpu_count;
	pthread_mutex_unlock(&vm->lock);
	redist_size = KVMHOST_ARM64_GICR_CPU_SIZE * (uint64_t)(vcpus > 1 ? vcpus : 1);
	if (!kh_gic_region_ok(o.dist_base, KVMHOST_ARM64_GICD_SIZE))
		return KH_FAIL(EINVAL, "%s: distributor base 0x%llx: zero, not 64 KiB aligned or wrapping", vm->name,
			       (unsigned long long)o.dist_base);
	if (!kh_gic_region_ok(o.redist_base, redist_size))
		return KH_FAIL(EINVAL, "%s: redistributor base 0x%llx: zero, not 64 KiB aligned or wrapping", vm->name,
			       (unsigned long long)o.redist_base);
	if (o.its_base && !kh_gic_region_ok(o.its_base, KVMHOST_ARM64_GIC_ITS_SIZE))
		return KH_FAIL(EINVAL, "%s: ITS base 0x%llx: not 64 KiB aligned or wrapping", vm->name,
			       (unsigned long long)o.its_base);
	if (kh_gic_overlap(o.dist_base, KVMHOST_ARM64_GICD_SIZE, o.redist_base, redist_size) ||
	    (o.its_base &&
	     (kh_gic_overlap(o.its_base, KVMHOST_ARM64_GIC_ITS_SIZE, o.dist_base, KVMHOST_ARM64_GICD_SIZE) ||
	      kh_gic_overlap(o.its_base, KVMHOST_ARM64_GIC_ITS_SIZE, o.redist_base, redist_size))))
		return KH_FAIL(EINVAL, "%s: the GIC's distributor, redistributor and ITS regions overlap", vm->name);

	gic = calloc(1, sizeof(*gic));
	if (!gic)
		return KH_FAIL(ENOMEM, "%s: no memory for the GIC", vm->name);
	gic->vm = vm;
	gic->fd = -1;
	gic->its_fd = -1;
	gic->nr_spis = nr_irqs - 32u;
	r = kvmhost_vm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3, 0, &gic->fd);
	if (r < 0) {
		if (r == -ENODEV)
			r = KH_FAIL(ENOTSUP, "%s: KVM has no GICv3 emulation (KVM_DEV_TYPE_ARM_VGIC_V3: ENODEV)",
				    vm->name);
		else if (r == -EEXIST)
			r = KH_FAIL(EEXIST, "%s: the VM has a vGIC already", vm->name);
		goto fail;
	}
	if (kh_gic_set_attr(gic->fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs) < 0) {
		r = KH_FAIL_ERRNO("%s: vGIC: KVM_DEV_ARM_VGIC_GRP_NR_IRQS(%u) failed", vm->name, nr_irqs);
		goto fail;
	}
	if (kh_gic_set_attr(gic->fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &o.dist_base) < 0) {
		r = KH_FAIL_ERRNO("%s: vGIC: distributor address 0x%llx refused", vm->name,
				  (unsigned long long)o.dist_base);
		goto fail;
	}
	if (kh_gic_set_attr(gic->fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &o.redist_base) < 0) {
		r = KH_FAIL_ERRNO("%s: vGIC: redistributor address 0x%llx refused", vm->name,
				  (unsigned long long)o.redist_base);
		goto fail;
	}
	if (o.its_base) {
		/* Optional: an ITS only where KVM offers one (ENODEV otherwise); the caller asks has_its(). */
		r = kvmhost_vm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, KVM_CREATE_DEVICE_TEST, &gic->its_fd);
		if (r == 0)
			r = kvmhost_vm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, 0, &gic->its_fd);
		if (r < 0) {
			gic->its_fd = -1;
			kh_log(KVMHOST_LOG_INFO, "%s: vGIC: no ITS (%s)", vm->name, kvmhost_last_error());
		} else if (kh_gic_set_attr(gic->its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE,
					   &o.its_base) < 0) {
			r = KH_FAIL_ERRNO("%s: vGIC: ITS address 0x%llx refused", vm->name,
					  (unsigned long long)o.its_base);
			goto fail;
		}
	}
	kh_log(KVMHOST_LOG_INFO, "%s: vGIC v3: GICD 0x%llx, GICR 0x%llx, %u SPIs, ITS %s", vm->name,
	       (unsigned long long)o.dist_base, (unsigned long long)o.redist_base, gic->nr_spis,
	       gic->its_fd >= 0 ? "yes" : "no");
	pthread_mutex_lock(&vm->lock);
	vm->arch_irqchip = gic; /* KVM makes one vGIC per VM (a second KVM_CREATE_DEVICE fails) */
	pthread_mutex_unlock(&vm->lock);
	*out = gic;
	return 0;
fail:
	kvmhost_arm64_gic_destroy(gic);
	return r;
}

KVMHOST_API int kvmhost_arm64_gic_init(struct kvmhost_arm64_gic *gic)
{
	if (!gic)
		return KH_FAIL(EINVAL, "gic is NULL");
	if (gic->initialised)
		return KH_FAIL(EBUSY, "%s: the vGIC is initialised already", gic->vm->name);
	if (kh_gic_set_attr(gic->fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
		return KH_FAIL_ERRNO("%s: vGIC: KVM_DEV_ARM_VGIC_CTRL_INIT failed (every vCPU created first?)",
				     gic->vm->name);
	if (gic->its_fd >= 0 &&
	    kh_gic_set_attr(gic->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
		return KH_FAIL_ERRNO("%s: vGIC: the ITS's KVM_DEV_ARM_VGIC_CTRL_INIT failed", gic->vm->name);
	gic->initialised = 1;
	return 0;
}

KVMHOST_API int kvmhost_arm64_gic_set_spi(struct kvmhost_arm64_gic *gic, uint32_t spi, int level)
{
	struct kvm_irq_level irq;

	if (!gic)
		return KH_FAIL(EINVAL, "gic is NULL");
	if (spi >= gic->nr_spis)
		return KH_FAIL(EINVAL, "%s: SPI %u out of range (the vGIC has %u)", gic->vm->name, spi, gic->nr_spis);
	if (level != 0 && level != 1)
		return KH_FAIL(EINVAL, "%s: SPI %u: level %d is neither 0 nor 1", gic->vm->name, spi, level);
	memset(&irq, 0, sizeof(irq));
	irq.irq = ((uint32_t)KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32u + spi);
	irq.level = (uint32_t)level;
	if (ioctl(gic->vm->fd, KVM_IRQ_LINE, &irq) < 0)
		return KH_FAIL_ERRNO("%s: KVM_IRQ_LINE(SPI %u, %d) failed%s", gic->vm->name, spi, level,
				     gic->initialised ? "" : " (the vGIC is not initialised)");
	return 0;
}

static int kh_gic_line_set(void *opaque, int level)
{
	struct kh_gic_line *l = opaque;

	return kvmhost_arm64_gic_set_spi(l->gic, l->spi, level);
}

KVMHOST_API int kvmhost_arm64_gic_spi_line_create(struct kvmhost_arm64_gic *gic, uint32_t spi,
						  struct kvmhost_irq_line **out)
{
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kh_gic_line *l;
	char name[32];
	int r;

	if (out)
		*out = NULL;
	if (!gic || !out)
		return KH_FAIL(EINVAL, "gic or out is NULL");
	if (spi >= gic->nr_spis)
		return KH_FAIL(EINVAL, "%s: SPI %u out of range (the vGIC has %u)", gic->vm->name, spi, gic->nr_spis);
	/*
	 * The line's callback context: kept by the GIC object for its lifetime (lines die before the GIC), so
	 * that irq_line.h needs no destructor hook. A handful per machine, made while it is set up.
	 */
	l = calloc(1, sizeof(*l));
	if (!l)
		return KH_FAIL(ENOMEM, "%s: no memory for an SPI line", gic->vm->name);
	l->gic = gic;
	l->spi = spi;
	snprintf(name, sizeof(name), "spi%u", spi);
	lo.set_level = kh_gic_line_set;
	lo.opaque = l;
	lo.name = name;
	r = kvmhost_irq_line_create(&lo, out);
	if (r < 0) {
		free(l);
		return r;
	}
	l->next = gic->lines;
	gic->lines = l;
	return 0;
}

KVMHOST_API uint32_t kvmhost_arm64_gic_nr_spis(const struct kvmhost_arm64_gic *gic)
{
	return gic ? gic->nr_spis : 0;
}

KVMHOST_API int kvmhost_arm64_gic_has_its(const struct kvmhost_arm64_gic *gic)
{
	return gic && gic->its_fd >= 0;
}

KVMHOST_API int kvmhost_arm64_gic_fd(const struct kvmhost_arm64_gic *gic)
{
	if (!gic)
		return KH_FAIL(EINVAL, "gic is NULL");
	return gic->fd;
}

KVMHOST_API void kvmhost_arm64_gic_destroy(struct kvmhost_arm64_gic *gic)
{
	if (!gic)
		return;
	gic_unlist(gic);
	if (gic->its_fd >= 0)
		close(gic->its_fd);
	if (gic->fd >= 0)
		close(gic->fd);
	while (gic->lines) {
		struct kh_gic_line *l = gic->lines;

		gic->lines = l->next;
		free(l);
	}
	free(gic);
}

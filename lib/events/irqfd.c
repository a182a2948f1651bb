/*
 * irqfd: signalling an eventfd raises a guest interrupt line inside KVM
 * (KVM_IRQFD), optionally with a resample eventfd for level-triggered lines.
 * KVM answers most mistakes with a bare EINVAL, so the messages here add the
 * likely cause (no in-kernel irqchip, resampling without a full one).
 */
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include <kvmhost/events.h>
#if defined(__x86_64__)
#include <kvmhost/x86.h>
#endif

#include "../core/internal.h"
#include "../kvm/kvm_internal.h"

#if defined(__x86_64__)
static int kh_vm_irqchip(struct kvmhost_vm *vm)
{
	int chip;

	pthread_mutex_lock(&vm->lock);
	chip = vm->irqchip;
	pthread_mutex_unlock(&vm->lock);
	return chip;
}
#endif

/* KVM answers EINVAL for several causes; name the likely one. */
static const char *kh_irqfd_hint(struct kvmhost_vm *vm, int resample_fd)
{
#if defined(__x86_64__)
	/* vm->irqchip is tracked on x86 only (the arm64 vGIC is a device). */
	int chip = kh_vm_irqchip(vm);

	if (chip == 0)
		return " (the VM has no in-kernel irqchip)";
	if (resample_fd >= 0 && chip != KVMHOST_X86_IRQCHIP_FULL)
		return " (resampling needs a full in-kernel irqchip, not a split one)";
#else
	(void)vm;
	(void)resample_fd;
#endif
	return " (GSI out of range, or fd not an eventfd?)";
}

KVMHOST_API int kvmhost_vm_add_irqfd(struct kvmhost_vm *vm, int fd, uint32_t gsi, int resample_fd)
{
	struct kvm_irqfd k;
	const char *hint = "";

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (fd < 0)
		return KH_FAIL(EINVAL, "%s: eventfd %d is negative", vm->name, fd);
	if (resample_fd < -1)
		return KH_FAIL(EINVAL, "%s: resample_fd %d is neither -1 nor an fd", vm->name, resample_fd);
	if (resample_fd == fd)
		return KH_FAIL(EINVAL, "%s: resample_fd is the irqfd itself (fd %d)", vm->name, fd);
	if (resample_fd >= 0 && kvmhost_vm_check_extension(vm, KVM_CAP_IRQFD_RESAMPLE) <= 0)
		return KH_FAIL(ENOTSUP, "%s: KVM lacks KVM_CAP_IRQFD_RESAMPLE", vm->name);

	memset(&k, 0, sizeof(k));
	k.fd = (uint32_t)fd;
	k.gsi = gsi;
	if (resample_fd >= 0) {
		k.flags = KVM_IRQFD_FLAG_RESAMPLE;
		k.resamplefd = (uint32_t)resample_fd;
	}
	if (ioctl(vm->fd, KVM_IRQFD, &k) < 0) {
		int err = errno;

		/* KVM says EBUSY when the eventfd already drives a GSI of this VM. */
		if (err == EBUSY || err == EEXIST)
			return KH_FAIL(EEXIST, "%s: eventfd %d is already an irqfd of this VM", vm->name, fd);
		if (err == EINVAL)
			hint = kh_irqfd_hint(vm, resample_fd);
		errno = err;
		return KH_FAIL_ERRNO("%s: KVM_IRQFD(fd %d, gsi %u, resample fd %d) failed%s", vm->name, fd, gsi,
				     resample_fd, hint);
	}
	kh_log(KVMHOST_LOG_DEBUG, "%s: irqfd added: fd %d -> gsi %u (resample fd %d)", vm->name, fd, gsi, resample_fd);
	return 0;
}

KVMHOST_API int kvmhost_vm_remove_irqfd(struct kvmhost_vm *vm, int fd, uint32_t gsi)
{
	struct kvm_irqfd k;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (fd < 0)
		return KH_FAIL(EINVAL, "%s: eventfd %d is negative", vm->name, fd);
	memset(&k, 0, sizeof(k));
	k.fd = (uint32_t)fd;
	k.gsi = gsi;
	k.flags = KVM_IRQFD_FLAG_DEASSIGN;
	/* KVM returns 0 even when no such irqfd exists; nothing to report then. */
	if (ioctl(vm->fd, KVM_IRQFD, &k) < 0)
		return KH_FAIL_ERRNO("%s: KVM_IRQFD(deassign fd %d, gsi %u) failed", vm->name, fd, gsi);
	kh_log(KVMHOST_LOG_DEBUG, "%s: irqfd removed: fd %d, gsi %u", vm->name, fd, gsi);
	return 0;
}

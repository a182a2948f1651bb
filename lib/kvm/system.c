/*
 * The KVM system handle: open /dev/kvm, check the API version, and answer
 * capability questions. Values that never change for an open fd (mmap size,
 * limits) are probed once at open.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "kvm_internal.h"

static int kh_system_probe(struct kvmhost_system *sys)
{
	int r;

	r = ioctl(sys->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r <= 0)
		return KH_FAIL_ERRNO("KVM_GET_VCPU_MMAP_SIZE failed");
	sys->vcpu_mmap_size = r;

	/* api.rst: MAX_VCPUS, else NR_VCPUS, else 4. */
	r = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	sys->max_vcpus = r > 0 ? r : 4;

	r = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	sys->max_memslots = r > 0 ? r : 32;
	return 0;
}

KVMHOST_API int kvmhost_system_open(const struct kvmhost_system_options *opts, struct kvmhost_system **out)
{
	struct kvmhost_system_options o;
	struct kvmhost_system *sys;
	const char *path;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (o.flags & ~KVMHOST_SYSTEM_NO_KICK_HANDLER)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", o.flags & ~KVMHOST_SYSTEM_NO_KICK_HANDLER);
	if (o.kick_signal == 0)
		o.kick_signal = SIGRTMIN + 1;
	if (o.kick_signal < 1 || o.kick_signal > SIGRTMAX || o.kick_signal == SIGKILL || o.kick_signal == SIGSTOP)
		return KH_FAIL(EINVAL, "kick signal %d cannot be used", o.kick_signal);
	path = o.device_path ? o.device_path : "/dev/kvm";

	sys = calloc(1, sizeof(*sys));
	if (!sys)
		return KH_FAIL(ENOMEM, "cannot allocate the system handle");
	sys->kick_signal = o.kick_signal;
	sys->flags = o.flags;
	sys->fd = open(path, O_RDWR | O_CLOEXEC);
	if (sys->fd < 0) {
		r = KH_FAIL_ERRNO("cannot open %s", path);
		free(sys);
		return r;
	}
	r = ioctl(sys->fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		r = r < 0 ? KH_FAIL_ERRNO("%s: KVM_GET_API_VERSION failed (not a KVM device?)", path)
			  : KH_FAIL(ENOTSUP, "%s: KVM API version %d, expected %d", path, r, KVM_API_VERSION);
		goto fail;
	}
	r = kh_system_probe(sys);
	if (r < 0)
		goto fail;
	kh_log(KVMHOST_LOG_INFO, "opened %s: %d vCPUs, %d memslots max", path, sys->max_vcpus, sys->max_memslots);
	*out = sys;
	return 0;
fail:
	close(sys->fd);
	free(sys);
	return r;
}

KVMHOST_API void kvmhost_system_close(struct kvmhost_system *sys)
{
	if (!sys)
		return;
	close(sys->fd);
	free(sys);
}

KVMHOST_API int kvmhost_system_fd(const struct kvmhost_system *sys)
{
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	return sys->fd;
}

KVMHOST_API int kvmhost_system_check_extension(struct kvmhost_system *sys, long cap)
{
	int r;

	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	if (cap < 0)
		return KH_FAIL(EINVAL, "capability %ld is negative", cap);
	r = ioctl(sys->fd, KVM_CHECK_EXTENSION, cap);
	if (r < 0)
		return KH_FAIL_ERRNO("KVM_CHECK_EXTENSION(%ld) failed", cap);
	return r;
}

KVMHOST_API int kvmhost_system_vcpu_mmap_size(struct kvmhost_system *sys)
{
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	return sys->vcpu_mmap_size;
}

KVMHOST_API int kvmhost_system_max_vcpus(struct kvmhost_system *sys)
{
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	return sys->max_vcpus;
}

KVMHOST_API int kvmhost_system_max_memslots(struct kvmhost_system *sys)
{
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	return sys->max_memslots;
}

KVMHOST_API int kvmhost_system_kick_signal(const struct kvmhost_system *sys)
{
	if (!sys)
		return KH_FAIL(EINVAL, "sys is NULL");
	return sys->kick_signal;
}

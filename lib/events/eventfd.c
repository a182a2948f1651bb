/*
 * eventfds: thin, checked wrappers over eventfd(2) so that embedders and the
 * other parts of the library (ioeventfd, irqfd, the loop) create, signal and
 * drain them the same way, with the library's error model.
 */
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <kvmhost/events.h>

#include "../core/internal.h"

#define KH_EVENTFD_FLAGS (KVMHOST_EVENTFD_NONBLOCK | KVMHOST_EVENTFD_SEMAPHORE)

KVMHOST_API int kvmhost_eventfd_create(uint32_t flags, int *fd)
{
	int efd_flags = EFD_CLOEXEC;
	int efd;

	if (!fd)
		return KH_FAIL(EINVAL, "fd is NULL");
	*fd = -1;
	if (flags & ~(uint32_t)KH_EVENTFD_FLAGS)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", flags & ~(uint32_t)KH_EVENTFD_FLAGS);
	if (flags & KVMHOST_EVENTFD_NONBLOCK)
		efd_flags |= EFD_NONBLOCK;
	if (flags & KVMHOST_EVENTFD_SEMAPHORE)
		efd_flags |= EFD_SEMAPHORE;
	efd = eventfd(0, efd_flags);
	if (efd < 0)
		return KH_FAIL_ERRNO("eventfd(flags 0x%x) failed", flags);
	*fd = efd;
	return 0;
}

KVMHOST_API int kvmhost_eventfd_signal(int fd, uint64_t value)
{
	ssize_t n;

	if (fd < 0)
		return KH_FAIL(EINVAL, "fd %d is negative", fd);
	/* eventfd(2): 0 would be a no-op and UINT64_MAX is refused by the kernel. */
	if (value == 0 || value == UINT64_MAX)
		return KH_FAIL(EINVAL, "fd %d: value 0x%llx is out of range (1 to 2^64-2)", fd,
			       (unsigned long long)value);
	n = KH_RETRY_EINTR(write(fd, &value, sizeof(value)));
	if (n < 0)
		return KH_FAIL_ERRNO("fd %d: write of %llu failed%s", fd, (unsigned long long)value,
				     errno == EAGAIN ? " (counter would overflow)" : "");
	if (n != sizeof(value))
		return KH_FAIL(EIO, "fd %d: short write (%zd bytes): not an eventfd?", fd, n);
	return 0;
}

KVMHOST_API int kvmhost_eventfd_consume(int fd, uint64_t *value)
{
	uint64_t v = 0;
	ssize_t n;

	if (!value)
		return KH_FAIL(EINVAL, "value is NULL");
	*value = 0;
	if (fd < 0)
		return KH_FAIL(EINVAL, "fd %d is negative", fd);
	n = KH_RETRY_EINTR(read(fd, &v, sizeof(v)));
	if (n < 0) {
		if (errno == EAGAIN)
			return KH_FAIL(EAGAIN, "fd %d: counter is zero", fd);
		return KH_FAIL_ERRNO("fd %d: read failed", fd);
	}
	if (n != sizeof(v))
		return KH_FAIL(EIO, "fd %d: short read (%zd bytes): not an eventfd?", fd, n);
	*value = v;
	return 0;
}

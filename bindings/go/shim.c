#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include "shim.h"
#include "_cgo_export.h"

static __thread int in_event_callback;

int kh_vcpu_run(struct kvmhost_vcpu *vcpu, struct kh_exit_flat *out)
{
	const struct kvmhost_exit *e = NULL;
	int ret = kvmhost_vcpu_run(vcpu, &e);
	if (ret < 0)
		return ret;
	*out = (struct kh_exit_flat){.reason = e->reason, .kvm_exit_reason = e->kvm_exit_reason};
	if (e->reason == KVMHOST_EXIT_IO) {
		out->io_port = e->io.port;
		out->io_size = e->io.size;
		out->io_is_write = e->io.is_write;
		out->io_count = e->io.count;
		out->io_data = e->io.data;
	} else if (e->reason == KVMHOST_EXIT_MMIO) {
		out->mmio_addr = e->mmio.addr;
		out->mmio_len = e->mmio.len;
		out->mmio_is_write = e->mmio.is_write;
		out->mmio_data = e->mmio.data;
	}
	return 0;
}

static void event_trampoline(void *opaque, struct kvmhost_machine *machine, const struct kvmhost_machine_event *ev)
{
	(void)machine;
	in_event_callback++;
	khGoMachineEvent((uintptr_t)opaque, (struct kvmhost_machine_event *)ev);
	in_event_callback--;
}

void kh_set_event_handler(struct kvmhost_machine_options *o, uintptr_t h)
{
	o->on_event = event_trampoline;
	o->event_opaque = (void *)h;
}

int kh_in_event_callback(void)
{
	return in_event_callback;
}

static void log_trampoline(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	khGoLog((int)level, (char *)msg);
}

int kh_set_log(int on, int max_level)
{
	return kvmhost_set_log_callback(on ? log_trampoline : NULL, NULL, (enum kvmhost_log_level)max_level);
}

static int blocking(int fd, int *old)
{
	*old = fcntl(fd, F_GETFL);
	if (*old < 0)
		return -errno;
	if ((*old & O_NONBLOCK) && fcntl(fd, F_SETFL, *old & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void restore_flags(int fd, int old)
{
	if (old & O_NONBLOCK)
		(void)fcntl(fd, F_SETFL, old);
}

int kh_snapshot(struct kvmhost_machine *m, int fd, const struct kvmhost_migration_options *o,
		struct kvmhost_migration_stats *st)
{
	int old, ret = blocking(fd, &old);
	if (ret < 0)
		return ret;
	ret = kvmhost_machine_snapshot(m, fd, o, st);
	restore_flags(fd, old);
	return ret;
}

int kh_restore(struct kvmhost_machine *m, int fd, const struct kvmhost_migration_options *o,
	       struct kvmhost_migration_stats *st)
{
	int old, ret = blocking(fd, &old);
	if (ret < 0)
		return ret;
	ret = kvmhost_machine_restore(m, fd, o, st);
	restore_flags(fd, old);
	return ret;
}

int kh_poll_in(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n > 0;
}

int kh_default_kick_signal(void)
{
	return SIGRTMIN + 1;
}

/*
 * A machine's vCPU threads: each runs its vCPU, hands I/O exits to the
 * machine's buses, turns the exits that end or reset a machine into a stop
 * or a reboot, counts exits by reason, and parks when told (pause, reboot).
 *
 * Parking: before each KVM_RUN the thread reads the control word; anything
 * but RUN (or a pending reboot) sends it to park(), where it waits on the
 * machine's condition. The last vCPU to park for a reboot performs it (the
 * devices reset, the kernel reloaded, the vCPUs set up again) while the
 * others wait, so a reboot needs no thread of its own.
 */
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <kvmhost/bus.h>
#include <kvmhost/system.h>
#include <kvmhost/vcpu.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "machine_internal.h"

_Thread_local uint32_t kh_machine_vcpu_index = UINT32_MAX;

int kh_machine_start_thread(pthread_t *t, void *(*fn)(void *), void *arg, const struct kh_mvcpu_opts *affinity)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	/* The thread starts with every signal blocked; a vCPU thread unblocks the kick signal itself. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	r = 0;
	if (affinity && affinity->affinity)
		r = pthread_attr_setaffinity_np(&attr, affinity->affinity_size, affinity->affinity);
	if (r == 0)
		r = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r ? KH_FAIL(r, "cannot start a thread%s", affinity && affinity->affinity ? " (with its affinity)" : "")
		 : 0;
}

static void do_reboot(struct kvmhost_machine *m)
{
	int r;

	kh_io_quiesce(m);
	r = kh_machine_virtio_pause(m);
	if (r == 0) {
		kh_machine_virtio_reset(m);
		kh_machine_registry_reset(m);
		r = kh_machine_arch_reboot(m);
	}
	if (r == 0)
		r = kh_machine_virtio_resume(m);
	kh_io_unquiesce(m);
	if (r < 0) {
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, UINT32_MAX, NULL, r, "reboot failed: %s",
				     kvmhost_last_error());
		return;
	}
	kh_machine_emit(m, KVMHOST_MACHINE_EVENT_REBOOTED, 0, UINT32_MAX, 0, NULL);
}

/* Wait while paused or rebooting. Returns 0 to run on, -1 to end the thread. */
static int park(struct kh_mvcpu *c)
{
	struct kvmhost_machine *m = c->m;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	m->parked++;
	pthread_cond_broadcast(&m->cond);
	for (;;) {
		int ctl = atomic_load(&m->ctl);

		if (ctl == KH_CTL_STOP) {
			ret = -1;
			break;
		}
		if (ctl == KH_CTL_RUN && atomic_load(&m->reboot_pending) && !m->rebooting &&
		    m->parked == m->vcpu_alive) {
			m->rebooting = 1;
			pthread_mutex_unlock(&m->lock);
			do_reboot(m);
			pthread_mutex_lock(&m->lock);
			m->rebooting = 0;
			atomic_store(&m->reboot_pending, 0);
			pthread_cond_broadcast(&m->cond);
			continue;
		}
		if (ctl == KH_CTL_RUN && !atomic_load(&m->reboot_pending) && !m->rebooting)
			break;
		pthread_cond_wait(&m->cond, &m->lock);
	}
	m->parked--;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void guest_error(struct kvmhost_machine *m, uint32_t id, const struct kvmhost_exit *e, const char *what)
{
	char insn[48] = "";

	if (e->reason == KVMHOST_EXIT_INTERNAL_ERROR)
		for (unsigned i = 0; i < e->internal.insn_len && i < 15; i++)
			snprintf(insn + 3 * i, sizeof(insn) - 3 * i, " %02x", e->internal.insn[i]);
	if (e->reason == KVMHOST_EXIT_INTERNAL_ERROR)
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_GUEST_ERROR, id, e, 0,
				     "vCPU %u: KVM internal error, suberror %u, instruction bytes:%s", id,
				     e->internal.suberror, insn[0] ? insn : " (none)");
	else if (e->reason == KVMHOST_EXIT_FAIL_ENTRY)
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_GUEST_ERROR, id, e, 0,
				     "vCPU %u: VM entry failed, hardware reason 0x%llx, host CPU %u", id,
				     (unsigned long long)e->fail_entry.hardware_reason, e->fail_entry.cpu);
	else
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_GUEST_ERROR, id, e, 0,
				     "vCPU %u: %s (%s exit, KVM exit %u)", id, what,
				     kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
	/* The instruction pointer, for the stop info: the vCPU is out of the guest, this is its thread. */
	pthread_mutex_lock(&m->lock);
	if (m->stop.vcpu == id && m->stop.pc == 0)
		m->stop.pc = kh_machine_arch_exit_pc(m, id);
	pthread_mutex_unlock(&m->lock);
}

static void handle_exit(struct kh_mvcpu *c, const struct kvmhost_exit *e)
{
	struct kvmhost_machine *m = c->m;
	uint32_t id = c->index;
	int r;

	switch (e->reason) {
	case KVMHOST_EXIT_IO:
	case KVMHOST_EXIT_MMIO: /* unclaimed accesses read all ones and write nowhere, as on a PC */
		r = kvmhost_bus_dispatch_exit(m->pio, m->mmio, e);
		if (r < 0)
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, id, e, r, "vCPU %u: device error: %s",
					     id, kvmhost_last_error());
		if (e->reason == KVMHOST_EXIT_MMIO && e->mmio.is_write)
			kh_machine_virtio_check_broken(m, id);
		break;
	case KVMHOST_EXIT_KICKED:
	case KVMHOST_EXIT_HLT:
	case KVMHOST_EXIT_IRQ_WINDOW_OPEN:
		break;
	case KVMHOST_EXIT_SHUTDOWN: /* a triple fault, which resets a PC */
		kh_machine_guest_reset(m, id, e, "triple fault (KVM_EXIT_SHUTDOWN)");
		break;
	case KVMHOST_EXIT_SYSTEM_EVENT:
		if (e->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_POWEROFF, id, e, 0,
					     "vCPU %u: KVM system event: shutdown", id);
		else if (e->system_event.type == KVM_SYSTEM_EVENT_RESET)
			kh_machine_guest_reset(m, id, e, "KVM system event: reset");
		else
			guest_error(m, id, e,
				    e->system_event.type == KVM_SYSTEM_EVENT_CRASH ? "the guest crashed"
										   : "unknown system event");
		break;
	case KVMHOST_EXIT_INTERNAL_ERROR:
		guest_error(m, id, e, "KVM internal error");
		break;
	case KVMHOST_EXIT_FAIL_ENTRY:
		guest_error(m, id, e, "VM entry failed");
		break;
	default:
		guest_error(m, id, e, "unhandled exit");
	}
}

void *kh_machine_vcpu_thread(void *arg)
{
	struct kh_mvcpu *c = arg;
	struct kvmhost_machine *m = c->m;
	const struct kvmhost_exit *e;
	sigset_t kick;
	int r;

	kh_machine_self = m;
	kh_machine_vcpu_index = c->index;
	atomic_store(&c->tid, (long)syscall(SYS_gettid));
	sigemptyset(&kick);
	sigaddset(&kick, kvmhost_system_kick_signal(m->sys));
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	for (int io_pending = 0;;) {
		if (atomic_load(&m->ctl) != KH_CTL_RUN || atomic_load(&m->reboot_pending)) {
			/* An I/O exit is complete only once KVM_RUN is entered again (api.rst): it then stores an IN's
			 * or an MMIO read's value and moves RIP past the instruction. Parked before that, the state a
			 * pause shows (a snapshot, a migration's last pass) would have the access still to do, and a
			 * restored guest would do it twice. So re-enter once with immediate_exit set: KVM finishes the
			 * access and returns at once (KICKED), or exits for the next part of a string I/O. */
			if (io_pending) {
				kvmhost_vcpu_kick(c->vcpu);
				io_pending = 0;
			} else if (park(c) < 0) {
				break;
			} else {
				continue; /* the control word again: resumed, or still paused after a reboot */
			}
		}
		atomic_fetch_add_explicit(&c->runs, 1, memory_order_relaxed);
		r = kvmhost_vcpu_run(c->vcpu, &e);
		if (r < 0) {
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, c->index, NULL, r, "vCPU %u: %s",
					     c->index, kvmhost_last_error());
			break;
		}
		atomic_fetch_add_explicit(&c->exits[e->reason < KVMHOST_MACHINE_EXIT_REASONS ? e->reason : 0], 1,
					  memory_order_relaxed);
		handle_exit(c, e);
		io_pending = e->reason == KVMHOST_EXIT_IO || e->reason == KVMHOST_EXIT_MMIO;
	}
	pthread_mutex_lock(&m->lock);
	m->vcpu_alive--;
	pthread_cond_broadcast(&m->cond); /* a reboot or pause waiting for "all parked" counts one fewer */
	pthread_mutex_unlock(&m->lock);
	kh_machine_thread_exit(m);
	return NULL;
}

KVMHOST_API int kvmhost_machine_get_vcpu_stats(struct kvmhost_machine *m, uint32_t vcpu,
					       struct kvmhost_machine_vcpu_stats *stats)
{
	struct kvmhost_machine_vcpu_stats s = {.size = sizeof(s)};
	size_t size;

	if (!m || !stats)
		return KH_FAIL(EINVAL, "%s is NULL", !m ? "machine" : "stats");
	if (stats->size < sizeof(size_t) || stats->size > 65536)
		return KH_FAIL(EINVAL, "stats->size %zu: set it to sizeof(struct kvmhost_machine_vcpu_stats)",
			       stats->size);
	if (vcpu >= m->ncpus)
		return KH_FAIL(ERANGE, "vCPU %u: machine %s has %u", vcpu, m->cfg.name, m->ncpus);
	s.runs = atomic_load_explicit(&m->cpu[vcpu].runs, memory_order_relaxed);
	for (uint32_t i = 0; i < KVMHOST_MACHINE_EXIT_REASONS; i++)
		s.exits[i] = atomic_load_explicit(&m->cpu[vcpu].exits[i], memory_order_relaxed);
	size = KH_MIN(stats->size, sizeof(s));
	s.size = stats->size;
	memcpy(stats, &s, size);
	if (stats->size > sizeof(s))
		memset((char *)stats + sizeof(s), 0, stats->size - sizeof(s));
	return 0;
}

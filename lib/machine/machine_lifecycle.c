/*
 * A machine's lifecycle: start, pause, resume, stop, wait, the reset and
 * power-off requests, the state and the stop information.
 *
 * m->lock guards the state, the control word and the counts the vCPU threads
 * keep (parked, alive); m->cond announces every change of them. The control
 * word (KH_CTL_RUN / PAUSE / STOP) is also read without the lock by the vCPU
 * threads before each KVM_RUN; a change is followed by a kick, which is
 * race-free (vcpu.h), so a vCPU never enters the guest having missed it.
 * m->ctl_lock serialises the calls that wait (start, pause, resume, wait,
 * destroy); stop and the requests never wait, so they work from any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <kvmhost/loop.h>
#include <kvmhost/vcpu.h>

#include "../core/internal.h"
#include "machine_internal.h"

static const char *const state_names[] = {"?", "created", "running", "paused", "stopped"};

static const char *state_name(int s)
{
	return s >= KVMHOST_MACHINE_CREATED && s <= KVMHOST_MACHINE_STOPPED ? state_names[s] : "?";
}

KVMHOST_API const char *kvmhost_machine_stop_reason_name(uint32_t reason)
{
	static const char *const names[] = {"none",	   "poweroff",	 "reset",     "debug-exit",
					    "guest-error", "host-error", "requested", "migrated"};

	return reason < KH_ARRAY_SIZE(names) ? names[reason] : "unknown";
}

void kh_machine_kick_all(struct kvmhost_machine *m)
{
	for (uint32_t i = 0; i < m->ncpus; i++)
		if (m->cpu[i].vcpu)
			kvmhost_vcpu_kick(m->cpu[i].vcpu);
}

void kh_machine_stop_with(struct kvmhost_machine *m, uint32_t reason, uint32_t vcpu, const struct kvmhost_exit *e,
			  int error, const char *fmt, ...)
{
	struct kvmhost_machine_stop_info *s = &m->stop;
	va_list ap;
	int created;

	pthread_mutex_lock(&m->lock);
	if (s->reason != KVMHOST_MACHINE_STOP_NONE) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	s->size = sizeof(*s);
	s->reason = reason;
	s->vcpu = vcpu;
	s->error = error;
	if (e) {
		s->exit_reason = e->reason;
		s->kvm_exit_reason = e->kvm_exit_reason;
		if (e->reason == KVMHOST_EXIT_INTERNAL_ERROR) {
			s->suberror = e->internal.suberror;
			s->insn_len = KH_MIN(e->internal.insn_len, sizeof(s->insn));
			memcpy(s->insn, e->internal.insn, s->insn_len);
		} else if (e->reason == KVMHOST_EXIT_FAIL_ENTRY) {
			s->hardware_reason = e->fail_entry.hardware_reason;
			s->fail_entry_cpu = e->fail_entry.cpu;
		} else if (e->reason == KVMHOST_EXIT_SYSTEM_EVENT) {
			s->system_event = e->system_event.type;
		}
	}
	va_start(ap, fmt);
	vsnprintf(s->message, sizeof(s->message), fmt, ap);
	va_end(ap);
	atomic_store(&m->ctl, KH_CTL_STOP);
	atomic_store(&m->io_stop, 1);
	created = m->state == KVMHOST_MACHINE_CREATED;
	if (created) {
		m->state = KVMHOST_MACHINE_STOPPED;
		m->finished = 1;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	kh_log(KVMHOST_LOG_INFO, "machine %s stops (%s): %s", m->cfg.name, kvmhost_machine_stop_reason_name(reason),
	       s->message);
	kh_machine_kick_all(m);
	kvmhost_loop_stop(m->loop);
	if (created)
		kh_machine_emit(m, KVMHOST_MACHINE_EVENT_STOPPED, reason, vcpu, 0, NULL);
}

void kh_machine_guest_reset(struct kvmhost_machine *m, uint32_t vcpu, const struct kvmhost_exit *e, const char *why)
{
	if (m->cfg.on_reset == KVMHOST_MACHINE_RESET_STOP) {
		if (vcpu == UINT32_MAX)
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_RESET, vcpu, e, 0, "%s", why);
		else
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_RESET, vcpu, e, 0, "vCPU %u: %s", vcpu, why);
		return;
	}
	kh_log(KVMHOST_LOG_INFO, "machine %s reboots: %s", m->cfg.name, why);
	atomic_store(&m->reboot_pending, 1);
	kh_machine_kick_all(m);
}

/* Quiet the devices once every thread is gone (or parked for good), then report STOPPED. */
void kh_machine_thread_exit(struct kvmhost_machine *m)
{
	int last;

	pthread_mutex_lock(&m->lock);
	last = --m->alive == 0;
	pthread_mutex_unlock(&m->lock);
	if (!last)
		return;
	kh_io_quiesce(m);
	kh_machine_virtio_pause(m); /* block requests in flight complete */
	pthread_mutex_lock(&m->lock);
	m->state = KVMHOST_MACHINE_STOPPED;
	m->finished = 1;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	kh_machine_emit(m, KVMHOST_MACHINE_EVENT_STOPPED, m->stop.reason, m->stop.vcpu, 0, NULL);
}

static int check_caller(struct kvmhost_machine *m, const char *func)
{
	if (!m)
		return kh_fail(EINVAL, func, "machine is NULL");
	if (kh_machine_is_self(m))
		return kh_fail(EDEADLK, func, "machine %s: called from one of its own threads or its event callback",
			       m->cfg.name);
	return 0;
}

KVMHOST_API int kvmhost_machine_start(struct kvmhost_machine *m)
{
	uint32_t n = 0;
	int r = check_caller(m, __func__);

	if (r < 0)
		return r;
	pthread_mutex_lock(&m->ctl_lock);
	pthread_mutex_lock(&m->lock);
	if (m->state != KVMHOST_MACHINE_CREATED) {
		r = KH_FAIL(EINVAL, "machine %s is %s, not created", m->cfg.name, state_name(m->state));
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return r;
	}
	m->state = KVMHOST_MACHINE_RUNNING;
	m->alive = 1; /* held by this call until every thread is started */
	pthread_mutex_unlock(&m->lock);
	kh_io_unquiesce(m);
	for (; n < m->ncpus && r == 0; n++) {
		pthread_mutex_lock(&m->lock);
		m->alive++;
		m->vcpu_alive++;
		pthread_mutex_unlock(&m->lock);
		r = kh_machine_start_thread(&m->cpu[n].thread, kh_machine_vcpu_thread, &m->cpu[n], &m->cfg.vcpus[n]);
		if (r < 0) {
			pthread_mutex_lock(&m->lock);
			m->alive--;
			m->vcpu_alive--;
			pthread_mutex_unlock(&m->lock);
			break;
		}
		m->cpu[n].started = 1;
	}
	if (r == 0 && !(m->cfg.flags & KVMHOST_MACHINE_EXTERNAL_IO)) {
		pthread_mutex_lock(&m->lock);
		m->alive++;
		pthread_mutex_unlock(&m->lock);
		r = kh_machine_start_thread(&m->io_thread, kh_machine_io_thread, m, NULL);
		if (r < 0) {
			pthread_mutex_lock(&m->lock);
			m->alive--;
			pthread_mutex_unlock(&m->lock);
		} else {
			m->io_started = 1;
		}
	}
	if (r < 0)
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, UINT32_MAX, NULL, r,
				     "cannot start a machine thread: %s", kvmhost_last_error());
	else
		kh_machine_emit(m, KVMHOST_MACHINE_EVENT_STARTED, 0, UINT32_MAX, 0, NULL);
	kh_machine_thread_exit(m); /* this call's hold on "alive" */
	pthread_mutex_unlock(&m->ctl_lock);
	return r;
}

/* m->lock held. */
static int all_parked(struct kvmhost_machine *m)
{
	return m->parked == m->vcpu_alive && !m->rebooting;
}

KVMHOST_API int kvmhost_machine_pause(struct kvmhost_machine *m)
{
	int r = check_caller(m, __func__);

	if (r < 0)
		return r;
	pthread_mutex_lock(&m->ctl_lock);
	pthread_mutex_lock(&m->lock);
	if (m->state == KVMHOST_MACHINE_PAUSED) {
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return 0;
	}
	if (m->state != KVMHOST_MACHINE_RUNNING || atomic_load(&m->ctl) == KH_CTL_STOP) {
		r = KH_FAIL(EINVAL, "machine %s is %s: only a running machine pauses", m->cfg.name,
			    state_name(m->state));
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return r;
	}
	atomic_store(&m->ctl, KH_CTL_PAUSE);
	pthread_mutex_unlock(&m->lock);
	kh_machine_kick_all(m);
	pthread_mutex_lock(&m->lock);
	while (!all_parked(m) && atomic_load(&m->ctl) != KH_CTL_STOP)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	if (atomic_load(&m->ctl) != KH_CTL_STOP) {
		kh_io_quiesce(m);
		r = kh_machine_virtio_pause(m);
		if (r == 0 && (r = kh_machine_registry_pause(m)) < 0)
			kh_machine_virtio_resume(m);
		if (r < 0) {
			kh_io_unquiesce(m);
			pthread_mutex_lock(&m->lock);
			if (atomic_load(&m->ctl) == KH_CTL_PAUSE)
				atomic_store(&m->ctl, KH_CTL_RUN);
			pthread_cond_broadcast(&m->cond);
			pthread_mutex_unlock(&m->lock);
			pthread_mutex_unlock(&m->ctl_lock);
			return r;
		}
	}
	pthread_mutex_lock(&m->lock);
	if (atomic_load(&m->ctl) == KH_CTL_STOP) {
		r = KH_FAIL(ECANCELED, "machine %s stopped while pausing (%s)", m->cfg.name,
			    kvmhost_machine_stop_reason_name(m->stop.reason));
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return r;
	}
	m->state = KVMHOST_MACHINE_PAUSED;
	pthread_mutex_unlock(&m->lock);
	kh_machine_emit(m, KVMHOST_MACHINE_EVENT_PAUSED, 0, UINT32_MAX, 0, NULL);
	pthread_mutex_unlock(&m->ctl_lock);
	return 0;
}

KVMHOST_API int kvmhost_machine_resume(struct kvmhost_machine *m)
{
	int r = check_caller(m, __func__);

	if (r < 0)
		return r;
	pthread_mutex_lock(&m->ctl_lock);
	pthread_mutex_lock(&m->lock);
	r = m->state;
	pthread_mutex_unlock(&m->lock);
	if (r != KVMHOST_MACHINE_PAUSED) {
		pthread_mutex_unlock(&m->ctl_lock);
		if (r == KVMHOST_MACHINE_RUNNING)
			return 0;
		return KH_FAIL(EINVAL, "machine %s is %s: only a paused machine resumes", m->cfg.name, state_name(r));
	}
	if ((r = kh_machine_registry_resume(m)) < 0 || (r = kh_machine_virtio_resume(m)) < 0) {
		pthread_mutex_unlock(&m->ctl_lock);
		return r;
	}
	kh_machine_virtio_kick(m); /* served once the I/O side runs again */
	kh_io_unquiesce(m);
	pthread_mutex_lock(&m->lock);
	if (atomic_load(&m->ctl) == KH_CTL_PAUSE) /* a stop meanwhile wins */
		atomic_store(&m->ctl, KH_CTL_RUN);
	if (m->state == KVMHOST_MACHINE_PAUSED)
		m->state = KVMHOST_MACHINE_RUNNING;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	kh_machine_emit(m, KVMHOST_MACHINE_EVENT_RESUMED, 0, UINT32_MAX, 0, NULL);
	pthread_mutex_unlock(&m->ctl_lock);
	return 0;
}

KVMHOST_API int kvmhost_machine_stop(struct kvmhost_machine *m)
{
	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_REQUESTED, UINT32_MAX, NULL, 0, "stopped by the embedder");
	return 0;
}

static int check_live(struct kvmhost_machine *m, const char *func)
{
	int s;

	if (!m)
		return kh_fail(EINVAL, func, "machine is NULL");
	pthread_mutex_lock(&m->lock);
	s = m->state;
	if (atomic_load(&m->ctl) == KH_CTL_STOP)
		s = KVMHOST_MACHINE_STOPPED;
	pthread_mutex_unlock(&m->lock);
	if (s != KVMHOST_MACHINE_RUNNING && s != KVMHOST_MACHINE_PAUSED)
		return kh_fail(EINVAL, func, "machine %s is %s: only a running or paused machine takes it", m->cfg.name,
			       state_name(s));
	return 0;
}

KVMHOST_API int kvmhost_machine_request_reset(struct kvmhost_machine *m)
{
	int r = check_live(m, __func__);

	if (r < 0)
		return r;
	kh_machine_guest_reset(m, UINT32_MAX, NULL, "reset requested by the embedder");
	return 0;
}

KVMHOST_API int kvmhost_machine_request_poweroff(struct kvmhost_machine *m)
{
	int r = check_live(m, __func__);

	return r < 0 ? r : kh_machine_arch_power_button(m);
}

static void join_threads(struct kvmhost_machine *m)
{
	if (m->joined)
		return;
	for (uint32_t i = 0; i < m->ncpus; i++)
		if (m->cpu[i].started)
			pthread_join(m->cpu[i].thread, NULL);
	if (m->io_started)
		pthread_join(m->io_thread, NULL);
	m->joined = 1;
}

KVMHOST_API int kvmhost_machine_wait(struct kvmhost_machine *m, int timeout_ms)
{
	struct timespec until;
	int r = check_caller(m, __func__);

	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&m->ctl_lock);
	pthread_mutex_lock(&m->lock);
	if (m->state == KVMHOST_MACHINE_CREATED) {
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return KH_FAIL(EINVAL, "machine %s was never started: it cannot stop by itself", m->cfg.name);
	}
	while (!m->finished && r == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&m->cond, &m->lock);
		else if (timeout_ms == 0 || pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT)
			r = m->finished ? 0 : -ETIMEDOUT;
	}
	pthread_mutex_unlock(&m->lock);
	if (r == 0)
		join_threads(m);
	pthread_mutex_unlock(&m->ctl_lock);
	return r < 0 ? KH_FAIL(ETIMEDOUT, "machine %s still %s after %d ms", m->cfg.name, state_name(m->state),
			       timeout_ms)
		     : 0;
}

KVMHOST_API int kvmhost_machine_get_state(struct kvmhost_machine *m)
{
	int s;

	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	pthread_mutex_lock(&m->lock);
	s = m->state;
	pthread_mutex_unlock(&m->lock);
	return s;
}

KVMHOST_API int kvmhost_machine_get_stop_info(struct kvmhost_machine *m, struct kvmhost_machine_stop_info *info)
{
	struct kvmhost_machine_stop_info s;
	size_t size;

	if (!m || !info)
		return KH_FAIL(EINVAL, "%s is NULL", !m ? "machine" : "info");
	if (info->size < sizeof(size_t) || info->size > 65536)
		return KH_FAIL(EINVAL, "info->size %zu: set it to sizeof(struct kvmhost_machine_stop_info)",
			       info->size);
	pthread_mutex_lock(&m->lock);
	s = m->stop;
	pthread_mutex_unlock(&m->lock);
	if (s.reason == KVMHOST_MACHINE_STOP_NONE) {
		memset(&s, 0, sizeof(s));
		s.vcpu = UINT32_MAX;
	}
	size = KH_MIN(info->size, sizeof(s));
	s.size = info->size;
	memcpy(info, &s, size);
	if (info->size > sizeof(s))
		memset((char *)info + sizeof(s), 0, info->size - sizeof(s));
	return 0;
}

/* destroy's part: stop and join whatever runs. */
void kh_machine_shutdown(struct kvmhost_machine *m)
{
	int s = kvmhost_machine_get_state(m);

	if (s == KVMHOST_MACHINE_CREATED || s == KVMHOST_MACHINE_STOPPED) {
		pthread_mutex_lock(&m->ctl_lock);
		join_threads(m);
		pthread_mutex_unlock(&m->ctl_lock);
		return;
	}
	kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_REQUESTED, UINT32_MAX, NULL, 0, "destroyed while %s",
			     state_name(s));
	kvmhost_machine_wait(m, -1);
}

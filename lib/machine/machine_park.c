/*
 * Parking the vCPUs of a running machine for a moment, without pausing it:
 * no state change, no event, the I/O side and the devices go on. Live
 * migration uses it to read vCPU state that KVM only gives while the vCPU is
 * out of KVM_RUN (its CPUID, at the start) and to throttle a guest that
 * dirties memory faster than it can be sent (auto-converge: parked for a
 * share of every period). It holds ctl_lock while parked, so pause, resume
 * and stop requests wait for the unpark (stop requests do not: a stop wins).
 */
#include "../core/internal.h"
#include "machine_internal.h"

int kh_machine_park_vcpus(struct kvmhost_machine *m)
{
	pthread_mutex_lock(&m->ctl_lock);
	pthread_mutex_lock(&m->lock);
	if (m->state != KVMHOST_MACHINE_RUNNING || atomic_load(&m->ctl) != KH_CTL_RUN) {
		int state = m->state;

		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->ctl_lock);
		return KH_FAIL(EINVAL, "machine %s: not running (state %d), no vCPU to park", m->cfg.name, state);
	}
	atomic_store(&m->ctl, KH_CTL_PAUSE);
	pthread_mutex_unlock(&m->lock);
	kh_machine_kick_all(m);
	pthread_mutex_lock(&m->lock);
	while ((m->parked != m->vcpu_alive || m->rebooting) && atomic_load(&m->ctl) != KH_CTL_STOP)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	if (atomic_load(&m->ctl) == KH_CTL_STOP) {
		pthread_mutex_unlock(&m->ctl_lock);
		return KH_FAIL(ECANCELED, "machine %s stopped while its vCPUs parked", m->cfg.name);
	}
	return 0; /* ctl_lock stays held until kh_machine_unpark_vcpus() */
}

void kh_machine_unpark_vcpus(struct kvmhost_machine *m)
{
	pthread_mutex_lock(&m->lock);
	if (atomic_load(&m->ctl) == KH_CTL_PAUSE) /* a stop meanwhile wins */
		atomic_store(&m->ctl, KH_CTL_RUN);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->ctl_lock);
}

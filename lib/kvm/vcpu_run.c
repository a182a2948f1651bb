/*
 * Running a vCPU (KVM_RUN, one call per exit, never an internal loop) and
 * kicking it out of the guest from another thread, with the process-wide
 * no-op handler for the kick signal that makes KVM_RUN return EINTR.
 *
 * Why a kick is never lost
 * ------------------------
 * kvmhost_vcpu_kick() does two things, in this order:
 *   (K1) store kvm_run.immediate_exit = 1;
 *   (K2) if a thread is inside kvmhost_vcpu_run() (in_run == 1), signal it.
 * kvmhost_vcpu_run() does:
 *   (R1) record pthread_self() and store in_run = 1;
 *   (R2) ioctl(KVM_RUN), which checks immediate_exit on entry, and pending
 *        signals before every entry into the guest (and sends the vCPU out of
 *        guest mode when a signal arrives while it is in there);
 *   (R3) store in_run = 0.
 * K1/K2 and R1/R2 are each separated by a full (seq_cst) fence, the classic
 * store-then-load pattern: either the kicker sees in_run == 1, or the vCPU
 * thread's KVM_RUN sees immediate_exit == 1 (or both). So:
 *   - a kick before R2 starts is seen by KVM_RUN's immediate_exit check, which
 *     returns EINTR without entering the guest (a signal delivered to the
 *     thread in user space before the ioctl only runs the no-op handler; the
 *     flag still does the job);
 *   - a kick after KVM_RUN passed that check sees in_run == 1 and signals the
 *     thread; the pending signal makes KVM leave the guest and return EINTR;
 *   - a kick after R3 leaves immediate_exit set, so the next run returns
 *     KVMHOST_EXIT_KICKED at once ("consumes a pending kick").
 * immediate_exit is cleared only by the vCPU thread, after KVM_RUN returned
 * EINTR, i.e. after it observed a kick; a kick landing between that return and
 * the clear is merged into the KICKED exit being returned, which is what the
 * caller is about to act on anyway. Kicks are not counted, only not lost.
 *
 * The signal handler must be installed without SA_RESTART: KVM_RUN returns
 * EINTR (never restarted) but other syscalls of the vCPU thread could also
 * see EINTR from a kick; the kick signal is the library's (a real-time signal
 * by default), so only that thread and only on a kick.
 */
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "kvm_internal.h"
#include "vcpu_internal.h"

static void kh_kick_handler(int sig)
{
	(void)sig; /* the point is only that KVM_RUN returns EINTR */
}

/* Signals whose disposition we already looked at (installed or declined). */
static pthread_mutex_t kh_kick_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char kh_kick_done[129];

void kh_kick_handler_install(const struct kvmhost_system *sys)
{
	struct sigaction old, sa;
	int sig = sys->kick_signal;

	if (sys->flags & KVMHOST_SYSTEM_NO_KICK_HANDLER)
		return;
	if (sig <= 0 || (size_t)sig >= sizeof(kh_kick_done))
		return;
	if (__atomic_load_n(&kh_kick_done[sig], __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&kh_kick_lock);
	if (kh_kick_done[sig])
		goto out;
	if (sigaction(sig, NULL, &old) < 0) {
		kh_log(KVMHOST_LOG_WARN,
		       "cannot read the disposition of kick signal %d; kicks may not interrupt a "
		       "running guest",
		       sig);
		goto done;
	}
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kh_kick_handler;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
		if (sigaction(sig, &sa, NULL) < 0)
			kh_log(KVMHOST_LOG_WARN, "cannot install the handler for kick signal %d", sig);
		else
			kh_log(KVMHOST_LOG_DEBUG, "installed the no-op handler for kick signal %d", sig);
	} else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) {
		/* An ignored signal is discarded, so it cannot interrupt KVM_RUN. */
		kh_log(KVMHOST_LOG_WARN,
		       "kick signal %d is ignored (SIG_IGN): left alone; a kick will only stop a vCPU at its next "
		       "entry, not one already running guest code",
		       sig);
	} else {
		kh_log(KVMHOST_LOG_WARN,
		       "kick signal %d already has a handler: left alone; it must not use SA_RESETHAND for kicks to "
		       "work",
		       sig);
	}
done:
	__atomic_store_n(&kh_kick_done[sig], 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&kh_kick_lock);
}

KVMHOST_API int kvmhost_vcpu_run(struct kvmhost_vcpu *vcpu, const struct kvmhost_exit **exit)
{
	int r, err;

	if (!exit)
		return KH_FAIL(EINVAL, "exit is NULL");
	*exit = NULL;
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");

	/* (R1) */
	__atomic_store_n(&vcpu->thread, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&vcpu->in_run, 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* (R2) */
	r = ioctl(vcpu->fd, KVM_RUN, 0);
	err = errno;
	/* (R3) */
	__atomic_store_n(&vcpu->in_run, 0, __ATOMIC_RELEASE);

	if (r < 0) {
		/* EAGAIN: an AP waiting for INIT/SIPI was woken up by a signal
		 * or event without becoming runnable; "come back later", as a
		 * kick is. */
		if (err == EINTR || err == EAGAIN) {
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
			kh_vcpu_set_kicked_exit(vcpu);
			*exit = &vcpu->exit;
			return 0;
		}
		errno = err;
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_RUN failed", vcpu->vm->name, vcpu->id);
	}
	kh_vcpu_decode_exit(vcpu);
	*exit = &vcpu->exit;
	return 0;
}

/*
 * Async-signal-safe on success: atomics and pthread_kill() only (no lock, no
 * allocation). The NULL-argument failure path formats a message and is not.
 * pthread_kill() is given the thread that is inside kvmhost_vcpu_run() at
 * this moment; the embedder must not let that thread exit and be joined while
 * another thread may be kicking the vCPU (vcpu.h).
 */
KVMHOST_API int kvmhost_vcpu_kick(struct kvmhost_vcpu *vcpu)
{
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	/* (K1) */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* (K2) */
	if (__atomic_load_n(&vcpu->in_run, __ATOMIC_ACQUIRE)) {
		pthread_t t = __atomic_load_n(&vcpu->thread, __ATOMIC_RELAXED);
		/* A failure (the thread just left) is harmless: immediate_exit
		 * stays set for the next run. */
		(void)pthread_kill(t, vcpu->kick_signal);
	}
	return 0;
}

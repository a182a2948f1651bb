/*
 * A small epoll event loop (loop.h).
 *
 * Each watched fd has an entry whose address is the epoll cookie. The hard
 * part is removal while a batch of ready events is being dispatched: an entry
 * that epoll_wait() already returned may be removed by an earlier callback of
 * the same batch, or by another thread, and must then neither be called nor
 * freed under the dispatcher's feet. So removal marks the entry dead and,
 * while a dispatch is in progress, parks it on a graveyard list that the
 * dispatcher frees after its batch. Entries removed while no dispatch runs
 * were deleted from epoll before the next epoll_wait(), so they are freed at
 * once. A removal from another thread while that entry's callback runs waits
 * for the callback to return, so that once kvmhost_loop_remove() returns the
 * callback is neither running nor will run.
 *
 * Stopping is a flag plus an internal eventfd in the epoll set that wakes a
 * waiting epoll_wait(); the flag is what counts, the eventfd only wakes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <kvmhost/loop.h>

#include "../core/internal.h"

#define KH_LOOP_EVENTS (KVMHOST_LOOP_IN | KVMHOST_LOOP_OUT | KVMHOST_LOOP_ERR | KVMHOST_LOOP_HUP)
#define KH_LOOP_BATCH  64

_Static_assert(KVMHOST_LOOP_IN == EPOLLIN && KVMHOST_LOOP_OUT == EPOLLOUT && KVMHOST_LOOP_ERR == EPOLLERR &&
		   KVMHOST_LOOP_HUP == EPOLLHUP,
	       "loop flags must equal the epoll ones");

struct kh_loop_entry {
	struct kh_loop_entry *next; /* in the live list or the graveyard */
	int fd;
	int dead; /* removed: never call again */
	kvmhost_loop_fn fn;
	void *opaque;
};

struct kvmhost_loop {
	int epfd;
	int stopfd;
	atomic_int stop; /* a stop was requested and not yet consumed by a run */
	pthread_mutex_t lock;
	pthread_cond_t idle;		 /* signalled when the running callback returns */
	struct kh_loop_entry *live;	 /* watched fds */
	struct kh_loop_entry *graveyard; /* removed during a dispatch; freed after it */
	int dispatching;		 /* a run_once is between epoll_wait() and its cleanup */
	pthread_t runner;		 /* the thread dispatching, when dispatching */
	struct kh_loop_entry *current;	 /* entry whose callback is running, or NULL */
};

KVMHOST_API int kvmhost_loop_create(struct kvmhost_loop **out)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct kvmhost_loop *loop;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return KH_FAIL(ENOMEM, "cannot allocate a loop");
	loop->stopfd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		r = KH_FAIL_ERRNO("epoll_create1 failed");
		goto fail;
	}
	loop->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->stopfd < 0) {
		r = KH_FAIL_ERRNO("eventfd failed");
		goto fail;
	}
	/* The stop eventfd is the only entry with a NULL cookie. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stopfd, &ev) < 0) {
		r = KH_FAIL_ERRNO("epoll_ctl(ADD stop eventfd) failed");
		goto fail;
	}
	atomic_init(&loop->stop, 0);
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->idle, NULL);
	*out = loop;
	return 0;
fail:
	if (loop->stopfd >= 0)
		close(loop->stopfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
	return r;
}

static void kh_loop_free_list(struct kh_loop_entry *e)
{
	while (e) {
		struct kh_loop_entry *next = e->next;

		free(e);
		e = next;
	}
}

KVMHOST_API void kvmhost_loop_destroy(struct kvmhost_loop *loop)
{
	if (!loop)
		return;
	kh_loop_free_list(loop->live);
	kh_loop_free_list(loop->graveyard);
	close(loop->stopfd);
	close(loop->epfd);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

KVMHOST_API int kvmhost_loop_fd(const struct kvmhost_loop *loop)
{
	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	return loop->epfd;
}

/* Find the live entry for @fd; with @prevp, also the link that points to it. Under the lock. */
static struct kh_loop_entry *kh_loop_find(struct kvmhost_loop *loop, int fd, struct kh_loop_entry ***prevp)
{
	struct kh_loop_entry **p;

	for (p = &loop->live; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			if (prevp)
				*prevp = p;
			return *p;
		}
	}
	return NULL;
}

KVMHOST_API int kvmhost_loop_add(struct kvmhost_loop *loop, int fd, uint32_t events, kvmhost_loop_fn fn, void *opaque)
{
	struct epoll_event ev;
	struct kh_loop_entry *e;
	int r = 0;

	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	if (fd < 0)
		return KH_FAIL(EINVAL, "fd %d is negative", fd);
	if (!fn)
		return KH_FAIL(EINVAL, "fd %d: callback is NULL", fd);
	if (events == 0 || (events & ~(uint32_t)KH_LOOP_EVENTS))
		return KH_FAIL(EINVAL, "fd %d: events 0x%x are not a non-empty set of KVMHOST_LOOP_* flags", fd,
			       events);
	if (fd == loop->epfd || fd == loop->stopfd)
		return KH_FAIL(EINVAL, "fd %d belongs to the loop itself", fd);

	e = calloc(1, sizeof(*e));
	if (!e)
		return KH_FAIL(ENOMEM, "fd %d: cannot allocate a loop entry", fd);
	e->fd = fd;
	e->fn = fn;
	e->opaque = opaque;
	ev.events = events;
	ev.data.ptr = e;

	pthread_mutex_lock(&loop->lock);
	if (kh_loop_find(loop, fd, NULL)) {
		r = KH_FAIL(EEXIST, "fd %d is watched already", fd);
	} else if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (errno == EPERM)
			r = KH_FAIL(EPERM, "fd %d cannot be polled (a regular file or directory?)", fd);
		else if (errno == EEXIST)
			r = KH_FAIL(EEXIST, "fd %d is in the loop's epoll set already (added behind the loop's back?)",
				    fd);
		else
			r = KH_FAIL_ERRNO("epoll_ctl(ADD fd %d, events 0x%x) failed", fd, events);
	} else {
		e->next = loop->live;
		loop->live = e;
		e = NULL;
	}
	pthread_mutex_unlock(&loop->lock);
	free(e);
	return r;
}

KVMHOST_API int kvmhost_loop_remove(struct kvmhost_loop *loop, int fd)
{
	struct kh_loop_entry *e, **prev = NULL;

	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	if (fd < 0)
		return KH_FAIL(EINVAL, "fd %d is negative", fd);

	pthread_mutex_lock(&loop->lock);
	e = kh_loop_find(loop, fd, &prev);
	if (!e) {
		pthread_mutex_unlock(&loop->lock);
		return KH_FAIL(ENOENT, "fd %d is not watched", fd);
	}
	/*
	 * If the caller closed the fd already, epoll dropped it by itself
	 * (EBADF), or the number now names another file (ENOENT): either way
	 * nothing is left to delete.
	 */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT)
		kh_log(KVMHOST_LOG_WARN, "loop: epoll_ctl(DEL fd %d) failed: %s", fd, kvmhost_strerror(-errno));
	*prev = e->next;
	e->dead = 1;
	if (loop->dispatching) {
		e->next = loop->graveyard;
		loop->graveyard = e;
		/* Another thread: wait out the callback if it is running now. */
		if (!pthread_equal(loop->runner, pthread_self()))
			while (loop->current == e)
				pthread_cond_wait(&loop->idle, &loop->lock);
	} else {
		free(e);
	}
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

/* Drain the stop eventfd; the stop flag, not the counter, says whether to stop. */
static void kh_loop_drain_stop(struct kvmhost_loop *loop)
{
	uint64_t v;

	while (read(loop->stopfd, &v, sizeof(v)) == sizeof(v))
		;
}

static int kh_loop_dispatch(struct kvmhost_loop *loop, int timeout_ms, int *stopped)
{
	struct epoll_event evs[KH_LOOP_BATCH];
	struct kh_loop_entry *dead;
	int n, called = 0;

	*stopped = 0;
	pthread_mutex_lock(&loop->lock);
	if (loop->dispatching) {
		pthread_mutex_unlock(&loop->lock);
		return KH_FAIL(EBUSY, "the loop is already running in another thread");
	}
	loop->dispatching = 1;
	loop->runner = pthread_self();
	pthread_mutex_unlock(&loop->lock);

	if (atomic_load(&loop->stop)) {
		n = 0;
	} else {
		n = epoll_wait(loop->epfd, evs, KH_LOOP_BATCH, timeout_ms);
		if (n < 0) {
			/* A signal is not an error: report "nothing ran". */
			n = errno == EINTR ? 0 : KH_FAIL_ERRNO("epoll_wait failed");
		}
	}

	for (int i = 0; i < n; i++) {
		struct kh_loop_entry *e = evs[i].data.ptr;
		kvmhost_loop_fn fn;
		void *opaque;

		if (!e) {
			kh_loop_drain_stop(loop);
			continue;
		}
		if (atomic_load(&loop->stop))
			break; /* the rest stays ready (level-triggered) for the next run */
		pthread_mutex_lock(&loop->lock);
		if (e->dead) {
			pthread_mutex_unlock(&loop->lock);
			continue;
		}
		loop->current = e;
		fn = e->fn;
		opaque = e->opaque;
		pthread_mutex_unlock(&loop->lock);

		fn(e->fd, evs[i].events & KH_LOOP_EVENTS, opaque);
		called++;

		pthread_mutex_lock(&loop->lock);
		loop->current = NULL;
		pthread_cond_broadcast(&loop->idle);
		pthread_mutex_unlock(&loop->lock);
	}

	pthread_mutex_lock(&loop->lock);
	dead = loop->graveyard;
	loop->graveyard = NULL;
	loop->dispatching = 0;
	pthread_mutex_unlock(&loop->lock);
	kh_loop_free_list(dead);

	if (atomic_exchange(&loop->stop, 0)) {
		kh_loop_drain_stop(loop);
		*stopped = 1;
	}
	return n < 0 ? n : called;
}

KVMHOST_API int kvmhost_loop_run_once(struct kvmhost_loop *loop, int timeout_ms)
{
	int stopped;

	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	if (timeout_ms < -1)
		return KH_FAIL(EINVAL, "timeout %d ms is below -1", timeout_ms);
	return kh_loop_dispatch(loop, timeout_ms, &stopped);
}

KVMHOST_API int kvmhost_loop_run(struct kvmhost_loop *loop)
{
	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	for (;;) {
		int stopped;
		int r = kh_loop_dispatch(loop, -1, &stopped);

		if (r < 0)
			return r;
		if (stopped)
			return 0;
	}
}

KVMHOST_API int kvmhost_loop_stop(struct kvmhost_loop *loop)
{
	uint64_t one = 1;

	if (!loop)
		return KH_FAIL(EINVAL, "loop is NULL");
	atomic_store(&loop->stop, 1);
	/* Only wakes a waiting epoll_wait(); EAGAIN means it is awake already. */
	if (write(loop->stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN && errno != EINTR)
		return KH_FAIL_ERRNO("write to the stop eventfd failed");
	return 0;
}

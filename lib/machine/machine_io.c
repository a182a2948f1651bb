/*
 * A machine's I/O side: the fds its devices need watched (virtio notify
 * eventfds, a TAP, console and serial input, wake-up eventfds), registered in
 * one kvmhost_loop that either the machine's I/O thread runs or the embedder
 * drives (kvmhost_machine_io_fd() / kvmhost_machine_dispatch()).
 *
 * Quiet is made here: kh_io_quiesce() takes every watch out of the loop, and
 * kvmhost_loop_remove() waits for a handler that is running, so once it
 * returns no device work started by the I/O side is in progress or can start.
 * Handlers change what they watch through kh_watch_set(), which while quiet
 * only records the wish; kh_io_unquiesce() puts back what is wished for.
 */
#include <stdlib.h>
#include <kvmhost/loop.h>

#include "../core/internal.h"
#include "machine_internal.h"

int kh_watch_add(struct kvmhost_machine *m, int fd, uint32_t events, kh_watch_fn fn, void *opaque, uint32_t *handle)
{
	struct kh_watch *w;

	/* Only during create (no thread runs yet): the table never moves while handlers use it. */
	if (m->nwatch == m->watch_cap) {
		uint32_t cap = m->watch_cap ? m->watch_cap * 2 : 16;
		struct kh_watch *nw = realloc(m->watch, cap * sizeof(*nw));

		if (!nw)
			return KH_FAIL(ENOMEM, "cannot grow the watch table");
		m->watch = nw;
		m->watch_cap = cap;
	}
	w = &m->watch[m->nwatch];
	*w = (struct kh_watch){.fd = fd, .want = 0, .in_loop = 0, .fn = fn, .opaque = opaque};
	*handle = m->nwatch++;
	kh_watch_set(m, *handle, events);
	return 0;
}

/* watch_lock held. */
static void apply(struct kvmhost_machine *m, struct kh_watch *w)
{
	uint32_t target = m->io_quiet ? 0 : w->want;

	if (target == w->in_loop)
		return;
	if (w->in_loop)
		kvmhost_loop_remove(m->loop, w->fd);
	w->in_loop = 0;
	if (target && kvmhost_loop_add(m->loop, w->fd, target, w->fn, w->opaque) == 0)
		w->in_loop = target;
}

void kh_watch_set(struct kvmhost_machine *m, uint32_t handle, uint32_t events)
{
	pthread_mutex_lock(&m->watch_lock);
	m->watch[handle].want = events;
	apply(m, &m->watch[handle]);
	pthread_mutex_unlock(&m->watch_lock);
}

void kh_watch_set_fd(struct kvmhost_machine *m, uint32_t handle, int fd, uint32_t events)
{
	struct kh_watch *w = &m->watch[handle];

	pthread_mutex_lock(&m->watch_lock);
	if (w->fd != fd && w->in_loop) {
		kvmhost_loop_remove(m->loop, w->fd); /* from its own handler or the loop's thread: no wait */
		w->in_loop = 0;
	}
	w->fd = fd;
	w->want = events;
	apply(m, w);
	pthread_mutex_unlock(&m->watch_lock);
}

/*
 * The removes happen outside watch_lock: kvmhost_loop_remove() waits for the
 * fd's running handler, which may itself be waiting for watch_lock in
 * kh_watch_set(). Once io_quiet is set no handler puts an fd back.
 */
int kh_io_quiesce(struct kvmhost_machine *m)
{
	pthread_mutex_lock(&m->watch_lock);
	m->io_quiet = 1;
	for (uint32_t i = 0; i < m->nwatch; i++) {
		struct kh_watch *w = &m->watch[i];
		int fd = w->fd; /* what is in the loop: a handler may change w->fd meanwhile, never put one back */

		if (!w->in_loop)
			continue;
		w->in_loop = 0;
		pthread_mutex_unlock(&m->watch_lock);
		kvmhost_loop_remove(m->loop, fd); /* waits for its handler; -ENOENT if it removed itself */
		pthread_mutex_lock(&m->watch_lock);
	}
	pthread_mutex_unlock(&m->watch_lock);
	return 0;
}

int kh_io_unquiesce(struct kvmhost_machine *m)
{
	pthread_mutex_lock(&m->watch_lock);
	m->io_quiet = 0;
	for (uint32_t i = 0; i < m->nwatch; i++)
		apply(m, &m->watch[i]);
	pthread_mutex_unlock(&m->watch_lock);
	return 0;
}

void *kh_machine_io_thread(void *arg)
{
	struct kvmhost_machine *m = arg;

	kh_machine_self = m;
	while (!atomic_load(&m->io_stop))
		if (kvmhost_loop_run(m->loop) < 0) {
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, UINT32_MAX, NULL, -EIO,
					     "the I/O thread's event loop failed: %s", kvmhost_last_error());
			break;
		}
	kh_machine_thread_exit(m);
	return NULL;
}

void kh_io_destroy(struct kvmhost_machine *m)
{
	kh_io_quiesce(m);
	free(m->watch);
	m->watch = NULL;
	m->nwatch = m->watch_cap = 0;
}

KVMHOST_API int kvmhost_machine_io_fd(struct kvmhost_machine *m)
{
	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	return kvmhost_loop_fd(m->loop);
}

KVMHOST_API int kvmhost_machine_dispatch(struct kvmhost_machine *m, int timeout_ms)
{
	const struct kvmhost_machine *saved;
	int r;

	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	if (!(m->cfg.flags & KVMHOST_MACHINE_EXTERNAL_IO))
		return KH_FAIL(EINVAL, "machine %s has its own I/O thread (no KVMHOST_MACHINE_EXTERNAL_IO)",
			       m->cfg.name);
	if (kh_machine_is_self(m))
		return KH_FAIL(EDEADLK, "machine %s: dispatch from its own event callback", m->cfg.name);
	saved = kh_machine_self;
	kh_machine_self = m;
	r = kvmhost_loop_run_once(m->loop, timeout_ms);
	kh_machine_self = saved;
	return r;
}

/*
 * A machine's events: a bounded queue (the oldest event goes when it is
 * full; sequence numbers show the gap), an eventfd readable while the queue
 * holds events, and the embedder's callback, called in the thread that saw
 * the event with no machine lock held.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <kvmhost/events.h>

#include "../core/internal.h"
#include "machine_internal.h"

_Thread_local const struct kvmhost_machine *kh_machine_self;

int kh_machine_is_self(const struct kvmhost_machine *m)
{
	return kh_machine_self == m;
}

int kh_events_init(struct kh_event_queue *q)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	r = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &q->fd);
	if (r < 0)
		return r;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void kh_events_destroy(struct kh_event_queue *q)
{
	if (q->fd < 0)
		return;
	close(q->fd);
	q->fd = -1;
	pthread_mutex_destroy(&q->lock);
}

void kh_machine_emit(struct kvmhost_machine *m, uint32_t type, uint32_t reason, uint32_t vcpu, uint32_t index,
		     const char *device)
{
	struct kh_event_queue *q = &m->events;
	struct kvmhost_machine_event ev = {
	    .size = sizeof(ev), .type = type, .reason = reason, .vcpu = vcpu, .index = index};
	const struct kvmhost_machine *saved;

	if (device)
		snprintf(ev.device, sizeof(ev.device), "%s", device);
	pthread_mutex_lock(&q->lock);
	ev.sequence = ++q->sequence;
	if (q->count == KVMHOST_MACHINE_EVENT_QUEUE) { /* drop the oldest */
		q->head = (q->head + 1) % KVMHOST_MACHINE_EVENT_QUEUE;
		q->count--;
	}
	q->ev[(q->head + q->count) % KVMHOST_MACHINE_EVENT_QUEUE] = ev;
	q->count++;
	kvmhost_eventfd_signal(q->fd, 1);
	pthread_mutex_unlock(&q->lock);
	if (!m->cfg.on_event)
		return;
	saved = kh_machine_self; /* the callback counts as the machine's own thread: no pause or wait from it */
	kh_machine_self = m;
	m->cfg.on_event(m->cfg.event_opaque, m, &ev);
	kh_machine_self = saved;
}

KVMHOST_API int kvmhost_machine_event_fd(struct kvmhost_machine *m)
{
	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	return m->events.fd;
}

KVMHOST_API int kvmhost_machine_next_event(struct kvmhost_machine *m, struct kvmhost_machine_event *event)
{
	struct kh_event_queue *q;
	struct kvmhost_machine_event ev;
	uint64_t n;
	size_t size;

	if (!m || !event)
		return KH_FAIL(EINVAL, "%s is NULL", !m ? "machine" : "event");
	if (event->size < sizeof(size_t) || event->size > 65536)
		return KH_FAIL(EINVAL, "event->size %zu: set it to sizeof(struct kvmhost_machine_event)", event->size);
	q = &m->events;
	pthread_mutex_lock(&q->lock);
	if (!q->count) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	ev = q->ev[q->head];
	q->head = (q->head + 1) % KVMHOST_MACHINE_EVENT_QUEUE;
	if (--q->count == 0)
		kvmhost_eventfd_consume(q->fd, &n);
	pthread_mutex_unlock(&q->lock);
	size = KH_MIN(event->size, sizeof(ev));
	ev.size = event->size;
	memcpy(event, &ev, size);
	if (event->size > sizeof(ev))
		memset((char *)event + sizeof(ev), 0, event->size - sizeof(ev));
	return 1;
}

/*
 * The host side of a machine's virtio devices, in its I/O loop: each queue's
 * notify eventfd (served with kvmhost_virtio_wiring_service(), counted), the
 * TAP fd of a net device (watched for what the device wants: input while the
 * guest posted receive buffers, output while a transmit waits for room) and
 * the input fd of a console (watched while the guest has buffers posted).
 * The devices' ready callbacks, which run in whichever thread noticed,
 * signal the device's wake eventfd; its handler, in the loop, changes what is
 * watched. Every watch goes through the machine's watch table, so pause takes
 * all of them out of the loop at once (machine_io.c).
 */
#include <stdlib.h>
#include <kvmhost/events.h>
#include <kvmhost/loop.h>
#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/net.h>
#include <kvmhost/virtio/wiring.h>
#include <unistd.h>

#include "../core/internal.h"
#include "machine_virtio.h"

static void on_notify(int fd, uint32_t events, void *opaque)
{
	struct kh_mvq *q = opaque;

	(void)fd;
	(void)events;
	if (kvmhost_virtio_wiring_service(q->d->wiring, q->index) == 1)
		atomic_fetch_add(&q->d->notifies, 1);
	kh_machine_virtio_check_broken(q->d->m, UINT32_MAX);
}

static void net_rewatch(struct kh_mvdev *d)
{
	int w = kvmhost_virtio_net_wants(d->net);
	uint32_t mask = d->input_done ? KVMHOST_LOOP_OUT : KVMHOST_LOOP_IN | KVMHOST_LOOP_OUT;

	kh_watch_set(d->m, d->host_watch, w < 0 ? 0 : (uint32_t)w & mask);
}

static void on_net(int fd, uint32_t events, void *opaque)
{
	struct kh_mvdev *d = opaque;
	int r;

	(void)fd;
	if ((events & ~KVMHOST_LOOP_OUT) && (r = kvmhost_virtio_net_rx(d->net)) < 0 && r != -EAGAIN && r != -EINTR) {
		kh_log(KVMHOST_LOG_WARN, "machine %s: %s: receive: %s; no more input from the tap", d->m->cfg.name,
		       d->cfg->id, kvmhost_last_error());
		kvmhost_virtio_net_set_link(d->net, 0);
		d->input_done = 1;
	}
	if (events & KVMHOST_LOOP_OUT)
		kvmhost_virtio_net_tx(d->net);
	net_rewatch(d);
}

/* The console's input fd moves on a socket backend (the listening socket, then a client, then the listening
 * socket again when it hangs up): every change of the watch names the fd the device says now. */
static void console_rewatch(struct kh_mvdev *d, int want)
{
	int fd = kvmhost_virtio_console_input_fd(d->con);

	if (fd < 0)
		want = 0;
	kh_watch_set_fd(d->m, d->host_watch, fd < 0 ? d->m->watch[d->host_watch].fd : fd,
			want && !d->input_done ? KVMHOST_LOOP_IN : 0);
}

static void on_console_input(int fd, uint32_t events, void *opaque)
{
	struct kh_mvdev *d = opaque;
	int r = kvmhost_virtio_console_pump(d->con);

	(void)fd;
	(void)events;
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		d->input_done = 1; /* end of file (-EPIPE) or a read error: no more input */
	console_rewatch(d, !(r == 0 && kvmhost_virtio_console_rx_room(d->con) == 0));
}

static void on_wake(int fd, uint32_t events, void *opaque)
{
	struct kh_mvdev *d = opaque;
	uint64_t n;

	(void)events;
	kvmhost_eventfd_consume(fd, &n);
	if (d->net)
		net_rewatch(d);
	else if (d->has_host_watch)
		console_rewatch(d, 1);
}

void kh_mvdev_net_ready(void *opaque, uint32_t events)
{
	(void)events;
	kvmhost_eventfd_signal(((struct kh_mvdev *)opaque)->wake_fd, 1);
}

void kh_mvdev_console_ready(void *opaque)
{
	kvmhost_eventfd_signal(((struct kh_mvdev *)opaque)->wake_fd, 1);
}

int kh_mvdev_watch(struct kh_mvdev *d)
{
	struct kvmhost_machine *m = d->m;
	uint32_t h;
	int r;

	d->nqueues = kvmhost_virtio_device_num_queues(d->dev);
	d->queues = calloc(d->nqueues ? d->nqueues : 1, sizeof(*d->queues));
	if (!d->queues)
		return KH_FAIL(ENOMEM, "cannot allocate the queue watches");
	for (uint16_t i = 0; i < d->nqueues; i++) {
		int fd = kvmhost_virtio_wiring_notify_fd(d->wiring, i);

		d->queues[i] = (struct kh_mvq){.d = d, .index = i};
		if (fd < 0)
			return fd;
		if ((r = kh_watch_add(m, fd, KVMHOST_LOOP_IN, on_notify, &d->queues[i], &h)) < 0)
			return r;
	}
	if (d->wake_fd >= 0 && (r = kh_watch_add(m, d->wake_fd, KVMHOST_LOOP_IN, on_wake, d, &h)) < 0)
		return r;
	if (d->net) {
		if ((r = kh_watch_add(m, kvmhost_virtio_net_rx_fd(d->net), 0, on_net, d, &d->host_watch)) < 0)
			return r;
		d->has_host_watch = 1;
		net_rewatch(d);
	} else if (d->con && kvmhost_virtio_console_input_fd(d->con) >= 0) {
		if ((r = kh_watch_add(m, kvmhost_virtio_console_input_fd(d->con), KVMHOST_LOOP_IN, on_console_input, d,
				      &d->host_watch)) < 0)
			return r;
		d->has_host_watch = 1;
	}
	return 0;
}

void kh_mvdev_host_close(struct kh_mvdev *d)
{
	/* The watches went with kh_io_destroy(); only the fds this file made are left. */
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	d->wake_fd = -1;
}

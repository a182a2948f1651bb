/*
 * A machine's virtio devices (blk on an image, net on a TAP, console on an
 * fd pair, rng, and the embedder's own device) on the machine's transport,
 * wired into KVM: kicks through ioeventfds served by the machine's I/O side,
 * interrupts through irqfds (mmio: one GSI per device; pci: MSI-X routes).
 * This is what examples/kvmhost-run/virtio.c did for one VMM, as a library.
 *
 * virtio-mmio: device n where the architecture says
 * (kh_machine_arch_virtio_slot(); x86: machine_x86.h), described to the
 * guest by the architecture's tables. Quiet: after kh_io_quiesce() no kick is served, so the
 * only device work left is virtio-blk's requests in flight, which
 * kvmhost_virtio_blk_drain() completes, and the embedder's own device's
 * threads, which its pause op stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/net.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/rng.h>
#include <kvmhost/virtio/wiring.h>
#include <kvmhost/events.h>
#include <kvmhost/memory.h>
#include <kvmhost/pci.h>
#include <kvmhost/vm.h>

#include "../core/internal.h"
#include "machine_virtio.h"

static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static int make_blk(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	uint16_t q = d->cfg->num_queues ? d->cfg->num_queues
					: (uint16_t)KH_MIN(m->ncpus, (uint32_t)KVMHOST_VIRTIO_BLK_MAX_QUEUES);
	struct kvmhost_virtio_blk_options o = {
	    .size = sizeof(o),
	    .path = d->cfg->path,
	    .flags = d->cfg->flags & KVMHOST_MACHINE_DEVICE_READONLY ? KVMHOST_VIRTIO_BLK_READONLY : 0,
	    .num_queues = q,
	    .name = d->cfg->id,
	};
	int r = kvmhost_virtio_blk_create(kvmhost_vm_memory(m->vm), &o, &d->blk);

	if (r == 0)
		d->dev = kvmhost_virtio_blk_device(d->blk);
	return r;
}

static int make_net(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kvmhost_virtio_net_options o = {.size = sizeof(o),
					       .backend = KVMHOST_VIRTIO_NET_BACKEND_TAP,
					       .ready = kh_mvdev_net_ready,
					       .ready_opaque = d,
					       .name = d->cfg->id};
	int r;

	if (d->cfg->path) {
		if ((r = kvmhost_virtio_net_tap_open(d->cfg->path, NULL, 0)) < 0)
			return r;
		d->tap_fd = r;
		o.rx_fd = r;
	} else {
		o.rx_fd = d->cfg->in_fd;
	}
	if ((r = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &d->wake_fd)) < 0)
		return r;
	memcpy(o.mac, d->cfg->mac, 6);
	if (!memcmp(o.mac, "\0\0\0\0\0\0", 6)) {
		memcpy(o.mac, default_mac, 6);
		o.mac[5] = (uint8_t)(o.mac[5] + d->index);
	}
	if ((r = kvmhost_virtio_net_create(kvmhost_vm_memory(m->vm), &o, &d->net)) < 0)
		return r;
	d->dev = kvmhost_virtio_net_device(d->net);
	return 0;
}

/* The console's listening socket (DEVICE_SOCKET): a stale socket at the path is replaced (the checks refused
 * anything else there); the machine owns the fd and removes the path at destroy. */
static int listen_unix(struct kh_mvdev *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->cfg->path);
	if (lstat(d->cfg->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(d->cfg->path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return KH_FAIL_ERRNO("socket");
	d->sock_fd = fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return KH_FAIL_ERRNO("socket %s: bind", d->cfg->path);
	d->sock_bound = 1;
	if (listen(fd, 1) < 0)
		return KH_FAIL_ERRNO("socket %s: listen", d->cfg->path);
	return 0;
}

static int make_console(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kvmhost_virtio_console_options o = {.size = sizeof(o),
						   .backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO,
						   .in_fd = d->cfg->in_fd,
						   .out_fd = d->cfg->out_fd,
						   .sock_fd = -1,
						   .rx_ready = kh_mvdev_console_ready,
						   .rx_ready_opaque = d,
						   .name = d->cfg->id};
	int r;

	if (d->cfg->path && (d->cfg->flags & KVMHOST_MACHINE_DEVICE_SOCKET)) {
		if ((r = listen_unix(d)) < 0)
			return r;
		o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET;
		o.sock_fd = d->sock_fd;
	} else if (d->cfg->path) {
		o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE;
		o.path = d->cfg->path;
	}
	if ((r = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &d->wake_fd)) < 0)
		return r;
	if ((r = kvmhost_virtio_console_create(kvmhost_vm_memory(m->vm), &o, &d->con)) < 0)
		return r;
	d->dev = kvmhost_virtio_console_device(d->con);
	return 0;
}

static int make_rng(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kvmhost_virtio_rng_options o = {.size = sizeof(o), .name = d->cfg->id};
	int r = kvmhost_virtio_rng_create(kvmhost_vm_memory(m->vm), &o, &d->rng);

	if (r == 0)
		d->dev = kvmhost_virtio_rng_device(d->rng);
	return r;
}

static int make_custom(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	int r = d->cfg->ops.create(d->cfg->opaque, kvmhost_vm_memory(m->vm), &d->custom);

	if (r < 0)
		return kvmhost_last_error()[0] ? r : KH_FAIL(-r, "the create op failed");
	if (!d->custom)
		return KH_FAIL(EINVAL, "the create op returned no device");
	d->dev = d->custom;
	return 0;
}

static int attach_mmio(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo), .name = d->cfg->id};
	struct kvmhost_virtio_wire_options wo = {
	    .size = sizeof(wo), .flags = KVMHOST_VIRTIO_WIRE_IRQFD, .gsi = d->desc.gsi};
	int r;

	if ((r = kvmhost_virtio_mmio_create(d->dev, &mo, &d->mmio)) < 0 ||
	    (r = kvmhost_virtio_mmio_attach(d->mmio, m->mmio, d->desc.mmio_base)) < 0 ||
	    (r = kvmhost_virtio_mmio_get_window(d->mmio, NULL, &d->desc.mmio_length)) < 0)
		return r;
	return kvmhost_virtio_mmio_wire(m->vm, d->mmio, &wo, &d->wiring);
}

static int make_one(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	static int (*const make[])(struct kvmhost_machine *, struct kh_mvdev *) = {
	    [KVMHOST_MACHINE_DEVICE_BLK] = make_blk,	     [KVMHOST_MACHINE_DEVICE_NET] = make_net,
	    [KVMHOST_MACHINE_DEVICE_CONSOLE] = make_console, [KVMHOST_MACHINE_DEVICE_RNG] = make_rng,
	    [KVMHOST_MACHINE_DEVICE_CUSTOM] = make_custom,
	};
	int r;

	if ((r = make[d->cfg->type](m, d)) < 0)
		return r;
	if (m->cfg.transport == KVMHOST_MACHINE_TRANSPORT_PCI)
		r = kh_mvpci_attach(m, d);
	else
		r = attach_mmio(m, d);
	if (r < 0 || (r = kh_mvdev_watch(d)) < 0)
		return r;
	/* In the registry after the platform's devices, under the device's id. Its reset is the machine's reboot
	 * reset of the device; virtio-blk's pause drains it, as kh_machine_virtio_pause() does (a second drain
	 * finds nothing in flight); the other devices have no pause of their own: once the I/O side is quiet no
	 * kick is served. A custom device's pause and resume stay the machine's (its ops are the embedder's). */
	return d->blk ? kvmhost_virtio_blk_register(d->blk, m->registry, d->cfg->id)
		      : kvmhost_virtio_device_register(d->dev, m->registry, d->cfg->id);
}

int kh_machine_virtio_create(struct kvmhost_machine *m)
{
	uint32_t n = m->cfg.device_count;
	int r;

	if (!n)
		return 0;
	if (!(m->vdev = calloc(n, sizeof(*m->vdev))))
		return KH_FAIL(ENOMEM, "cannot allocate the virtio devices");
	if (m->cfg.transport == KVMHOST_MACHINE_TRANSPORT_PCI && (r = kh_mvpci_setup(m)) < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		struct kh_mvdev *d = calloc(1, sizeof(*d));

		if (!d)
			return KH_FAIL(ENOMEM, "cannot allocate a virtio device");
		m->vdev[m->nvdev++] = d;
		d->m = m;
		d->index = i;
		d->cfg = &m->cfg.devices[i];
		d->tap_fd = d->wake_fd = d->sock_fd = -1;
		kh_machine_arch_virtio_slot(m, i, &d->desc.mmio_base, &d->desc.gsi);
		if ((r = make_one(m, d)) < 0)
			return KH_FAIL(-r, "device %s: %s", d->cfg->id, kvmhost_last_error());
	}
	return 0;
}

void kh_machine_virtio_destroy(struct kvmhost_machine *m)
{
	for (uint32_t i = 0; i < m->nvdev; i++) {
		struct kh_mvdev *d = m->vdev[i];

		/* Let a console's buffered output out (giving a stuck reader a second), as COM1's. */
		for (int t = 0; d->con && t < 10 && kvmhost_virtio_console_flush(d->con) > 0; t++)
			usleep(100 * 1000);
		kvmhost_virtio_wiring_destroy(d->wiring);
		kh_mvdev_host_close(d);
		kh_mvpci_detach(m, d);
		kvmhost_virtio_mmio_destroy(d->mmio);
		kvmhost_virtio_blk_destroy(d->blk);
		kvmhost_virtio_net_destroy(d->net);
		kvmhost_virtio_console_destroy(d->con);
		kvmhost_virtio_rng_destroy(d->rng);
		if (d->custom)
			d->cfg->ops.destroy(d->cfg->opaque, d->custom);
		if (d->tap_fd >= 0)
			close(d->tap_fd);
		if (d->sock_fd >= 0)
			close(d->sock_fd);
		if (d->sock_bound)
			unlink(d->cfg->path);
		free(d->queues);
		free(d);
	}
	free(m->vdev);
	m->vdev = NULL;
	m->nvdev = 0;
	kh_mvpci_teardown(m);
}

int kh_machine_virtio_pause(struct kvmhost_machine *m)
{
	int r = 0;

	for (uint32_t i = 0; i < m->nvdev; i++) {
		struct kh_mvdev *d = m->vdev[i];

		if (d->blk)
			kvmhost_virtio_blk_drain(d->blk); /* requests in flight complete, their interrupts delivered */
		if (d->custom && d->cfg->ops.pause && !d->paused) {
			if ((r = d->cfg->ops.pause(d->cfg->opaque)) < 0) {
				r = KH_FAIL(-r, "device %s: its pause op failed", d->cfg->id);
				for (uint32_t k = 0; k < i; k++) /* undo, newest first */
					if (m->vdev[i - 1 - k]->paused) {
						m->vdev[i - 1 - k]->cfg->ops.resume(m->vdev[i - 1 - k]->cfg->opaque);
						m->vdev[i - 1 - k]->paused = 0;
					}
				return r;
			}
			d->paused = 1;
		}
	}
	return 0;
}

int kh_machine_virtio_resume(struct kvmhost_machine *m)
{
	for (uint32_t k = 0; k < m->nvdev; k++) {
		struct kh_mvdev *d = m->vdev[m->nvdev - 1 - k];
		int r;

		if (!d->paused)
			continue;
		if ((r = d->cfg->ops.resume(d->cfg->opaque)) < 0)
			return KH_FAIL(-r, "device %s: its resume op failed", d->cfg->id);
		d->paused = 0;
	}
	return 0;
}

void kh_machine_virtio_kick(struct kvmhost_machine *m)
{
	for (uint32_t k = 0; k < m->nvdev; k++) {
		struct kh_mvdev *d = m->vdev[k];
		int n = kvmhost_virtio_device_kick_queues(d->dev, 0);

		if (n < 0)
			kh_log(KVMHOST_LOG_WARN, "machine %s: device %s: %s", m->cfg.name, d->cfg->id,
			       kvmhost_last_error());
		for (uint16_t i = 0; n != 0 && i < d->nqueues; i++) {
			int fd = kvmhost_virtio_wiring_notify_fd(d->wiring, i);

			if (fd >= 0 && kvmhost_virtq_is_enabled(kvmhost_virtio_device_queue(d->dev, i)) == 1)
				(void)kvmhost_eventfd_signal(fd, 1);
		}
	}
}

/* The devices themselves are reset by the registry's reset (they are registered), which runs next. */
void kh_machine_virtio_reset(struct kvmhost_machine *m)
{
	for (uint32_t i = 0; i < m->nvdev; i++)
		atomic_store(&m->vdev[i]->broken_reported, 0);
}

void kh_machine_virtio_check_broken(struct kvmhost_machine *m, uint32_t vcpu)
{
	for (uint32_t i = 0; i < m->nvdev; i++) {
		struct kh_mvdev *d = m->vdev[i];
		char why[96];

		if (atomic_load(&d->broken_reported) ||
		    kvmhost_virtio_device_needs_reset(d->dev, why, sizeof(why)) != 1)
			continue;
		if (atomic_exchange(&d->broken_reported, 1))
			continue;
		kh_log(KVMHOST_LOG_WARN, "machine %s: device %s is broken: %s", m->cfg.name, d->cfg->id, why);
		kh_machine_emit(m, KVMHOST_MACHINE_EVENT_DEVICE_BROKEN, 0, vcpu, i, d->cfg->id);
	}
}

int kh_machine_virtio_stats(struct kvmhost_machine *m, uint32_t index, struct kvmhost_machine_device_stats *stats)
{
	struct kh_mvdev *d = m->vdev[index];
	struct kvmhost_machine_device_stats s = {.size = sizeof(s)};
	size_t size;

	s.notifies = atomic_load(&d->notifies);
	s.bad_accesses = d->mmio ? kvmhost_virtio_mmio_bad_accesses(d->mmio) : kvmhost_virtio_pci_bad_accesses(d->pci);
	s.broken = kvmhost_virtio_device_needs_reset(d->dev, NULL, 0) == 1;
	size = KH_MIN(stats->size, sizeof(s));
	s.size = stats->size;
	memcpy(stats, &s, size);
	if (stats->size > sizeof(s))
		memset((char *)stats + sizeof(s), 0, stats->size - sizeof(s));
	return 0;
}

struct kvmhost_virtio_device *kh_machine_virtio_device(struct kvmhost_machine *m, uint32_t index)
{
	return index < m->nvdev ? m->vdev[index]->dev : NULL;
}

int kh_machine_virtio_describe(struct kvmhost_machine *m, uint32_t index, struct kh_virtio_desc *d)
{
	if (index >= m->nvdev || m->cfg.transport != KVMHOST_MACHINE_TRANSPORT_MMIO)
		return -ENOENT;
	*d = m->vdev[index]->desc;
	return 0;
}

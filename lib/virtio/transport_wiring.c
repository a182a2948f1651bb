/*
 * KVM wiring of the virtio transports (virtio/wiring.h): the only virtio
 * code that calls KVM. Notify eventfds become ioeventfds on the transport's
 * notify addresses and are served by an event loop; interrupts leave
 * through irqfds (virtio-mmio: on the device's GSI; virtio-pci: one per
 * MSI-X vector on a routed GSI) or KVM_SIGNAL_MSI.
 *
 * The PCI transport calls the hooks installed here with its interrupt lock
 * held (lock order: transport irq_lock, then w->lock, then the router's);
 * w->lock guards the ioeventfd registrations, which follow BAR moves.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kvmhost/events.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/loop.h>
#include <kvmhost/pci.h>
#include <kvmhost/vm.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/wiring.h>

#include "../core/internal.h"
#include "transport_internal.h"

struct kh_wire_queue {
	struct kvmhost_virtio_wiring *w;
	uint16_t index;
	int fd;
	int in_loop;
	int registered; /* ioe is registered with KVM */
	struct kvmhost_ioeventfd_options ioe;
};

struct kh_wire_vector {
	int fd; /* irqfd's eventfd, -1 when delivered with KVM_SIGNAL_MSI */
	uint32_t gsi;
	int have_gsi;
	int irqfd; /* attached */
};

struct kvmhost_virtio_wiring {
	pthread_mutex_t lock;
	struct kvmhost_vm *vm;
	struct kvmhost_virtio_device *dev;
	struct kvmhost_loop *loop;
	uint16_t num_queues;
	struct kh_wire_queue *queues;

	/* virtio-mmio */
	struct kvmhost_virtio_mmio *mmio;
	struct kvmhost_irq_line *old_line; /* given back at destroy */
	struct kvmhost_irq_line *line;	   /* ours, on irq_fd */
	int line_installed;
	int irq_fd;
	uint32_t gsi;
	int irqfd;

	/* virtio-pci */
	struct kvmhost_virtio_pci *pci;
	struct kvmhost_msi_router *router;
	uint16_t nvec;
	struct kh_wire_vector *vectors;
	int hooked;
};

/* ---- notifications ---- */

static void kh_wire_kick(int fd, uint32_t events, void *opaque)
{
	struct kh_wire_queue *q = opaque;
	uint64_t v;

	(void)events;
	if (kvmhost_eventfd_consume(fd, &v) == 0)
		(void)kvmhost_virtio_device_queue_notify(q->w->dev, q->index);
}

/* Make queue @q's ioeventfd sit at @addr (UINT64_MAX: nowhere). w->lock held. */
static int kh_wire_place(struct kvmhost_virtio_wiring *w, struct kh_wire_queue *q, uint64_t addr)
{
	int err;

	if (q->registered && q->ioe.addr == addr)
		return 0;
	if (q->registered) {
		err = kvmhost_vm_remove_ioeventfd(w->vm, &q->ioe);
		if (err < 0)
			kh_log(KVMHOST_LOG_WARN,
			       "virtio wiring: queue %u: cannot remove the ioeventfd at 0x%" PRIx64 ": %s", q->index,
			       q->ioe.addr, kvmhost_last_error());
		q->registered = 0;
	}
	if (addr == UINT64_MAX)
		return 0;
	q->ioe.addr = addr;
	err = kvmhost_vm_add_ioeventfd(w->vm, &q->ioe);
	if (err < 0)
		return err;
	q->registered = 1;
	return 0;
}

/* Eventfds for every queue, watched by the loop if there is one. */
static int kh_wire_queues(struct kvmhost_virtio_wiring *w)
{
	int err;

	w->queues = calloc(w->num_queues, sizeof(*w->queues));
	if (!w->queues)
		return KH_FAIL(ENOMEM, "cannot allocate the wiring");
	for (uint16_t i = 0; i < w->num_queues; i++)
		w->queues[i].fd = -1;
	for (uint16_t i = 0; i < w->num_queues; i++) {
		struct kh_wire_queue *q = &w->queues[i];

		q->w = w;
		q->index = i;
		err = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &q->fd);
		if (err < 0)
			return err;
		q->ioe.size = sizeof(q->ioe);
		q->ioe.space = KVMHOST_IO_SPACE_MMIO;
		q->ioe.fd = q->fd;
		if (w->loop) {
			err = kvmhost_loop_add(w->loop, q->fd, KVMHOST_LOOP_IN, kh_wire_kick, q);
			if (err < 0)
				return err;
			q->in_loop = 1;
		}
	}
	return 0;
}

/* ---- virtio-pci hooks (transport irq_lock held) ---- */

static void kh_wire_bar_moved(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
	struct kvmhost_virtio_wiring *w = opaque;

	(void)old_addr;
	pthread_mutex_lock(&w->lock);
	for (uint16_t i = 0; i < w->num_queues; i++) {
		uint64_t at = new_addr == KVMHOST_PCI_BAR_UNMAPPED
				  ? UINT64_MAX
				  : new_addr + KH_VPCI_NOTIFY_OFF + (uint64_t)i * KH_VPCI_NOTIFY_MULT;

		if (kh_wire_place(w, &w->queues[i], at) < 0)
			kh_log(KVMHOST_LOG_WARN,
			       "virtio wiring: queue %u kicks at 0x%" PRIx64 " will exit to userspace: %s", i, at,
			       kvmhost_last_error());
	}
	pthread_mutex_unlock(&w->lock);
}

static int kh_wire_msi_signal(void *opaque, uint16_t vector, uint64_t address, uint32_t data)
{
	struct kvmhost_virtio_wiring *w = opaque;

	if (vector < w->nvec && w->vectors[vector].irqfd)
		return kvmhost_eventfd_signal(w->vectors[vector].fd, 1);
	return kvmhost_vm_signal_msi(w->vm, address, data, 0, 0);
}

static void kh_wire_msi_update(void *opaque, uint16_t vector, uint64_t address, uint32_t data, int deliverable)
{
	struct kvmhost_virtio_wiring *w = opaque;
	int err;

	/* Only a deliverable entry holds what the guest means; the route of a
	 * masked one is not used (pending vectors are sent after this update). */
	if (vector >= w->nvec || !w->vectors[vector].irqfd || !deliverable)
		return;
	err = kvmhost_msi_router_set(w->router, w->vectors[vector].gsi, address, data);
	if (err < 0) {
		/* Fall back to KVM_SIGNAL_MSI for this vector. */
		kh_log(KVMHOST_LOG_WARN, "virtio wiring: MSI-X vector %u: no route (%s); using KVM_SIGNAL_MSI", vector,
		       kvmhost_last_error());
		pthread_mutex_lock(&w->lock);
		(void)kvmhost_vm_remove_irqfd(w->vm, w->vectors[vector].fd, w->vectors[vector].gsi);
		w->vectors[vector].irqfd = 0;
		pthread_mutex_unlock(&w->lock);
	}
}

/* ---- create / destroy ---- */

static int kh_wire_new(struct kvmhost_vm *vm, const struct kvmhost_virtio_wire_options *opts,
		       struct kvmhost_virtio_wire_options *o, struct kvmhost_virtio_wiring **out, const char *func)
{
	struct kvmhost_virtio_wiring *w;
	int err;

	if (out)
		*out = NULL;
	if (!vm || !out)
		return kh_fail(EINVAL, func, "vm, transport or out is NULL");
	err = kh_copy_options(o, sizeof(*o), opts, func);
	if (err < 0)
		return err;
	if (o->flags & ~KVMHOST_VIRTIO_WIRE_IRQFD)
		return kh_fail(EINVAL, func, "unknown flags 0x%x", o->flags);
	w = calloc(1, sizeof(*w));
	if (!w)
		return kh_fail(ENOMEM, func, "cannot allocate the wiring");
	pthread_mutex_init(&w->lock, NULL);
	w->vm = vm;
	w->loop = o->loop;
	w->irq_fd = -1;
	*out = w;
	return 0;
}

KVMHOST_API void kvmhost_virtio_wiring_destroy(struct kvmhost_virtio_wiring *w)
{
	if (!w)
		return;
	if (w->hooked)
		kh_virtio_pci_set_hooks(w->pci, NULL);
	if (w->line_installed && kvmhost_virtio_mmio_set_irq(w->mmio, w->old_line) < 0)
		(void)kvmhost_virtio_mmio_set_irq(w->mmio, NULL);
	for (uint16_t i = 0; w->queues && i < w->num_queues; i++) {
		struct kh_wire_queue *q = &w->queues[i];

		if (q->in_loop)
			(void)kvmhost_loop_remove(w->loop, q->fd);
		if (q->registered)
			(void)kvmhost_vm_remove_ioeventfd(w->vm, &q->ioe);
		if (q->fd >= 0)
			close(q->fd);
	}
	for (uint16_t v = 0; w->vectors && v < w->nvec; v++) {
		struct kh_wire_vector *x = &w->vectors[v];

		if (x->irqfd)
			(void)kvmhost_vm_remove_irqfd(w->vm, x->fd, x->gsi);
		if (x->have_gsi)
			(void)kvmhost_msi_router_free(w->router, x->gsi);
		if (x->fd >= 0)
			close(x->fd);
	}
	if (w->irqfd)
		(void)kvmhost_vm_remove_irqfd(w->vm, w->irq_fd, w->gsi);
	kvmhost_irq_line_destroy(w->line);
	if (w->irq_fd >= 0)
		close(w->irq_fd);
	pthread_mutex_destroy(&w->lock);
	free(w->queues);
	free(w->vectors);
	free(w);
}

KVMHOST_API int kvmhost_virtio_mmio_wire(struct kvmhost_vm *vm, struct kvmhost_virtio_mmio *mmio,
					 const struct kvmhost_virtio_wire_options *opts,
					 struct kvmhost_virtio_wiring **out)
{
	struct kvmhost_virtio_wire_options o;
	struct kvmhost_virtio_wiring *w;
	uint64_t base;
	int err;

	if (!mmio) {
		if (out)
			*out = NULL;
		return KH_FAIL(EINVAL, "mmio is NULL");
	}
	err = kh_wire_new(vm, opts, &o, out, __func__);
	if (err < 0)
		return err;
	w = *out;
	*out = NULL;
	w->mmio = mmio;
	w->dev = kh_virtio_mmio_device(mmio);
	w->num_queues = kvmhost_virtio_device_num_queues(w->dev);
	err = kvmhost_virtio_mmio_get_window(mmio, &base, NULL);
	if (err == 0)
		err = kh_wire_queues(w);
	for (uint16_t i = 0; err == 0 && i < w->num_queues; i++) {
		struct kh_wire_queue *q = &w->queues[i];

		/* QueueNotify takes the queue index: one datamatch per queue. */
		q->ioe.len = 4;
		q->ioe.datamatch = 1;
		q->ioe.datamatch_value = i;
		err = kh_wire_place(w, q, base + KVMHOST_VIRTIO_MMIO_QUEUE_NOTIFY);
	}
	if (err == 0 && (o.flags & KVMHOST_VIRTIO_WIRE_IRQFD)) {
		w->gsi = o.gsi;
		err = kvmhost_eventfd_create(0, &w->irq_fd);
		if (err == 0)
			err = kvmhost_vm_add_irqfd(vm, w->irq_fd, o.gsi, -1);
		if (err == 0) {
			w->irqfd = 1;
			err = kvmhost_irq_line_create_irqfd(w->irq_fd, &w->line);
		}
		if (err == 0) {
			w->old_line = kh_virtio_mmio_irq(mmio);
			err = kvmhost_virtio_mmio_set_irq(mmio, w->line);
			w->line_installed = err == 0;
		}
	}
	if (err < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
		kvmhost_virtio_wiring_destroy(w);
		return kh_fail(-err, __func__, "%s", msg);
	}
	*out = w;
	return 0;
}

KVMHOST_API int kvmhost_virtio_pci_wire(struct kvmhost_vm *vm, struct kvmhost_virtio_pci *vpci,
					const struct kvmhost_virtio_wire_options *opts,
					struct kvmhost_virtio_wiring **out)
{
	struct kvmhost_virtio_wire_options o;
	struct kh_vpci_hooks hooks = {0};
	struct kvmhost_virtio_wiring *w;
	int err;

	if (!vpci) {
		if (out)
			*out = NULL;
		return KH_FAIL(EINVAL, "vpci is NULL");
	}
	err = kh_wire_new(vm, opts, &o, out, __func__);
	if (err < 0)
		return err;
	w = *out;
	*out = NULL;
	if (o.flags & KVMHOST_VIRTIO_WIRE_IRQFD) {
		kvmhost_virtio_wiring_destroy(w);
		return KH_FAIL(EINVAL, "KVMHOST_VIRTIO_WIRE_IRQFD is for virtio-mmio (PCI uses MSI-X routes)");
	}
	w->pci = vpci;
	w->router = o.router;
	w->dev = kh_virtio_pci_vdev(vpci);
	w->num_queues = kvmhost_virtio_device_num_queues(w->dev);
	w->nvec = kh_virtio_pci_msix_vectors(vpci);
	err = kh_wire_queues(w);
	for (uint16_t i = 0; err == 0 && i < w->num_queues; i++)
		w->queues[i].ioe.len = 2; /* drivers write the 16-bit queue index */
	if (err == 0 && w->nvec) {
		w->vectors = calloc(w->nvec, sizeof(*w->vectors));
		if (!w->vectors)
			err = KH_FAIL(ENOMEM, "cannot allocate the wiring");
		for (uint16_t v = 0; err == 0 && v < w->nvec; v++)
			w->vectors[v].fd = -1;
	}
	for (uint16_t v = 0; err == 0 && v < w->nvec; v++) {
		struct kh_wire_vector *x = &w->vectors[v];
		int e;

		if (!w->router)
			continue;
		/* A vector without an irqfd still works, through KVM_SIGNAL_MSI. */
		e = kvmhost_msi_router_alloc(w->router, &x->gsi);
		if (e == 0) {
			x->have_gsi = 1;
			e = kvmhost_eventfd_create(0, &x->fd);
		}
		if (e == 0)
			e = kvmhost_vm_add_irqfd(vm, x->fd, x->gsi, -1);
		if (e == 0) {
			x->irqfd = 1;
		} else {
			kh_log(KVMHOST_LOG_WARN, "virtio wiring: MSI-X vector %u uses KVM_SIGNAL_MSI: %s", v,
			       kvmhost_last_error());
			if (x->have_gsi)
				(void)kvmhost_msi_router_free(w->router, x->gsi);
			x->have_gsi = 0;
			if (x->fd >= 0)
				close(x->fd);
			x->fd = -1;
		}
	}
	if (err < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
		kvmhost_virtio_wiring_destroy(w);
		return kh_fail(-err, __func__, "%s", msg);
	}
	hooks.opaque = w;
	hooks.bar_moved = kh_wire_bar_moved;
	hooks.msi_signal = kh_wire_msi_signal;
	hooks.msi_update = kh_wire_msi_update;
	kh_virtio_pci_set_hooks(vpci, &hooks);
	w->hooked = 1;
	*out = w;
	return 0;
}

KVMHOST_API int kvmhost_virtio_wiring_notify_fd(struct kvmhost_virtio_wiring *wiring, uint16_t queue)
{
	if (!wiring)
		return KH_FAIL(EINVAL, "wiring is NULL");
	if (queue >= wiring->num_queues)
		return KH_FAIL(EINVAL, "queue %u out of range (%u queues)", queue, wiring->num_queues);
	return wiring->queues[queue].fd;
}

KVMHOST_API int kvmhost_virtio_wiring_service(struct kvmhost_virtio_wiring *wiring, uint16_t queue)
{
	uint64_t v;
	int err;

	if (!wiring)
		return KH_FAIL(EINVAL, "wiring is NULL");
	if (queue >= wiring->num_queues)
		return KH_FAIL(EINVAL, "queue %u out of range (%u queues)", queue, wiring->num_queues);
	err = kvmhost_eventfd_consume(wiring->queues[queue].fd, &v);
	if (err == -EAGAIN)
		return 0;
	if (err < 0)
		return err;
	(void)kvmhost_virtio_device_queue_notify(wiring->dev, queue);
	return 1;
}

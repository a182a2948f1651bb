/*
 * virtio-pci for a machine: one PCI host bridge (type-1 configuration ports,
 * its default windows), an MSI router (MSI-X vectors as KVM MSI routes with
 * irqfds), and four INTx lines for guests without MSI: device n sits in slot
 * n + 1 and its INTA raises line (slot % 4), GSI 16 + that, level-triggered,
 * as the platform's tables say. Functions that share a line are ORed here.
 */
#include <stdlib.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/pci.h>
#include <kvmhost/vm.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/wiring.h>

#include "../core/internal.h"
#include "machine_virtio.h"

#define INTX_GSI_BASE 16u

struct kh_intx_pin {
	struct kvmhost_vm *vm;
	uint32_t gsi;
	int asserted; /* functions asserting it now */
	pthread_mutex_t lock;
};

struct kh_mvpci {
	struct kvmhost_pci_host *host;
	struct kvmhost_msi_router *router;
	struct kh_intx_pin intx[4];
};

static int intx_set(void *opaque, int level)
{
	struct kh_intx_pin *p = opaque;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	p->asserted += level ? 1 : -1; /* a line passes on changes only: each call flips one function's level */
	if (p->asserted == !!level)    /* the first function up, or the last one down */
		r = kvmhost_vm_set_irq_line(p->vm, p->gsi, level);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int kh_mvpci_setup(struct kvmhost_machine *m)
{
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho), .mmio = m->mmio, .name = "pci"};
	struct kvmhost_msi_router_options ro = {.size = sizeof(ro), .flags = KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS};
	struct kh_mvpci *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return KH_FAIL(ENOMEM, "cannot allocate the PCI host");
	m->virtio_shared = p;
	for (uint32_t k = 0; k < 4; k++) {
		p->intx[k] = (struct kh_intx_pin){.vm = m->vm, .gsi = INTX_GSI_BASE + k};
		pthread_mutex_init(&p->intx[k].lock, NULL);
	}
	if ((r = kvmhost_pci_host_create(&ho, &p->host)) < 0 || (r = kvmhost_pci_host_attach_pio(p->host, m->pio)) < 0)
		return r;
	return kvmhost_msi_router_create(m->vm, &ro, &p->router);
}

int kh_mvpci_attach(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kh_mvpci *p = m->virtio_shared;
	uint32_t slot = d->index + 1;
	struct kh_intx_pin *pin = &p->intx[slot % 4];
	struct kvmhost_irq_line_options lo = {
	    .size = sizeof(lo), .set_level = intx_set, .opaque = pin, .name = d->cfg->id};
	struct kvmhost_virtio_pci_options po = {
	    .size = sizeof(po), .interrupt_line = (uint8_t)pin->gsi, .name = d->cfg->id};
	struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo), .router = p->router};
	int r;

	if ((r = kvmhost_irq_line_create(&lo, &d->intx)) < 0)
		return r;
	po.intx = d->intx;
	if ((r = kvmhost_virtio_pci_create(d->dev, &po, &d->pci)) < 0 ||
	    (r = kvmhost_pci_host_add_device(p->host, kvmhost_virtio_pci_device(d->pci), (int)slot)) < 0)
		return r;
	return kvmhost_virtio_pci_wire(m->vm, d->pci, &wo, &d->wiring);
}

void kh_mvpci_detach(struct kvmhost_machine *m, struct kh_mvdev *d)
{
	struct kh_mvpci *p = m->virtio_shared;

	if (d->pci && p && p->host)
		kvmhost_pci_host_remove_device(p->host, kvmhost_virtio_pci_device(d->pci));
	kvmhost_virtio_pci_destroy(d->pci);
	d->pci = NULL;
	kvmhost_irq_line_destroy(d->intx);
	d->intx = NULL;
}

void kh_mvpci_teardown(struct kvmhost_machine *m)
{
	struct kh_mvpci *p = m->virtio_shared;

	if (!p)
		return;
	kvmhost_pci_host_destroy(p->host);
	kvmhost_msi_router_destroy(p->router);
	for (uint32_t k = 0; k < 4; k++)
		pthread_mutex_destroy(&p->intx[k].lock);
	free(p);
	m->virtio_shared = NULL;
}

struct kvmhost_pci_host *kh_machine_virtio_pci_host(struct kvmhost_machine *m)
{
	struct kh_mvpci *p = m->virtio_shared;

	return p ? p->host : NULL;
}

struct kvmhost_msi_router *kh_mvpci_router(struct kvmhost_machine *m)
{
	struct kh_mvpci *p = m->virtio_shared;

	return p ? p->router : NULL;
}

/*
 * The machine's virtio devices, shared by machine_virtio.c (the devices and
 * their transports), machine_virtio_pci.c (the PCI host bridge, MSI router
 * and INTx pins) and machine_virtio_host.c (the host side: notify fds, TAP
 * and console input).
 */
#ifndef KVMHOST_MACHINE_VIRTIO_H
#define KVMHOST_MACHINE_VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "machine_internal.h"

struct kvmhost_irq_line;
struct kvmhost_virtio_wiring;

/* One virtio device of a machine. */
struct kh_mvdev {
	struct kvmhost_machine *m;
	uint32_t index;
	const struct kh_mdevice *cfg;
	struct kvmhost_virtio_device *dev;
	struct kvmhost_virtio_blk *blk;
	struct kvmhost_virtio_net *net;
	struct kvmhost_virtio_console *con;
	struct kvmhost_virtio_rng *rng;
	struct kvmhost_virtio_device *custom; /* made by cfg->ops.create */
	struct kvmhost_virtio_mmio *mmio;
	struct kvmhost_virtio_pci *pci;
	struct kvmhost_virtio_wiring *wiring;
	struct kvmhost_irq_line *intx; /* pci: this function's INTA */
	struct kh_virtio_desc desc;    /* mmio: window and GSI */
	int tap_fd;		       /* net: owned TAP fd, -1 */
	int sock_fd;		       /* console on a socket: the owned listening fd, -1 */
	int sock_bound;		       /* console on a socket: the path is ours to remove */
	int wake_fd;		       /* net, console: eventfd the device's ready callback signals; -1 */
	uint32_t host_watch;	       /* net: the TAP's watch; console: its input's */
	int has_host_watch;
	int input_done; /* no more input: the console's reached end of file, the TAP failed */
	int paused;	/* custom: its pause op ran */
	_Atomic uint64_t notifies;
	atomic_int broken_reported;
	uint16_t nqueues;
	struct kh_mvq {
		struct kh_mvdev *d;
		uint16_t index;
	} * queues;
};

/* machine_virtio_host.c: the notify fds of every queue, the TAP and the console input into the watch table. */
int kh_mvdev_watch(struct kh_mvdev *d);
void kh_mvdev_host_close(struct kh_mvdev *d);
/* The devices' ready callbacks (any thread): wake the I/O side. */
void kh_mvdev_net_ready(void *opaque, uint32_t events);
void kh_mvdev_console_ready(void *opaque);

/* machine_virtio_pci.c */
int kh_mvpci_setup(struct kvmhost_machine *m);
int kh_mvpci_attach(struct kvmhost_machine *m, struct kh_mvdev *d);
void kh_mvpci_detach(struct kvmhost_machine *m, struct kh_mvdev *d);
void kh_mvpci_teardown(struct kvmhost_machine *m);
struct kvmhost_msi_router;
struct kvmhost_msi_router *kh_mvpci_router(struct kvmhost_machine *m);

#endif

/*
 * Private layout of PCI devices and the host bridge, shared by
 * pci_device.c (configuration header semantics, BAR registers,
 * capabilities, INTx) and pci_host.c (configuration mechanisms, slots, BAR
 * placement and mapping on the buses).
 *
 * Locks: host->lock serialises configuration accesses, slots and BAR
 * mapping (it is held while ranges are registered on the MMIO bus, which
 * waits for the MMIO bus's callbacks in flight, so no callback of that bus
 * may take it; pci_host.c's per-thread markers make such a call fail with
 * -EDEADLK). dev->lock guards the configuration bytes and the INTx level; it
 * is never held while calling a hook or registering a range. host->io_lock
 * (a read-write lock) guards the I/O window's view of mapped I/O BARs; I/O
 * BAR callbacks run under its read side. Order: host->lock, then io_lock or
 * the MMIO bus's writer lock, then dev->lock (docs/architecture.md, "Locks
 * and callbacks").
 */
#ifndef KVMHOST_PCI_INTERNAL_H
#define KVMHOST_PCI_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <kvmhost/pci.h>

#include "../core/internal.h"

#define KH_PCI_SLOTS	 32u
#define KH_PCI_CAP_START 0x40u

struct kh_pci_bar {
	int present; /* defined with add_bar (the lower half of a 64-bit BAR) */
	int upper;   /* the upper half of the 64-bit BAR below */
	enum kvmhost_pci_bar_type type;
	uint64_t length;
	uint32_t flags;
	kvmhost_bus_read_fn read;
	kvmhost_bus_write_fn write;
	void *opaque;
	uint64_t mapped; /* where it is registered now, or UNMAPPED (host->lock) */
	struct kvmhost_pci_device *dev;
	uint32_t index;
};

struct kvmhost_pci_device {
	pthread_mutex_t lock;
	uint8_t cfg[KVMHOST_PCI_CONFIG_SIZE];
	uint8_t wmask[KVMHOST_PCI_CONFIG_SIZE];
	uint8_t w1c[KVMHOST_PCI_CONFIG_SIZE];
	uint32_t cap_end;  /* next free capability offset */
	uint32_t last_cap; /* offset of the last capability, 0 if none */
	struct kh_pci_bar bars[KVMHOST_PCI_NUM_BARS];
	struct kvmhost_irq_line *intx;
	int intx_level;
	kvmhost_pci_config_read_fn config_read;
	kvmhost_pci_config_write_fn config_write;
	kvmhost_pci_bar_moved_fn bar_moved;
	void *opaque;
	char *name;
	struct kvmhost_pci_host *host; /* host->lock */
	int slot;
};

static inline uint32_t kh_pci_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void kh_pci_st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* pci_device.c, called by the host with host->lock held. */

/* A guest read of @len (1, 2, 4) bytes at @offset (inside one dword, below
 * 4096; 256 and up read as 0), with the model's hook. */
void kh_pci_dev_config_read(struct kvmhost_pci_device *dev, uint32_t offset, uint8_t *data, uint32_t len);
/* A guest write; returns 1 when BAR mappings may have to change. */
int kh_pci_dev_config_write(struct kvmhost_pci_device *dev, uint32_t offset, const uint8_t *data, uint32_t len);
/* The programmed address of a present BAR (type bits stripped). */
uint64_t kh_pci_dev_bar_addr(struct kvmhost_pci_device *dev, uint32_t bar);
/* Whether decoding of a BAR's kind is enabled in Command. */
int kh_pci_dev_decode(struct kvmhost_pci_device *dev, uint32_t bar);
/* Program a BAR's address and enable decoding, as firmware (at add). */
void kh_pci_dev_place_bar(struct kvmhost_pci_device *dev, uint32_t bar, uint64_t addr);

/*
 * Migration state of a function's header, for the models that serialise
 * themselves (virtio-pci): the 256 configuration bytes as the guest left
 * them, then u8 INTx level, u8 pad[3]. check() refuses, naming @func, a
 * state whose read-only bytes (identity, capability list, BAR type and size
 * bits) differ from this function's, or with bad padding: another device
 * model or shape. load() (a checked state only) writes the writable bytes
 * (write masks, BAR address bits, Status's write-1-to-clear bits) and the
 * INTx level (driving the line); then kh_pci_host_remap_device() maps the
 * BARs where they now say (bar_moved hooks run: the caller holds no lock a
 * hook takes). Only on a function the guest is not accessing (a restore).
 */
#define KH_PCI_STATE_SIZE (KVMHOST_PCI_CONFIG_SIZE + 4u)
void kh_pci_dev_state_save(struct kvmhost_pci_device *dev, uint8_t out[KH_PCI_STATE_SIZE]);
int kh_pci_dev_state_check(struct kvmhost_pci_device *dev, const uint8_t in[KH_PCI_STATE_SIZE], const char *func);
/* The registers and the INTx level (dev->lock only; no BAR mapping). */
void kh_pci_dev_state_load(struct kvmhost_pci_device *dev, const uint8_t in[KH_PCI_STATE_SIZE]);
/* pci_host.c: map the function's BARs where its registers say (host->lock; no-op off a host). */
void kh_pci_host_remap_device(struct kvmhost_pci_device *dev);

#endif

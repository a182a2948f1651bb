/*
 * MSI-X (PCI 3.0 section 6.8.2) for the library's PCI device models: the
 * capability bytes, the vector table and the pending bit array, and the
 * masking rules that decide whether a vector fires now or stays pending.
 * Plain data with no lock of its own: the model serialises every call
 * (virtio-pci does it with its interrupt lock) and acts on what the calls
 * report (which vectors changed, which became deliverable).
 */
#ifndef KVMHOST_PCI_MSIX_INTERNAL_H
#define KVMHOST_PCI_MSIX_INTERNAL_H

#include <stdint.h>

#define KH_MSIX_ENTRY_SIZE 16u
#define KH_MSIX_CAP_LEN	   12u
#define KH_MSIX_MAX	   2048u
/* Message Control bits. */
#define KH_MSIX_CTRL_ENABLE  0x8000u
#define KH_MSIX_CTRL_MASKALL 0x4000u
/* Vector Control: masked. */
#define KH_MSIX_ENTRY_MASKED 0x1u

struct kh_msix {
	uint16_t nvec;
	uint8_t *table; /* nvec entries of 16 bytes, as the guest sees them */
	uint64_t *pba;	/* pending bits */
	int enabled;	/* Message Control: MSI-X Enable */
	int masked_all; /* Message Control: Function Mask */
};

/* 0 or -ENOMEM; every vector starts masked, as after reset. */
int kh_msix_init(struct kh_msix *m, uint16_t nvec);
void kh_msix_fini(struct kh_msix *m);
/* Back to power-on: entries zero and masked, nothing pending, disabled. */
void kh_msix_reset(struct kh_msix *m);

/* Bytes of the table and of the pending bit array. */
uint32_t kh_msix_table_size(uint16_t nvec);
uint32_t kh_msix_pba_size(uint16_t nvec);

/* Fill the 12 bytes of the capability (ID and next bytes left 0) and its
 * write mask (Enable and Function Mask only). */
void kh_msix_cap(uint16_t nvec, uint8_t bar, uint32_t table_off, uint32_t pba_off, uint8_t cap[KH_MSIX_CAP_LEN],
		 uint8_t wmask[KH_MSIX_CAP_LEN]);

/* Apply Message Control as the guest left it. Returns 1 if enable or
 * function mask changed. */
int kh_msix_set_control(struct kh_msix *m, uint16_t control);

/* Table access at @off (4 or 8 bytes, aligned); other sizes read all ones
 * and are dropped. A write returns the vector it touched, or -1. */
void kh_msix_table_read(const struct kh_msix *m, uint32_t off, uint8_t *data, uint32_t len);
int kh_msix_table_write(struct kh_msix *m, uint32_t off, const uint8_t *data, uint32_t len);
/* PBA read (4 or 8 bytes, aligned; others all ones); the PBA is read-only. */
void kh_msix_pba_read(const struct kh_msix *m, uint32_t off, uint8_t *data, uint32_t len);

/* Entry @v: address and data. */
void kh_msix_entry(const struct kh_msix *m, uint16_t v, uint64_t *address, uint32_t *data);
/* Whether vector @v would be delivered now (enabled, function and entry unmasked). */
int kh_msix_deliverable(const struct kh_msix *m, uint16_t v);
/* The device raises vector @v: 1 if it is to be signalled now, 0 if it was
 * left pending (masked). */
int kh_msix_fire(struct kh_msix *m, uint16_t v);
/* If @v is pending and deliverable now, clear its bit and return 1. */
int kh_msix_take_pending(struct kh_msix *m, uint16_t v);

/*
 * Migration state: the table (as the guest reads it) then the pending bit
 * array (little-endian, kh_msix_pba_size() bytes). Enable and Function Mask
 * are Message Control's, in the function's configuration space: the model
 * applies them with kh_msix_set_control(). check() returns 0 or -EINVAL
 * (reserved Vector Control bits set, pending bits past the last vector);
 * load() takes a checked state.
 */
uint32_t kh_msix_state_size(uint16_t nvec);
void kh_msix_state_save(const struct kh_msix *m, uint8_t *out);
int kh_msix_state_check(const struct kh_msix *m, const uint8_t *in);
void kh_msix_state_load(struct kh_msix *m, const uint8_t *in);

#endif

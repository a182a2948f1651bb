/*
 * MSI-X table, pending bits and masking rules (msix_internal.h). The guest
 * programs entries through a BAR; whether a raised vector goes out now or
 * waits in the pending bit array follows PCI 3.0: only while MSI-X is
 * enabled, the function is not masked and the entry is not masked; a
 * pending vector goes out when the last of those masks clears.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msix_internal.h"
#include "pci_internal.h"

uint32_t kh_msix_table_size(uint16_t nvec)
{
	return (uint32_t)nvec * KH_MSIX_ENTRY_SIZE;
}

uint32_t kh_msix_pba_size(uint16_t nvec)
{
	return ((uint32_t)nvec + 63) / 64 * 8;
}

void kh_msix_reset(struct kh_msix *m)
{
	memset(m->table, 0, kh_msix_table_size(m->nvec));
	memset(m->pba, 0, kh_msix_pba_size(m->nvec));
	for (uint32_t v = 0; v < m->nvec; v++)
		m->table[v * KH_MSIX_ENTRY_SIZE + 12] = KH_MSIX_ENTRY_MASKED;
	m->enabled = 0;
	m->masked_all = 0;
}

int kh_msix_init(struct kh_msix *m, uint16_t nvec)
{
	memset(m, 0, sizeof(*m));
	if (nvec == 0 || nvec > KH_MSIX_MAX)
		return -EINVAL;
	m->nvec = nvec;
	m->table = calloc(1, kh_msix_table_size(nvec));
	m->pba = calloc(1, kh_msix_pba_size(nvec));
	if (!m->table || !m->pba) {
		kh_msix_fini(m);
		return -ENOMEM;
	}
	kh_msix_reset(m);
	return 0;
}

void kh_msix_fini(struct kh_msix *m)
{
	free(m->table);
	free(m->pba);
	memset(m, 0, sizeof(*m));
}

void kh_msix_cap(uint16_t nvec, uint8_t bar, uint32_t table_off, uint32_t pba_off, uint8_t cap[KH_MSIX_CAP_LEN],
		 uint8_t wmask[KH_MSIX_CAP_LEN])
{
	uint16_t ctrl = (uint16_t)(nvec - 1); /* Table Size is N - 1 */

	memset(cap, 0, KH_MSIX_CAP_LEN);
	memset(wmask, 0, KH_MSIX_CAP_LEN);
	cap[2] = (uint8_t)ctrl;
	cap[3] = (uint8_t)(ctrl >> 8);
	kh_pci_st32(&cap[4], table_off | bar);
	kh_pci_st32(&cap[8], pba_off | bar);
	wmask[3] = (KH_MSIX_CTRL_ENABLE | KH_MSIX_CTRL_MASKALL) >> 8;
}

int kh_msix_set_control(struct kh_msix *m, uint16_t control)
{
	int enabled = (control & KH_MSIX_CTRL_ENABLE) != 0, masked = (control & KH_MSIX_CTRL_MASKALL) != 0;
	int changed = enabled != m->enabled || masked != m->masked_all;

	m->enabled = enabled;
	m->masked_all = masked;
	return changed;
}

void kh_msix_table_read(const struct kh_msix *m, uint32_t off, uint8_t *data, uint32_t len)
{
	if ((len != 4 && len != 8) || off % len || off >= kh_msix_table_size(m->nvec) ||
	    len > kh_msix_table_size(m->nvec) - off) {
		memset(data, 0xff, len);
		return;
	}
	memcpy(data, &m->table[off], len);
}

int kh_msix_table_write(struct kh_msix *m, uint32_t off, const uint8_t *data, uint32_t len)
{
	if ((len != 4 && len != 8) || off % len || off >= kh_msix_table_size(m->nvec) ||
	    len > kh_msix_table_size(m->nvec) - off)
		return -1;
	memcpy(&m->table[off], data, len);
	/* Vector Control: only the mask bit is implemented; the rest is reserved. */
	if (off % KH_MSIX_ENTRY_SIZE + len > 12) {
		uint8_t *ctl = &m->table[off - off % KH_MSIX_ENTRY_SIZE + 12];

		ctl[0] &= KH_MSIX_ENTRY_MASKED;
		ctl[1] = ctl[2] = ctl[3] = 0;
	}
	return (int)(off / KH_MSIX_ENTRY_SIZE);
}

void kh_msix_pba_read(const struct kh_msix *m, uint32_t off, uint8_t *data, uint32_t len)
{
	uint32_t size = kh_msix_pba_size(m->nvec);

	if ((len != 4 && len != 8) || off % len || off >= size || len > size - off) {
		memset(data, 0xff, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(m->pba[(off + i) / 8] >> (8 * ((off + i) % 8)));
}

void kh_msix_entry(const struct kh_msix *m, uint16_t v, uint64_t *address, uint32_t *data)
{
	const uint8_t *e = &m->table[(uint32_t)v * KH_MSIX_ENTRY_SIZE];

	*address = kh_pci_ld32(e) | (uint64_t)kh_pci_ld32(e + 4) << 32;
	*data = kh_pci_ld32(e + 8);
}

int kh_msix_deliverable(const struct kh_msix *m, uint16_t v)
{
	if (v >= m->nvec || !m->enabled || m->masked_all)
		return 0;
	return !(m->table[(uint32_t)v * KH_MSIX_ENTRY_SIZE + 12] & KH_MSIX_ENTRY_MASKED);
}

int kh_msix_fire(struct kh_msix *m, uint16_t v)
{
	if (v >= m->nvec)
		return 0;
	if (kh_msix_deliverable(m, v))
		return 1;
	m->pba[v / 64] |= 1ull << (v % 64);
	return 0;
}

int kh_msix_take_pending(struct kh_msix *m, uint16_t v)
{
	if (v >= m->nvec || !(m->pba[v / 64] & (1ull << (v % 64))) || !kh_msix_deliverable(m, v))
		return 0;
	m->pba[v / 64] &= ~(1ull << (v % 64));
	return 1;
}

/* ---- migration state ---- */

uint32_t kh_msix_state_size(uint16_t nvec)
{
	return kh_msix_table_size(nvec) + kh_msix_pba_size(nvec);
}

void kh_msix_state_save(const struct kh_msix *m, uint8_t *out)
{
	uint32_t t = kh_msix_table_size(m->nvec);

	memcpy(out, m->table, t);
	for (uint32_t i = 0; i < kh_msix_pba_size(m->nvec); i++)
		out[t + i] = (uint8_t)(m->pba[i / 8] >> (8 * (i % 8)));
}

int kh_msix_state_check(const struct kh_msix *m, const uint8_t *in)
{
	uint32_t t = kh_msix_table_size(m->nvec);

	for (uint32_t v = 0; v < m->nvec; v++) {
		const uint8_t *ctl = &in[v * KH_MSIX_ENTRY_SIZE + 12];

		if ((ctl[0] & ~KH_MSIX_ENTRY_MASKED) || ctl[1] || ctl[2] || ctl[3])
			return -EINVAL;
	}
	for (uint32_t bit = m->nvec; bit < kh_msix_pba_size(m->nvec) * 8; bit++)
		if (in[t + bit / 8] & (1u << (bit % 8)))
			return -EINVAL;
	return 0;
}

void kh_msix_state_load(struct kh_msix *m, const uint8_t *in)
{
	uint32_t t = kh_msix_table_size(m->nvec);

	memcpy(m->table, in, t);
	memset(m->pba, 0, kh_msix_pba_size(m->nvec));
	for (uint32_t i = 0; i < kh_msix_pba_size(m->nvec); i++)
		m->pba[i / 8] |= (uint64_t)in[t + i] << (8 * (i % 8));
}

/*
 * The migration stream's structure (docs/migration.md has it byte by byte):
 * writing the header, sections, the machine's shape, memory as page ranges
 * and the end marker; and the reader, which checks every byte of it as
 * untrusted input: magic, major version, architecture, CPU features,
 * checksums, lengths against fixed bounds, section order, the shape against
 * the destination's, and every memory record against the guest's RAM before
 * a byte is written there. The VM, vCPU and device payloads are the
 * architecture's and the registry's; the reader hands them on after their
 * checksum and never interprets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>
#include <kvmhost/version.h>

#include "../core/crc32.h"
#include "../core/internal.h"
#include "../core/state_io.h"
#include "../core/xxh64.h"
#include "stream.h"

static const char *const section_names[] = {"?", "config", "memory", "vm", "vcpu", "devices", "virtio", "end"};

static const char *section_name(uint32_t id)
{
	return id < KH_ARRAY_SIZE(section_names) ? section_names[id] : "unknown";
}

/* ---- writing ---- */

uint32_t kh_mig_payload_sum(uint32_t header_flags, uint32_t id, const void *payload, size_t len)
{
	if ((header_flags & KH_MIG_FLAG_XXH64) && id == KH_MIG_SEC_MEMORY)
		return (uint32_t)kh_xxh64(payload, len, 0);
	return kh_crc32(0, payload, len);
}

int kh_mig_write_header(struct kh_mig_io *io, uint32_t arch, uint32_t flags, const struct kh_mig_feature *f,
			uint32_t nfeat)
{
	return kh_mig_write_header_lineage(io, arch, flags, f, nfeat, NULL);
}

int kh_mig_write_header_lineage(struct kh_mig_io *io, uint32_t arch, uint32_t flags, const struct kh_mig_feature *f,
				uint32_t nfeat, const struct kh_mig_lineage *lin)
{
	uint8_t h[KH_MIG_HEADER_MAX], *p = h;
	uint32_t len = KH_MIG_HEADER_FIXED + 16u * nfeat + (lin ? KH_MIG_LINEAGE_SIZE : 0u) + 4u;

	if (nfeat > KH_MIG_MAX_FEATURES || (nfeat && !f))
		return KH_FAIL(EINVAL, "%u CPU feature words: at most %u", nfeat, KH_MIG_MAX_FEATURES);
	flags = lin ? flags | KH_MIG_FLAG_LINEAGE : flags & ~(uint32_t)KH_MIG_FLAG_LINEAGE;
	/* Format 1.2: every stream this library writes checks its memory with XXH64 (a 1.0/1.1 reader refuses the
	 * flag cleanly); this reader takes both. */
	flags |= KH_MIG_FLAG_XXH64;
	io->xxh64 = 1;
	kh_le_put(&p, KVMHOST_MIGRATION_MAGIC, 4);
	kh_le_put(&p, KVMHOST_MIGRATION_FORMAT_MAJOR, 2);
	kh_le_put(&p, KVMHOST_MIGRATION_FORMAT_MINOR, 2);
	kh_le_put(&p, len, 4);
	kh_le_put(&p, arch, 4);
	kh_le_put(&p, KVMHOST_VERSION_NUMBER, 4);
	kh_le_put(&p, flags, 4);
	kh_le_put(&p, KH_MIG_PAGE_SIZE, 4);
	kh_le_put(&p, nfeat, 4);
	for (uint32_t i = 0; i < nfeat; i++) {
		kh_le_put(&p, f[i].leaf, 4);
		kh_le_put(&p, f[i].subleaf, 4);
		kh_le_put(&p, f[i].reg, 4);
		kh_le_put(&p, f[i].bits, 4);
	}
	if (lin) {
		memcpy(p, lin->id, 16);
		memcpy(p + 16, lin->base, 16);
		memcpy(p + 32, lin->parent, 16);
		p += 48;
		kh_le_put(&p, lin->generation, 4);
		kh_le_put(&p, 0, 4);
	}
	kh_le_put(&p, kh_crc32(0, h, (size_t)(p - h)), 4);
	return kh_mig_write_full(io, h, len, "the header");
}

static void section_header(uint8_t *h, const struct kh_mig_io *io, uint32_t id, uint32_t instance, const void *payload,
			   size_t len)
{
	uint8_t *p = h;

	kh_le_put(&p, id, 4);
	kh_le_put(&p, KH_MIG_SEC_VERSION, 2);
	kh_le_put(&p, instance, 2);
	kh_le_put(&p, len, 8);
	kh_le_put(&p, kh_mig_payload_sum(io->xxh64 ? KH_MIG_FLAG_XXH64 : 0, id, payload, len), 4);
	kh_le_put(&p, kh_crc32(0, h, 20), 4);
}

static void count_section(struct kh_mig_counts *c, uint32_t id)
{
	c->sections++;
	if (id == KH_MIG_SEC_VCPU)
		c->vcpus++;
}

int kh_mig_write_section(struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t id, uint32_t instance,
			 const void *payload, size_t len)
{
	uint8_t h[KH_MIG_SECTION_HEADER];
	char what[48];
	int r;

	if (instance > UINT16_MAX)
		return KH_FAIL(EINVAL, "%s section instance %u does not fit 16 bits", section_name(id), instance);
	section_header(h, io, id, instance, payload, len);
	snprintf(what, sizeof(what), "the %s section %u", section_name(id), instance);
	if ((r = kh_mig_write_full(io, h, sizeof(h), what)) < 0 || (r = kh_mig_write_full(io, payload, len, what)) < 0)
		return r;
	count_section(c, id);
	return 0;
}

int kh_mig_write_config(struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t vcpus, const struct kh_mig_range *r,
			uint32_t nranges)
{
	uint8_t buf[KH_MIG_CONFIG_MAX], *p = buf;

	if (nranges > KH_MIG_MAX_RAM_RANGES)
		return KH_FAIL(EINVAL, "%u RAM ranges: the format holds %u", nranges, KH_MIG_MAX_RAM_RANGES);
	kh_le_put(&p, vcpus, 4);
	kh_le_put(&p, nranges, 4);
	for (uint32_t i = 0; i < nranges; i++) {
		kh_le_put(&p, r[i].gpa, 8);
		kh_le_put(&p, r[i].length, 8);
	}
	return kh_mig_write_section(io, c, KH_MIG_SEC_CONFIG, 0, buf, (size_t)(p - buf));
}

static const uint8_t zero_page[KH_MIG_PAGE_SIZE];

static int page_is_zero(const uint8_t *p)
{
	return memcmp(p, zero_page, KH_MIG_PAGE_SIZE) == 0;
}

struct mem_writer {
	struct kh_mig_io *io;
	struct kh_mig_counts *c;
	struct kh_buf b;
	size_t data;	  /* page bytes in b */
	uint32_t records; /* records in b */
};

/* The buffer starts with room for the section's header: header and payload go out in one write. */
static void mem_start(struct mem_writer *w)
{
	static const uint8_t room[KH_MIG_SECTION_HEADER];

	w->b.len = 0;
	kh_buf_put(&w->b, room, sizeof(room));
	w->data = 0;
	w->records = 0;
}

static int mem_flush(struct mem_writer *w)
{
	int r;

	if (!w->records)
		return 0;
	if (w->b.err)
		return KH_FAIL(w->b.err, "cannot buffer a memory section");
	section_header(w->b.p, w->io, KH_MIG_SEC_MEMORY, 0, w->b.p + KH_MIG_SECTION_HEADER,
		       w->b.len - KH_MIG_SECTION_HEADER);
	r = kh_mig_write_full(w->io, w->b.p, w->b.len, "a memory section");
	if (r == 0)
		count_section(w->c, KH_MIG_SEC_MEMORY);
	mem_start(w);
	return r;
}

#define MAX_RECORDS ((KH_MIG_MEM_SECTION_MAX - KH_MIG_MEM_DATA_MAX) / KH_MIG_MEM_RECORD)

int kh_mig_write_memory(struct kh_mig_io *io, struct kh_mig_counts *c, struct kvmhost_memory *mem,
			const struct kh_mig_range *rg, uint32_t nranges, int all_pages)
{
	return kh_mig_write_pages(io, c, mem, rg, nranges, all_pages, NULL, NULL);
}

uint64_t kh_mig_page_hash(const void *page)
{
	const uint8_t *p = page;
	uint64_t h = 0xcbf29ce484222325ull;

	/* FNV-1a over 64-bit words: a change of any one word always changes the hash (the multiplier is odd). */
	for (size_t i = 0; i < KH_MIG_PAGE_SIZE; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static int page_is_hole(const uint64_t *holes, uint64_t i)
{
	return holes && (holes[i / 64] >> (i % 64)) & 1;
}

static int page_dirty(const uint64_t *bitmap, uint64_t i)
{
	return !bitmap || (bitmap[i / 64] >> (i % 64)) & 1;
}

int kh_mig_write_pages(struct kh_mig_io *io, struct kh_mig_counts *c, struct kvmhost_memory *mem,
		       const struct kh_mig_range *rg, uint32_t nranges, int all_pages, const uint64_t *const *dirty,
		       uint64_t *const *hash)
{
	struct mem_writer w = {.io = io, .c = c};
	uint64_t zero_hash = hash ? kh_mig_page_hash(zero_page) : 0, *holes = NULL;
	int r = 0;

	mem_start(&w);

	for (uint32_t k = 0; k < nranges && r == 0; k++) {
		uint64_t pages = rg[k].length / KH_MIG_PAGE_SIZE, i = 0;
		void *hv;
		const uint8_t *host;

		if ((rg[k].gpa | rg[k].length) % KH_MIG_PAGE_SIZE)
			return KH_FAIL(EINVAL, "RAM range 0x%llx+0x%llx is not page aligned",
				       (unsigned long long)rg[k].gpa, (unsigned long long)rg[k].length);
		if ((r = kvmhost_memory_translate(mem, rg[k].gpa, rg[k].length, &hv)) < 0)
			break;
		host = hv;
		/* A pass over all of RAM: the pages never written are zero without a read (and its page fault). */
		free(holes);
		holes = NULL;
		if (!dirty && !all_pages && (holes = malloc((size_t)((pages + 63) / 64) * 8 + 8)) &&
		    kh_mig_holes(mem, rg[k].gpa, pages, holes) < 0) {
			free(holes);
			holes = NULL;
		}
		while (i < pages && r == 0) {
			const uint64_t *bm = dirty ? dirty[k] : NULL;
			int zero;
			uint64_t j, limit;

			if (bm && !bm[i / 64] && i % 64 == 0) { /* 64 clean pages */
				i += 64;
				continue;
			}
			if (!page_dirty(bm, i)) {
				i++;
				continue;
			}
			zero = !all_pages && (page_is_hole(holes, i) || page_is_zero(host + i * KH_MIG_PAGE_SIZE));
			j = i + 1;

			if (w.records == MAX_RECORDS || (!zero && w.data == KH_MIG_MEM_DATA_MAX)) {
				if ((r = mem_flush(&w)) < 0)
					break;
			}
			limit = zero ? UINT32_MAX : (KH_MIG_MEM_DATA_MAX - w.data) / KH_MIG_PAGE_SIZE;
			while (j < pages && j - i < limit && page_dirty(bm, j) &&
			       (!all_pages && (page_is_hole(holes, j) || page_is_zero(host + j * KH_MIG_PAGE_SIZE))) ==
				   zero)
				j++;
			kh_buf_le(&w.b, rg[k].gpa + i * KH_MIG_PAGE_SIZE, 8);
			kh_buf_le(&w.b, j - i, 4);
			kh_buf_le(&w.b, zero ? KH_MIG_MEM_ZERO : KH_MIG_MEM_DATA, 4);
			if (!zero) {
				size_t at = w.b.len;

				kh_buf_put(&w.b, host + i * KH_MIG_PAGE_SIZE, (size_t)(j - i) * KH_MIG_PAGE_SIZE);
				/* The hash of the copy sent, not of the guest's page: it may have changed since. */
				for (uint64_t k2 = i; hash && !w.b.err && k2 < j; k2++)
					hash[k][k2] =
					    kh_mig_page_hash(w.b.p + at + (size_t)(k2 - i) * KH_MIG_PAGE_SIZE);
				w.data += (size_t)(j - i) * KH_MIG_PAGE_SIZE;
				c->data_pages += j - i;
			} else {
				for (uint64_t k2 = i; hash && k2 < j; k2++)
					hash[k][k2] = zero_hash;
				c->zero_pages += j - i;
			}
			w.records++;
			i = j;
		}
	}
	if (r == 0)
		r = mem_flush(&w);
	free(holes);
	kh_buf_free(&w.b);
	return r;
}

int kh_mig_write_end(struct kh_mig_io *io, struct kh_mig_counts *c)
{
	uint8_t buf[KH_MIG_END_SIZE], *p = buf;
	struct kh_mig_counts before = *c;

	kh_le_put(&p, before.data_pages, 8);
	kh_le_put(&p, before.zero_pages, 8);
	kh_le_put(&p, before.sections, 4);
	kh_le_put(&p, before.vcpus, 4);
	return kh_mig_write_section(io, c, KH_MIG_SEC_END, 0, buf, sizeof(buf));
}

/* ---- reading ---- */

struct reader {
	struct kh_mig_io *io;
	const struct kh_mig_dest *d;
	struct kh_mig_counts *c;
	uint32_t flags; /* the header's */
	uint32_t last_id, last_instance;
	uint32_t vcpus, virtio; /* sections seen */
	int have_vm, have_devices;
	uint32_t cfg_vcpus, nranges;
	struct kh_mig_range ranges[KH_MIG_MAX_RAM_RANGES];
	uint64_t offset; /* of the section being read */
	uint32_t index;	 /* its number, 0 the first */
	/* Per range (d->mem only): the destination's pages still never written, which a zero range needs neither
	 * to read nor to clear (kh_mig_holes() when the config came; a data record clears its pages' bits). */
	uint64_t *holes[KH_MIG_MAX_RAM_RANGES];
};

static void hex_id(char out[33], const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int id_is_zero(const uint8_t id[16])
{
	static const uint8_t zero[16];

	return memcmp(id, zero, 16) == 0;
}

/* Format 1.1: the lineage block after the features (with KH_MIG_FLAG_LINEAGE), and what a diff must be. */
static int read_lineage(struct reader *rd, const uint8_t *p, uint32_t flags)
{
	struct kh_mig_lineage lin = {0};
	uint32_t reserved = 0;
	char id[33], base[33];
	int diff;

	if (flags & KH_MIG_FLAG_LINEAGE) {
		memcpy(lin.id, p, 16);
		memcpy(lin.base, p + 16, 16);
		memcpy(lin.parent, p + 32, 16);
		p += 48;
		lin.generation = (uint32_t)kh_le_get(&p, 4);
		reserved = (uint32_t)kh_le_get(&p, 4);
	}
	if (rd->d->lineage)
		*rd->d->lineage = lin;
	if ((flags & KH_MIG_FLAG_DIFF) && !(flags & KH_MIG_FLAG_LINEAGE))
		return KH_FAIL(EINVAL,
			       "the header's flags 0x%x: a diff snapshot without the lineage block naming its base",
			       flags);
	if (!(flags & KH_MIG_FLAG_LINEAGE))
		return 0;
	hex_id(id, lin.id);
	hex_id(base, lin.base);
	diff = !!(flags & KH_MIG_FLAG_DIFF);
	/* A diff names a parent and is generation 1 or later; a full snapshot names none (a merged one may be at
	 * any generation). */
	if (reserved || id_is_zero(lin.id) || id_is_zero(lin.base) || (flags & KH_MIG_FLAG_LIVE) ||
	    diff == id_is_zero(lin.parent) || (diff && !lin.generation))
		return KH_FAIL(EINVAL,
			       "the header's lineage block is malformed (flags 0x%x, id %s, base %s, generation %u, "
			       "reserved 0x%x)",
			       flags, id, base, lin.generation, reserved);
	if ((flags & KH_MIG_FLAG_DIFF) && !(rd->d->accept_flags & KH_MIG_FLAG_DIFF))
		return KH_FAIL(
		    EOPNOTSUPP,
		    "a diff snapshot (generation %u of the snapshot chain based on %s, id %s): it holds only "
		    "the pages changed since the snapshot before it; restore it over its base with "
		    "kvmhost_machine_restore_chain()",
		    lin.generation, base, id);
	return 0;
}

/* A stream architecture id's name, for messages. */
static const char *arch_name(uint32_t arch)
{
	return arch == KH_MIG_ARCH_X86_64 ? "x86_64" : arch == KH_MIG_ARCH_ARM64 ? "arm64" : "unknown";
}

static int read_header(struct reader *rd)
{
	uint8_t h[KH_MIG_HEADER_MAX];
	const uint8_t *p = h;
	uint32_t magic, major, minor, len, arch, libv, flags, page, nfeat, crc, lin_len;
	struct kh_mig_feature f[KH_MIG_MAX_FEATURES];
	int r;

	if ((r = kh_mig_read_full(rd->io, h, KH_MIG_HEADER_FIXED, "the header")) < 0)
		return r;
	magic = (uint32_t)kh_le_get(&p, 4);
	major = (uint32_t)kh_le_get(&p, 2);
	minor = (uint32_t)kh_le_get(&p, 2);
	len = (uint32_t)kh_le_get(&p, 4);
	arch = (uint32_t)kh_le_get(&p, 4);
	libv = (uint32_t)kh_le_get(&p, 4);
	flags = (uint32_t)kh_le_get(&p, 4);
	page = (uint32_t)kh_le_get(&p, 4);
	nfeat = (uint32_t)kh_le_get(&p, 4);
	if (magic != KVMHOST_MIGRATION_MAGIC)
		return KH_FAIL(EINVAL, "not a libkvmhost snapshot stream (magic 0x%08x, expected 0x%08x \"KHMS\")",
			       magic, KVMHOST_MIGRATION_MAGIC);
	if (major != KVMHOST_MIGRATION_FORMAT_MAJOR)
		return KH_FAIL(EPROTONOSUPPORT, "stream format %u.%u: this library reads major version %u only", major,
			       minor, KVMHOST_MIGRATION_FORMAT_MAJOR);
	if (nfeat > KH_MIG_MAX_FEATURES)
		return KH_FAIL(EFBIG, "the header lists %u CPU feature words; at most %u", nfeat, KH_MIG_MAX_FEATURES);
	lin_len = flags & KH_MIG_FLAG_LINEAGE ? KH_MIG_LINEAGE_SIZE : 0u;
	if (len != KH_MIG_HEADER_FIXED + 16u * nfeat + lin_len + 4u)
		return KH_FAIL(EINVAL, "the header says it is %u bytes; with %u feature words%s it is %u", len, nfeat,
			       lin_len ? " and a lineage block" : "", KH_MIG_HEADER_FIXED + 16u * nfeat + lin_len + 4u);
	if ((r = kh_mig_read_full(rd->io, h + KH_MIG_HEADER_FIXED, len - KH_MIG_HEADER_FIXED,
				  "the header's CPU features")) < 0)
		return r;
	p = h + len - 4;
	crc = (uint32_t)kh_le_get(&p, 4);
	if (crc != kh_crc32(0, h, len - 4))
		return KH_FAIL(EBADMSG, "the header is damaged (CRC-32 0x%08x, computed 0x%08x)", crc,
			       kh_crc32(0, h, len - 4));
	if (arch != rd->d->arch)
		return KH_FAIL(ENOEXEC, "the stream is of architecture %u (%s), this machine's is %u (%s)", arch,
			       arch_name(arch), rd->d->arch, arch_name(rd->d->arch));
	if (page != KH_MIG_PAGE_SIZE)
		return KH_FAIL(EINVAL, "the stream's page size is %u, not %u", page, KH_MIG_PAGE_SIZE);
	if ((flags & KH_MIG_FLAG_LIVE) && !(rd->d->accept_flags & KH_MIG_FLAG_LIVE))
		return KH_FAIL(
		    EOPNOTSUPP,
		    "a live migration stream (header flags 0x%x): kvmhost_machine_migrate_receive() reads it", flags);
	if ((r = read_lineage(rd, h + KH_MIG_HEADER_FIXED + 16u * nfeat, flags)) < 0)
		return r;
	if (flags & ~rd->d->accept_flags & ~(uint32_t)(KH_MIG_FLAG_LIVE | KH_MIG_FLAG_LINEAGE | KH_MIG_FLAG_XXH64))
		return KH_FAIL(EOPNOTSUPP,
			       "the header has flags 0x%x this library does not know (written by "
			       "library version %u)",
			       flags, libv);
	if ((flags & KH_MIG_FLAG_SHARED_MEMORY) && !(flags & KH_MIG_FLAG_LIVE))
		return KH_FAIL(EINVAL, "the header's flags 0x%x: shared memory without the live protocol", flags);
	rd->flags = flags;
	p = h + KH_MIG_HEADER_FIXED;
	for (uint32_t i = 0; i < nfeat; i++) {
		f[i].leaf = (uint32_t)kh_le_get(&p, 4);
		f[i].subleaf = (uint32_t)kh_le_get(&p, 4);
		f[i].reg = (uint32_t)kh_le_get(&p, 4);
		f[i].bits = (uint32_t)kh_le_get(&p, 4);
	}
	if (rd->d->check_features && (r = rd->d->check_features(rd->d->opaque, f, nfeat)) < 0)
		return r;
	return 0;
}

static uint64_t section_max(uint32_t id)
{
	switch (id) {
	case KH_MIG_SEC_CONFIG:
		return KH_MIG_CONFIG_MAX;
	case KH_MIG_SEC_MEMORY:
		return KH_MIG_MEM_SECTION_MAX;
	case KH_MIG_SEC_VM:
		return KH_MIG_VM_SECTION_MAX;
	case KH_MIG_SEC_VCPU:
		return KH_MIG_VCPU_SECTION_MAX;
	case KH_MIG_SEC_DEVICES:
		return KH_MIG_DEVICES_SECTION_MAX;
	case KH_MIG_SEC_VIRTIO:
		return KH_MIG_VIRTIO_SECTION_MAX;
	default:
		return KH_MIG_END_SIZE;
	}
}

#define AT		"section %u (%s) at stream offset %llu"
#define AT_ARGS(rd, id) (rd)->index, section_name(id), (unsigned long long)(rd)->offset

/* The order: config first, then ids never decreasing; memory repeats; vCPUs 0, 1, ...; virtio as expected. */
static int check_order(struct reader *rd, uint32_t id, uint32_t instance)
{
	if (rd->index == 0 && id != KH_MIG_SEC_CONFIG)
		return KH_FAIL(EINVAL, AT ": the stream must start with the config section", AT_ARGS(rd, id));
	if (rd->index && id == KH_MIG_SEC_CONFIG)
		return KH_FAIL(EINVAL, AT ": a second config section", AT_ARGS(rd, id));
	if (id < rd->last_id)
		return KH_FAIL(EINVAL, AT ": out of order, after a %s section", AT_ARGS(rd, id),
			       section_name(rd->last_id));
	if (id == KH_MIG_SEC_VCPU) {
		if (instance != rd->vcpus)
			return KH_FAIL(EINVAL, AT ": vCPU %u where vCPU %u comes next", AT_ARGS(rd, id), instance,
				       rd->vcpus);
		if (instance >= rd->cfg_vcpus)
			return KH_FAIL(EINVAL, AT ": vCPU %u, but the machine has %u", AT_ARGS(rd, id), instance,
				       rd->cfg_vcpus);
		return 0;
	}
	if (id == KH_MIG_SEC_VIRTIO) {
		if (rd->virtio >= rd->d->virtio)
			return KH_FAIL(EINVAL, AT ": device %u, but this machine has %u virtio devices to restore",
				       AT_ARGS(rd, id), instance, rd->d->virtio);
		if (instance != rd->d->virtio_index[rd->virtio])
			return KH_FAIL(EINVAL, AT ": virtio device %u where device %u comes next", AT_ARGS(rd, id),
				       instance, rd->d->virtio_index[rd->virtio]);
		return 0;
	}
	if (instance)
		return KH_FAIL(EINVAL, AT ": instance %u (a %s section has none)", AT_ARGS(rd, id), instance,
			       section_name(id));
	if (id == rd->last_id && id != KH_MIG_SEC_MEMORY)
		return KH_FAIL(EINVAL, AT ": a second %s section", AT_ARGS(rd, id), section_name(id));
	return 0;
}

static int read_config(struct reader *rd, const uint8_t *p, size_t len)
{
	const struct kh_mig_dest *d = rd->d;

	if (len < 8)
		return KH_FAIL(EINVAL, AT ": %zu bytes, shorter than its counts", AT_ARGS(rd, KH_MIG_SEC_CONFIG), len);
	rd->cfg_vcpus = (uint32_t)kh_le_get(&p, 4);
	rd->nranges = (uint32_t)kh_le_get(&p, 4);
	if (rd->nranges > KH_MIG_MAX_RAM_RANGES || len != 8 + 16 * (size_t)rd->nranges)
		return KH_FAIL(EINVAL, AT ": %u RAM ranges in %zu bytes", AT_ARGS(rd, KH_MIG_SEC_CONFIG), rd->nranges,
			       len);
	for (uint32_t i = 0; i < rd->nranges; i++) {
		rd->ranges[i].gpa = kh_le_get(&p, 8);
		rd->ranges[i].length = kh_le_get(&p, 8);
	}
	if (rd->cfg_vcpus != d->vcpus)
		return KH_FAIL(EINVAL, "the snapshot's machine has %u vCPUs; this machine has %u", rd->cfg_vcpus,
			       d->vcpus);
	if (rd->nranges != d->nranges)
		return KH_FAIL(EINVAL, "the snapshot's machine has %u RAM ranges; this machine has %u", rd->nranges,
			       d->nranges);
	for (uint32_t i = 0; i < rd->nranges; i++)
		if (rd->ranges[i].gpa != d->ram[i].gpa || rd->ranges[i].length != d->ram[i].length)
			return KH_FAIL(
			    EINVAL, "the snapshot's RAM range %u is 0x%llx+0x%llx; this machine's is 0x%llx+0x%llx", i,
			    (unsigned long long)rd->ranges[i].gpa, (unsigned long long)rd->ranges[i].length,
			    (unsigned long long)d->ram[i].gpa, (unsigned long long)d->ram[i].length);
	for (uint32_t i = 0; d->mem && i < rd->nranges; i++) {
		uint64_t pages = rd->ranges[i].length / KH_MIG_PAGE_SIZE;

		/* Best effort: without the bitmap every zero range is read and cleared as before. */
		if ((rd->holes[i] = malloc((size_t)((pages + 63) / 64) * 8 + 8)) &&
		    kh_mig_holes(d->mem, rd->ranges[i].gpa, pages, rd->holes[i]) < 0) {
			free(rd->holes[i]);
			rd->holes[i] = NULL;
		}
	}
	return 0;
}

/* The range index holding [gpa, gpa + len), or -1. */
static int in_ram(const struct reader *rd, uint64_t gpa, uint64_t len)
{
	for (uint32_t i = 0; i < rd->nranges; i++)
		if (gpa >= rd->ranges[i].gpa && len <= rd->ranges[i].length &&
		    gpa - rd->ranges[i].gpa <= rd->ranges[i].length - len)
			return (int)i;
	return -1;
}

/* One memory record of a section, its header checked; with the destination's memory, its pages' host address. */
struct mem_record {
	uint64_t gpa, pages, bytes;
	uint32_t kind;
	uint64_t *holes, first; /* its range's never-written pages (or NULL) and its first page's index there */
	void *host;		/* NULL without destination memory */
};

/* Record @n's header at @p, checked against the @left bytes of the section after it (@func: the reader whose
 * message it is). */
static int parse_mem_record(struct reader *rd, const char *func, uint32_t n, const uint8_t *p, uint64_t left,
			    struct mem_record *mr)
{
	int r, ri;

	mr->gpa = kh_le_get(&p, 8);
	mr->pages = kh_le_get(&p, 4);
	mr->kind = (uint32_t)kh_le_get(&p, 4);
	mr->bytes = mr->pages * KH_MIG_PAGE_SIZE;
	mr->host = NULL;
	if (mr->gpa % KH_MIG_PAGE_SIZE || !mr->pages || mr->kind > KH_MIG_MEM_ZERO)
		return kh_fail(EINVAL, func, AT ": record %u is malformed (address 0x%llx, %llu pages, kind %u)",
			       AT_ARGS(rd, KH_MIG_SEC_MEMORY), n, (unsigned long long)mr->gpa,
			       (unsigned long long)mr->pages, mr->kind);
	if ((ri = in_ram(rd, mr->gpa, mr->bytes)) < 0)
		return kh_fail(ERANGE, func, AT ": record %u: 0x%llx+0x%llx is not inside the guest's RAM",
			       AT_ARGS(rd, KH_MIG_SEC_MEMORY), n, (unsigned long long)mr->gpa,
			       (unsigned long long)mr->bytes);
	if (mr->kind == KH_MIG_MEM_DATA && left < mr->bytes)
		return kh_fail(EINVAL, func, AT ": record %u claims %llu bytes of pages, %llu are left",
			       AT_ARGS(rd, KH_MIG_SEC_MEMORY), n, (unsigned long long)mr->bytes,
			       (unsigned long long)left);
	if (rd->d->mem && (r = kvmhost_memory_translate(rd->d->mem, mr->gpa, mr->bytes, &mr->host)) < 0)
		return kh_fail(ERANGE, func, AT ": record %u: 0x%llx+0x%llx: %s", AT_ARGS(rd, KH_MIG_SEC_MEMORY), n,
			       (unsigned long long)mr->gpa, (unsigned long long)mr->bytes, kvmhost_last_error());
	mr->holes = rd->holes[ri];
	mr->first = (mr->gpa - rd->ranges[ri].gpa) / KH_MIG_PAGE_SIZE;
	return 0;
}

/* A data record's pages have landed: they are written pages now. */
static void mem_record_data(struct reader *rd, const struct mem_record *mr)
{
	for (uint64_t i = mr->first; mr->holes && i < mr->first + mr->pages; i++)
		mr->holes[i / 64] &= ~(1ull << (i % 64));
	rd->c->data_pages += mr->pages;
}

/* Zero ranges: a page never written is zero already; reading another page of fresh anonymous RAM maps the shared
 * zero page; only a page that is not zero is written, so restoring into a new machine allocates nothing for
 * them. */
static void mem_record_zero(struct reader *rd, const struct mem_record *mr)
{
	for (uint64_t i = 0; mr->host && i < mr->pages; i++) {
		uint8_t *pg = (uint8_t *)mr->host + i * KH_MIG_PAGE_SIZE;

		if (!page_is_hole(mr->holes, mr->first + i) && !page_is_zero(pg))
			memset(pg, 0, KH_MIG_PAGE_SIZE);
	}
	rd->c->zero_pages += mr->pages;
}

static int read_memory(struct reader *rd, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	uint32_t n = 0;

	if (!len)
		return KH_FAIL(EINVAL, AT ": empty", AT_ARGS(rd, KH_MIG_SEC_MEMORY));
	for (; p < end; n++) {
		struct mem_record mr;
		int r;

		if ((size_t)(end - p) < KH_MIG_MEM_RECORD)
			return KH_FAIL(EINVAL, AT ": record %u is cut short (%zu bytes left)",
				       AT_ARGS(rd, KH_MIG_SEC_MEMORY), n, (size_t)(end - p));
		if ((r = parse_mem_record(rd, __func__, n, p, (uint64_t)(end - p) - KH_MIG_MEM_RECORD, &mr)) < 0)
			return r;
		p += KH_MIG_MEM_RECORD;
		if (mr.kind == KH_MIG_MEM_DATA) {
			if (mr.host)
				memcpy(mr.host, p, (size_t)mr.bytes);
			mem_record_data(rd, &mr);
			p += mr.bytes;
			continue;
		}
		mem_record_zero(rd, &mr);
	}
	return 0;
}

/*
 * A memory section read straight into guest RAM (a live stream with read-ahead, or a buffer): each record's
 * header, then its pages where they go, no copy in between; the checksum over the bytes as they landed. A
 * damaged section is refused at its end, after its pages were written: the reader's callers never run a
 * machine whose stream did not check out whole (kh_mig_read() may write memory when it fails). Only with the
 * destination's memory (rd->d->mem).
 */
static int read_memory_direct(struct reader *rd, uint64_t len, uint32_t want)
{
	int xx = (rd->flags & KH_MIG_FLAG_XXH64) != 0;
	uint8_t rec[KH_MIG_MEM_RECORD];
	struct kh_xxh64 x;
	uint32_t crc = 0, got, n = 0;
	uint64_t left = len;

	if (!len)
		return KH_FAIL(EINVAL, AT ": empty", AT_ARGS(rd, KH_MIG_SEC_MEMORY));
	kh_xxh64_init(&x, 0);
	for (; left; n++) {
		struct mem_record mr;
		int r;

		if (left < KH_MIG_MEM_RECORD)
			return KH_FAIL(EINVAL, AT ": record %u is cut short (%llu bytes left)",
				       AT_ARGS(rd, KH_MIG_SEC_MEMORY), n, (unsigned long long)left);
		if ((r = kh_mig_read_full(rd->io, rec, sizeof(rec), "a memory record")) < 0)
			return r;
		left -= sizeof(rec);
		if (xx)
			kh_xxh64_update(&x, rec, sizeof(rec));
		else
			crc = kh_crc32(crc, rec, sizeof(rec));
		if ((r = parse_mem_record(rd, __func__, n, rec, left, &mr)) < 0)
			return r;
		if (mr.kind == KH_MIG_MEM_DATA) {
			if ((r = kh_mig_read_full(rd->io, mr.host, (size_t)mr.bytes, "a memory record's pages")) < 0)
				return r;
			if (xx)
				kh_xxh64_update(&x, mr.host, (size_t)mr.bytes);
			else
				crc = kh_crc32(crc, mr.host, (size_t)mr.bytes);
			mem_record_data(rd, &mr);
			left -= mr.bytes;
			continue;
		}
		mem_record_zero(rd, &mr);
	}
	got = xx ? (uint32_t)kh_xxh64_digest(&x) : crc;
	if (got != want)
		return KH_FAIL(EBADMSG, AT ": its %llu bytes are damaged (%s 0x%08x, computed 0x%08x)",
			       AT_ARGS(rd, KH_MIG_SEC_MEMORY), (unsigned long long)len, xx ? "XXH64" : "CRC-32", want,
			       got);
	return 0;
}

static int read_end(struct reader *rd, const uint8_t *p, size_t len)
{
	uint64_t data, zero;
	uint32_t sections, vcpus;

	if (len != KH_MIG_END_SIZE)
		return KH_FAIL(EINVAL, AT ": %zu bytes, not %u", AT_ARGS(rd, KH_MIG_SEC_END), len, KH_MIG_END_SIZE);
	data = kh_le_get(&p, 8);
	zero = kh_le_get(&p, 8);
	sections = (uint32_t)kh_le_get(&p, 4);
	vcpus = (uint32_t)kh_le_get(&p, 4);
	if (!rd->have_vm || rd->vcpus != rd->cfg_vcpus || !rd->have_devices || rd->virtio != rd->d->virtio)
		return KH_FAIL(EINVAL,
			       AT ": the stream ends without %s (vm %d, vCPUs %u of %u, devices %d, virtio %u of %u)",
			       AT_ARGS(rd, KH_MIG_SEC_END), "all the state sections", rd->have_vm, rd->vcpus,
			       rd->cfg_vcpus, rd->have_devices, rd->virtio, rd->d->virtio);
	if (data != rd->c->data_pages || zero != rd->c->zero_pages || sections != rd->c->sections ||
	    vcpus != rd->c->vcpus)
		return KH_FAIL(EINVAL,
			       AT ": the end marker counts %llu data pages, %llu zero pages, %u sections, %u vCPUs; "
				  "the stream had %llu, %llu, %u, %u",
			       AT_ARGS(rd, KH_MIG_SEC_END), (unsigned long long)data, (unsigned long long)zero,
			       sections, vcpus, (unsigned long long)rd->c->data_pages,
			       (unsigned long long)rd->c->zero_pages, rd->c->sections, rd->c->vcpus);
	return 0;
}

static int read_section(struct reader *rd, int *done)
{
	uint8_t h[KH_MIG_SECTION_HEADER], *payload;
	const uint8_t *p = h;
	uint32_t id, version, instance, crc, hcrc;
	uint64_t len;
	char what[64];
	int r;

	rd->offset = rd->io->bytes;
	snprintf(what, sizeof(what), "section %u's header", rd->index);
	if ((r = kh_mig_read_full(rd->io, h, sizeof(h), what)) < 0)
		return r;
	id = (uint32_t)kh_le_get(&p, 4);
	version = (uint32_t)kh_le_get(&p, 2);
	instance = (uint32_t)kh_le_get(&p, 2);
	len = kh_le_get(&p, 8);
	crc = (uint32_t)kh_le_get(&p, 4);
	hcrc = (uint32_t)kh_le_get(&p, 4);
	if (hcrc != kh_crc32(0, h, 20))
		return KH_FAIL(EBADMSG, "section %u at stream offset %llu: its header is damaged (CRC-32)", rd->index,
			       (unsigned long long)rd->offset);
	if (id < KH_MIG_SEC_CONFIG || id > KH_MIG_SEC_END)
		return KH_FAIL(EINVAL, "section %u at stream offset %llu: unknown section id %u", rd->index,
			       (unsigned long long)rd->offset, id);
	if (version != KH_MIG_SEC_VERSION)
		return KH_FAIL(version > KH_MIG_SEC_VERSION ? EOPNOTSUPP : EINVAL,
			       AT ": version %u; this library reads version %u", AT_ARGS(rd, id), version,
			       KH_MIG_SEC_VERSION);
	if ((r = check_order(rd, id, instance)) < 0)
		return r;
	if (len > section_max(id))
		return KH_FAIL(EFBIG, AT ": %llu bytes, more than a %s section may have (%llu)", AT_ARGS(rd, id),
			       (unsigned long long)len, section_name(id), (unsigned long long)section_max(id));
	if (id == KH_MIG_SEC_MEMORY && rd->d->mem && !(rd->flags & KH_MIG_FLAG_SHARED_MEMORY) &&
	    (rd->io->fd < 0 || (rd->io->ctl && rd->io->ctl->read_ahead))) {
		r = read_memory_direct(rd, len, crc);
		goto done;
	}
	payload = malloc(len ? (size_t)len : 1);
	if (!payload)
		return KH_FAIL(ENOMEM, AT ": cannot buffer %llu bytes", AT_ARGS(rd, id), (unsigned long long)len);
	snprintf(what, sizeof(what), "section %u (%s)'s %llu bytes", rd->index, section_name(id),
		 (unsigned long long)len);
	r = kh_mig_read_full(rd->io, payload, (size_t)len, what);
	if (r == 0 && crc != kh_mig_payload_sum(rd->flags, id, payload, (size_t)len))
		r = KH_FAIL(EBADMSG, AT ": its %llu bytes are damaged (%s 0x%08x, computed 0x%08x)", AT_ARGS(rd, id),
			    (unsigned long long)len,
			    (rd->flags & KH_MIG_FLAG_XXH64) && id == KH_MIG_SEC_MEMORY ? "XXH64" : "CRC-32", crc,
			    kh_mig_payload_sum(rd->flags, id, payload, (size_t)len));
	if (r == 0) {
		switch (id) {
		case KH_MIG_SEC_CONFIG:
			r = read_config(rd, payload, (size_t)len);
			if (r == 0 && rd->d->after_config)
				r = rd->d->after_config(rd->d->opaque, rd->flags);
			break;
		case KH_MIG_SEC_MEMORY:
			/* Same-host: the RAM is the source's own, still running; a memory section would write it. */
			if (rd->flags & KH_MIG_FLAG_SHARED_MEMORY)
				r = KH_FAIL(EINVAL, AT ": memory in a shared-memory stream", AT_ARGS(rd, id));
			else
				r = read_memory(rd, payload, (size_t)len);
			break;
		case KH_MIG_SEC_END:
			r = read_end(rd, payload, (size_t)len);
			*done = 1;
			break;
		default:
			if (rd->d->section &&
			    (r = rd->d->section(rd->d->opaque, id, instance, payload, (size_t)len)) < 0)
				r = KH_FAIL(-r, AT ": %s", AT_ARGS(rd, id), kvmhost_last_error());
		}
	}
	free(payload);
done:
	if (r < 0)
		return r;
	if (id == KH_MIG_SEC_VM)
		rd->have_vm = 1;
	else if (id == KH_MIG_SEC_VCPU)
		rd->vcpus++;
	else if (id == KH_MIG_SEC_DEVICES)
		rd->have_devices = 1;
	else if (id == KH_MIG_SEC_VIRTIO)
		rd->virtio++;
	rd->last_id = id;
	rd->last_instance = instance;
	if (id != KH_MIG_SEC_END) {
		rd->c->sections++;
		if (id == KH_MIG_SEC_VCPU)
			rd->c->vcpus++;
	}
	rd->index++;
	return 0;
}

int kh_mig_read(struct kh_mig_io *io, const struct kh_mig_dest *d, struct kh_mig_counts *c)
{
	struct reader rd = {.io = io, .d = d, .c = c};
	int done = 0, r;

	memset(c, 0, sizeof(*c));
	if (d->virtio > KH_MIG_MAX_VIRTIO || (d->virtio && !d->virtio_index))
		return KH_FAIL(EINVAL, "%u virtio devices to restore: at most %u", d->virtio, KH_MIG_MAX_VIRTIO);
	if ((r = read_header(&rd)) < 0)
		return r;
	while (!done)
		if ((r = read_section(&rd, &done)) < 0)
			break;
	for (uint32_t i = 0; i < KH_MIG_MAX_RAM_RANGES; i++)
		free(rd.holes[i]);
	return r;
}

/*
 * The migration stream (docs/migration.md), private to the library:
 *   stream_io.c  reading and writing over an fd (short reads and writes, EINTR, EOF, SIGPIPE) or a buffer
 *   stream.c     the header, sections, memory page ranges and the end marker; the reader that checks them all
 * The machine-level snapshot and restore (snapshot.c) sit on top; the architecture's state encoding is in
 * lib/arch/<arch>/migration_<arch>.c behind migration_arch.h.
 */
#ifndef KVMHOST_MIGRATION_STREAM_H
#define KVMHOST_MIGRATION_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kvmhost_memory;

/* ---- bounds ---- */
#define KH_MIG_PAGE_SIZE	   4096u
#define KH_MIG_HEADER_FIXED	   32u /* header bytes before the features */
#define KH_MIG_MAX_FEATURES	   64u /* feature words in a header */
#define KH_MIG_LINEAGE_SIZE	   56u /* the header's lineage block (KH_MIG_FLAG_LINEAGE) */
#define KH_MIG_HEADER_MAX	   (KH_MIG_HEADER_FIXED + 16u * KH_MIG_MAX_FEATURES + KH_MIG_LINEAGE_SIZE + 4u)
#define KH_MIG_SECTION_HEADER	   24u
#define KH_MIG_MAX_RAM_RANGES	   16u
#define KH_MIG_MAX_VCPUS	   1024u
#define KH_MIG_MAX_VIRTIO	   64u
#define KH_MIG_MEM_RECORD	   16u	      /* u64 gpa, u32 pages, u32 kind */
#define KH_MIG_MEM_DATA_MAX	   (1u << 20) /* page data in one memory section */
#define KH_MIG_MEM_SECTION_MAX	   (KH_MIG_MEM_DATA_MAX + 64u * KH_MIG_MEM_RECORD)
#define KH_MIG_CONFIG_MAX	   (16u + 16u * KH_MIG_MAX_RAM_RANGES)
#define KH_MIG_VM_SECTION_MAX	   (64u << 10)
#define KH_MIG_VCPU_SECTION_MAX	   (256u << 10)
#define KH_MIG_DEVICES_SECTION_MAX (64u << 20)
#define KH_MIG_VIRTIO_SECTION_MAX  (16u << 20)
#define KH_MIG_END_SIZE		   24u

/* Header flags. */
#define KH_MIG_FLAG_LIVE	  (1u << 0) /* live migration: the back channel (live.c) runs beside the stream */
#define KH_MIG_FLAG_SHARED_MEMORY (1u << 1) /* same-host: RAM fds come over SCM_RIGHTS, no memory sections */
#define KH_MIG_FLAG_LINEAGE	  (1u << 2) /* format 1.1: the header carries a lineage block (snapshot_diff.c) */
#define KH_MIG_FLAG_DIFF	  (1u << 3) /* format 1.1: a diff snapshot, memory only the pages dirtied since its parent */
#define KH_MIG_FLAG_XXH64	  (1u << 4) /* format 1.2: memory payloads checked by XXH64's low 32 bits, not CRC-32 */

/* Architectures (header field). */
#define KH_MIG_ARCH_X86_64 1u
#define KH_MIG_ARCH_ARM64  2u /* lib/arch/arm64/migration_arm64.c */

/* Section ids, in the order they must come (memory, vCPU and virtio sections repeat). */
enum kh_mig_section {
	KH_MIG_SEC_CONFIG = 1,	/* the machine's shape */
	KH_MIG_SEC_MEMORY = 2,	/* page ranges */
	KH_MIG_SEC_VM = 3,	/* the architecture's VM state */
	KH_MIG_SEC_VCPU = 4,	/* one vCPU's state; instance = its index, 0, 1, 2, ... */
	KH_MIG_SEC_DEVICES = 5, /* the device registry's container */
	KH_MIG_SEC_VIRTIO = 6,	/* a virtio device outside the registry; instance = its machine index */
	KH_MIG_SEC_END = 7,	/* counts */
};
#define KH_MIG_SEC_VERSION 1u /* every section's version in this format */

/* Memory record kinds. */
#define KH_MIG_MEM_DATA 0u
#define KH_MIG_MEM_ZERO 1u

/* ---- I/O ---- */
/*
 * Live migration's control of an endpoint (a socket): every read and write waits in poll() for the fd and
 * @wake_fd (an eventfd made readable by a cancel: -ECANCELED), at most @timeout_ms without progress
 * (-ETIMEDOUT); writes keep to @max_bandwidth bytes per second (0: no limit) counted from @rl_start_ns, and
 * with @watch_peer fail with -ECONNRESET as soon as the peer sends anything or hangs up (a destination only
 * speaks during the memory and state when it fails).
 */
struct kh_mig_ctl {
	int wake_fd;
	int timeout_ms;
	int watch_peer;
	uint64_t max_bandwidth;
	uint64_t rl_start_ns, rl_bytes;
	int write_blocked; /* the last send found the socket full: poll before the next */
	/* Reads: with @read_ahead, each read takes up to KH_MIG_READ_AHEAD bytes more than asked into @ra
	 * (one system call for a memory record and the next one's header); only while the peer speaks the
	 * stream and nothing else (the destination between ACCEPT and the end marker). Freed by the owner. */
	int read_ahead;
	uint8_t *ra;
	size_t ra_pos, ra_len;
};
#define KH_MIG_READ_AHEAD (64u << 10)

/* A stream endpoint: an fd, or (fd < 0) a buffer to read from / a growable buffer to write to. */
struct kh_mig_io {
	int fd;
	const uint8_t *in; /* buffer reads: in[pos..len) */
	size_t in_len, in_pos;
	uint64_t bytes;		/* moved so far (the offset, for messages) */
	struct kh_mig_ctl *ctl; /* NULL: plain blocking I/O */
	int xxh64;		/* writing: the header said KH_MIG_FLAG_XXH64 (memory sections' checksum) */
};

uint64_t kh_mig_now_ns(void); /* CLOCK_MONOTONIC */

/* A growable byte buffer (encoders write into it). err: ENOMEM once a growth failed (later puts do nothing). */
struct kh_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

void kh_buf_put(struct kh_buf *b, const void *data, size_t len);
void kh_buf_le(struct kh_buf *b, uint64_t v, unsigned n);
void kh_buf_free(struct kh_buf *b);

/* Read exactly @len bytes; an EOF first is -ENODATA with "<what>: the stream ends after N bytes". */
int kh_mig_read_full(struct kh_mig_io *io, void *buf, size_t len, const char *what);
/* Write all of @buf (short writes, EINTR; EPIPE without a SIGPIPE reaching the process). */
int kh_mig_write_full(struct kh_mig_io *io, const void *buf, size_t len, const char *what);

/* ---- writing ---- */
struct kh_mig_feature {
	uint32_t leaf, subleaf, reg, bits;
};

struct kh_mig_range {
	uint64_t gpa, length;
};

struct kh_mig_counts {
	uint64_t data_pages, zero_pages;
	uint32_t sections; /* before the end marker */
	uint32_t vcpus;
};

int kh_mig_write_header(struct kh_mig_io *io, uint32_t arch, uint32_t flags, const struct kh_mig_feature *f,
			uint32_t nfeat);
/* A snapshot's place in a chain of diff snapshots (format 1.1, KH_MIG_FLAG_LINEAGE): its own random id, the id of
 * the full snapshot the chain started from (its own for a full one), the id of the snapshot a diff holds the
 * changes since (zero for a full one), and the generation (0 the full snapshot, 1 its first diff, ...). */
struct kh_mig_lineage {
	uint8_t id[16], base[16], parent[16];
	uint32_t generation;
};
/* The header with @lin (NULL: none, as kh_mig_write_header()); KH_MIG_FLAG_LINEAGE is set in the header then. */
int kh_mig_write_header_lineage(struct kh_mig_io *io, uint32_t arch, uint32_t flags, const struct kh_mig_feature *f,
				uint32_t nfeat, const struct kh_mig_lineage *lin);
/* A section payload's checksum: CRC-32, or for a memory section of a stream whose header has
 * KH_MIG_FLAG_XXH64 (format 1.2) the low 32 bits of XXH64 with seed 0. */
uint32_t kh_mig_payload_sum(uint32_t header_flags, uint32_t id, const void *payload, size_t len);
/* One section: header (with the payload's checksum) then payload. Counts it in @c. */
int kh_mig_write_section(struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t id, uint32_t instance,
			 const void *payload, size_t len);
int kh_mig_write_config(struct kh_mig_io *io, struct kh_mig_counts *c, uint32_t vcpus, const struct kh_mig_range *r,
			uint32_t nranges);
/* Every page of @r (read through @mem) as memory sections; zero pages as zero ranges unless @all_pages. With
 * @dirty (one bitmap per range, bit i page i), only the pages whose bit is set. */
int kh_mig_write_memory(struct kh_mig_io *io, struct kh_mig_counts *c, struct kvmhost_memory *mem,
			const struct kh_mig_range *r, uint32_t nranges, int all_pages);
/* ... @hash (NULL: none; else one array per range, an entry per page): each page sent gets the
 * kh_mig_page_hash() of the bytes the stream carries for it (a zero range: the zero page's). */
int kh_mig_write_pages(struct kh_mig_io *io, struct kh_mig_counts *c, struct kvmhost_memory *mem,
		       const struct kh_mig_range *r, uint32_t nranges, int all_pages, const uint64_t *const *dirty,
		       uint64_t *const *hash);
/* Bit i of @bm set: page i of [gpa, gpa + pages * 4 KiB) reads as zero without being read (no one ever wrote it:
 * holes.c says how it knows; a page it cannot tell about is clear). @gpa lies in one region of @mem. */
int kh_mig_holes(struct kvmhost_memory *mem, uint64_t gpa, uint64_t pages, uint64_t *bm);
/* A 64-bit hash of one KH_MIG_PAGE_SIZE page (the verify mode's). */
uint64_t kh_mig_page_hash(const void *page);
int kh_mig_write_end(struct kh_mig_io *io, struct kh_mig_counts *c);

/* ---- reading ---- */
/*
 * What the destination is and what to do with the state sections. The reader checks the header against @arch
 * and @check_features, the config against @vcpus and @ram, writes memory sections into @mem (NULL: check only),
 * and hands each VM, vCPU, devices and virtio payload, after its CRC, to @section, which must decode and check it
 * without touching the machine (it is applied after the end marker). It expects exactly @virtio sections of
 * kind VIRTIO with the instances @virtio_index[0..virtio-1], in that order.
 */
struct kh_mig_dest {
	uint32_t arch;
	uint32_t vcpus;
	const struct kh_mig_range *ram;
	uint32_t nranges;
	struct kvmhost_memory *mem;
	uint32_t virtio;
	const uint32_t *virtio_index;
	int (*check_features)(void *opaque, const struct kh_mig_feature *f, uint32_t n);
	int (*section)(void *opaque, uint32_t id, uint32_t instance, const uint8_t *data, size_t len);
	/* Header flags the reader accepts (KH_MIG_FLAG_*); others are -EOPNOTSUPP. */
	uint32_t accept_flags;
	/* Once the config is read and checked (before any memory), with the header's flags; may be NULL. */
	int (*after_config)(void *opaque, uint32_t flags);
	void *opaque;
	/* Where the header's lineage block goes (all zero when it has none); may be NULL. A diff (KH_MIG_FLAG_DIFF)
	 * is refused unless accept_flags has KH_MIG_FLAG_DIFF; a lineage block is always read. */
	struct kh_mig_lineage *lineage;
};

/* Read and check a whole stream up to and including its end marker. On failure the message says what and
 * where (the stream offset), and memory may have been written (nothing else). */
int kh_mig_read(struct kh_mig_io *io, const struct kh_mig_dest *d, struct kh_mig_counts *c);

#endif

/*
 * Unit tests of the migration stream (lib/migration/stream.c) on fake data,
 * no KVM: a stream written by the writers (header, config, memory with data
 * and zero pages, fake state sections, end) read back into a standalone
 * guest memory map; every truncation refused with -ENODATA; every flipped
 * byte refused; a bad magic, another major version, another architecture,
 * a damaged header or section, missing CPU features, sections out of order
 * or repeated, a memory range past RAM, a huge length, a config other than
 * the destination's, wrong end counts, each with its errno and a message,
 * and nothing written outside RAM; the diff snapshots' lineage block (format
 * 1.1) read back and refused where it is malformed or a diff is not taken; XXH64's reference values, the
 * memory checksum a 1.2 stream carries, and a 1.1 stream (CRC-32 memory) still read; the pages known to be
 * zero without a read (kh_mig_holes()).
 * Also the x86 state decoders on garbage
 * and the NULL paths of the new x86 state calls.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>

#include "core/crc32.h"
#include "core/xxh64.h"
#include "core/internal.h"
#include "migration/migration_arch.h"
#include "migration/stream.h"

#define UNIT_ERROR_PREFIX ""
#include "unit_assert.h"

#define RAM_GPA	 0x100000ull
#define RAM_SIZE (64u * 4096u)

static struct kvmhost_memory *src_mem, *dst_mem;
static uint8_t *stream;
static size_t stream_len;

static const struct kh_mig_range ram = {RAM_GPA, RAM_SIZE};

static struct kvmhost_memory *make_mem(void)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct kvmhost_memory *m;

	o.guest_phys_addr = RAM_GPA;
	o.length = RAM_SIZE;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	o.name = "ram";
	assert_int_equal(kvmhost_memory_create(&m), 0);
	assert_int_equal(kvmhost_memory_add_region(m, &o, NULL), 0);
	return m;
}

/* Read a memfd's whole contents into a new buffer. */
static uint8_t *slurp(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)end);

	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)end, 0), end);
	*len = (size_t)end;
	return b;
}

/* Writers of the fake streams: @order lists the sections to write ("C" config, "M" memory, "V" vm, "0"/"1"
 * vCPUs, "D" devices, "E" end). */
static uint8_t *build(const char *order, uint32_t vcpus, size_t *len)
{
	struct kh_mig_feature f[2] = {{1, 0, 2, 0x1}, {7, 0, 1, 0x8}};
	int fd = memfd_create("stream", MFD_CLOEXEC);
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(kh_mig_write_header(&io, KH_MIG_ARCH_X86_64, 0, f, 2), 0);
	for (const char *p = order; *p; p++) {
		switch (*p) {
		case 'C':
			assert_int_equal(kh_mig_write_config(&io, &c, vcpus, &ram, 1), 0);
			break;
		case 'M':
			assert_int_equal(kh_mig_write_memory(&io, &c, src_mem, &ram, 1, 0), 0);
			break;
		case 'V':
			assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VM, 0, "vm-state", 8), 0);
			break;
		case 'D':
			assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_DEVICES, 0, "devs", 4), 0);
			break;
		case 'E':
			assert_int_equal(kh_mig_write_end(&io, &c), 0);
			break;
		default:
			assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VCPU, (uint32_t)(*p - '0'), "cpu", 3),
					 0);
		}
	}
	b = slurp(fd, len);
	close(fd);
	return b;
}

static int features_ok(void *opaque, const struct kh_mig_feature *f, uint32_t n)
{
	(void)opaque;
	for (uint32_t i = 0; i < n; i++)
		if (f[i].leaf == 7 && f[i].bits & 0x10)
			return KH_FAIL(EOPNOTSUPP, "feature 7.0 EBX 0x10 missing");
	return 0;
}

static int sections_seen;

static int section_ok(void *opaque, uint32_t id, uint32_t instance, const uint8_t *data, size_t len)
{
	(void)opaque;
	(void)instance;
	(void)data;
	(void)len;
	sections_seen++;
	return id == KH_MIG_SEC_DEVICES && len == 3 ? KH_FAIL(EINVAL, "bad devices") : 0;
}

static struct kh_mig_dest dest(void)
{
	return (struct kh_mig_dest){.arch = KH_MIG_ARCH_X86_64,
				    .vcpus = 2,
				    .ram = &ram,
				    .nranges = 1,
				    .mem = dst_mem,
				    .check_features = features_ok,
				    .section = section_ok};
}

static int read_buf(const uint8_t *b, size_t len)
{
	struct kh_mig_io io = {.fd = -1, .in = b, .in_len = len};
	struct kh_mig_dest d = dest();
	struct kh_mig_counts c;

	return kh_mig_read(&io, &d, &c);
}

static int setup(void **state)
{
	uint8_t page[4096];

	(void)state;
	src_mem = make_mem();
	dst_mem = make_mem();
	/* pages 0, 1, 2 and 40 hold data; the rest is zero */
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)(i * 7 + 1);
	for (int p = 0; p < 3; p++)
		assert_int_equal(kvmhost_memory_write(src_mem, RAM_GPA + (uint64_t)p * 4096, page, sizeof(page)), 0);
	assert_int_equal(kvmhost_memory_write(src_mem, RAM_GPA + 40 * 4096, page, 100), 0);
	stream = build("CMV01DE", 2, &stream_len);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kvmhost_memory_destroy(src_mem);
	kvmhost_memory_destroy(dst_mem);
	free(stream);
	return 0;
}

static void test_round_trip(void **state)
{
	struct kh_mig_io io = {.fd = -1, .in = stream, .in_len = stream_len};
	struct kh_mig_dest d = dest();
	struct kh_mig_counts c;
	uint8_t a[4096], b[4096];
	uint32_t junk = 0xdeadbeef;

	(void)state;
	/* A dirty destination page the stream says is zero becomes zero. */
	assert_int_equal(kvmhost_memory_write(dst_mem, RAM_GPA + 50 * 4096, &junk, 4), 0);
	sections_seen = 0;
	assert_int_equal(kh_mig_read(&io, &d, &c), 0);
	assert_int_equal(io.in_pos, stream_len);
	assert_int_equal(sections_seen, 4); /* vm, 2 vCPUs, devices */
	assert_int_equal(c.data_pages, 4);
	assert_int_equal(c.zero_pages, RAM_SIZE / 4096 - 4);
	assert_int_equal(c.vcpus, 2);
	for (uint64_t p = 0; p < RAM_SIZE / 4096; p++) {
		assert_int_equal(kvmhost_memory_read(src_mem, RAM_GPA + p * 4096, a, sizeof(a)), 0);
		assert_int_equal(kvmhost_memory_read(dst_mem, RAM_GPA + p * 4096, b, sizeof(b)), 0);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < stream_len; n++) {
		reset_error();
		int r = read_buf(stream, n);

		if (r != -ENODATA)
			print_error("cut at %zu of %zu: %d (%s)\n", n, stream_len, r, kvmhost_last_error());
		assert_int_equal(r, -ENODATA);
		assert_error_mentions("the stream ends after");
	}
}

static void test_every_flipped_byte(void **state)
{
	uint8_t *b = malloc(stream_len);

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < stream_len; i++) {
		memcpy(b, stream, stream_len);
		b[i] ^= 0x01;
		reset_error();
		int r = read_buf(b, stream_len);

		if (r >= 0)
			print_error("byte %zu flipped: accepted\n", i);
		assert_true(r < 0);
		assert_error_set();
	}
	free(b);
}

/* Rewrite the header's CRC after an edit of its fixed part (32 bytes + 2 features). */
static void fix_header_crc(uint8_t *b)
{
	uint32_t len, crc;

	memcpy(&len, b + 8, 4);
	crc = kh_crc32(0, b, len - 4);
	memcpy(b + len - 4, &crc, 4);
}

/* Rewrite every memory section's payload checksum as CRC-32 (a 1.1 writer's) and clear the header's XXH64
 * flag; with @keep_flag the flag stays (the checksums then do not match it). */
static void as_format_1_1(uint8_t *b, size_t len, int keep_flag)
{
	uint32_t hlen, flags;
	size_t off;

	memcpy(&hlen, b + 8, 4);
	memcpy(&flags, b + 20, 4);
	assert_true(flags & KH_MIG_FLAG_XXH64);
	if (!keep_flag) {
		flags &= ~KH_MIG_FLAG_XXH64;
		memcpy(b + 20, &flags, 4);
		b[6] = 1; /* minor 1 */
		fix_header_crc(b);
	}
	for (off = hlen; off + KH_MIG_SECTION_HEADER <= len;) {
		uint32_t id, crc;
		uint64_t plen;

		memcpy(&id, b + off, 4);
		memcpy(&plen, b + off + 8, 8);
		if (id == KH_MIG_SEC_MEMORY) {
			crc = kh_crc32(0, b + off + KH_MIG_SECTION_HEADER, (size_t)plen);
			memcpy(b + off + 16, &crc, 4);
			crc = kh_crc32(0, b + off, 20);
			memcpy(b + off + 20, &crc, 4);
		}
		off += KH_MIG_SECTION_HEADER + (size_t)plen;
	}
	assert_int_equal(off, len);
}

static void test_checksums(void **state)
{
	const char *s = "Nobody inspects the spammish repetition";
	struct kh_xxh64 x;
	uint8_t big[1000], *b = malloc(stream_len);
	uint32_t flags;

	(void)state;
	/* XXH64's published values (seed 0), and the incremental form equal to the one-call one. */
	assert_true(kh_xxh64("", 0, 0) == 0xef46db3751d8e999ull);
	assert_true(kh_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999ull);
	assert_true(kh_xxh64(s, strlen(s), 0) == 0xfbcea83c8a378bf1ull);
	for (int i = 0; i < 1000; i++)
		big[i] = (uint8_t)(i * 13);
	kh_xxh64_init(&x, 0);
	for (int i = 0; i < 1000; i += 7)
		kh_xxh64_update(&x, big + i, i + 7 <= 1000 ? 7 : (size_t)(1000 - i));
	assert_true(kh_xxh64_digest(&x) == kh_xxh64(big, 1000, 0));
	/* This library writes format 1.2, memory checked by XXH64. */
	memcpy(&flags, stream + 20, 4);
	assert_int_equal(stream[6], 2);
	assert_true(flags & KH_MIG_FLAG_XXH64);
	/* A 1.1 stream (CRC-32 memory, no flag) reads. */
	assert_non_null(b);
	memcpy(b, stream, stream_len);
	as_format_1_1(b, stream_len, 0);
	assert_int_equal(read_buf(b, stream_len), 0);
	/* CRC-32 memory under the XXH64 flag is damage, and so is XXH64 memory without it. */
	memcpy(b, stream, stream_len);
	as_format_1_1(b, stream_len, 1);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EBADMSG, "damaged (XXH64");
	memcpy(b, stream, stream_len);
	flags &= ~KH_MIG_FLAG_XXH64;
	memcpy(b + 20, &flags, 4);
	fix_header_crc(b);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EBADMSG, "damaged (CRC-32");
	free(b);
}

/* kh_mig_holes(): the pages never written of anonymous and memfd RAM, and none that were. */
static void test_holes(void **state)
{
	for (int backing = 0; backing < 2; backing++) {
		struct kvmhost_memory_options o = {.size = sizeof(o)};
		struct kvmhost_memory *m;
		uint64_t bm[1], one = 1;
		uint8_t got;

		(void)state;
		o.guest_phys_addr = RAM_GPA;
		o.length = RAM_SIZE;
		o.backing = backing ? KVMHOST_MEMORY_MEMFD : KVMHOST_MEMORY_ANONYMOUS;
		o.name = "ram";
		assert_int_equal(kvmhost_memory_create(&m), 0);
		assert_int_equal(kvmhost_memory_add_region(m, &o, NULL), 0);
		assert_int_equal(kvmhost_memory_write(m, RAM_GPA + 3 * 4096, &one, 8), 0);
		assert_int_equal(kvmhost_memory_write(m, RAM_GPA + 63 * 4096 + 4095, &one, 1), 0);
		/* a page only read may be anything (a zero page mapped, a page allocated): it is read then */
		assert_int_equal(kvmhost_memory_read(m, RAM_GPA + 10 * 4096, &got, 1), 0);
		assert_int_equal(kh_mig_holes(m, RAM_GPA, 64, bm), 0);
		if (!bm[0])
			skip(); /* no pagemap here (a sandbox): nothing known, nothing to check */
		assert_true(bm[0] & (1ull << 0));
		assert_true(bm[0] & (1ull << 62));
		assert_false(bm[0] & (1ull << 3));
		assert_false(bm[0] & (1ull << 63));
		/* a sub-range starting at page 2: its bit 1 is page 3 */
		assert_int_equal(kh_mig_holes(m, RAM_GPA + 2 * 4096, 8, bm), 0);
		assert_true(bm[0] & 1);
		assert_false(bm[0] & 2);
		assert_int_equal(bm[0] >> 8, 0);
		kvmhost_memory_destroy(m);
	}
}

static void test_header_refusals(void **state)
{
	uint8_t *b = malloc(stream_len);
	uint32_t v;

	(void)state;
	memcpy(b, stream, stream_len);
	b[0] = 'X';
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EINVAL, "not a libkvmhost snapshot");

	memcpy(b, stream, stream_len);
	b[4] = 2; /* major 2 */
	fix_header_crc(b);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EPROTONOSUPPORT, "major version");

	memcpy(b, stream, stream_len);
	b[6] = 9; /* a newer minor is fine */
	fix_header_crc(b);
	assert_int_equal(read_buf(b, stream_len), 0);

	memcpy(b, stream, stream_len);
	v = 2; /* arch */
	memcpy(b + 12, &v, 4);
	fix_header_crc(b);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), ENOEXEC, "architecture");

	memcpy(b, stream, stream_len);
	b[13] ^= 1;
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EBADMSG, "header is damaged");

	memcpy(b, stream, stream_len);
	v = 1000; /* feature words */
	memcpy(b + 28, &v, 4);
	ASSERT_FAILS(read_buf(b, stream_len), EFBIG);

	memcpy(b, stream, stream_len);
	v = 1; /* header flags */
	memcpy(b + 20, &v, 4);
	fix_header_crc(b);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EOPNOTSUPP, "flags");

	memcpy(b, stream, stream_len);
	v = 0x18; /* a feature the destination lacks */
	memcpy(b + 32 + 16 + 12, &v, 4);
	fix_header_crc(b);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EOPNOTSUPP, "feature");
	free(b);
}

/* Format 1.1: a diff snapshot's stream (the lineage block, only the pages of a dirty bitmap), written by the
 * writers and read back; refused where a diff is not accepted, with a malformed lineage, cut anywhere. */
static uint8_t *build_diff(const struct kh_mig_lineage *lin, uint32_t flags, size_t *len)
{
	struct kh_mig_feature f[1] = {{1, 0, 2, 0x1}};
	uint64_t bitmap[1] = {(1ull << 1) | (1ull << 40) | (1ull << 41)}; /* 41: a zero page */
	const uint64_t *dirty[1] = {bitmap};
	int fd = memfd_create("diff", MFD_CLOEXEC);
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(kh_mig_write_header_lineage(&io, KH_MIG_ARCH_X86_64, flags, f, 1, lin), 0);
	assert_int_equal(kh_mig_write_config(&io, &c, 2, &ram, 1), 0);
	assert_int_equal(kh_mig_write_pages(&io, &c, src_mem, &ram, 1, 0, dirty, NULL), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VM, 0, "vm", 2), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VCPU, 0, "c0", 2), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VCPU, 1, "c1", 2), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_DEVICES, 0, "devs", 4), 0);
	assert_int_equal(kh_mig_write_end(&io, &c), 0);
	b = slurp(fd, len);
	close(fd);
	return b;
}

static int read_diff(const uint8_t *b, size_t len, uint32_t accept, struct kh_mig_lineage *lin, struct kh_mig_counts *c)
{
	struct kh_mig_io io = {.fd = -1, .in = b, .in_len = len};
	struct kh_mig_dest d = dest();

	d.accept_flags = accept;
	d.lineage = lin;
	return kh_mig_read(&io, &d, c);
}

static void test_diff_lineage(void **state)
{
	struct kh_mig_lineage lin = {.generation = 3}, got, bad;
	struct kh_mig_counts c;
	uint8_t *b;
	size_t len;

	(void)state;
	memset(lin.id, 0xa1, 16);
	memset(lin.base, 0xb2, 16);
	memset(lin.parent, 0xc3, 16);
	b = build_diff(&lin, KH_MIG_FLAG_DIFF, &len);
	assert_int_equal(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), 0);
	assert_memory_equal(&got, &lin, sizeof(lin));
	assert_int_equal(c.data_pages, 2);
	assert_int_equal(c.zero_pages, 1);
	/* Not accepted (kvmhost_machine_restore()): refused, naming the chain's call */
	ASSERT_FAILS_MENTIONING(read_diff(b, len, 0, &got, &c), EOPNOTSUPP, "kvmhost_machine_restore_chain");
	for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 97)
		ASSERT_FAILS(read_diff(b, cut, KH_MIG_FLAG_DIFF, &got, &c), ENODATA);
	for (size_t at = 0; at < 92 + 16; at++) { /* every byte of the header */
		b[at] ^= 0x10;
		assert_true(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c) < 0);
		b[at] ^= 0x10;
	}
	free(b);
	/* A full snapshot with a lineage block is read wherever a snapshot is; its parent is zero */
	bad = lin;
	bad.generation = 0;
	memset(bad.parent, 0, 16);
	b = build_diff(&bad, 0, &len);
	assert_int_equal(read_diff(b, len, 0, &got, &c), 0);
	assert_int_equal(got.generation, 0);
	free(b);
	/* Malformed: a diff without a parent, a diff of generation 0, a full one with a parent, a zero id */
	b = build_diff(&bad, KH_MIG_FLAG_DIFF, &len);
	ASSERT_FAILS_MENTIONING(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), EINVAL, "lineage block is malformed");
	free(b);
	bad = lin;
	bad.generation = 0;
	b = build_diff(&bad, KH_MIG_FLAG_DIFF, &len);
	ASSERT_FAILS_MENTIONING(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), EINVAL, "malformed");
	free(b);
	b = build_diff(&lin, 0, &len);
	ASSERT_FAILS_MENTIONING(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), EINVAL, "malformed");
	free(b);
	bad = lin;
	memset(bad.id, 0, 16);
	b = build_diff(&bad, KH_MIG_FLAG_DIFF, &len);
	ASSERT_FAILS_MENTIONING(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), EINVAL, "malformed");
	free(b);
	/* DIFF without the lineage block */
	b = build_diff(NULL, KH_MIG_FLAG_DIFF, &len);
	ASSERT_FAILS_MENTIONING(read_diff(b, len, KH_MIG_FLAG_DIFF, &got, &c), EINVAL, "without the lineage block");
	free(b);
	/* The public calls' argument checks */
	ASSERT_FAILS(kvmhost_machine_restore_chain(NULL, NULL, 0, NULL, NULL), EINVAL);
	{
		int fds[2] = {0, -1};

		ASSERT_FAILS_MENTIONING(kvmhost_machine_restore_chain(NULL, fds, 2, NULL, NULL), EINVAL, "negative");
		ASSERT_FAILS(kvmhost_machine_restore_chain(NULL, fds, 1, NULL, NULL), EINVAL);
	}
	ASSERT_FAILS(kvmhost_machine_diff_tracking_stop(NULL), EINVAL);
}

static void expect_order_refused(const char *order, uint32_t vcpus, int err, const char *needle)
{
	size_t len;
	uint8_t *b = build(order, vcpus, &len);

	ASSERT_FAILS_MENTIONING(read_buf(b, len), err, needle);
	free(b);
}

static void test_order_refusals(void **state)
{
	(void)state;
	expect_order_refused("MCV01DE", 2, EINVAL, "must start with the config");
	expect_order_refused("CVMV01DE", 2, EINVAL, "out of order");
	expect_order_refused("CMVV01DE", 2, EINVAL, "second vm");
	expect_order_refused("CMV10DE", 2, EINVAL, "vCPU 1 where vCPU 0");
	expect_order_refused("CMV012DE", 2, EINVAL, "vCPU 2");
	expect_order_refused("CMV0DE", 2, EINVAL, "without");
	expect_order_refused("CMV01E", 2, EINVAL, "without");
	expect_order_refused("CCMV01DE", 2, EINVAL, "second config");
	expect_order_refused("CMV01D", 2, ENODATA, "ends after");
	expect_order_refused("CMV0DE", 1, EINVAL, "1 vCPUs; this machine has 2");
	assert_int_equal(read_buf(stream, stream_len), 0);
	/* memory may repeat (a second pass) and may be empty of sections */
	{
		size_t len;
		uint8_t *b = build("CMMV01DE", 2, &len);

		assert_int_equal(read_buf(b, len), 0);
		free(b);
		b = build("CV01DE", 2, &len);
		assert_int_equal(read_buf(b, len), 0);
		free(b);
	}
}

/* A stream whose one memory section is @payload (a valid header and CRCs around it). */
static int read_memory_payload(const uint8_t *payload, size_t plen)
{
	struct kh_mig_feature f = {1, 0, 2, 1};
	int fd = memfd_create("stream", MFD_CLOEXEC);
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};
	uint8_t *b;
	size_t len;
	int r;

	assert_int_equal(kh_mig_write_header(&io, KH_MIG_ARCH_X86_64, 0, &f, 1), 0);
	assert_int_equal(kh_mig_write_config(&io, &c, 2, &ram, 1), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_MEMORY, 0, payload, plen), 0);
	b = slurp(fd, &len);
	close(fd);
	r = read_buf(b, len);
	free(b);
	return r;
}

static size_t record(uint8_t *p, uint64_t gpa, uint32_t pages, uint32_t kind)
{
	memcpy(p, &gpa, 8);
	memcpy(p + 8, &pages, 4);
	memcpy(p + 12, &kind, 4);
	return 16;
}

static void test_memory_refusals(void **state)
{
	uint8_t *p = calloc(1, 16 + 2 * 4096);
	uint8_t canary[4096];

	(void)state;
	assert_non_null(p);
	record(p, RAM_GPA + RAM_SIZE - 4096, 2, KH_MIG_MEM_DATA); /* one page past the end */
	ASSERT_FAILS_MENTIONING(read_memory_payload(p, 16 + 2 * 4096), ERANGE, "not inside the guest's RAM");
	record(p, RAM_GPA - 4096, 1, KH_MIG_MEM_ZERO);
	ASSERT_FAILS(read_memory_payload(p, 16), ERANGE);
	record(p, 0xfffffffffffff000ull, 2, KH_MIG_MEM_ZERO); /* wraps */
	ASSERT_FAILS(read_memory_payload(p, 16), ERANGE);
	record(p, RAM_GPA, 0xffffffffu, KH_MIG_MEM_ZERO);
	ASSERT_FAILS(read_memory_payload(p, 16), ERANGE);
	record(p, RAM_GPA + 1, 1, KH_MIG_MEM_ZERO);
	ASSERT_FAILS_MENTIONING(read_memory_payload(p, 16), EINVAL, "malformed");
	record(p, RAM_GPA, 0, KH_MIG_MEM_ZERO);
	ASSERT_FAILS(read_memory_payload(p, 16), EINVAL);
	record(p, RAM_GPA, 1, 7);
	ASSERT_FAILS(read_memory_payload(p, 16), EINVAL);
	record(p, RAM_GPA, 2, KH_MIG_MEM_DATA); /* claims 2 pages, holds 1 */
	ASSERT_FAILS_MENTIONING(read_memory_payload(p, 16 + 4096), EINVAL, "claims");
	ASSERT_FAILS_MENTIONING(read_memory_payload(p, 10), EINVAL, "cut short");
	ASSERT_FAILS(read_memory_payload(p, 0), EINVAL);
	/* Nothing outside RAM exists to be written; inside, a refused record wrote nothing either. */
	assert_int_equal(kvmhost_memory_read(dst_mem, RAM_GPA + RAM_SIZE - 4096, canary, sizeof(canary)), 0);
	free(p);
}

static void test_huge_length(void **state)
{
	uint8_t *b = malloc(stream_len);
	uint32_t hlen, crc;
	uint64_t big = 1ull << 40;

	(void)state;
	memcpy(b, stream, stream_len);
	memcpy(&hlen, b + 8, 4);
	/* the first section (config) claims 1 TiB, its header CRC made right */
	memcpy(b + hlen + 8, &big, 8);
	crc = kh_crc32(0, b + hlen, 20);
	memcpy(b + hlen + 20, &crc, 4);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EFBIG, "more than a config section");
	/* an unknown section id */
	memcpy(b, stream, stream_len);
	b[hlen] = 99;
	crc = kh_crc32(0, b + hlen, 20);
	memcpy(b + hlen + 20, &crc, 4);
	ASSERT_FAILS_MENTIONING(read_buf(b, stream_len), EINVAL, "unknown section id");
	/* a newer section version */
	memcpy(b, stream, stream_len);
	b[hlen + 4] = 2;
	crc = kh_crc32(0, b + hlen, 20);
	memcpy(b + hlen + 20, &crc, 4);
	ASSERT_FAILS(read_buf(b, stream_len), EOPNOTSUPP);
	free(b);
}

static void test_section_callback_error(void **state)
{
	size_t len;
	uint8_t *b;
	int fd = memfd_create("stream", MFD_CLOEXEC);
	struct kh_mig_io io = {.fd = fd};
	struct kh_mig_counts c = {0};

	(void)state;
	assert_int_equal(kh_mig_write_header(&io, KH_MIG_ARCH_X86_64, 0, NULL, 0), 0);
	assert_int_equal(kh_mig_write_config(&io, &c, 2, &ram, 1), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VM, 0, "v", 1), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VCPU, 0, "a", 1), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_VCPU, 1, "b", 1), 0);
	assert_int_equal(kh_mig_write_section(&io, &c, KH_MIG_SEC_DEVICES, 0, "bad", 3), 0);
	b = slurp(fd, &len);
	close(fd);
	ASSERT_FAILS_MENTIONING(read_buf(b, len), EINVAL, "bad devices");
	free(b);
}

static void test_write_errors(void **state)
{
	int p[2];
	struct kh_mig_io io;

	(void)state;
	/* A pipe whose reader is gone: -EPIPE, and the process lives on (no SIGPIPE). */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	io = (struct kh_mig_io){.fd = p[1]};
	ASSERT_FAILS_MENTIONING(kh_mig_write_header(&io, KH_MIG_ARCH_X86_64, 0, NULL, 0), EPIPE, "the header");
	close(p[1]);
	io = (struct kh_mig_io){.fd = 12345};
	ASSERT_FAILS(kh_mig_write_header(&io, KH_MIG_ARCH_X86_64, 0, NULL, 0), EBADF);
}

#if defined(__x86_64__)
static void test_x86_decoders(void **state)
{
	struct kh_mig_arch_vcpu *cpu;
	struct kh_mig_arch_vm *vm;
	uint8_t buf[64] = {0};

	(void)state;
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(buf, 0, &cpu), EINVAL); /* nothing there */
	assert_null(cpu);
	buf[0] = 99; /* unknown item */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(buf, 8, &cpu), EINVAL);
	buf[0] = 4; /* REGS with 8 bytes: the struct is larger */
	buf[4] = 8;
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(buf, 16, &cpu), EINVAL, "kernel's struct");
	buf[4] = 200; /* claims more than there is */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(buf, 16, &cpu), EINVAL);
	buf[0] = 1; /* CPUID with a count of 10000 */
	buf[4] = 4;
	buf[8] = 0x10;
	buf[9] = 0x27;
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(buf, 12, &cpu), EINVAL);
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(buf, 5, &cpu), EINVAL);
	memset(buf, 0, sizeof(buf));
	ASSERT_FAILS(kh_mig_arch_decode_vm(buf, 0, &vm), EINVAL);
	assert_null(vm);
	buf[0] = 5; /* the clock alone, of the wrong size */
	buf[4] = 8;
	ASSERT_FAILS(kh_mig_arch_decode_vm(buf, 16, &vm), EINVAL);
	buf[4] = 40; /* the clock alone: the irqchips and PIT missing */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vm(buf, 48, &vm), EINVAL, "missing");
}

static void test_x86_state_calls_null(void **state)
{
	struct kvm_mp_state mp = {0};
	struct kvm_irqchip chip = {0};
	struct kvm_pit_state2 pit;
	uint32_t n;

	(void)state;
	ASSERT_FAILS(kvmhost_vcpu_get_mp_state(NULL, &mp), EINVAL);
	ASSERT_FAILS(kvmhost_vcpu_set_mp_state(NULL, &mp), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_get_cpuid(NULL, NULL, 0, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_get_tsc_khz(NULL, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_set_tsc_khz(NULL, 1000), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_kvmclock_ctrl(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_get_irqchip(NULL, &chip), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_set_irqchip(NULL, &chip), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_get_pit(NULL, &pit), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_set_pit(NULL, &pit), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_clock_flags(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vm_enable_exception_payload(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_machine_snapshot(NULL, 1, NULL, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_machine_restore(NULL, 0, NULL, NULL), EINVAL);
	{
		struct kvmhost_migration_options o = {.size = sizeof(o), .flags = 1u << 9};

		ASSERT_FAILS(kvmhost_machine_snapshot(NULL, 1, &o, NULL), EINVAL);
		o.flags = KVMHOST_MIGRATION_LEAVE_PAUSED; /* a snapshot flag, not restore's */
		ASSERT_FAILS(kvmhost_machine_restore(NULL, 0, &o, NULL), EINVAL);
	}
}
#endif

#if defined(__aarch64__)
#include <linux/kvm.h>
#include "arch/arm64/gic_internal.h"

static size_t le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return n;
}

static size_t item(uint8_t *p, uint32_t tag, uint32_t len)
{
	return le(p, tag, 2) + le(p + 2, 0, 2) + le(p + 4, len, 4);
}

/* A vCPU payload: REGS (PC, a U64 core id, and V0, a U128 one), MP_STATE. */
static size_t arm64_vcpu_payload(uint8_t *b, uint32_t mp)
{
	const uint64_t id1 = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | 0x40;  /* pc */
	const uint64_t id2 = KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | 0x48; /* v0 */
	size_t n = item(b, 1, 8 + 16 + 24);

	n += le(b + n, 2, 4) + le(b + n + 4, 0, 4);
	n += le(b + n, id1, 8);
	n += le(b + n, 0x40001000u, 8);
	n += le(b + n, id2, 8);
	n += le(b + n, 0x1122334455667788ull, 8) + le(b + n + 8, 0x99u, 8);
	n += item(b + n, 2, 4);
	n += le(b + n, mp, 4);
	return n;
}

/* A VM payload: GIC (128 interrupts: GICD_CTLR, an IROUTER word, ICC_PMR_EL1, an SPI line level), CLOCK. */
static size_t arm64_vm_payload(uint8_t *b, uint32_t group3, uint64_t attr3)
{
	size_t n = item(b, 1, 8 + 4 * 24);

	n += le(b + n, 128, 4) + le(b + n + 4, 4, 4);
	n += le(b + n, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 4) + le(b + n + 4, 0, 4);
	n += le(b + n, 0x0, 8) + le(b + n + 8, 0x52, 8);
	n += le(b + n, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 4) + le(b + n + 4, 0, 4);
	n += le(b + n, 0x6000 + 8 * 127 + 4, 8) + le(b + n + 8, 0, 8);
	n += le(b + n, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 4) + le(b + n + 4, 0, 4);
	n += le(b + n, (1ull << 32) | (3u << 14 | 4u << 7 | 6u << 3), 8) + le(b + n + 8, 0xf0, 8);
	n += le(b + n, group3, 4) + le(b + n + 4, 0, 4);
	n += le(b + n, attr3, 8) + le(b + n + 8, 0x1, 8);
	n += item(b + n, 2, 8);
	n += le(b + n, 1700000000000000000ull, 8);
	return n;
}

static void test_arm64_decoders(void **state)
{
	const uint64_t level = (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT;
	struct kh_mig_arch_vcpu *cpu;
	struct kh_mig_arch_vm *vm;
	uint8_t b[512], c[512];
	size_t n;

	(void)state;
	/* Valid payloads decode; every truncation of them is refused. */
	n = arm64_vcpu_payload(b, KVM_MP_STATE_STOPPED);
	assert_int_equal(kh_mig_arch_decode_vcpu(b, n, &cpu), 0);
	kh_mig_arch_free_vcpu(cpu);
	for (size_t k = 0; k < n; k++) {
		ASSERT_FAILS(kh_mig_arch_decode_vcpu(b, k, &cpu), EINVAL);
		assert_null(cpu);
	}
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, level | 96);
	assert_int_equal(kh_mig_arch_decode_vm(b, n, &vm), 0);
	kh_mig_arch_free_vm(vm);
	for (size_t k = 0; k < n; k++) {
		ASSERT_FAILS(kh_mig_arch_decode_vm(b, k, &vm), EINVAL);
		assert_null(vm);
	}

	/* Bad values. */
	n = arm64_vcpu_payload(b, 3); /* KVM_MP_STATE_HALTED: not arm64's */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(b, n, &cpu), EINVAL, "MP state");
	n = arm64_vcpu_payload(b, 0);
	memcpy(c, b, n);
	c[16 + 7] = 0x40; /* the first id's architecture: not KVM_REG_ARM64 */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL, "no arm64 register");
	memcpy(c, b, n);
	c[16 + 6] = 0xb0; /* the first id's size: 2^11 bytes */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL);
	memcpy(c, b, n);
	memcpy(c + 32, c + 16, 8); /* the second id = the first, now U64 read as the first's twin */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL);
	memcpy(c, b, n);
	c[8] = 3; /* 3 registers claimed, 2 there */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL, "cut short");
	memcpy(c, b, n);
	c[12] = 1; /* the reserved word */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL);
	memcpy(c, b, n);
	c[2] = 1; /* an item header's reserved half */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL, "unknown item");
	memcpy(c, b, n);
	c[n - 12] = 9; /* the MP state's tag: unknown */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL, "unknown item");
	memcpy(c, b, n);
	c[4] += 8; /* REGS claims 8 bytes more: the MP state's header is eaten */
	ASSERT_FAILS(kh_mig_arch_decode_vcpu(c, n, &cpu), EINVAL);

	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, level | 100); /* not a multiple of 32 */
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vm(b, n, &vm), EINVAL, "vGIC state");
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, level | 128); /* past the 128 interrupts */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x6000 + 8 * 128); /* IROUTER of INTID 128 */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x100); /* ISENABLER0: the redistributors' */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, (1ull << 32) | 0x10104); /* no ISENABLER1 there */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_ADDR, 2); /* a group a state never carries */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x104); /* a BASER offset not 8-aligned */
	ASSERT_FAILS(kh_mig_arch_decode_vm(b, n, &vm), EINVAL);
	n = arm64_vm_payload(b, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x138); /* GITS_BASER7: fine */
	assert_int_equal(kh_mig_arch_decode_vm(b, n, &vm), 0);
	kh_mig_arch_free_vm(vm);
	memcpy(c, b, n);
	c[8] = 0x20; /* 0x420 interrupts */
	c[9] = 0x04;
	ASSERT_FAILS(kh_mig_arch_decode_vm(c, n, &vm), EINVAL);
	memcpy(c, b, n);
	c[12] = 5; /* 5 registers claimed, 4 there */
	ASSERT_FAILS(kh_mig_arch_decode_vm(c, n, &vm), EINVAL);
	memcpy(c, b, n);
	c[16 + 4] = 1; /* a register's reserved word */
	ASSERT_FAILS(kh_mig_arch_decode_vm(c, n, &vm), EINVAL);
	memcpy(c, b, n);
	c[16 + 16 + 4] = 1; /* GICD_CTLR's value over 32 bits */
	ASSERT_FAILS(kh_mig_arch_decode_vm(c, n, &vm), EINVAL);
	ASSERT_FAILS_MENTIONING(kh_mig_arch_decode_vm(b, 8 + 8 + 4 * 24, &vm), EINVAL, "clock is missing");

	/* The register rules themselves. */
	assert_int_equal(kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x400 + 32, 0, 64), 0);
	assert_int_equal(kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x400 + 28, 0, 64), -EINVAL);
	assert_int_equal(kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x400 + 32, 0, 63), -EINVAL);
	assert_int_equal(kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 1ull << 32, 0, 64), -EINVAL);
	assert_int_equal(
	    kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 3u << 14 | 12u << 7 | 12u << 3 | 7u, ~0ull, 64), 0);
	assert_int_equal(kh_gic_reg_check(KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 3u << 14 | 12u << 7 | 12u << 3 | 0u, 0, 64),
			 -EINVAL); /* ICC_IAR1_EL1: an acknowledge, not state */
	assert_true(kh_gic_mpidr_attr(0x0000000100020304ull) == 0x01020304ull << 32);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksums, setup, teardown),
		cmocka_unit_test(test_holes),
		cmocka_unit_test_setup_teardown(test_order_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_section_callback_error, setup, teardown),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test_setup_teardown(test_diff_lineage, setup, teardown),
#if defined(__x86_64__)
		cmocka_unit_test(test_x86_decoders),
		cmocka_unit_test(test_x86_state_calls_null),
#endif
#if defined(__aarch64__)
		cmocka_unit_test(test_arm64_decoders),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

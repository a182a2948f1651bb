/*
 * libFuzzer target: a virtqueue (split or packed) driven by arbitrary guest
 * memory and setup parameters, as a hostile guest would.
 *
 * Input layout (short inputs are zero-extended):
 *   [0]      flags: bit 0 packed ring, bit 1 INDIRECT_DESC, bit 2 EVENT_IDX
 *   [1..2]   queue size, u16 LE (the queue's maximum is 256; anything goes)
 *   [3..8]   descriptor, driver and device area addresses, u16 LE each
 *   [9]      script length n
 *   [10..]   n script bytes: the device's (and the driver's) moves, below
 *   rest     the initial contents of guest memory region A
 *
 * Script byte b: op = b & 7, arg = b >> 3
 *   0 pop a chain (held, up to 64)   1 push the oldest held chain
 *   2 push the newest held chain     3 unpop the newest held chain
 *   4 should_notify                  5 set_notify(arg & 1)
 *   6 the driver writes: the next three script bytes are a u16 offset into
 *     region A and a byte value (moving avail->idx, flipping flags...)
 *   7 reset and set the queue up again (held chains become stale)
 * After the script the queue is drained (pop and push until empty, broken
 * or 2 * size + 8 rounds) and every held chain is pushed.
 *
 * Every popped chain is checked: each iovec lies inside one host mapping of
 * guest memory, writable ones not in the read-only region, lengths add up
 * to the totals, the total is at most 4 GiB. Then all readable bytes are
 * read and all writable bytes written, so ASan and the guard pages around
 * each mapping catch any pointer outside guest memory. Bytes pushed as
 * written are a fuzzer-chosen part of writable_len.
 *
 * Guest memory: A [0, 0x10000) read-write, B [0x10000, 0x11000) adjacent
 * but mapped separately, a hole, RO [0x20000, 0x21000) read-only and mapped
 * PROT_READ.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kvmhost/memory.h>
#include <kvmhost/virtio/queue.h>

#define PAGE	4096u
#define A_LEN	0x10000u
#define B_GPA	0x10000u
#define B_LEN	0x1000u
#define RO_GPA	0x20000u
#define RO_LEN	0x1000u
#define MAXHELD 64

static struct kvmhost_memory *mem;
static uint8_t *a, *b, *ro;

static uint8_t *map_guarded(size_t len, int prot)
{
	uint8_t *p = mmap(NULL, len + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + PAGE, len, prot) != 0)
		abort();
	return p + PAGE;
}

static void add(uint64_t gpa, uint64_t len, void *host, uint32_t flags)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = host;
	o.flags = flags;
	if (kvmhost_memory_add_region(mem, &o, NULL) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kvmhost_memory_create(&mem) != 0)
		abort();
	a = map_guarded(A_LEN, PROT_READ | PROT_WRITE);
	b = map_guarded(B_LEN, PROT_READ | PROT_WRITE);
	ro = map_guarded(RO_LEN, PROT_READ);
	add(0, A_LEN, a, 0);
	add(B_GPA, B_LEN, b, 0);
	add(RO_GPA, RO_LEN, ro, KVMHOST_MEMORY_READONLY);
	return 0;
}

static int inside(const void *p, size_t len, const uint8_t *base, size_t blen)
{
	const uint8_t *q = p;

	return q >= base && q <= base + blen && len <= (size_t)(base + blen - q);
}

static volatile uint8_t sink;

/* Check a chain and touch every byte of it. */
static void check_chain(const struct kvmhost_virtq_chain *c, uint32_t size)
{
	uint64_t rl = 0, wl = 0;
	uint8_t x = 0;

	if (c->head >= size || c->descriptors > size)
		abort();
	for (uint32_t i = 0; i < c->readable_count; i++) {
		const struct iovec *v = &c->readable[i];

		if (!inside(v->iov_base, v->iov_len, a, A_LEN) && !inside(v->iov_base, v->iov_len, b, B_LEN) &&
		    !inside(v->iov_base, v->iov_len, ro, RO_LEN))
			abort();
		for (size_t j = 0; j < v->iov_len; j += 61)
			x ^= ((const uint8_t *)v->iov_base)[j];
		if (v->iov_len)
			x ^= ((const uint8_t *)v->iov_base)[v->iov_len - 1];
		rl += v->iov_len;
	}
	for (uint32_t i = 0; i < c->writable_count; i++) {
		const struct iovec *v = &c->writable[i];

		if (!inside(v->iov_base, v->iov_len, a, A_LEN) && !inside(v->iov_base, v->iov_len, b, B_LEN))
			abort();
		memset(v->iov_base, 0x5a, v->iov_len);
		wl += v->iov_len;
	}
	if (rl != c->readable_len || wl != c->writable_len || rl + wl > (1ull << 32))
		abort();
	sink = x;
}

struct input {
	const uint8_t *p;
	size_t len, off;
};

static uint8_t next(struct input *in)
{
	return in->off < in->len ? in->p[in->off++] : 0;
}

static uint16_t next16(struct input *in)
{
	uint16_t lo = next(in);

	return (uint16_t)(lo | next(in) << 8);
}

struct run {
	struct kvmhost_virtq *q;
	uint64_t features;
	uint32_t size;
	uint16_t desc, drv, dev;
	const struct kvmhost_virtq_chain *held[MAXHELD];
	unsigned nheld;
	unsigned salt;
};

static void setup_queue(struct run *r)
{
	kvmhost_virtq_reset(r->q);
	kvmhost_virtq_set_features(r->q, r->features);
	kvmhost_virtq_set_size(r->q, r->size);
	kvmhost_virtq_set_addresses(r->q, r->desc, r->drv, r->dev);
	kvmhost_virtq_enable(r->q);
}

static uint32_t written_for(struct run *r, const struct kvmhost_virtq_chain *c, unsigned arg)
{
	uint64_t w = c->writable_len;

	r->salt = r->salt * 1103515245u + 12345u + arg;
	if (!w)
		return 0;
	switch (arg & 3) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)w;
	default:
		return (uint32_t)((r->salt >> 3) % (w + 1));
	}
}

static void push_at(struct run *r, unsigned i, unsigned arg)
{
	const struct kvmhost_virtq_chain *c = r->held[i];

	if (kvmhost_virtq_push(r->q, c, written_for(r, c, arg)) == -22) /* -EINVAL: not ours to lose */
		abort();
	memmove(&r->held[i], &r->held[i + 1], (r->nheld - i - 1) * sizeof(r->held[0]));
	r->nheld--;
}

static int pop_one(struct run *r)
{
	const struct kvmhost_virtq_chain *c;
	int rc;

	if (r->nheld == MAXHELD)
		return 0;
	rc = kvmhost_virtq_pop(r->q, &c);
	if (rc == 1) {
		check_chain(c, r->size);
		r->held[r->nheld++] = c;
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvmhost_virtq_options o = {.size = sizeof(o), .max_size = 256, .name = "fuzz"};
	struct input in = {.p = data, .len = size};
	struct run r;
	uint8_t flags, script_len;
	size_t script_off, img;

	memset(&r, 0, sizeof(r));
	flags = next(&in);
	r.size = next16(&in);
	r.desc = next16(&in);
	r.drv = next16(&in);
	r.dev = next16(&in);
	script_len = next(&in);
	script_off = in.off;
	in.off = script_off + script_len < size ? script_off + script_len : size;
	/* Guest memory: the rest of the input, then zeros. */
	img = size - in.off < A_LEN ? size - in.off : A_LEN;
	memcpy(a, data + in.off, img);
	memset(a + img, 0, A_LEN - img);
	memset(b, 0, B_LEN);
	if (flags & 1)
		r.features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
	if (flags & 2)
		r.features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC);
	if (flags & 4)
		r.features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX);
	if (kvmhost_virtq_create(mem, &o, &r.q) != 0)
		abort();
	setup_queue(&r);

	in.off = script_off;
	while (in.off < script_off + script_len && in.off < size) {
		uint8_t op = next(&in);
		unsigned arg = op >> 3;

		switch (op & 7) {
		case 0:
			pop_one(&r);
			break;
		case 1:
			if (r.nheld)
				push_at(&r, 0, arg);
			break;
		case 2:
			if (r.nheld)
				push_at(&r, r.nheld - 1, arg);
			break;
		case 3:
			if (r.nheld && kvmhost_virtq_unpop(r.q, r.held[r.nheld - 1]) != -22)
				r.nheld--;
			break;
		case 4:
			kvmhost_virtq_should_notify(r.q);
			break;
		case 5:
			kvmhost_virtq_set_notify(r.q, arg & 1);
			break;
		case 6: {
			uint16_t off = next16(&in);
			uint8_t v = next(&in);

			__atomic_store_n(&a[off % A_LEN], v, __ATOMIC_RELEASE);
			break;
		}
		case 7:
			setup_queue(&r);
			break;
		}
	}
	/* Drain. */
	for (uint32_t i = 0; i < 2 * r.size + 8 && i < 2 * 256 + 8; i++) {
		int rc = pop_one(&r);

		if (rc != 1)
			break;
		push_at(&r, r.nheld - 1, i);
		kvmhost_virtq_should_notify(r.q);
	}
	while (r.nheld)
		push_at(&r, 0, r.nheld);
	if (kvmhost_virtq_in_flight(r.q) != 0)
		abort();
	kvmhost_virtq_destroy(r.q);
	return 0;
}

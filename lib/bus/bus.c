/*
 * I/O buses (bus.h): address ranges claimed by device callbacks, kept in an
 * immutable array sorted by base, searched by bisection, read-mostly.
 *
 * Dispatch writes nothing that another thread's dispatch reads or writes: it
 * counts itself in its own thread's reader slot (a cache line of the bus
 * that only the threads mapped to that slot touch), loads the published
 * table, calls the device and uncounts itself. A writer (register,
 * unregister) builds a new table under the bus's writer mutex, publishes it
 * with one atomic store, and then waits for a grace period before it frees
 * what the old table alone referenced (the old table, an unregistered
 * range's name): that is what keeps "once unregister returns, no callback of
 * that range runs" true. Dispatch never blocks, so a nested access to
 * another bus can never deadlock against a writer waiting on that bus.
 *
 * Grace periods, SRCU-style: each slot has two counters, one per epoch
 * parity. A reader reads the epoch, increments its slot's counter of that
 * parity, and re-reads the epoch: if the parity changed it undoes the
 * increment and tries again, so a reader is always counted in an epoch that
 * was still current after it counted itself. A writer flips the epoch and
 * waits until every slot's counter of the old parity is zero. Every access
 * (all sequentially consistent) that could see the old table follows a
 * counted increment that the flip, or the previous writer's flip, already
 * waits for: see kh_bus_synchronize().
 *
 * Each thread also keeps a small stack of the buses it is dispatching on. A
 * nested access to the same bus (a device forwarding to another range)
 * is counted once; a register/unregister from inside a callback of the same
 * bus, whose grace period would wait for the caller itself, fails with
 * -EDEADLK.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kvmhost/bus.h>

#include "../core/internal.h"
#include "bus_internal.h"

/* Ranges beyond this many make no sense and would overflow kvmhost_bus_count(). */
#define KH_BUS_MAX_RANGES (1u << 20)
/* Reader slots per bus, one cache line each: threads are spread over them
 * round-robin; two threads share one only past this many. */
#define KH_BUS_SLOTS  32u
#define KH_CACHE_LINE 64

struct kh_bus_entry {
	uint64_t base;
	uint64_t last; /* inclusive, so a range may end at 2^64 - 1 */
	kvmhost_bus_read_fn read;
	kvmhost_bus_write_fn write;
	void *opaque;
	char *name; /* never NULL; owned by the bus, shared by the tables listing the range */
};

/* A published table never changes; a writer replaces it whole. */
struct kh_bus_table {
	size_t count;
	struct kh_bus_entry entries[]; /* sorted by base, no overlaps */
};

struct kh_bus_slot {
	atomic_ulong readers[2]; /* by epoch parity */
} __attribute__((aligned(KH_CACHE_LINE)));

struct kvmhost_bus {
	/* Read by every dispatch, written only by writers. */
	_Atomic(struct kh_bus_table *) table; /* never NULL */
	atomic_uint epoch;
	char *name;
	/* Writers only. */
	pthread_mutex_t wlock __attribute__((aligned(KH_CACHE_LINE)));
	atomic_size_t count; /* the table's, for kvmhost_bus_count() */
	struct kh_bus_slot slots[KH_BUS_SLOTS];
};

/* Buses this thread is dispatching on, innermost first. */
struct kh_bus_frame {
	const struct kvmhost_bus *bus;
	struct kh_bus_frame *prev;
	atomic_ulong *counted; /* the reader counter to decrement, NULL for a nested frame */
};
/* initial-exec: no __tls_get_addr() call on the dispatch path; two words
 * fit easily in the static TLS that glibc keeps spare for dlopen(). */
static _Thread_local struct kh_bus_frame *kh_bus_frames __attribute__((tls_model("initial-exec")));
/* This thread's reader slot + 1 (0: none picked yet). */
static _Thread_local unsigned kh_bus_slot_plus1 __attribute__((tls_model("initial-exec")));
static atomic_uint kh_bus_next_slot;

static int kh_bus_held(const struct kvmhost_bus *bus)
{
	for (const struct kh_bus_frame *f = kh_bus_frames; f; f = f->prev)
		if (f->bus == bus)
			return 1;
	return 0;
}

int kh_bus_in_callback(const struct kvmhost_bus *bus)
{
	return bus ? kh_bus_held(bus) : kh_bus_frames != NULL;
}

static unsigned kh_bus_my_slot(void)
{
	if (!kh_bus_slot_plus1)
		kh_bus_slot_plus1 =
		    atomic_fetch_add_explicit(&kh_bus_next_slot, 1, memory_order_relaxed) % KH_BUS_SLOTS + 1;
	return kh_bus_slot_plus1 - 1;
}

/* Count this thread as a reader of @bus; returns the counter to decrement. */
static atomic_ulong *kh_bus_read_enter(struct kvmhost_bus *bus)
{
	struct kh_bus_slot *s = &bus->slots[kh_bus_my_slot()];

	for (;;) {
		unsigned e = atomic_load_explicit(&bus->epoch, memory_order_relaxed) & 1;

		atomic_fetch_add_explicit(&s->readers[e], 1, memory_order_seq_cst);
		if ((atomic_load_explicit(&bus->epoch, memory_order_seq_cst) & 1) == e)
			return &s->readers[e];
		/* A writer flipped the epoch in between: count in the new one. */
		atomic_fetch_sub_explicit(&s->readers[e], 1, memory_order_release);
	}
}

static void kh_bus_read_exit(atomic_ulong *counted)
{
	atomic_fetch_sub_explicit(counted, 1, memory_order_release);
}

static inline void kh_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * With wlock held, after publishing a new table: wait until no reader can
 * still see the table it replaced. A reader R that saw that table counted
 * itself in parity p and then re-read the epoch as p, before the table load
 * (all seq_cst, so in one total order S: R's increment, R's re-read, R's
 * load of the old table, this writer's store of the new one, this flip). If
 * no other flip came between R's re-read and this flip, this flip moves the
 * epoch away from p and the wait below sees R counted. Otherwise the first
 * flip after R's re-read, by an earlier writer (writers are serialised),
 * moved away from p, and that writer's wait saw R counted and returned only
 * after R left, before this writer started.
 */
static void kh_bus_synchronize(struct kvmhost_bus *bus)
{
	unsigned old = atomic_fetch_add_explicit(&bus->epoch, 1, memory_order_seq_cst) & 1;

	for (unsigned i = 0; i < KH_BUS_SLOTS; i++) {
		for (unsigned spins = 0; atomic_load_explicit(&bus->slots[i].readers[old], memory_order_seq_cst);
		     spins++) {
			/* Callbacks are short: spin, then yield; sleep if one takes long. */
			if (spins < 32) {
				kh_cpu_relax();
			} else if (spins < 256) {
				sched_yield();
			} else {
				struct timespec ts = {0, 50 * 1000};

				nanosleep(&ts, NULL);
			}
		}
	}
}

static struct kh_bus_table *kh_bus_table_alloc(size_t count)
{
	struct kh_bus_table *t = malloc(sizeof(*t) + count * sizeof(t->entries[0]));

	if (t)
		t->count = count;
	return t;
}

KVMHOST_API int kvmhost_bus_create(const char *name, struct kvmhost_bus **out)
{
	struct kvmhost_bus *bus;
	struct kh_bus_table *t;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	bus = aligned_alloc(KH_CACHE_LINE, sizeof(*bus));
	if (!bus)
		return KH_FAIL(ENOMEM, "cannot allocate a bus");
	memset(bus, 0, sizeof(*bus));
	bus->name = strdup(name ? name : "bus");
	t = kh_bus_table_alloc(0);
	if (!bus->name || !t) {
		free(t);
		free(bus->name);
		free(bus);
		return KH_FAIL(ENOMEM, "cannot allocate a bus");
	}
	atomic_init(&bus->table, t);
	pthread_mutex_init(&bus->wlock, NULL);
	*out = bus;
	return 0;
}

KVMHOST_API void kvmhost_bus_destroy(struct kvmhost_bus *bus)
{
	struct kh_bus_table *t;

	if (!bus)
		return;
	t = atomic_load_explicit(&bus->table, memory_order_relaxed);
	for (size_t i = 0; i < t->count; i++)
		free(t->entries[i].name);
	free(t);
	pthread_mutex_destroy(&bus->wlock);
	free(bus->name);
	free(bus);
}

/* Index of the first entry of @t whose base is above @addr (0..count). */
static size_t kh_bus_upper(const struct kh_bus_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->entries[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The entry of @t containing @addr, or NULL. Branch-free bisection (the
 * compiler emits a conditional move): dispatch hits devices in no
 * predictable order, and mispredicted branches would cost more than the
 * comparisons themselves.
 */
static const struct kh_bus_entry *kh_bus_lookup(const struct kh_bus_table *t, uint64_t addr)
{
	const struct kh_bus_entry *e = t->entries;
	size_t n = t->count;

	if (n == 0)
		return NULL;
	while (n > 1) {
		size_t half = n / 2;

		e = e[half].base <= addr ? e + half : e;
		n -= half;
	}
	/* e is the last entry based at or below addr, if there is one. */
	return e->base <= addr && addr <= e->last ? e : NULL;
}

/* With wlock held: publish @t in place of the current table, wait for the
 * readers that may see the old one, and free it. */
static void kh_bus_replace(struct kvmhost_bus *bus, struct kh_bus_table *t)
{
	struct kh_bus_table *old = atomic_load_explicit(&bus->table, memory_order_relaxed);

	atomic_store_explicit(&bus->table, t, memory_order_seq_cst);
	atomic_store_explicit(&bus->count, t->count, memory_order_relaxed);
	kh_bus_synchronize(bus);
	free(old);
}

KVMHOST_API int kvmhost_bus_register(struct kvmhost_bus *bus, const struct kvmhost_bus_range *range)
{
	struct kvmhost_bus_range o;
	struct kh_bus_entry n;
	const struct kh_bus_entry *clash = NULL;
	const struct kh_bus_table *cur;
	struct kh_bus_table *t;
	size_t i;
	int r;

	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (!range)
		return KH_FAIL(EINVAL, "bus '%s': range is NULL", bus->name);
	r = KH_COPY_OPTIONS(&o, range);
	if (r < 0)
		return r;
	if (o.length == 0)
		return KH_FAIL(EINVAL, "bus '%s': range '%s' at 0x%" PRIx64 " has length 0", bus->name,
			       o.name ? o.name : "(unnamed)", o.base);
	memset(&n, 0, sizeof(n));
	if (kh_add_overflows(o.base, o.length - 1, &n.last))
		return KH_FAIL(EINVAL, "bus '%s': range '%s' at 0x%" PRIx64 " + 0x%" PRIx64 " wraps past 2^64",
			       bus->name, o.name ? o.name : "(unnamed)", o.base, o.length);
	if (kh_bus_held(bus))
		return KH_FAIL(EDEADLK, "bus '%s': cannot register '%s' from a callback of the same bus", bus->name,
			       o.name ? o.name : "(unnamed)");
	n.base = o.base;
	n.read = o.read;
	n.write = o.write;
	n.opaque = o.opaque;
	n.name = strdup(o.name ? o.name : "(unnamed)");
	if (!n.name)
		return KH_FAIL(ENOMEM, "bus '%s': cannot copy a range name", bus->name);

	pthread_mutex_lock(&bus->wlock);
	cur = atomic_load_explicit(&bus->table, memory_order_relaxed);
	i = kh_bus_upper(cur, n.base);
	/* Sorted and disjoint: only the neighbours on either side can overlap. */
	if (i > 0 && cur->entries[i - 1].last >= n.base)
		clash = &cur->entries[i - 1];
	else if (i < cur->count && cur->entries[i].base <= n.last)
		clash = &cur->entries[i];
	if (clash) {
		r = KH_FAIL(EEXIST,
			    "bus '%s': range '%s' [0x%" PRIx64 ", 0x%" PRIx64 "] overlaps '%s' [0x%" PRIx64
			    ", 0x%" PRIx64 "]",
			    bus->name, n.name, n.base, n.last, clash->name, clash->base, clash->last);
		goto out;
	}
	if (cur->count >= KH_BUS_MAX_RANGES) {
		r = KH_FAIL(ENOSPC, "bus '%s': %zu ranges already", bus->name, cur->count);
		goto out;
	}
	t = kh_bus_table_alloc(cur->count + 1);
	if (!t) {
		r = KH_FAIL(ENOMEM, "bus '%s': cannot grow to %zu ranges", bus->name, cur->count + 1);
		goto out;
	}
	memcpy(t->entries, cur->entries, i * sizeof(t->entries[0]));
	t->entries[i] = n;
	memcpy(&t->entries[i + 1], &cur->entries[i], (cur->count - i) * sizeof(t->entries[0]));
	kh_bus_replace(bus, t);
	n.name = NULL; /* owned by the bus now */
	r = 0;
out:
	pthread_mutex_unlock(&bus->wlock);
	if (r == 0)
		kh_log(KVMHOST_LOG_DEBUG, "bus '%s': registered '%s' [0x%" PRIx64 ", 0x%" PRIx64 "]", bus->name,
		       o.name ? o.name : "(unnamed)", o.base, o.base + (o.length - 1));
	free(n.name);
	return r;
}

KVMHOST_API int kvmhost_bus_unregister(struct kvmhost_bus *bus, uint64_t base)
{
	const struct kh_bus_table *cur;
	struct kh_bus_table *t;
	size_t i;
	char *name;

	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (kh_bus_held(bus))
		return KH_FAIL(EDEADLK,
			       "bus '%s': cannot unregister 0x%" PRIx64
			       " from a callback of the same bus (it would wait for that callback to return)",
			       bus->name, base);
	pthread_mutex_lock(&bus->wlock);
	cur = atomic_load_explicit(&bus->table, memory_order_relaxed);
	i = kh_bus_upper(cur, base);
	if (i == 0 || cur->entries[i - 1].base != base) {
		pthread_mutex_unlock(&bus->wlock);
		return KH_FAIL(ENOENT, "bus '%s': no range starts at 0x%" PRIx64, bus->name, base);
	}
	i--;
	t = kh_bus_table_alloc(cur->count - 1);
	if (!t) {
		pthread_mutex_unlock(&bus->wlock);
		return KH_FAIL(ENOMEM, "bus '%s': cannot allocate a table of %zu ranges", bus->name, cur->count - 1);
	}
	name = cur->entries[i].name;
	memcpy(t->entries, cur->entries, i * sizeof(t->entries[0]));
	memcpy(&t->entries[i], &cur->entries[i + 1], (cur->count - i - 1) * sizeof(t->entries[0]));
	/* After this, no callback of the range runs or will run. */
	kh_bus_replace(bus, t);
	pthread_mutex_unlock(&bus->wlock);
	kh_log(KVMHOST_LOG_DEBUG, "bus '%s': unregistered '%s' at 0x%" PRIx64, bus->name, name, base);
	free(name);
	return 0;
}

KVMHOST_API int kvmhost_bus_count(const struct kvmhost_bus *bus)
{
	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	return (int)atomic_load_explicit(&bus->count, memory_order_relaxed);
}

int kh_bus_access(struct kvmhost_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, uint32_t count, uint32_t stride,
		  int is_write, const char *func)
{
	struct kh_bus_frame frame;
	const struct kh_bus_table *t;
	const struct kh_bus_entry *e;
	uint64_t last;
	int r = 0;

	if (!bus)
		return kh_fail(EINVAL, func, "bus is NULL");
	if (!data)
		return kh_fail(EINVAL, func, "bus '%s': data is NULL", bus->name);
	if (len < 1 || len > 8)
		return kh_fail(EINVAL, func, "bus '%s': access of %u bytes at 0x%" PRIx64 " (1 to 8 allowed)",
			       bus->name, len, addr);
	if (kh_add_overflows(addr, len - 1, &last))
		return kh_fail(EINVAL, func, "bus '%s': %u-byte access at 0x%" PRIx64 " wraps past 2^64", bus->name,
			       len, addr);

	/* Counted once per bus: a nested access is covered by the outer count. */
	frame.counted = kh_bus_held(bus) ? NULL : kh_bus_read_enter(bus);
	frame.bus = bus;
	frame.prev = kh_bus_frames;
	kh_bus_frames = &frame;

	t = atomic_load_explicit(&bus->table, memory_order_seq_cst);
	e = kh_bus_lookup(t, addr);
	if (!e || last > e->last) {
		/* Nobody, or an access straddling the range's end: as on real hardware. */
		if (!is_write)
			for (uint32_t i = 0; i < count; i++)
				memset(data + (size_t)i * stride, 0xff, len);
		if (e && kh_log_enabled(KVMHOST_LOG_DEBUG))
			kh_log(KVMHOST_LOG_DEBUG,
			       "bus '%s': %u-byte %s at 0x%" PRIx64 " straddles the end of '%s' [0x%" PRIx64
			       ", 0x%" PRIx64 "]",
			       bus->name, len, is_write ? "write" : "read", addr, e->name, e->base, e->last);
		r = KVMHOST_BUS_UNCLAIMED;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *d = data + (size_t)i * stride;

		if (is_write) {
			if (!e->write)
				continue;
			r = e->write(e->opaque, addr - e->base, d, len);
		} else {
			/* Bytes a callback leaves unset read as all ones, not stale data. */
			memset(d, 0xff, len);
			if (!e->read)
				continue;
			r = e->read(e->opaque, addr - e->base, d, len);
		}
		if (r < 0) {
			/* Something that is not an errno becomes EIO rather than overflowing. */
			r = kh_fail(r >= -4095 ? -r : EIO, func,
				    "bus '%s': '%s' %s of %u bytes at 0x%" PRIx64 " (offset 0x%" PRIx64 ") failed",
				    bus->name, e->name, is_write ? "write" : "read", len, addr, addr - e->base);
			goto out;
		}
		r = 0; /* positive callback returns mean success */
	}
out:
	kh_bus_frames = frame.prev;
	if (frame.counted)
		kh_bus_read_exit(frame.counted);
	return r;
}

KVMHOST_API int kvmhost_bus_read(struct kvmhost_bus *bus, uint64_t addr, void *data, uint32_t len)
{
	return kh_bus_access(bus, addr, data, len, 1, 0, 0, __func__);
}

KVMHOST_API int kvmhost_bus_write(struct kvmhost_bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	/* The write path never stores through data. */
	return kh_bus_access(bus, addr, (uint8_t *)(uintptr_t)data, len, 1, 0, 1, __func__);
}

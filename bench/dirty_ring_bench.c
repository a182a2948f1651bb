/*
 * Dirty ring vs dirty bitmap (issue 11 item 4): the cost of one harvest pass, side by side in one run, on raw KVM
 * ioctls (a measurement, not library code). Two VMs of the same RAM size run the same tiny 32-bit guest (flat
 * protected mode, no paging), which on each pass writes one dword into each of N pages above 1 MiB, spread evenly
 * over its RAM or packed (consecutive), then exits with an OUT; N is 0.01, 0.1, 1 or 10% of the RAM. Per pass:
 *   bitmap: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (manual protect, as lib/memory/dirty_log.c) over the whole
 *           slot, then a scan of the bitmap into a list of dirty page numbers;
 *   ring:   KVM_CAP_DIRTY_LOG_RING(_ACQ_REL) enabled before the vCPU, the vCPU's ring mmap'd at
 *           KVM_DIRTY_LOG_PAGE_OFFSET, entries harvested with the flags protocol into the same kind of list, then
 *           KVM_RESET_DIRTY_RINGS; harvests done on KVM_EXIT_DIRTY_RING_FULL during the guest's pass count too.
 * Both lists are checked against N. Rounds interleave the two VMs; medians of the passes. Exits 77 (one line why)
 * where /dev/kvm is missing or offers no dirty ring. Prints a table, with ring/bitmap per case.
 *   dirty_ring_bench [passes [ram-MiB,... [ring-entries]]]   (default 7, "256,2048", the most KVM offers, <= 65536)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#define PAGE	  4096ull
#define CODE_GPA  0x1000ull
#define FIRST_GPA (1ull << 20)
#define PORT	  0x10
#define MAXPASS	  64

/* mailbox at GPA 0: {u32 first address, u32 page count, u32 stride}; the code at CODE_GPA (as --32):
 * 1: mov 0x0,%esi; mov 0x4,%ecx; mov 0x8,%edx; test %ecx,%ecx; jz 3f
 * 2: incl (%esi); add %edx,%esi; dec %ecx; jnz 2b
 * 3: out %al,$0x10; jmp 1b */
static const unsigned char guest[] = {0x8b, 0x35, 0x00, 0x00, 0x00, 0x00, 0x8b, 0x0d, 0x04, 0x00, 0x00,
				      0x00, 0x8b, 0x15, 0x08, 0x00, 0x00, 0x00, 0x85, 0xc9, 0x74, 0x07,
				      0xff, 0x06, 0x01, 0xd6, 0x49, 0x75, 0xf9, 0xe6, 0x10, 0xeb, 0xdf};

static const double fraction[] = {0.0001, 0.001, 0.01, 0.10};
#define CASES (sizeof(fraction) / sizeof(fraction[0]))

struct vm {
	int fd, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	uint64_t ram_size, pages;
	/* bitmap path */
	uint64_t *bitmap;
	/* ring path */
	struct kvm_dirty_gfn *ring;
	uint32_t ring_entries, fetch;
	unsigned full_exits;
	/* the harvest's output: dirty page numbers */
	uint64_t *list;
	uint64_t listed;
	uint64_t *seen; /* for the check: the ring may list a page twice (a write retried after a full exit) */
	uint64_t harvest_ns;
};

static int kvm = -1;

static void die(const char *what)
{
	fprintf(stderr, "dirty_ring_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void setup_vcpu(struct vm *v)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment seg = {
	    .base = 0, .limit = 0xffffffff, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} cpuid;

	memset(&cpuid, 0, sizeof(cpuid));
	cpuid.c.nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 || ioctl(v->vcpu, KVM_SET_CPUID2, &cpuid) < 0)
		die("cpuid");
	if (ioctl(v->vcpu, KVM_GET_SREGS, &s) < 0)
		die("KVM_GET_SREGS");
	seg.type = 11; /* code, execute/read, accessed */
	seg.selector = 8;
	s.cs = seg;
	seg.type = 3; /* data, read/write, accessed */
	seg.selector = 16;
	s.ds = s.es = s.fs = s.gs = s.ss = seg;
	s.cr0 = 0x11; /* PE | ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &s) < 0)
		die("KVM_SET_SREGS");
	memset(&r, 0, sizeof(r));
	r.rip = CODE_GPA;
	r.rflags = 2;
	if (ioctl(v->vcpu, KVM_SET_REGS, &r) < 0)
		die("KVM_SET_REGS");
}

static void create(struct vm *v, uint64_t ram_size, uint32_t ring_entries)
{
	struct kvm_userspace_memory_region region;
	struct kvm_enable_cap cap;

	memset(v, 0, sizeof(*v));
	v->ram_size = ram_size;
	v->pages = ram_size / PAGE;
	v->ring_entries = ring_entries;
	v->fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (v->fd < 0)
		die("KVM_CREATE_VM");
	memset(&cap, 0, sizeof(cap));
	if (ring_entries) {
		/* before any vCPU */
		cap.cap = ioctl(v->fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) > 0
			      ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL
			      : KVM_CAP_DIRTY_LOG_RING;
		cap.args[0] = (uint64_t)ring_entries * sizeof(struct kvm_dirty_gfn);
		if (ioctl(v->fd, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_ENABLE_CAP dirty ring");
	} else {
		cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(v->fd, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_ENABLE_CAP manual dirty log protect");
		v->bitmap = calloc(v->pages / 64 + 1, 8);
		if (!v->bitmap)
			die("calloc");
	}
	v->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->ram == MAP_FAILED)
		die("mmap RAM");
	memcpy(v->ram + CODE_GPA, guest, sizeof(guest));
	region = (struct kvm_userspace_memory_region){.slot = 0,
						      .flags = KVM_MEM_LOG_DIRTY_PAGES,
						      .guest_phys_addr = 0,
						      .memory_size = ram_size,
						      .userspace_addr = (uintptr_t)v->ram};
	if (ioctl(v->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	v->vcpu = ioctl(v->fd, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		die("KVM_CREATE_VCPU");
	v->run_size = (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ring_entries) {
		v->ring = mmap(NULL, (size_t)ring_entries * sizeof(struct kvm_dirty_gfn), PROT_READ | PROT_WRITE,
			       MAP_SHARED, v->vcpu, KVM_DIRTY_LOG_PAGE_OFFSET * (off_t)getpagesize());
		if (v->ring == MAP_FAILED)
			die("mmap dirty ring");
	}
	v->list = malloc(v->pages * sizeof(uint64_t));
	v->seen = calloc(v->pages / 64 + 1, 8);
	if (!v->list || !v->seen)
		die("malloc");
	setup_vcpu(v);
}

static void destroy(struct vm *v)
{
	if (v->ring)
		munmap(v->ring, (size_t)v->ring_entries * sizeof(struct kvm_dirty_gfn));
	munmap(v->run, v->run_size);
	munmap(v->ram, v->ram_size);
	close(v->vcpu);
	close(v->fd);
	free(v->bitmap);
	free(v->list);
	free(v->seen);
}

/* Bitmap path: GET + CLEAR of the whole slot, then the bitmap scanned into the list. */
static void harvest_bitmap(struct vm *v)
{
	uint64_t t0 = now_ns(), words = (v->pages + 63) / 64;
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = v->bitmap};
	struct kvm_clear_dirty_log clear = {
	    .slot = 0, .num_pages = (uint32_t)v->pages, .first_page = 0, .dirty_bitmap = v->bitmap};

	if (ioctl(v->fd, KVM_GET_DIRTY_LOG, &log) < 0)
		die("KVM_GET_DIRTY_LOG");
	if (ioctl(v->fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		die("KVM_CLEAR_DIRTY_LOG");
	for (uint64_t w = 0; w < words; w++)
		for (uint64_t b = v->bitmap[w]; b; b &= b - 1)
			v->list[v->listed++] = w * 64 + (uint64_t)__builtin_ctzll(b);
	v->harvest_ns += now_ns() - t0;
}

/* Ring path: the flags protocol (acquire the DIRTY flag, read the entry, release RESET), then one reset. */
static void harvest_ring(struct vm *v)
{
	uint64_t t0 = now_ns();
	uint32_t n = 0;

	for (;;) {
		struct kvm_dirty_gfn *e = &v->ring[v->fetch & (v->ring_entries - 1)];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (e->slot == 0 && e->offset < v->pages && v->listed < v->pages)
			v->list[v->listed++] = e->offset;
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		v->fetch++;
		n++;
	}
	if (n && ioctl(v->fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
		die("KVM_RESET_DIRTY_RINGS");
	v->harvest_ns += now_ns() - t0;
}

/* One guest pass over @count pages; returns when the guest's OUT comes. */
static void guest_pass(struct vm *v, uint32_t count, uint32_t stride)
{
	uint32_t mbox[3] = {(uint32_t)FIRST_GPA, count, stride};

	memcpy(v->ram, mbox, sizeof(mbox)); /* the VMM's own writes are not logged */
	for (;;) {
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (v->run->exit_reason == KVM_EXIT_IO && v->run->io.port == PORT)
			return;
		if (v->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL && v->ring) {
			uint64_t before = v->listed;

			v->full_exits++;
			harvest_ring(v);
			if (v->listed == before) {
				fprintf(
				    stderr,
				    "dirty_ring_bench: KVM_EXIT_DIRTY_RING_FULL with no dirty entry at the ring's "
				    "fetch index: the ring (%u entries) overflowed before this KVM stopped the vCPU\n",
				    v->ring_entries);
				exit(1);
			}
			continue;
		}
		fprintf(stderr, "dirty_ring_bench: unexpected exit %u\n", v->run->exit_reason);
		exit(1);
	}
}

/* A pass and its harvest; returns the harvest's nanoseconds, checks the list. */
static uint64_t pass(struct vm *v, uint32_t count, uint32_t stride, int check)
{
	v->harvest_ns = 0;
	v->listed = 0;
	guest_pass(v, count, stride);
	if (v->ring)
		harvest_ring(v);
	else
		harvest_bitmap(v);
	if (!check)
		return v->harvest_ns;
	/* distinct pages listed (not timed) */
	uint64_t distinct = 0;
	for (uint64_t i = 0; i < v->listed; i++) {
		uint64_t g = v->list[i], bit = 1ull << (g % 64);

		if (!(v->seen[g / 64] & bit)) {
			v->seen[g / 64] |= bit;
			distinct++;
		}
	}
	for (uint64_t i = 0; i < v->listed; i++)
		v->seen[v->list[i] / 64] = 0;
	if (distinct != count) {
		fprintf(stderr, "dirty_ring_bench: %s harvest found %llu dirty pages, the guest wrote %u\n",
			v->ring ? "ring" : "bitmap", (unsigned long long)distinct, count);
		if (v->ring && count > v->ring_entries && !v->full_exits)
			fprintf(stderr,
				"dirty_ring_bench: the ring (%u entries) overflowed: this KVM did not stop the "
				"vCPU with KVM_EXIT_DIRTY_RING_FULL at its soft limit\n",
				v->ring_entries);
		exit(1);
	}
	return v->harvest_ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	return (n % 2 ? (double)t[n / 2] : ((double)t[n / 2 - 1] + (double)t[n / 2]) / 2) / 1e3;
}

int main(int argc, char **argv)
{
	int passes = argc > 1 ? atoi(argv[1]) : 7;
	const char *sizes = argc > 2 ? argv[2] : "256,2048";
	long want_entries = argc > 3 ? atol(argv[3]) : 0;
	int r, acq_rel;
	uint32_t entries;
	char *list, *tok, *save = NULL;

	if (passes < 1 || passes > MAXPASS) {
		fprintf(stderr, "usage: dirty_ring_bench [passes (1-%d) [ram-MiB,... [ring-entries]]]\n", MAXPASS);
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("dirty_ring_bench: skipped: cannot open /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	acq_rel = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	r = ioctl(kvm, KVM_CHECK_EXTENSION, acq_rel > 0 ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING);
	if (r <= 0) {
		printf("dirty_ring_bench: skipped: this KVM offers no dirty ring (KVM_CAP_DIRTY_LOG_RING)\n");
		return 77;
	}
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) <= 0) {
		printf("dirty_ring_bench: skipped: this KVM offers no KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2\n");
		return 77;
	}
	/* the largest power of two of entries that KVM allows, at most 65536 (or as asked) */
	entries = 1;
	while ((uint64_t)entries * 2 * sizeof(struct kvm_dirty_gfn) <= (uint64_t)r && entries < 65536)
		entries *= 2;
	if (want_entries > 0) {
		if ((want_entries & (want_entries - 1)) ||
		    (uint64_t)want_entries * sizeof(struct kvm_dirty_gfn) > (uint64_t)r) {
			fprintf(stderr, "dirty_ring_bench: ring entries must be a power of two, at most %zu\n",
				(size_t)r / sizeof(struct kvm_dirty_gfn));
			return 2;
		}
		entries = (uint32_t)want_entries;
	}
	printf("dirty ring: %s, %u entries per vCPU (KVM allows %d bytes); %d passes per case, medians\n",
	       acq_rel > 0 ? "KVM_CAP_DIRTY_LOG_RING_ACQ_REL" : "KVM_CAP_DIRTY_LOG_RING", entries, r, passes);
	printf("%8s %7s %7s %8s %12s %12s %10s %12s\n", "RAM MiB", "dirty", "layout", "pages", "bitmap us", "ring us",
	       "ring/bmp", "full exits");
	list = strdup(sizes);
	if (!list)
		die("strdup");
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t ram = strtoull(tok, NULL, 10) << 20;
		struct vm bm, rg;

		if (ram < (16ull << 20) || ram > (3ull << 30)) {
			fprintf(stderr, "dirty_ring_bench: RAM %s MiB: must be 16..3072\n", tok);
			return 2;
		}
		create(&bm, ram, 0);
		create(&rg, ram, entries);
		pass(&bm, 0, (uint32_t)PAGE, 0); /* the first runs of each */
		pass(&rg, 0, (uint32_t)PAGE, 0);
		for (size_t c = 0; c < 2 * CASES; c++) {
			uint64_t span = ram - FIRST_GPA, tb[MAXPASS], tr[MAXPASS];
			uint32_t count = (uint32_t)(fraction[c % CASES] * (double)(ram / PAGE));
			/* spread evenly over the RAM, or packed: consecutive pages from FIRST_GPA */
			uint32_t stride = c < CASES ? (uint32_t)(span / count / PAGE * PAGE) : (uint32_t)PAGE;
			unsigned full0;

			/* first touch of this set in each VM (faults, allocation), not counted */
			pass(&bm, count, stride, 1);
			pass(&rg, count, stride, 1);
			full0 = rg.full_exits;
			for (int p = 0; p < passes; p++) {
				tb[p] = pass(&bm, count, stride, 1);
				tr[p] = pass(&rg, count, stride, 1);
			}
			double b = median_us(tb, passes), g = median_us(tr, passes);
			printf("%8llu %6.2f%% %7s %8u %12.1f %12.1f %10.2f %12.1f\n", (unsigned long long)(ram >> 20),
			       fraction[c % CASES] * 100, c < CASES ? "spread" : "packed", count, b, g, g / b,
			       (double)(rg.full_exits - full0) / passes);
			fflush(stdout);
		}
		destroy(&bm);
		destroy(&rg);
	}
	free(list);
	return 0;
}

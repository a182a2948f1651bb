/*
 * kvm tier: VM memory backings on a real /dev/kvm. A long-mode guest
 * (guests/memory_backings.S) reads and writes a memfd region, a file region
 * on a temporary file, a read-only slot (its write must exit as MMIO and
 * leave the memory alone) and, when the host has free huge pages, a hugetlb
 * region; the host checks both sides. Also: slot numbers and their reuse,
 * removal, overlaps and other refusals inside a VM, running out of slots
 * (-ENOSPC), and that a VM's map cannot be destroyed on its own. On arm64 the
 * guest is its twin (tests/guests-arm64/memory_backings.S, MMU off).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm/kvm_test_util.h"

GUEST_DECLARE(memory_backings);

#define MIB	  (1ull << 20)
#define RAM_GPA	  0x0
#define MEMFD_GPA (2 * MIB)
#define FILE_GPA  (4 * MIB)
#define ROM_GPA	  (6 * MIB)
#define HUGE_GPA  (8 * MIB)
#define RESULTS	  0x3000
#define HUGE_FLAG 0x3100

#define MEMFD_VALUE 0x0123456789abcdefull
#define FILE_VALUE  0x0fedcba987654321ull
#define ROM_VALUE   0xfeedfacecafef00dull
#define ROM_VALUE8  0x0102030405060708ull
#define HUGE_VALUE  0x4242424242424242ull

static struct kvmhost_memory_options region_opts(uint64_t gpa, uint64_t len, enum kvmhost_memory_backing b,
						 const char *name)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = b;
	o.name = name;
	return o;
}

static uint64_t read_u64(struct kvmhost_memory *mem, uint64_t gpa)
{
	uint64_t v;

	CHECK_OK(kvmhost_memory_read(mem, gpa, &v, sizeof(v)));
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fill every free KVM slot with one-page regions (all aliasing one host
 * page, which KVM allows) until the library says -ENOSPC, then empty them. */
static void test_out_of_slots(struct kvmhost_system *sys)
{
	struct kvmhost_memory_region **regions;
	struct kvmhost_memory_options o;
	struct kvmhost_vm *vm;
	int max = kvmhost_system_max_memslots(sys), n = 0, r;
	double t0 = now_s();
	void *page;

	CHECK(max > 0);
	if (max > 65536) {
		fprintf(stderr, "out-of-slots sub-case skipped: %d slots is too many to fill in a test\n", max);
		return;
	}
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page != MAP_FAILED);
	regions = calloc((size_t)max + 1, sizeof(*regions));
	CHECK(regions != NULL);
	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	for (;;) {
		o = region_opts((uint64_t)(n + 1) * 4096, 4096, KVMHOST_MEMORY_HOST_POINTER, NULL);
		o.host_addr = page;
		r = kvmhost_vm_add_memory(vm, &o, &regions[n]);
		if (r != 0)
			break;
		n++;
		CHECK(n <= max);
	}
	CHECK(r == -ENOSPC);
	CHECK(strstr(kvmhost_last_error(), "slots") != NULL);
	CHECK(n == max);
	/* Freeing one slot makes room for exactly one more. */
	CHECK_OK(kvmhost_vm_remove_memory(vm, regions[n / 2]));
	o = region_opts(0, 4096, KVMHOST_MEMORY_HOST_POINTER, NULL);
	o.host_addr = page;
	CHECK_OK(kvmhost_vm_add_memory(vm, &o, &regions[n / 2]));
	CHECK(kvmhost_memory_region_slot(regions[n / 2]) == n / 2);
	for (int i = n - 1; i >= n - 16 && i >= 0; i--)
		CHECK_OK(kvmhost_vm_remove_memory(vm, regions[i]));
	/* The rest goes with the VM. */
	kvmhost_vm_destroy(vm);
	fprintf(stderr, "out of slots after %d regions (%.2f s)\n", n, now_s() - t0);
	munmap(page, 4096);
	free(regions);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_memory_region *ram, *memfd, *file, *rom, *huge = NULL, *extra, *r;
	struct kvmhost_memory_options o;
	const struct kvmhost_exit *e;
	struct kvmhost_memory *mem, *standalone;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_vm *vm;
	uint64_t v, bm[8];
	uint8_t *shared, *rom_host, flag;
	char path[] = "/tmp/kvmhost-backing-XXXXXX";
	int fd, err, memfd_slot;

	err = kvmhost_vm_create(sys, NULL, &vm);
	if (err == -EACCES || err == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(err == 0);
	mem = kvmhost_vm_memory(vm);
	CHECK(mem != NULL);

	o = region_opts(RAM_GPA, 2 * MIB, KVMHOST_MEMORY_ANONYMOUS, "ram");
	o.flags = KVMHOST_MEMORY_THP | KVMHOST_MEMORY_PREFAULT;
	CHECK_OK(kvmhost_vm_add_memory(vm, &o, &ram));
	CHECK_OK(kvmhost_memory_write(mem, KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(memory_backings),
				      GUEST_SIZE(memory_backings)));

	/* memfd: preload through a second mapping of its fd. */
	o = region_opts(MEMFD_GPA, 2 * MIB, KVMHOST_MEMORY_MEMFD, "shared");
	CHECK_OK(kvmhost_vm_add_memory(vm, &o, &memfd));
	CHECK(kvmhost_memory_region_fd(memfd) >= 0);
	shared = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, kvmhost_memory_region_fd(memfd), 0);
	CHECK(shared != MAP_FAILED);
	v = MEMFD_VALUE;
	memcpy(shared, &v, 8);

	/* file: a temporary file, mapped from offset 4 KiB, logged from the start. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(ftruncate(fd, 2 * MIB + 4096) == 0);
	v = FILE_VALUE;
	CHECK(pwrite(fd, &v, 8, 4096) == 8);
	o = region_opts(FILE_GPA, 2 * MIB, KVMHOST_MEMORY_FILE, "file");
	o.fd = fd;
	o.fd_offset = 4096;
	o.flags = KVMHOST_MEMORY_LOG_DIRTY;
	CHECK_OK(kvmhost_vm_add_memory(vm, &o, &file));

	/* read-only: the VMM fills it through its pointer. */
	o = region_opts(ROM_GPA, 2 * MIB, KVMHOST_MEMORY_ANONYMOUS, "rom");
	o.flags = KVMHOST_MEMORY_READONLY;
	err = kvmhost_vm_add_memory(vm, &o, &rom);
	if (kvmhost_vm_check_extension(vm, KVM_CAP_READONLY_MEM) <= 0) {
		CHECK(err == -ENOTSUP);
		SKIP("KVM has no KVM_CAP_READONLY_MEM (and the library said so)");
	}
	CHECK(err == 0);
	CHECK(kvmhost_memory_translate(mem, ROM_GPA, 16, (void **)&rom_host) == 0);
	v = ROM_VALUE;
	memcpy(rom_host, &v, 8);
	v = ROM_VALUE8;
	memcpy(rom_host + 8, &v, 8);
	CHECK_OK(kvmhost_memory_mark_dirty(mem, ROM_GPA, 16));
	CHECK(kvmhost_memory_write(mem, ROM_GPA, &v, 8) == -EROFS);

	/* hugetlb, when the host has huge pages to give. */
	o = region_opts(HUGE_GPA, 2 * MIB, KVMHOST_MEMORY_HUGETLB, "huge");
	err = kvmhost_vm_add_memory(vm, &o, &huge);
	if (err == -ENOMEM) {
		fprintf(stderr, "hugetlb sub-case skipped: no free huge pages (%s)\n", kvmhost_last_error());
		huge = NULL;
	} else {
		CHECK(err == 0);
		CHECK(((uintptr_t)kvmhost_memory_region_host_addr(huge) & (2 * MIB - 1)) == 0);
		v = HUGE_VALUE;
		CHECK_OK(kvmhost_memory_write(mem, HUGE_GPA, &v, 8));
	}
	flag = huge != NULL;
	CHECK_OK(kvmhost_memory_write(mem, HUGE_FLAG, &flag, 1));

	/* Refusals inside a VM. */
	o = region_opts(MEMFD_GPA + MIB, 2 * MIB, KVMHOST_MEMORY_ANONYMOUS, "overlap");
	CHECK(kvmhost_vm_add_memory(vm, &o, &r) == -EEXIST);
	CHECK(strstr(kvmhost_last_error(), "'shared'") != NULL);
	CHECK(r == NULL);
	o = region_opts(0x1000000 + 0x800, 4096, KVMHOST_MEMORY_ANONYMOUS, "unaligned");
	CHECK(kvmhost_vm_add_memory(vm, &o, &r) == -EINVAL);
	o = region_opts(0x1000000, 4096, KVMHOST_MEMORY_FILE, "no fd");
	o.fd = -1;
	CHECK(kvmhost_vm_add_memory(vm, &o, &r) == -EINVAL);
	CHECK(kvmhost_memory_add_region(mem, &o, &r) == -EINVAL); /* the VM's map needs the VM calls */
	CHECK_OK(kvmhost_memory_create(&standalone));
	o = region_opts(0, 4096, KVMHOST_MEMORY_ANONYMOUS, "elsewhere");
	CHECK_OK(kvmhost_memory_add_region(standalone, &o, &r));
	CHECK(kvmhost_vm_remove_memory(vm, r) == -ENOENT);
	CHECK(kvmhost_vm_set_dirty_logging(vm, r, 1) == -ENOENT);
	kvmhost_memory_destroy(standalone);
	kvmhost_memory_destroy(mem); /* refused: the VM owns it */
	CHECK(strstr(kvmhost_last_error(), "belongs to VM") != NULL);
	CHECK(read_u64(mem, MEMFD_GPA) == MEMFD_VALUE);

	/* Each region is its own slot. */
	CHECK(kvmhost_memory_region_slot(ram) == 0);
	CHECK(kvmhost_memory_region_slot(memfd) == 1);
	CHECK(kvmhost_memory_region_slot(file) == 2);
	CHECK(kvmhost_memory_region_slot(rom) == 3);

	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	test_vcpu_enter_long(vcpu, 16 * MIB);

	/* The guest's write to the read-only slot comes out as MMIO. */
	CHECK_OK(kvmhost_vcpu_run(vcpu, &e));
	if (e->reason != KVMHOST_EXIT_MMIO) {
		fprintf(stderr, "FAIL: expected an MMIO exit for the read-only write, got %s (KVM reason %u)\n",
			kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
		return TEST_FAIL;
	}
	CHECK(e->mmio.addr == ROM_GPA + 8);
	CHECK(e->mmio.is_write == 1);
	CHECK(e->mmio.len == 4);
	{
		uint32_t d;

		memcpy(&d, e->mmio.data, 4);
		CHECK(d == 0xdeadbeef);
	}
	CHECK_OK(kvmhost_vcpu_run(vcpu, &e));
	{
		uint16_t port = 0;
		uint32_t size;

		CHECK(test_exit_port_write(e, &port, &size, &v) && port == 0xd0);
	}

	/* What the guest read. */
	CHECK(read_u64(mem, RESULTS) == MEMFD_VALUE);
	CHECK(read_u64(mem, RESULTS + 8) == FILE_VALUE);
	CHECK(read_u64(mem, RESULTS + 16) == ROM_VALUE);
	CHECK(read_u64(mem, RESULTS + 24) == ROM_VALUE8); /* the refused write changed nothing */
	CHECK(read_u64(mem, ROM_GPA + 8) == ROM_VALUE8);
	/* What the guest wrote, seen from the other side of each backing. */
	memcpy(&v, shared + 8, 8);
	CHECK(v == 0x1111222233334444ull);
	CHECK(pread(fd, &v, 8, 4096 + 8) == 8);
	CHECK(v == 0x5555666677778888ull);
	if (huge) {
		CHECK(read_u64(mem, RESULTS + 32) == HUGE_VALUE);
		CHECK(read_u64(mem, HUGE_GPA + 8) == 0x9999aaaabbbbccccull);
		fprintf(stderr, "hugetlb sub-case ran\n");
	}
	/* The file region was logged from its creation: the guest dirtied page 0. */
	CHECK(kvmhost_memory_region_flags(file) & KVMHOST_MEMORY_LOG_DIRTY);
	CHECK_OK(kvmhost_vm_get_dirty_log(vm, file, bm, sizeof(bm)));
	CHECK(bm[0] == 1);
	for (int i = 1; i < 8; i++)
		CHECK(bm[i] == 0);

	/* Removal: the slot goes, the memory goes, the number is reused. */
	memfd_slot = kvmhost_memory_region_slot(memfd);
	CHECK_OK(kvmhost_vm_remove_memory(vm, memfd));
	CHECK(kvmhost_memory_read(mem, MEMFD_GPA, &v, 8) == -EFAULT);
	memcpy(&v, shared, 8); /* our own mapping of the memfd outlives the region */
	CHECK(v == MEMFD_VALUE);
	o = region_opts(MEMFD_GPA, MIB, KVMHOST_MEMORY_ANONYMOUS, "again");
	CHECK_OK(kvmhost_vm_add_memory(vm, &o, &extra));
	CHECK(kvmhost_memory_region_slot(extra) == memfd_slot);
	CHECK_OK(kvmhost_vm_remove_memory(vm, rom));

	kvmhost_vm_destroy(vm);
	munmap(shared, 2 * MIB);
	close(fd);

	test_out_of_slots(sys);
	kvmhost_system_close(sys);
	return TEST_PASS;
}

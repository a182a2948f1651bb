/*
 * kvm tier: KVM's dirty page log. A real-mode guest (guests/dirty_pages.S)
 * writes chosen pages of its 2 MiB RAM in rounds, exiting by OUT after each;
 * the host fetches the log between rounds and requires exactly the pages of
 * that round, which also proves each fetch cleared (and, with manual
 * protection, re-armed) the log. The VMM's own writes show up in the
 * VMM-side bitmap, never in KVM's log. On arm64 the guest is its twin
 * (tests/guests-arm64/dirty_pages.S: port stores instead of OUTs).
 */
#include <errno.h>
#include <string.h>

#include "kvm/kvm_test_util.h"

GUEST_DECLARE(dirty_pages);

#define RAM_PAGES 512u /* test_vm_create_real gives 2 MiB */
#define WORDS	  (RAM_PAGES / 64)

static void print_bits(const char *what, const uint64_t *bm)
{
	fprintf(stderr, "%s:", what);
	for (unsigned int p = 0; p < RAM_PAGES; p++)
		if (bm[p / 64] & (1ull << (p % 64)))
			fprintf(stderr, " 0x%x", p);
	fprintf(stderr, "\n");
}

/* Require that exactly @pages (terminated by -1) are set in @bm. */
static int bits_are(const uint64_t *bm, const int *pages)
{
	uint64_t want[WORDS];

	memset(want, 0, sizeof(want));
	for (; *pages >= 0; pages++)
		want[*pages / 64] |= 1ull << (*pages % 64);
	return memcmp(bm, want, sizeof(want)) == 0;
}

static void run_to_port(struct test_vm *t, uint16_t port)
{
	const struct kvmhost_exit *e = test_run(t);
	uint16_t got = 0;
	uint32_t size;
	uint64_t value;

	if (!test_exit_port_write(e, &got, &size, &value) || got != port) {
		fprintf(stderr, "FAIL: expected OUT to port 0x%x, got exit %s (KVM reason %u, port 0x%x)\n", port,
			kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason, got);
		exit(TEST_FAIL);
	}
}

static void get_log(struct test_vm *t, uint64_t *bm)
{
	memset(bm, 0xa5, WORDS * 8); /* KVM must overwrite every word */
	CHECK_OK(kvmhost_vm_get_dirty_log(t->vm, t->ram, bm, WORDS * 8));
}

static void expect_log(struct test_vm *t, const char *round, const int *pages)
{
	uint64_t bm[WORDS];

	get_log(t, bm);
	if (!bits_are(bm, pages)) {
		print_bits(round, bm);
		if (test_kvm_is_pvm() && bits_are(bm, (const int[]){-1}))
			SKIP("KVM's dirty log stays empty for guest writes under this nested PVM /dev/kvm");
		fprintf(stderr, "FAIL: %s: KVM's dirty log is not exactly the pages the guest wrote\n", round);
		exit(TEST_FAIL);
	}
}

int main(void)
{
	static const int round1[] = {0x10, 0x11, 0x20, 0x21, 0x9f, 0xff, -1};
	static const int round2[] = {0x30, -1};
	static const int none[] = {-1};
	static const int image_page[] = {KVMHOST_GUEST_LOAD_ADDR / 4096, -1};
	static const int vmm_page[] = {0x40, -1};
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_memory *mem;
	struct test_vm t;
	uint64_t bm[WORDS];
	uint8_t b[2];
	uint16_t w;

	test_vm_create_real(&t, sys, GUEST_BYTES(dirty_pages), GUEST_SIZE(dirty_pages));
	mem = kvmhost_vm_memory(t.vm);
	CHECK(kvmhost_memory_region_bitmap_size(t.ram) == sizeof(bm));
	CHECK(kvmhost_memory_region_slot(t.ram) >= 0);
	fprintf(stderr, "manual dirty-log protection: %s\n",
		kvmhost_vm_dirty_log_manual_protect(t.vm) ? "yes (GET + CLEAR)" : "no (GET clears)");

	/* Loading the image was a VMM write: in the VMM bitmap only. */
	CHECK_OK(kvmhost_memory_fetch_vmm_dirty(t.ram, bm, sizeof(bm)));
	CHECK(bits_are(bm, image_page));

	/* Logging is off until asked for. */
	CHECK(kvmhost_vm_get_dirty_log(t.vm, t.ram, bm, sizeof(bm)) == -EINVAL);
	CHECK(strstr(kvmhost_last_error(), "off") != NULL);
	CHECK_OK(kvmhost_vm_set_dirty_logging(t.vm, t.ram, 1));
	CHECK(kvmhost_memory_region_flags(t.ram) & KVMHOST_MEMORY_LOG_DIRTY);
	CHECK_OK(kvmhost_vm_set_dirty_logging(t.vm, t.ram, 1)); /* idempotent */
	CHECK(kvmhost_vm_get_dirty_log(t.vm, t.ram, bm, sizeof(bm) - 8) == -ENOSPC);
	CHECK(kvmhost_vm_get_dirty_log(t.vm, t.ram, NULL, sizeof(bm)) == -EINVAL);

	/* Start: the guest has written nothing. Whatever KVM logged while
	 * setting up is cleared here so that the rounds below are exact. */
	run_to_port(&t, 0xf0);
	get_log(&t, bm);
	if (!bits_are(bm, none))
		print_bits("note: logged before the guest wrote anything", bm);

	/* Round 1: the chosen pages, a page-crossing word included. */
	run_to_port(&t, 0xf1);
	expect_log(&t, "round 1", round1);
	CHECK_OK(kvmhost_memory_read(mem, 0x10000, b, 1));
	CHECK(b[0] == 0xa1);
	CHECK_OK(kvmhost_memory_read(mem, 0x20fff, &w, 2));
	CHECK(w == 0x1234);
	CHECK_OK(kvmhost_memory_read(mem, 0xfffff, b, 1));
	CHECK(b[0] == 0xff);

	/* A VMM write between rounds: not the guest's, so not in KVM's log. */
	CHECK_OK(kvmhost_memory_write(mem, 0x40000, "vmm", 3));

	/* Round 2: only its one page, so round 1's fetch cleared the log and
	 * re-armed write tracking. */
	run_to_port(&t, 0xf2);
	expect_log(&t, "round 2", round2);
	CHECK_OK(kvmhost_memory_fetch_vmm_dirty(t.ram, bm, sizeof(bm)));
	CHECK(bits_are(bm, vmm_page));

	/* Round 3: nothing written, nothing logged. */
	run_to_port(&t, 0xf3);
	expect_log(&t, "round 3", none);

	CHECK_OK(kvmhost_vm_set_dirty_logging(t.vm, t.ram, 0));
	CHECK(!(kvmhost_memory_region_flags(t.ram) & KVMHOST_MEMORY_LOG_DIRTY));
	CHECK(kvmhost_vm_get_dirty_log(t.vm, t.ram, bm, sizeof(bm)) == -EINVAL);
	{
		const struct kvmhost_exit *e = test_run(&t);

		CHECK(test_exit_is_halt(e));
	}
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	return TEST_PASS;
}

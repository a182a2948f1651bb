/*
 * arm64 (built on arm64 only): snapshot and restore of the arm64 machine (lib/arch/arm64/migration_arm64.c,
 * the vGIC half in gic_state.c). The tiny Image tests/guests-arm64/timer_count_image.S counts virtual-timer
 * interrupts (PPI 27 through the vGIC, re-armed every 10 ms of guest time) while it spins, and powers off at
 * 100. Machine 1 (2 vCPUs: vCPU 1 stays powered off, so a STOPPED MP state travels too) runs until the guest
 * has counted some ticks; kvmhost_machine_snapshot() writes it to a memfd, leaving it paused; machine 1 is
 * destroyed. Machine 2, created with KVMHOST_MACHINE_INCOMING, restores the stream and runs: the guest goes on
 * where it was (its "start" is not printed again: no second boot), takes the rest of its timer interrupts (so
 * the timer, the redistributor's enabled PPI and the CPU interface came over) and prints "done". The stream's
 * header says arm64 (2). Then hostile streams: one cut short and one with a byte of the VM section changed
 * are refused by a third incoming machine. kvmhost_machine_wait() is given 120 s as a hang guard; polling for
 * the first ticks gives up after 60 s. Without a usable /dev/kvm: exit 77 (SKIP).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/migration.h>

#include "kvm_test_util.h"

extern const unsigned char guest_arm64_timer_count_image[], guest_arm64_timer_count_image_end[];

#define SCRATCH 0x40800000ull
#define TICKS	100u

static void options(struct kvmhost_machine_options *o, struct kvmhost_machine_serial *s, int out, uint32_t flags)
{
	test_machine_options_arm64(o, s, "arm64-snap", guest_arm64_timer_count_image,
				   (size_t)(guest_arm64_timer_count_image_end - guest_arm64_timer_count_image), out);
	o->vcpu_count = 2;
	o->flags = flags;
}

static uint64_t scratch(struct kvmhost_machine *m, unsigned off)
{
	uint64_t v = 0;

	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), SCRATCH + off, &v, 8));
	return v;
}

/* A memfd holding @len bytes of @data. */
static int stream_copy(const uint8_t *data, size_t len)
{
	int fd = memfd_create("arm64-snap-bad", MFD_CLOEXEC);

	CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

int main(void)
{
	struct kvmhost_migration_options mo = {.size = sizeof(mo), .flags = KVMHOST_MIGRATION_LEAVE_PAUSED};
	struct kvmhost_machine_stop_info si = {.size = sizeof(si)};
	struct kvmhost_machine_options o;
	struct kvmhost_machine_serial s;
	struct kvmhost_machine *m;
	char out_text[1024];
	uint64_t ticks_at, loops_at;
	uint8_t *stream;
	struct stat st;
	int out1, out2, snap, r, fd;

	out1 = memfd_create("arm64-snap-out1", MFD_CLOEXEC);
	out2 = memfd_create("arm64-snap-out2", MFD_CLOEXEC);
	snap = memfd_create("arm64-snap", MFD_CLOEXEC);
	CHECK(out1 >= 0 && out2 >= 0 && snap >= 0);

	options(&o, &s, out1, 0);
	m = test_machine_create(&o);
	CHECK_OK(kvmhost_machine_start(m));
	for (int i = 0; i < 6000 && scratch(m, 0) < 10; i++)
		usleep(10000);
	CHECK(scratch(m, 0) >= 10 && scratch(m, 0) < TICKS);
	CHECK_OK(kvmhost_machine_snapshot(m, snap, &mo, NULL));
	ticks_at = scratch(m, 0);
	loops_at = scratch(m, 8);
	test_read_fd(out1, out_text, sizeof(out_text));
	printf("snapshot at %llu ticks, %llu loops; machine 1 printed: %s", (unsigned long long)ticks_at,
	       (unsigned long long)loops_at, out_text);
	CHECK(strcmp(out_text, "start\n") == 0);
	kvmhost_machine_destroy(m);

	CHECK(fstat(snap, &st) == 0 && st.st_size > 64);
	stream = malloc((size_t)st.st_size);
	CHECK(stream && pread(snap, stream, (size_t)st.st_size, 0) == st.st_size);
	printf("stream: %lld bytes, architecture %u\n", (long long)st.st_size,
	       (unsigned)(stream[12] | stream[13] << 8 | stream[14] << 16 | (unsigned)stream[15] << 24));
	CHECK(stream[12] == 2 && stream[13] == 0 && stream[14] == 0 && stream[15] == 0);

	/* Machine 2: the restore, and the guest goes on. */
	options(&o, &s, out2, KVMHOST_MACHINE_INCOMING);
	CHECK_OK(kvmhost_machine_create(&o, &m));
	CHECK(lseek(snap, 0, SEEK_SET) == 0);
	CHECK_OK(kvmhost_machine_restore(m, snap, NULL, NULL));
	CHECK(scratch(m, 0) == ticks_at && scratch(m, 8) == loops_at);
	CHECK_OK(kvmhost_machine_start(m));
	CHECK_OK(kvmhost_machine_wait(m, 120000));
	CHECK_OK(kvmhost_machine_get_stop_info(m, &si));
	test_read_fd(out2, out_text, sizeof(out_text));
	printf("machine 2 stopped: %s, %llu ticks, %llu loops; printed: %s",
	       kvmhost_machine_stop_reason_name(si.reason), (unsigned long long)scratch(m, 0),
	       (unsigned long long)scratch(m, 8), out_text);
	CHECK(si.reason == KVMHOST_MACHINE_STOP_POWEROFF);
	CHECK(strcmp(out_text, "done\n") == 0);
	CHECK(scratch(m, 0) == TICKS && scratch(m, 8) > loops_at);
	kvmhost_machine_destroy(m);

	/* Hostile streams, refused by an incoming machine: cut short, and a damaged byte near the end (the VM and
	 * vCPU sections: the section checksum catches it before any decoder). */
	for (int k = 0; k < 2; k++) {
		options(&o, &s, out2, KVMHOST_MACHINE_INCOMING);
		CHECK_OK(kvmhost_machine_create(&o, &m));
		if (k == 0)
			fd = stream_copy(stream, (size_t)st.st_size - 100);
		else {
			stream[st.st_size - 200] ^= 0x40;
			fd = stream_copy(stream, (size_t)st.st_size);
		}
		r = kvmhost_machine_restore(m, fd, NULL, NULL);
		printf("hostile stream %d: %d (%s)\n", k, r, kvmhost_last_error());
		CHECK(r < 0);
		close(fd);
		kvmhost_machine_destroy(m);
	}
	free(stream);
	close(snap);
	close(out1);
	close(out2);
	printf("arm64_snapshot_test: passed\n");
	return 0;
}

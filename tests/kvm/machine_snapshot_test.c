/*
 * kvm tier: snapshot and restore of a whole machine (migration.h).
 * mb_tick counts at 2 MiB and writes a digit to COM1 at every 65536 counts;
 * the machine has 2 vCPUs (the second waits for INIT/SIPI all along).
 *  1. run it, snapshot it to a file (left paused), destroy it;
 *  2. twice from that same file: a new machine created with
 *     KVMHOST_MACHINE_INCOMING is restored (its memory already holds the
 *     counter as saved), started, and the counter and the COM1 digits go on
 *     from where they were;
 *  3. a snapshot of a running machine (which runs on) through a pipe to a
 *     forked child process, which restores it into a machine of its own and
 *     sees it count on;
 *  4. damaged snapshots (a flipped byte in the header, in a memory section,
 *     in a vCPU section; the file cut short at several places) are refused
 *     with the matching error and a message, and the machine is STOPPED and
 *     never runs; restore into a machine that is not incoming is refused.
 * Nothing here depends on the TSC (KVM ignores TSC writes on the nested PVM,
 * and restore copes: see lib/arch/x86/migration_x86.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_tick);

#define COUNT_ADDR 0x200000ull

/* The guest's counter at COUNT_ADDR (machine_test_util.h: mt_counter, mt_wait_counter). */
static uint32_t counter(struct kvmhost_machine *m)
{
	return mt_counter(m, COUNT_ADDR);
}

static uint32_t wait_counter(struct kvmhost_machine *m, uint32_t above)
{
	return mt_wait_counter(m, COUNT_ADDR, above);
}

/* The first digit a guest restored with counter @c writes. */
static int next_digit_ok(uint32_t c, char d)
{
	if (c % 65536 == 0 && d == '0' + (char)((c >> 16) % 10)) /* saved between the store and the out */
		return 1;
	return d == '0' + (char)(((c >> 16) + 1) % 10);
}

static void options(struct mt_machine *t, const char *name, uint32_t flags)
{
	mt_options(t, name, MBGUEST_BYTES(mb_tick), MBGUEST_SIZE(mb_tick));
	t->o.vcpu_count = 2;
	t->o.flags = flags;
}

/* Create an incoming machine, restore @fd into it, start it, check it counts on from where it was saved (@saved
 * exactly, or with @exact 0 at least @saved) and its COM1 digits go on too. */
static void restore_and_check(int fd, uint32_t saved, int exact, const char *name)
{
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	struct mt_machine t;
	char out[256] = "";
	uint32_t v;

	options(&t, name, KVMHOST_MACHINE_INCOMING);
	mt_create(&t);
	CHECK(counter(t.m) == 0); /* incoming: nothing loaded */
	CHECK_OK(kvmhost_machine_restore(t.m, fd, NULL, &st));
	CHECK(st.vcpus == 2 && st.data_pages > 0 && st.zero_pages > 0);
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_CREATED);
	CHECK(exact ? counter(t.m) == saved : counter(t.m) >= saved);
	saved = counter(t.m);
	CHECK_OK(kvmhost_machine_start(t.m));
	v = wait_counter(t.m, saved + 2 * 65536);
	CHECK(v > saved);
	for (int i = 0; i < 500 && mt_read_output(&t, out, sizeof(out)) == 0; i++)
		mt_sleep_ms(10);
	if (!out[0] || !next_digit_ok(saved, out[0])) {
		fprintf(stderr, "FAIL: restored at count %u, COM1 wrote \"%s\"\n", saved, out);
		exit(TEST_FAIL);
	}
	CHECK_OK(kvmhost_machine_stop(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 10000));
	mt_destroy(&t);
}

/* Run a machine until it has written a few digits; snapshot it into @fd. Returns the counter saved. */
static uint32_t run_and_snapshot(int fd, uint32_t flags, struct mt_machine *t)
{
	struct kvmhost_migration_options o = {.size = sizeof(o), .flags = flags};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	uint32_t saved;

	options(t, "snap-src", 0);
	mt_create(t);
	CHECK_OK(kvmhost_machine_start(t->m));
	wait_counter(t->m, 3 * 65536 + 1000);
	CHECK_OK(kvmhost_machine_snapshot(t->m, fd, &o, &st));
	CHECK(st.bytes > 0 && st.vcpus == 2);
	/* MT_RAM is 4 MiB: a few pages of data (the kernel, the counter), the rest zero ranges. */
	CHECK(st.data_pages + st.zero_pages == MT_RAM / 4096 && st.data_pages < 64);
	saved = counter(t->m); /* written before the memory was saved, unchanged since (paused) */
	return saved;
}

static void expect_refused(const char *path, int expect, const char *what)
{
	struct mt_machine t;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	CHECK(fd >= 0);
	options(&t, "snap-bad", KVMHOST_MACHINE_INCOMING);
	mt_create(&t);
	r = kvmhost_machine_restore(t.m, fd, NULL, NULL);
	if (r != expect) {
		fprintf(stderr, "FAIL: %s: restore returned %d, expected %d (%s)\n", what, r, expect,
			kvmhost_last_error());
		exit(TEST_FAIL);
	}
	CHECK(strlen(kvmhost_last_error()) > 10);
	fprintf(stderr, "refused as expected (%s): %s\n", what, kvmhost_last_error());
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_STOPPED);
	CHECK(kvmhost_machine_start(t.m) == -EINVAL); /* never runs */
	mt_destroy(&t);
	close(fd);
}

/* Copy @src to @dst, flipping the byte at @flip (-1: none) and cutting at @cut (-1: no cut). */
static void write_variant(const char *src, const char *dst, long flip, long cut)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	long n = 0;
	int c;

	CHECK(in && out);
	while ((c = fgetc(in)) != EOF && (cut < 0 || n < cut)) {
		if (n == flip)
			c ^= 0x40;
		fputc(c, out);
		n++;
	}
	fclose(in);
	fclose(out);
}

static long file_size(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return (long)st.st_size;
}

/* The stream offset of the first section with id @id (walking the section headers). */
static long section_offset(const char *path, uint32_t id)
{
	FILE *f = fopen(path, "rb");
	uint8_t h[24];
	uint32_t hl;
	long off;

	CHECK(f && fseek(f, 8, SEEK_SET) == 0 && fread(&hl, 4, 1, f) == 1);
	for (off = hl; fseek(f, off, SEEK_SET) == 0 && fread(h, 24, 1, f) == 1;) {
		uint32_t sid;
		uint64_t len;

		memcpy(&sid, h, 4);
		memcpy(&len, h + 8, 8);
		if (sid == id) {
			fclose(f);
			return off;
		}
		off += 24 + (long)len;
	}
	fclose(f);
	fprintf(stderr, "FAIL: no section %u in %s\n", id, path);
	exit(TEST_FAIL);
}

int main(void)
{
	char path[] = "/tmp/kvmhost-snapshot-XXXXXX", bad[sizeof(path) + 8];
	struct mt_machine src;
	int fd, p[2], status;
	uint32_t saved;
	pid_t child;

	mt_require_kvm();

	/* 3, set up first: the child is forked before this process has any machine thread. */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		uint32_t want;

		close(p[1]);
		CHECK(read(p[0], &want, sizeof(want)) == (ssize_t)sizeof(want));
		restore_and_check(p[0], want, 0, "snap-child");
		_exit(TEST_PASS);
	}
	close(p[0]);

	/* 1 */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	saved = run_and_snapshot(fd, KVMHOST_MIGRATION_LEAVE_PAUSED, &src);
	CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_PAUSED);
	mt_sleep_ms(50);
	CHECK(counter(src.m) == saved);
	mt_destroy(&src);
	fprintf(stderr, "snapshot at count %u: %ld bytes\n", saved, file_size(path));

	/* 2: twice from the same file */
	for (int i = 0; i < 2; i++) {
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		restore_and_check(fd, saved, 1, i ? "snap-dst2" : "snap-dst1");
	}
	close(fd);

	/* 3: a running machine through a pipe to the child; it runs on here */
	{
		struct kvmhost_migration_options o = {.size = sizeof(o)};
		uint32_t v;

		options(&src, "snap-pipe", 0);
		mt_create(&src);
		CHECK_OK(kvmhost_machine_start(src.m));
		wait_counter(src.m, 65536);
		/* The child first gets a count the snapshot's must be at least. */
		CHECK_OK(kvmhost_machine_pause(src.m));
		v = counter(src.m);
		CHECK(write(p[1], &v, sizeof(v)) == (ssize_t)sizeof(v));
		CHECK_OK(kvmhost_machine_resume(src.m));
		CHECK_OK(kvmhost_machine_snapshot(src.m, p[1], &o, NULL));
		close(p[1]);
		CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_RUNNING);
		wait_counter(src.m, counter(src.m));
		mt_destroy(&src);
	}
	CHECK(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != TEST_PASS) {
		fprintf(stderr, "FAIL: the restoring child process failed (status 0x%x)\n", status);
		return TEST_FAIL;
	}

	/* 4: damage */
	snprintf(bad, sizeof(bad), "%s.bad", path);
	{
		long size = file_size(path), mem = section_offset(path, 2), vcpu = section_offset(path, 4);
		long cuts[] = {0, 3, 20, 40, mem + 10, mem + 100, vcpu + 30, size - 30, size - 1};

		write_variant(path, bad, 2, -1);
		expect_refused(bad, -EINVAL, "bad magic");
		write_variant(path, bad, 17, -1);
		expect_refused(bad, -EBADMSG, "header byte flipped");
		write_variant(path, bad, mem + 24 + 16 + 100, -1);
		expect_refused(bad, -EBADMSG, "memory page byte flipped");
		write_variant(path, bad, vcpu + 24 + 200, -1);
		expect_refused(bad, -EBADMSG, "vCPU state byte flipped");
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			char what[64];

			snprintf(what, sizeof(what), "cut at %ld of %ld", cuts[i], size);
			write_variant(path, bad, -1, cuts[i]);
			expect_refused(bad, -ENODATA, what);
		}
	}
	/* Not incoming: refused, and the machine is left alone. */
	{
		struct mt_machine t;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		CHECK(fd >= 0);
		options(&t, "snap-notin", 0);
		mt_create(&t);
		CHECK(kvmhost_machine_restore(t.m, fd, NULL, NULL) == -EINVAL);
		CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_CREATED);
		mt_destroy(&t);
		close(fd);
	}
	unlink(bad);
	unlink(path);
	printf("PASS: snapshot/restore (file twice, pipe to a child process, damage refused)\n");
	return TEST_PASS;
}

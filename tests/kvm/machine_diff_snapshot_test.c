/*
 * kvm tier: diff (incremental) snapshots (migration.h: KVMHOST_MIGRATION_DIFF_TRACK, KVMHOST_MIGRATION_DIFF,
 * kvmhost_machine_restore_chain()). mb_diff counts at 2 MiB and, told by the host through its command page at
 * 3 MiB, writes the counter into a set of pages; so each diff must hold exactly those pages, the counter's and the
 * command page (written by the host: the VMM-side bitmap).
 *  1. a running source: a tracked full snapshot (it runs on), dirty 16 pages, diff 1, dirty 8 others, diff 2 (which
 *     ends the tracking); the RAM is copied at each diff (left paused for that, then resumed);
 *  2. base + diff 1 + diff 2 restored into a fresh machine: its RAM equals the source's at diff 2, and it runs on
 *     from that counter; base + diff 1: the RAM at diff 1;
 *  3. refused, with a message, the machine STOPPED: a diff alone; a diff first; diff 2 without diff 1 (out of
 *     order); the diffs swapped; a diff of another base; a chain from an untracked full snapshot; a truncated
 *     diff; a diff snapshot with the tracking off, or after a live migration took the dirty logs (the source
 *     runs on).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>

#include "machine_test_util.h"

MBGUEST_DECLARE(mb_diff);

#define COUNT_ADDR 0x200000ull
#define DONE_ADDR  0x200004ull
#define CMD_ADDR   0x300000ull

static char dir[] = "/tmp/kvmhost-diff-XXXXXX";

static void options(struct mt_machine *t, const char *name, uint32_t flags)
{
	mt_options(t, name, MBGUEST_BYTES(mb_diff), MBGUEST_SIZE(mb_diff));
	t->o.flags = flags;
}

/* Tell the guest to write its counter into @pages pages from page frame @first; wait until it has. */
static void dirty(struct kvmhost_machine *m, uint32_t gen, uint32_t first, uint32_t pages)
{
	struct kvmhost_memory *mem = kvmhost_machine_memory(m);

	CHECK_OK(kvmhost_memory_write(mem, CMD_ADDR + 4, &first, 4));
	CHECK_OK(kvmhost_memory_write(mem, CMD_ADDR + 8, &pages, 4));
	CHECK_OK(kvmhost_memory_write(mem, CMD_ADDR, &gen, 4));
	for (int i = 0; i < 2000 && mt_counter(m, DONE_ADDR) != gen; i++)
		mt_sleep_ms(5);
	CHECK(mt_counter(m, DONE_ADDR) == gen);
}

static const char *file(const char *name)
{
	static char p[8][96];
	static int k;

	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static struct kvmhost_migration_stats snap(struct kvmhost_machine *m, const char *name, uint32_t flags)
{
	struct kvmhost_migration_options o = {.size = sizeof(o), .flags = flags};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	int fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK_OK(kvmhost_machine_snapshot(m, fd, &o, &st));
	close(fd);
	fprintf(stderr, "%s: %llu bytes, %llu data pages, %llu zero pages\n", name, (unsigned long long)st.bytes,
		(unsigned long long)st.data_pages, (unsigned long long)st.zero_pages);
	return st;
}

static uint8_t *copy_ram(struct kvmhost_machine *m)
{
	uint8_t *p = malloc(MT_RAM);

	CHECK(p);
	CHECK_OK(kvmhost_memory_read(kvmhost_machine_memory(m), 0, p, MT_RAM));
	return p;
}

/* Restore the chain @names into a fresh machine; returns its result (0: the machine is left in *t, CREATED). */
static int restore(struct mt_machine *t, const char *const *names, uint32_t n)
{
	int fds[8], r;

	options(t, "diff-dst", KVMHOST_MACHINE_INCOMING);
	mt_create(t);
	for (uint32_t i = 0; i < n; i++)
		CHECK((fds[i] = open(file(names[i]), O_RDONLY | O_CLOEXEC)) >= 0);
	r = kvmhost_machine_restore_chain(t->m, fds, n, NULL, NULL);
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

static void restore_and_compare(const char *const *names, uint32_t n, const uint8_t *ram)
{
	struct mt_machine t;
	uint8_t *now;
	uint32_t c;

	CHECK_OK(restore(&t, names, n));
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_CREATED);
	now = copy_ram(t.m);
	for (uint64_t off = 0; off < MT_RAM; off += 4096)
		if (memcmp(now + off, ram + off, 4096) != 0) {
			fprintf(stderr, "FAIL: chain of %u: page 0x%llx differs from the source's\n", n,
				(unsigned long long)off);
			exit(TEST_FAIL);
		}
	free(now);
	c = mt_counter(t.m, COUNT_ADDR);
	CHECK_OK(kvmhost_machine_start(t.m));
	mt_wait_counter(t.m, COUNT_ADDR, c + 1000);
	CHECK_OK(kvmhost_machine_stop(t.m));
	CHECK_OK(kvmhost_machine_wait(t.m, 10000));
	mt_destroy(&t);
	fprintf(stderr, "chain of %u restored: RAM equal, counter %u goes on\n", n, c);
}

static void expect_refused(const char *const *names, uint32_t n, int expect, const char *needle, const char *what)
{
	struct mt_machine t;
	int r = restore(&t, names, n);

	if (r != expect || !strstr(kvmhost_last_error(), needle)) {
		fprintf(stderr, "FAIL: %s: returned %d, expected %d with \"%s\" (%s)\n", what, r, expect, needle,
			kvmhost_last_error());
		exit(TEST_FAIL);
	}
	fprintf(stderr, "refused as expected (%s): %s\n", what, kvmhost_last_error());
	CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_STOPPED);
	CHECK(kvmhost_machine_start(t.m) == -EINVAL);
	mt_destroy(&t);
}

static void truncate_copy(const char *src, const char *dst, long cut)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	int ch;

	CHECK(in && out);
	for (long i = 0; i < cut && (ch = fgetc(in)) != EOF; i++)
		fputc(ch, out);
	fclose(in);
	fclose(out);
}

int main(void)
{
	struct kvmhost_migration_stats st;
	struct mt_machine src;
	uint8_t *ram1, *ram2;
	struct stat sb;
	uint32_t c;

	mt_require_kvm();
	CHECK(mkdtemp(dir));

	/* 1 */
	options(&src, "diff-src", 0);
	mt_create(&src);
	CHECK_OK(kvmhost_machine_start(src.m));
	dirty(src.m, 1, 0x210, 16);
	st = snap(src.m, "base", KVMHOST_MIGRATION_DIFF_TRACK);
	CHECK(st.data_pages + st.zero_pages == MT_RAM / 4096);
	CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_RUNNING); /* runs on */
	c = mt_wait_counter(src.m, COUNT_ADDR, mt_counter(src.m, COUNT_ADDR) + 1000);

	dirty(src.m, 2, 0x220, 16);
	st = snap(src.m, "diff1",
		  KVMHOST_MIGRATION_DIFF | KVMHOST_MIGRATION_DIFF_TRACK | KVMHOST_MIGRATION_LEAVE_PAUSED);
	/* 16 pages, the counter's, the command page (the host's write: the VMM bitmap) */
	CHECK(st.data_pages == 18 && st.zero_pages == 0);
	ram1 = copy_ram(src.m);
	CHECK_OK(kvmhost_machine_resume(src.m));
	c = mt_wait_counter(src.m, COUNT_ADDR, c);

	dirty(src.m, 3, 0x230, 8);
	st = snap(src.m, "diff2", KVMHOST_MIGRATION_DIFF | KVMHOST_MIGRATION_LEAVE_PAUSED); /* the chain's last */
	CHECK(st.data_pages == 10 && st.zero_pages == 0);
	ram2 = copy_ram(src.m);
	CHECK_OK(kvmhost_machine_resume(src.m));
	mt_wait_counter(src.m, COUNT_ADDR, c);

	/* The tracking ended with diff 2: a diff now is refused, and the source runs on. */
	{
		struct kvmhost_migration_options o = {.size = sizeof(o), .flags = KVMHOST_MIGRATION_DIFF};
		int fd = open(file("refused"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		CHECK(fd >= 0);
		CHECK(kvmhost_machine_snapshot(src.m, fd, &o, NULL) == -ENOENT);
		CHECK(strstr(kvmhost_last_error(), "KVMHOST_MIGRATION_DIFF_TRACK"));
		fprintf(stderr, "refused as expected (diff with the tracking off): %s\n", kvmhost_last_error());
		CHECK(fstat(fd, &sb) == 0 && sb.st_size == 0);
		close(fd);
		CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_RUNNING);
		CHECK(kvmhost_machine_diff_tracking_stop(src.m) == 0);
	}
	/* Another chain on the same machine (for "wrong base"), its diff without LEAVE_PAUSED, and a plain full
	 * snapshot. */
	snap(src.m, "base2", KVMHOST_MIGRATION_DIFF_TRACK);
	dirty(src.m, 4, 0x240, 4);
	st = snap(src.m, "base2-diff1", KVMHOST_MIGRATION_DIFF | KVMHOST_MIGRATION_DIFF_TRACK);
	CHECK(st.data_pages == 6);
	CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_RUNNING);
	/* A live migration harvests the same logs: after one (here failing at once: the peer is gone) a diff would
	 * miss pages, and is refused. */
	{
		struct kvmhost_migration_options o = {.size = sizeof(o), .flags = KVMHOST_MIGRATION_DIFF};
		int sv[2], fd;

		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		close(sv[1]);
		CHECK(kvmhost_machine_migrate_send(src.m, sv[0], NULL, NULL) < 0);
		close(sv[0]);
		CHECK(kvmhost_machine_get_state(src.m) == KVMHOST_MACHINE_RUNNING);
		CHECK((fd = open(file("refused"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0);
		CHECK(kvmhost_machine_snapshot(src.m, fd, &o, NULL) == -ESTALE);
		fprintf(stderr, "refused as expected (diff after a live migration): %s\n", kvmhost_last_error());
		close(fd);
	}
	CHECK(kvmhost_machine_diff_tracking_stop(src.m) == 1);
	snap(src.m, "plain", 0);
	mt_wait_counter(src.m, COUNT_ADDR, mt_counter(src.m, COUNT_ADDR));
	CHECK_OK(kvmhost_machine_stop(src.m));
	CHECK_OK(kvmhost_machine_wait(src.m, 10000));
	mt_destroy(&src);

	/* 2 */
	{
		const char *const full[] = {"base", "diff1", "diff2"};

		restore_and_compare(full, 3, ram2);
		restore_and_compare(full, 2, ram1);
	}

	/* 3 */
	{
		const char *const alone[] = {"diff1"};
		const char *const first[] = {"diff1", "diff2"};
		const char *const skip[] = {"base", "diff2"};
		const char *const swapped[] = {"base", "diff2", "diff1"};
		const char *const other[] = {"base", "base2-diff1"};
		const char *const untracked[] = {"plain", "diff1"};
		const char *const twice[] = {"base", "base2"};
		const char *const cut[] = {"base", "diff1-cut"};
		struct mt_machine t;

		CHECK(restore(&t, alone, 0) == -EINVAL);
		mt_destroy(&t);
		{
			int fd = open(file("diff1"), O_RDONLY | O_CLOEXEC), r;

			options(&t, "diff-dst", KVMHOST_MACHINE_INCOMING);
			mt_create(&t);
			r = kvmhost_machine_restore(t.m, fd, NULL, NULL);
			close(fd);
			CHECK(r == -EOPNOTSUPP && strstr(kvmhost_last_error(), "kvmhost_machine_restore_chain"));
			fprintf(stderr, "refused as expected (restore of a diff alone): %s\n", kvmhost_last_error());
			CHECK(kvmhost_machine_get_state(t.m) == KVMHOST_MACHINE_STOPPED);
			mt_destroy(&t);
		}
		expect_refused(alone, 1, -EINVAL, "a chain starts with the full", "a chain of one diff");
		expect_refused(first, 2, -EINVAL, "a chain starts with the full", "a diff first");
		expect_refused(skip, 2, -EINVAL, "out of order", "diff 2 without diff 1");
		expect_refused(swapped, 3, -EINVAL, "out of order", "the diffs swapped");
		expect_refused(other, 2, -EINVAL, "wrong base", "a diff of another base");
		expect_refused(untracked, 2, -EINVAL, "KVMHOST_MIGRATION_DIFF_TRACK", "an untracked base");
		expect_refused(twice, 2, -EINVAL, "not a diff", "two full snapshots");
		CHECK(stat(file("diff1"), &sb) == 0);
		for (long k = 1; k < 4; k++) {
			long at = k == 1 ? 20 : k == 2 ? (long)sb.st_size / 2 : (long)sb.st_size - 1;

			truncate_copy(file("diff1"), file("diff1-cut"), at);
			expect_refused(cut, 2, -ENODATA, "ends", "a truncated diff");
		}
	}
	free(ram1);
	free(ram2);
	{
		const char *names[] = {"base",	      "diff1", "diff2",	  "base2",
				       "base2-diff1", "plain", "refused", "diff1-cut"};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			unlink(file(names[i]));
		rmdir(dir);
	}
	printf("PASS: diff snapshots (base + 2 diffs restored exactly, broken chains refused)\n");
	return TEST_PASS;
}

/*
 * Unit tests of the device registry (lib/machine/device_registry.c) with fake
 * devices that log every op: add/remove/get, duplicate and bad ids, NULLs,
 * the ops-table size rules, reset/pause/resume order, a failing pause
 * unwinding, failing resumes and resets, and the saved-state container:
 * round trips, and every kind of damage (each truncation, each flipped byte,
 * trailing bytes, bad magic/format/flags/lengths/ids, unknown, missing and
 * duplicate devices, newer state versions) refused with a message and with
 * no device's restore op called. Also the CRC-32 check value.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/device_registry.h>

#include "core/crc32.h"
#include "core/internal.h"
#include "unit_assert.h"

/* ---- fake devices ---- */

#define NFAKE	  6
#define STATE_MAX 64

/* Every op call, in order: "<op><device index>", e.g. "p0 p1 r1 r0". */
static char op_log[4096];

static void log_op(char op, int idx)
{
	size_t n = strlen(op_log);

	snprintf(op_log + n, sizeof(op_log) - n, "%s%c%d", n ? " " : "", op, idx);
}

struct fake {
	int idx;
	int fail_reset, fail_pause, fail_resume, fail_size, fail_save, fail_restore; /* negative errno, or 0 */
	int message;   /* on failure, leave a message of its own */
	int overwrite; /* save claims this many bytes more than it may */
	uint8_t state[STATE_MAX];
	size_t state_len;
	uint8_t restored[STATE_MAX];
	size_t restored_len;
	int restores;
};

static struct fake fakes[NFAKE];

static int fake_fail(struct fake *f, int err, const char *what)
{
	if (f->message)
		return KH_FAIL(-err, "fake%d %s broke", f->idx, what);
	return err;
}

static int fake_reset(void *opaque)
{
	struct fake *f = opaque;

	log_op('x', f->idx);
	return f->fail_reset ? fake_fail(f, f->fail_reset, "reset") : 0;
}

static int fake_pause(void *opaque)
{
	struct fake *f = opaque;

	log_op('p', f->idx);
	return f->fail_pause ? fake_fail(f, f->fail_pause, "pause") : 0;
}

static int fake_resume(void *opaque)
{
	struct fake *f = opaque;

	log_op('r', f->idx);
	return f->fail_resume ? fake_fail(f, f->fail_resume, "resume") : 0;
}

static int fake_size(void *opaque)
{
	struct fake *f = opaque;

	return f->fail_size ? fake_fail(f, f->fail_size, "state_size") : (int)f->state_len;
}

static int fake_save(void *opaque, void *buf, size_t len)
{
	struct fake *f = opaque;

	log_op('s', f->idx);
	if (f->fail_save)
		return fake_fail(f, f->fail_save, "save");
	assert_int_equal(len, f->state_len);
	memcpy(buf, f->state, f->state_len);
	return (int)f->state_len + f->overwrite;
}

static int fake_restore(void *opaque, const void *buf, size_t len)
{
	struct fake *f = opaque;

	log_op('l', f->idx);
	f->restores++;
	if (f->fail_restore)
		return fake_fail(f, f->fail_restore, "restore");
	assert_true(len <= STATE_MAX);
	memcpy(f->restored, buf, len);
	f->restored_len = len;
	return 0;
}

static const struct kvmhost_device_ops fake_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = fake_reset,
    .pause = fake_pause,
    .resume = fake_resume,
    .state_size = fake_size,
    .save = fake_save,
    .restore = fake_restore,
};

/* No ops at all: a stateless device with nothing to do. */
static const struct kvmhost_device_ops empty_ops = {.size = sizeof(struct kvmhost_device_ops)};

static int setup(void **state)
{
	struct kvmhost_device_registry *r;

	memset(fakes, 0, sizeof(fakes));
	for (int i = 0; i < NFAKE; i++)
		fakes[i].idx = i;
	op_log[0] = '\0';
	assert_int_equal(kvmhost_device_registry_create(&r), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	kvmhost_device_registry_destroy(*state);
	return 0;
}

static void add_fakes(struct kvmhost_device_registry *r, int n)
{
	char id[16];

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "dev%d", i);
		ASSERT_OK(kvmhost_device_registry_add(r, id, 1, &fake_ops, &fakes[i]));
	}
}

static int total_restores(void)
{
	int n = 0;

	for (int i = 0; i < NFAKE; i++)
		n += fakes[i].restores;
	return n;
}

/* ---- registry basics ---- */

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(kh_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(kh_crc32(kh_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	assert_int_equal(kh_crc32(0, "", 0), 0);
}

static void test_nulls(void **state)
{
	struct kvmhost_device_registry *r = *state;
	size_t size;
	uint8_t buf[64];

	ASSERT_FAILS(kvmhost_device_registry_create(NULL), EINVAL);
	kvmhost_device_registry_destroy(NULL);
	ASSERT_FAILS(kvmhost_device_registry_add(NULL, "a", 1, &fake_ops, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_add(r, NULL, 1, &fake_ops, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_add(r, "a", 1, NULL, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_remove(NULL, "a"), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_remove(r, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_count(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_get(NULL, 0, NULL, 0, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_reset(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_pause(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_resume(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_is_paused(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_save_size(NULL, &size), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_save_size(r, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_save(NULL, buf, sizeof(buf), NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_save(r, NULL, sizeof(buf), NULL), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_restore(NULL, buf, sizeof(buf)), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_restore(r, NULL, sizeof(buf)), EINVAL);
	ASSERT_FAILS(kvmhost_device_registry_inspect(NULL, sizeof(buf), NULL, NULL), EINVAL);
	assert_int_equal(kvmhost_device_registry_count(r), 0);
}

static void test_add_remove_get(void **state)
{
	struct kvmhost_device_registry *r = *state;
	char id[KVMHOST_DEVICE_ID_MAX + 1];
	uint32_t v;

	ASSERT_OK(kvmhost_device_registry_add(r, "com1", 3, &fake_ops, &fakes[0]));
	ASSERT_OK(kvmhost_device_registry_add(r, "i8042", 1, &fake_ops, &fakes[1]));
	ASSERT_OK(kvmhost_device_registry_add(r, "virtio-blk@0xd0000000", 7, &empty_ops, NULL));
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_add(r, "i8042", 1, &fake_ops, &fakes[2]), EEXIST, "i8042");
	assert_int_equal(kvmhost_device_registry_count(r), 3);

	ASSERT_OK(kvmhost_device_registry_get(r, 0, id, sizeof(id), &v));
	assert_string_equal(id, "com1");
	assert_int_equal(v, 3);
	ASSERT_OK(kvmhost_device_registry_get(r, 2, id, sizeof(id), &v));
	assert_string_equal(id, "virtio-blk@0xd0000000");
	assert_int_equal(v, 7);
	ASSERT_OK(kvmhost_device_registry_get(r, 1, NULL, 0, NULL));
	ASSERT_FAILS(kvmhost_device_registry_get(r, 3, id, sizeof(id), &v), ENOENT);
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_get(r, 0, id, 4, NULL), ERANGE, "com1");
	ASSERT_OK(kvmhost_device_registry_get(r, 0, id, 5, NULL)); /* exactly fits */

	/* Remove the middle one: the others keep their order. */
	ASSERT_OK(kvmhost_device_registry_remove(r, "i8042"));
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_remove(r, "i8042"), ENOENT, "i8042");
	ASSERT_FAILS(kvmhost_device_registry_remove(r, "com"), ENOENT); /* no prefix matches */
	assert_int_equal(kvmhost_device_registry_count(r), 2);
	ASSERT_OK(kvmhost_device_registry_get(r, 1, id, sizeof(id), NULL));
	assert_string_equal(id, "virtio-blk@0xd0000000");
	/* Its id is free again. */
	ASSERT_OK(kvmhost_device_registry_add(r, "i8042", 1, &fake_ops, &fakes[1]));
	ASSERT_OK(kvmhost_device_registry_get(r, 2, id, sizeof(id), NULL));
	assert_string_equal(id, "i8042");
}

static void test_bad_ids_and_ops(void **state)
{
	struct kvmhost_device_registry *r = *state;
	char longest[KVMHOST_DEVICE_ID_MAX + 2];
	static const char *bad[] = {"", "two words", "tab\there", "new\nline", "caf\xc3\xa9", "del\x7f"};
	struct {
		struct kvmhost_device_ops ops;
		uint64_t future;
	} big = {.ops = fake_ops};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_FAILS_MENTIONING(kvmhost_device_registry_add(r, bad[i], 1, &fake_ops, NULL), EINVAL, "id");
	memset(longest, 'a', sizeof(longest));
	longest[KVMHOST_DEVICE_ID_MAX + 1] = '\0';
	ASSERT_FAILS(kvmhost_device_registry_add(r, longest, 1, &fake_ops, NULL), EINVAL); /* 65 */
	longest[KVMHOST_DEVICE_ID_MAX] = '\0';
	ASSERT_OK(kvmhost_device_registry_add(r, longest, 1, &fake_ops, NULL)); /* 64 */
	ASSERT_OK(kvmhost_device_registry_add(r, "!~", 1, &fake_ops, NULL));	/* the printable range's ends */

	/* The ops table follows the option-struct size rules. */
	struct kvmhost_device_ops small = fake_ops;
	small.size = sizeof(size_t) - 1;
	ASSERT_FAILS(kvmhost_device_registry_add(r, "small", 1, &small, NULL), EINVAL);
	big.ops.size = sizeof(big);
	big.future = 1;
	ASSERT_FAILS(kvmhost_device_registry_add(r, "future", 1, &big.ops, NULL), E2BIG);
	big.future = 0;
	ASSERT_OK(kvmhost_device_registry_add(r, "future", 1, &big.ops, NULL));
	/* An older, smaller table: the ops it lacks are NULL. */
	small.size = offsetof(struct kvmhost_device_ops, resume);
	ASSERT_OK(kvmhost_device_registry_add(r, "old", 1, &small, &fakes[0]));
	assert_int_equal(kvmhost_device_registry_count(r), 4);
}

static void test_max_devices(void **state)
{
	struct kvmhost_device_registry *r = *state;
	char id[16];

	for (int i = 0; i < KVMHOST_DEVICE_REGISTRY_MAX; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		assert_int_equal(kvmhost_device_registry_add(r, id, 1, &empty_ops, NULL), 0);
	}
	ASSERT_FAILS(kvmhost_device_registry_add(r, "one-more", 1, &empty_ops, NULL), ENOSPC);
	assert_int_equal(kvmhost_device_registry_count(r), KVMHOST_DEVICE_REGISTRY_MAX);
}

/* ---- reset, pause, resume ---- */

static void test_reset_order_and_failure(void **state)
{
	struct kvmhost_device_registry *r = *state;

	add_fakes(r, 3);
	ASSERT_OK(kvmhost_device_registry_add(r, "nothing", 1, &empty_ops, NULL));
	ASSERT_OK(kvmhost_device_registry_reset(r));
	assert_string_equal(op_log, "x0 x1 x2");

	/* One fails: every device is still reset, and the error names it. */
	op_log[0] = '\0';
	fakes[1].fail_reset = -EIO;
	fakes[1].message = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_reset(r), EIO, "\"dev1\": reset failed (");
	assert_error_mentions("fake1 reset broke");
	assert_string_equal(op_log, "x0 x1 x2");
	/* Two fail: the first one's error is returned. */
	fakes[2].fail_reset = -ENODEV;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_reset(r), EIO, "dev1");
	/* An op that leaves no message of its own still gets a named one. */
	fakes[1].fail_reset = 0;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_reset(r), ENODEV, "\"dev2\": reset failed");
}

static void test_pause_resume_order(void **state)
{
	struct kvmhost_device_registry *r = *state;

	add_fakes(r, 4);
	assert_int_equal(kvmhost_device_registry_is_paused(r), 0);
	ASSERT_FAILS(kvmhost_device_registry_resume(r), EINVAL); /* not paused */
	ASSERT_OK(kvmhost_device_registry_pause(r));
	assert_int_equal(kvmhost_device_registry_is_paused(r), 1);
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_pause(r), EBUSY, "already paused");
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_add(r, "late", 1, &fake_ops, &fakes[4]), EBUSY, "paused");
	/* Reset keeps the registry paused. */
	ASSERT_OK(kvmhost_device_registry_reset(r));
	assert_int_equal(kvmhost_device_registry_is_paused(r), 1);
	ASSERT_OK(kvmhost_device_registry_resume(r));
	assert_int_equal(kvmhost_device_registry_is_paused(r), 0);
	assert_string_equal(op_log, "p0 p1 p2 p3 x0 x1 x2 x3 r3 r2 r1 r0");

	/* A device removed while paused is not resumed. */
	op_log[0] = '\0';
	ASSERT_OK(kvmhost_device_registry_pause(r));
	ASSERT_OK(kvmhost_device_registry_remove(r, "dev2"));
	ASSERT_OK(kvmhost_device_registry_resume(r));
	assert_string_equal(op_log, "p0 p1 p2 p3 r3 r1 r0");
}

static void test_pause_failure_unwinds(void **state)
{
	struct kvmhost_device_registry *r = *state;

	add_fakes(r, 4);
	fakes[2].fail_pause = -ETIMEDOUT;
	fakes[2].message = 1;
	fakes[1].fail_resume = -EIO; /* a failing unwind does not hide the pause error */
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_pause(r), ETIMEDOUT, "\"dev2\": pause failed (");
	assert_error_mentions("fake2 pause broke");
	assert_error_mentions("devices before it were resumed");
	/* dev0 and dev1 paused, then resumed newest first; dev3 never touched. */
	assert_string_equal(op_log, "p0 p1 p2 r1 r0");
	assert_int_equal(kvmhost_device_registry_is_paused(r), 0);

	/* The first device failing: nothing to unwind. */
	op_log[0] = '\0';
	fakes[2].fail_pause = 0;
	fakes[0].fail_pause = -EAGAIN;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_pause(r), EAGAIN, "\"dev0\": pause failed");
	assert_string_equal(op_log, "p0");
	assert_int_equal(kvmhost_device_registry_is_paused(r), 0);
}

static void test_resume_failure_continues(void **state)
{
	struct kvmhost_device_registry *r = *state;

	add_fakes(r, 3);
	ASSERT_OK(kvmhost_device_registry_pause(r));
	op_log[0] = '\0';
	fakes[1].fail_resume = -EIO;
	fakes[0].fail_resume = -ENOMEM;
	/* Reverse order: dev1 fails first, dev0 after it; both are tried. */
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_resume(r), EIO, "\"dev1\": resume failed");
	assert_string_equal(op_log, "r2 r1 r0");
	assert_int_equal(kvmhost_device_registry_is_paused(r), 0);
}

/* ---- the container ---- */

static void set_state(struct fake *f, const char *s)
{
	f->state_len = strlen(s);
	memcpy(f->state, s, f->state_len);
}

/* dev0 "alpha", dev1 nothing (0 bytes), dev2 36 bytes, then a stateless "quiet". */
static void add_stateful(struct kvmhost_device_registry *r)
{
	add_fakes(r, 3);
	set_state(&fakes[0], "alpha");
	set_state(&fakes[2], "0123456789abcdefghijklmnopqrstuvwxyz");
	ASSERT_OK(kvmhost_device_registry_add(r, "quiet", 1, &empty_ops, NULL));
}

static uint8_t *save_all(struct kvmhost_device_registry *r, size_t *len)
{
	size_t size, used;
	uint8_t *buf;

	ASSERT_OK(kvmhost_device_registry_save_size(r, &size));
	buf = malloc(size + 16);
	assert_non_null(buf);
	ASSERT_OK(kvmhost_device_registry_save(r, buf, size, &used));
	assert_int_equal(used, size);
	*len = used;
	return buf;
}

struct seen {
	int n;
	char ids[8][KVMHOST_DEVICE_ID_MAX + 1];
	uint32_t versions[8];
	size_t lens[8];
	int stop_at;
};

static int on_record(void *opaque, const char *id, uint32_t version, const void *data, size_t len)
{
	struct seen *s = opaque;

	(void)data;
	if (s->n == s->stop_at)
		return 42;
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
	s->versions[s->n] = version;
	s->lens[s->n] = len;
	s->n++;
	return 0;
}

static void test_save_restore_round_trip(void **state)
{
	struct kvmhost_device_registry *r = *state, *r2;
	struct seen seen = {.stop_at = -1};
	size_t len, size;
	uint8_t *buf;

	add_stateful(r);
	ASSERT_OK(kvmhost_device_registry_save_size(r, &size));
	assert_int_equal(size, KVMHOST_DEVICE_STATE_HEADER_SIZE + 4 * KVMHOST_DEVICE_STATE_RECORD_OVERHEAD +
				   strlen("dev0dev1dev2quiet") + 5 + 0 + 36);
	buf = save_all(r, &len);
	assert_string_equal(op_log, "s0 s2"); /* dev1 has 0 bytes: save is not called */
	assert_memory_equal(buf, "KHDV", 4);

	/* The container lists its records in registration order. */
	assert_int_equal(kvmhost_device_registry_inspect(buf, len, on_record, &seen), 4);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.ids[0], "dev0");
	assert_string_equal(seen.ids[3], "quiet");
	assert_int_equal(seen.lens[0], 5);
	assert_int_equal(seen.lens[1], 0);
	assert_int_equal(seen.lens[2], 36);
	assert_int_equal(seen.versions[2], 1);
	assert_int_equal(kvmhost_device_registry_inspect(buf, len, NULL, NULL), 4);
	seen.n = 0;
	seen.stop_at = 1;
	assert_int_equal(kvmhost_device_registry_inspect(buf, len, on_record, &seen), 42);

	/* Into other devices, registered in another order: matched by id. */
	assert_int_equal(kvmhost_device_registry_create(&r2), 0);
	ASSERT_OK(kvmhost_device_registry_add(r2, "quiet", 1, &empty_ops, NULL));
	ASSERT_OK(kvmhost_device_registry_add(r2, "dev2", 2, &fake_ops, &fakes[5])); /* a newer version reads v1 */
	ASSERT_OK(kvmhost_device_registry_add(r2, "dev0", 1, &fake_ops, &fakes[3]));
	ASSERT_OK(kvmhost_device_registry_add(r2, "dev1", 1, &fake_ops, &fakes[4]));
	op_log[0] = '\0';
	ASSERT_OK(kvmhost_device_registry_restore(r2, buf, len));
	assert_string_equal(op_log, "l5 l3 l4"); /* r2's order; dev1 restored with 0 bytes */
	assert_int_equal(fakes[3].restored_len, 5);
	assert_memory_equal(fakes[3].restored, "alpha", 5);
	assert_int_equal(fakes[4].restored_len, 0);
	assert_int_equal(fakes[5].restored_len, 36);
	assert_memory_equal(fakes[5].restored, fakes[2].state, 36);
	kvmhost_device_registry_destroy(r2);

	/* And back into the same registry. */
	ASSERT_OK(kvmhost_device_registry_restore(r, buf, len));
	assert_int_equal(fakes[2].restored_len, 36);

	/* An empty registry saves and restores an empty container. */
	assert_int_equal(kvmhost_device_registry_create(&r2), 0);
	free(buf);
	buf = save_all(r2, &len);
	assert_int_equal(len, KVMHOST_DEVICE_STATE_HEADER_SIZE);
	ASSERT_OK(kvmhost_device_registry_restore(r2, buf, len));
	assert_int_equal(kvmhost_device_registry_inspect(buf, len, NULL, NULL), 0);
	kvmhost_device_registry_destroy(r2);
	free(buf);
}

static void test_save_too_small_and_op_failures(void **state)
{
	struct kvmhost_device_registry *r = *state;
	size_t size, used = 99;
	uint8_t *buf;
	char needed[32];

	add_stateful(r);
	ASSERT_OK(kvmhost_device_registry_save_size(r, &size));
	buf = malloc(size);
	assert_non_null(buf);
	snprintf(needed, sizeof(needed), "%zu needed", size);
	for (size_t len = 0; len < size; len++) {
		reset_error();
		int err = kvmhost_device_registry_save(r, buf, len, &used);
		assert_int_equal(err, -ENOSPC);
		assert_int_equal(used, 0);
		if (len >= KVMHOST_DEVICE_STATE_HEADER_SIZE)
			assert_error_mentions(needed);
		else
			assert_error_set();
	}

	/* state_size failing: save_size and save both name the device. */
	fakes[2].fail_size = -EOVERFLOW;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_save_size(r, &size), EOVERFLOW, "\"dev2\": state_size");
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_save(r, buf, size, &used), EOVERFLOW, "dev2");
	assert_int_equal(kvmhost_device_registry_inspect(buf, size, NULL, NULL), -EINVAL); /* no container left */
	fakes[2].fail_size = 0;

	fakes[0].fail_save = -EBUSY;
	fakes[0].message = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_save(r, buf, size, &used), EBUSY, "fake0 save broke");
	assert_error_mentions("\"dev0\": save failed");
	fakes[0].fail_save = 0;

	/* A save op claiming more than it was given. */
	fakes[2].overwrite = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_save(r, buf, size, &used), EINVAL, "dev2");
	fakes[2].overwrite = 0;

	/* state_size without a save op. */
	struct kvmhost_device_ops no_save = fake_ops;
	no_save.save = NULL;
	ASSERT_OK(kvmhost_device_registry_add(r, "nosave", 1, &no_save, &fakes[0]));
	ASSERT_OK(kvmhost_device_registry_save_size(r, &size));
	free(buf);
	buf = malloc(size);
	assert_non_null(buf);
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_save(r, buf, size, &used), EINVAL, "no save op");
	free(buf);
}

/* Write a container header and records by hand, with correct CRCs. */
static size_t put_header(uint8_t *p, uint32_t magic, uint16_t format, uint16_t flags, uint32_t count, uint64_t total)
{
	uint8_t *q = p;

	memcpy(q, &magic, 4);
	memcpy(q + 4, &format, 2);
	memcpy(q + 6, &flags, 2);
	memcpy(q + 8, &count, 4);
	memcpy(q + 12, &total, 8);
	uint32_t crc = kh_crc32(0, p, 20);
	memcpy(q + 20, &crc, 4);
	return KVMHOST_DEVICE_STATE_HEADER_SIZE;
}

static size_t put_record(uint8_t *p, const char *id, size_t id_len, uint16_t reserved, uint32_t version,
			 const void *data, uint32_t data_len)
{
	uint16_t il = (uint16_t)id_len;

	memcpy(p, &il, 2);
	memcpy(p + 2, &reserved, 2);
	memcpy(p + 4, &version, 4);
	memcpy(p + 8, &data_len, 4);
	memcpy(p + 12, id, id_len);
	if (data_len)
		memcpy(p + 12 + id_len, data, data_len);
	uint32_t crc = kh_crc32(0, p, 12 + id_len + data_len);
	memcpy(p + 12 + id_len + data_len, &crc, 4);
	return 16 + id_len + data_len;
}

/* A container of @n records "dev0".."dev<n-1>" (data "d<i>"), except as the arguments say. */
struct spec {
	uint32_t magic;
	uint16_t format, flags;
	int count_delta;
	int64_t total_delta;
	const char *ids[4]; /* NULL: "dev<i>" */
	uint32_t versions[4];
	uint16_t reserved[4];
};

static size_t build(uint8_t *buf, int n, const struct spec *s)
{
	size_t off = KVMHOST_DEVICE_STATE_HEADER_SIZE;
	char id[16], data[16];

	for (int i = 0; i < n; i++) {
		const char *rid = s->ids[i];

		if (!rid) {
			snprintf(id, sizeof(id), "dev%d", i);
			rid = id;
		}
		snprintf(data, sizeof(data), "d%d", i);
		off += put_record(buf + off, rid, strlen(rid), s->reserved[i], s->versions[i] ? s->versions[i] : 1,
				  data, 2);
	}
	put_header(buf, s->magic ? s->magic : KVMHOST_DEVICE_STATE_MAGIC, s->format ? s->format : 1, s->flags,
		   (uint32_t)(n + s->count_delta), (uint64_t)((int64_t)off + s->total_delta));
	return off;
}

#define ASSERT_REFUSED(r, buf, len, err, needle)                                                                       \
	do {                                                                                                           \
		ASSERT_FAILS_MENTIONING(kvmhost_device_registry_restore((r), (buf), (len)), (err), (needle));          \
		assert_int_equal(total_restores(), 0);                                                                 \
	} while (0)

static void test_restore_refuses_damage(void **state)
{
	struct kvmhost_device_registry *r = *state;
	size_t len;
	uint8_t *buf, *copy;

	add_stateful(r);
	buf = save_all(r, &len);
	copy = malloc(len + 1);
	assert_non_null(copy);

	/* Every truncation. */
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, buf, n);
		reset_error();
		assert_int_equal(kvmhost_device_registry_restore(r, copy, n), -EINVAL);
		assert_error_set();
		assert_int_equal(total_restores(), 0);
	}
	/* Every byte flipped, in each bit: all of it is covered by a length,
	 * a CRC or both. */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (uint8_t)(1u << bit);
			reset_error();
			int err = kvmhost_device_registry_restore(r, copy, len);
			if (err >= 0)
				print_error("flipping bit %d of byte %zu was not noticed\n", bit, i);
			assert_true(err < 0);
			assert_error_set();
			assert_int_equal(total_restores(), 0);
		}
	}
	/* A trailing byte. */
	memcpy(copy, buf, len);
	copy[len] = 0;
	ASSERT_REFUSED(r, copy, len + 1, EINVAL, "trailing");
	/* The original still restores. */
	ASSERT_OK(kvmhost_device_registry_restore(r, buf, len));
	free(copy);
	free(buf);
}

static void test_restore_refuses_bad_containers(void **state)
{
	struct kvmhost_device_registry *r = *state;
	uint8_t buf[1024];
	size_t len;
	uint32_t v;

	add_fakes(r, 3);
	len = build(buf, 3, &(struct spec){0});
	ASSERT_OK(kvmhost_device_registry_restore(r, buf, len)); /* the builder is right */
	assert_int_equal(fakes[1].restored_len, 2);
	assert_memory_equal(fakes[1].restored, "d1", 2);
	memset(fakes, 0, sizeof(fakes[0]) * 3);
	for (int i = 0; i < 3; i++)
		fakes[i].idx = i;

	len = build(buf, 3, &(struct spec){.magic = 0x12345678});
	ASSERT_REFUSED(r, buf, len, EINVAL, "magic");
	len = build(buf, 3, &(struct spec){.format = 2});
	ASSERT_REFUSED(r, buf, len, EINVAL, "format 2");
	len = build(buf, 3, &(struct spec){.flags = 1});
	ASSERT_REFUSED(r, buf, len, EINVAL, "flags");
	len = build(buf, 3, &(struct spec){.total_delta = 1});
	ASSERT_REFUSED(r, buf, len, EINVAL, "truncated");
	len = build(buf, 3, &(struct spec){.total_delta = -1});
	ASSERT_REFUSED(r, buf, len, EINVAL, "trailing");
	/* A count that disagrees with the records. */
	len = build(buf, 3, &(struct spec){.count_delta = 1});
	ASSERT_REFUSED(r, buf, len, EINVAL, "record 3");
	len = build(buf, 3, &(struct spec){.count_delta = -1});
	ASSERT_REFUSED(r, buf, len, EINVAL, "after the last record");
	len = build(buf, 3, &(struct spec){.count_delta = KVMHOST_DEVICE_REGISTRY_MAX});
	ASSERT_REFUSED(r, buf, len, EINVAL, "records");

	/* Topology. */
	len = build(buf, 3, &(struct spec){.ids = {NULL, "stranger", NULL}});
	ASSERT_REFUSED(r, buf, len, ENOENT, "\"stranger\", which is not registered");
	len = build(buf, 2, &(struct spec){0});
	ASSERT_REFUSED(r, buf, len, ENOENT, "\"dev2\" is registered but missing");
	len = build(buf, 3, &(struct spec){.ids = {NULL, "dev0", NULL}});
	ASSERT_REFUSED(r, buf, len, EINVAL, "\"dev0\" appears twice");
	len = build(buf, 4, &(struct spec){.ids = {NULL, NULL, NULL, "dev1"}});
	ASSERT_REFUSED(r, buf, len, EINVAL, "appears twice");
	len = build(buf, 3, &(struct spec){.versions = {1, 2, 1}});
	ASSERT_REFUSED(r, buf, len, EOPNOTSUPP, "version 2 is newer");
	len = build(buf, 3, &(struct spec){.reserved = {0, 0, 1}});
	ASSERT_REFUSED(r, buf, len, EINVAL, "reserved");

	/* Record lengths and ids, CRCs correct. */
	size_t off = KVMHOST_DEVICE_STATE_HEADER_SIZE;
	off += put_record(buf + off, "dev0", 4, 0, 1, "d0", 2);
	off += put_record(buf + off, "dev1", 4, 0, 1, "d1", 2);
	size_t third = off;
	off += put_record(buf + off, "dev2", 4, 0, 1, "d2", 2);
	put_header(buf, KVMHOST_DEVICE_STATE_MAGIC, 1, 0, 3, off);
	ASSERT_OK(kvmhost_device_registry_restore(r, buf, off));
	memset(fakes, 0, sizeof(fakes[0]) * 3);
	for (int i = 0; i < 3; i++)
		fakes[i].idx = i;
	/* data_len past the end (by one, and by a lot). */
	v = 3;
	memcpy(buf + third + 8, &v, 4);
	ASSERT_REFUSED(r, buf, off, EINVAL, "record 2 at offset");
	v = 0x7fffffff;
	memcpy(buf + third + 8, &v, 4);
	ASSERT_REFUSED(r, buf, off, EINVAL, "pass the end");
	v = 0xffffffff;
	memcpy(buf + third + 8, &v, 4);
	ASSERT_REFUSED(r, buf, off, EINVAL, "pass the end");
	/* id_len 0, past the buffer, past KVMHOST_DEVICE_ID_MAX. */
	put_record(buf + third, "dev2", 4, 0, 1, "d2", 2);
	uint16_t il = 0;
	memcpy(buf + third, &il, 2);
	ASSERT_REFUSED(r, buf, off, EINVAL, "id length 0");
	il = KVMHOST_DEVICE_ID_MAX + 1;
	memcpy(buf + third, &il, 2);
	ASSERT_REFUSED(r, buf, off, EINVAL, "id length 65");
	il = 9;
	memcpy(buf + third, &il, 2);
	ASSERT_REFUSED(r, buf, off, EINVAL, "pass the end");
	/* An id that is not printable (CRC made to match). */
	off = third + put_record(buf + third, "dev 2", 5, 0, 1, "d2", 2);
	put_header(buf, KVMHOST_DEVICE_STATE_MAGIC, 1, 0, 3, off);
	ASSERT_REFUSED(r, buf, off, EINVAL, "not printable");
	/* A damaged record is named. */
	off = third + put_record(buf + third, "dev2", 4, 0, 1, "d2", 2);
	put_header(buf, KVMHOST_DEVICE_STATE_MAGIC, 1, 0, 3, off);
	buf[off - 5] ^= 0x10; /* last data byte */
	ASSERT_REFUSED(r, buf, off, EINVAL, "record 2 (device \"dev2\")");
	ASSERT_REFUSED(r, buf, off, EINVAL, "CRC");
	/* A damaged header. */
	buf[off - 5] ^= 0x10;
	buf[9] ^= 0x01;
	ASSERT_REFUSED(r, buf, off, EINVAL, "header is damaged");
}

static void test_restore_data_for_stateless_device(void **state)
{
	struct kvmhost_device_registry *r = *state;
	uint8_t buf[256];
	size_t len;

	ASSERT_OK(kvmhost_device_registry_add(r, "dev0", 1, &fake_ops, &fakes[0]));
	ASSERT_OK(kvmhost_device_registry_add(r, "dev1", 1, &empty_ops, NULL));
	len = build(buf, 2, &(struct spec){0});
	ASSERT_REFUSED(r, buf, len, EINVAL, "\"dev1\": the container has 2 bytes of its state but it has no restore");
}

static void test_restore_failure_midway(void **state)
{
	struct kvmhost_device_registry *r = *state;
	size_t len;
	uint8_t *buf;

	add_stateful(r);
	buf = save_all(r, &len);
	op_log[0] = '\0';
	fakes[1].fail_restore = -EPROTO;
	fakes[1].message = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_device_registry_restore(r, buf, len), EPROTO, "\"dev1\": restore failed (");
	assert_error_mentions("fake1 restore broke");
	assert_error_mentions("the 1 devices before it were restored, the 2 after it were not");
	assert_string_equal(op_log, "l0 l1");
	assert_int_equal(fakes[0].restores, 1);
	assert_int_equal(fakes[2].restores, 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_remove_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_ids_and_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_order_and_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_failure_unwinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_failure_continues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_restore_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_too_small_and_op_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_refuses_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_refuses_bad_containers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_data_for_stateless_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_failure_midway, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

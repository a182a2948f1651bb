/*
 * Assertions the unit tests share: a call fails with a given errno AND leaves a last-error message of its own
 * (ASSERT_FAILS), or succeeds (ASSERT_OK). Include after <cmocka.h> and "core/internal.h". A test may define
 * UNIT_ERROR_PREFIX first: the start every message must have (default "kvmhost_", the public function's name).
 */
#ifndef KVMHOST_UNIT_ASSERT_H
#define KVMHOST_UNIT_ASSERT_H

#include <string.h>

#ifndef UNIT_ERROR_PREFIX
#define UNIT_ERROR_PREFIX "kvmhost_"
#endif

/* Put a sentinel in the last-error buffer so a test can tell that the next call really set a message. */
static inline void reset_error(void)
{
	kh_fail(EINVAL, "sentinel", "sentinel");
}

/* The last error is a new message that starts with UNIT_ERROR_PREFIX and mentions @needle (NULL: anything). */
static inline void assert_error_mentions(const char *needle)
{
	const char *e = kvmhost_last_error();

	assert_non_null(e);
	assert_true(e[0] != '\0');
	assert_null(strstr(e, "sentinel"));
	assert_int_equal(strncmp(e, UNIT_ERROR_PREFIX, strlen(UNIT_ERROR_PREFIX)), 0);
	if (needle && !strstr(e, needle)) {
		print_error("message \"%s\" does not mention \"%s\"\n", e, needle);
		fail();
	}
}

static inline void assert_error_set(void)
{
	assert_error_mentions(NULL);
}

/* The call must return -err and leave a message that mentions @needle (may be NULL). */
#define ASSERT_FAILS_MENTIONING(call, err, needle)                                                                     \
	do {                                                                                                           \
		reset_error();                                                                                         \
		int r_ = (call);                                                                                       \
		if (r_ != -(err))                                                                                      \
			print_error("%s returned %d (%s), expected %d; last error: %s\n", #call, r_,                   \
				    kvmhost_strerror(r_), -(err), kvmhost_last_error());                               \
		assert_int_equal(r_, -(err));                                                                          \
		assert_error_mentions(needle);                                                                         \
	} while (0)

/* The call must return -err and leave a message. */
#define ASSERT_FAILS(call, err) ASSERT_FAILS_MENTIONING(call, err, NULL)

/* The call must return 0. */
#define ASSERT_OK(call)                                                                                                \
	do {                                                                                                           \
		int r_ = (call);                                                                                       \
		if (r_ != 0)                                                                                           \
			print_error("%s returned %d; last error: %s\n", #call, r_, kvmhost_last_error());              \
		assert_int_equal(r_, 0);                                                                               \
	} while (0)

#endif

/*
 * Private helpers shared by every part of the library: error reporting,
 * logging, option-struct copying and a few utilities. Nothing here is
 * exported; public declarations live in include/kvmhost/.
 */
#ifndef KVMHOST_CORE_INTERNAL_H
#define KVMHOST_CORE_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <kvmhost/error.h>

#define KH_PRINTF(a, b)	 __attribute__((format(printf, a, b)))
#define KH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KH_MIN(a, b)	 ((a) < (b) ? (a) : (b))

/*
 * Record "func: message: strerror(err)" as this thread's last error and
 * return -err. @err is a positive errno value.
 */
int kh_fail(int err, const char *func, const char *fmt, ...) KH_PRINTF(3, 4);
#define KH_FAIL(err, ...) kh_fail((err), __func__, __VA_ARGS__)

/* Same, for a failed system call: takes errno (or EIO if errno is 0). */
#define KH_FAIL_ERRNO(...) kh_fail(errno ? errno : EIO, __func__, __VA_ARGS__)

/* Log through the embedder's callback, if any accepts @level. */
void kh_log(enum kvmhost_log_level level, const char *fmt, ...) KH_PRINTF(2, 3);
/* Cheap check so hot paths can skip formatting. */
int kh_log_enabled(enum kvmhost_log_level level);

/*
 * Copy a caller's size-tagged option struct into the library's own version.
 * @dst is zeroed first; min(sizes) bytes are copied. A caller struct larger
 * than ours is accepted only if the bytes we do not know are all zero
 * (-E2BIG otherwise); one smaller than the size field itself is -EINVAL.
 * Sets the last-error message on failure, naming @func.
 */
int kh_copy_options(void *dst, size_t dst_size, const void *src, const char *func);
#define KH_COPY_OPTIONS(dst, src) kh_copy_options((dst), sizeof(*(dst)), (src), __func__)

/* Overflow-checked a + b <= limit style helpers. */
static inline int kh_add_overflows(uint64_t a, uint64_t b, uint64_t *sum)
{
	return __builtin_add_overflow(a, b, sum);
}

/* Retry an ioctl/read/write interrupted by a signal. */
#define KH_RETRY_EINTR(expr)                                                                                           \
	({                                                                                                             \
		long kh_r_;                                                                                            \
		do {                                                                                                   \
			kh_r_ = (long)(expr);                                                                          \
		} while (kh_r_ == -1 && errno == EINTR);                                                               \
		kh_r_;                                                                                                 \
	})

#endif

/**
 * @file error.h
 * @brief Error model and logging of libkvmhost.
 *
 * Every function of the library returns 0 (or a non-negative count) on
 * success and a negative errno value on failure: the return value is the
 * error, and errno is not part of the contract (a call may leave it changed,
 * as libc calls may). When a call fails it also leaves a human-readable message, naming
 * the function and the cause, in a per-thread buffer that
 * kvmhost_last_error() returns.
 *
 * The library prints nothing. Diagnostics go to a log callback that the
 * embedder installs with kvmhost_set_log_callback(); without one they are
 * dropped.
 *
 * Thread safety: all functions here are thread-safe. The last-error string is
 * per thread; the log callback is process-wide and may be called from any
 * thread that calls into the library (vCPU threads included).
 */
#ifndef KVMHOST_ERROR_H
#define KVMHOST_ERROR_H

#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Severity of a log message. Lower values are more severe. */
enum kvmhost_log_level {
	KVMHOST_LOG_ERROR = 0, /**< an operation failed */
	KVMHOST_LOG_WARN = 1,  /**< something is odd but work goes on */
	KVMHOST_LOG_INFO = 2,  /**< notable events (VM created, device reset) */
	KVMHOST_LOG_DEBUG = 3, /**< detail for developers */
};

/**
 * Log callback installed by the embedder.
 * @param level  severity of the message
 * @param msg    NUL-terminated message without a trailing newline; valid only
 *               during the call
 * @param opaque the pointer given to kvmhost_set_log_callback()
 */
typedef void (*kvmhost_log_fn)(enum kvmhost_log_level level, const char *msg, void *opaque);

/**
 * Return the message left by the last failed call on this thread.
 *
 * The string names the function that failed and why, e.g.
 * "kvmhost_vm_add_memory: region [0x1000, 0x3000) overlaps slot 0: Invalid argument".
 * Successful calls do not clear it. Never returns NULL; returns "" when no
 * call has failed on this thread.
 * @return the message left by the last failed call on this thread.
 */
KVMHOST_API const char *kvmhost_last_error(void);

/**
 * Describe a negative errno value returned by the library.
 * @param err a value returned by a libkvmhost call (negative errno), or 0
 * @return a static string; never NULL. Thread-safe (does not use strerror()).
 */
KVMHOST_API const char *kvmhost_strerror(int err);

/**
 * Install the process-wide log callback.
 * @param fn        callback, or NULL to drop all messages (the default)
 * @param opaque    passed back to @p fn
 * @param max_level messages less severe than this are not formatted or passed
 * @return 0, or -EINVAL if @p max_level is not a valid level.
 */
KVMHOST_API int kvmhost_set_log_callback(kvmhost_log_fn fn, void *opaque, enum kvmhost_log_level max_level);

#ifdef __cplusplus
}
#endif

#endif

/**
 * @file loop.h
 * @brief A small epoll event loop that embedders may use or ignore.
 *
 * Nothing in the library requires it: every object that needs waking exposes
 * a file descriptor. The loop itself is also an fd (kvmhost_loop_fd()), so it
 * nests inside another event loop.
 *
 * Thread safety: kvmhost_loop_stop() is safe from any thread, from
 * callbacks and from signal handlers. add/remove are safe from any thread and
 * from callbacks, including a callback removing its own fd: once remove
 * returns, the fd's callback is not called again, even later in the batch
 * being dispatched. A remove from another thread while that fd's callback
 * runs waits for the callback to return (so do not call it holding a lock
 * the callback takes). run/run_once must be called by one thread at a time;
 * a second one, or one from a callback, fails with -EBUSY.
 */
#ifndef KVMHOST_LOOP_H
#define KVMHOST_LOOP_H

#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque event loop. */
struct kvmhost_loop;

/** Loop readiness flags (same values as EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP). @{ */
#define KVMHOST_LOOP_IN	 0x001u
#define KVMHOST_LOOP_OUT 0x004u /**< writable */
#define KVMHOST_LOOP_ERR 0x008u /**< an error condition */
#define KVMHOST_LOOP_HUP 0x010u /**< hang-up (the peer closed) */
/** @} */

/** Callback for a ready fd. @p events holds KVMHOST_LOOP_* flags. */
typedef void (*kvmhost_loop_fn)(int fd, uint32_t events, void *opaque);

/**
 * Create a loop.
 * @param out receives the new event loop
 * @return 0; -EINVAL for a NULL @p out; -ENOMEM; epoll_create1()'s error.
 */
KVMHOST_API int kvmhost_loop_create(struct kvmhost_loop **out);
/**
 * Destroy a loop (not the fds in it). NULL is ignored.
 * @param loop the event loop
 */
KVMHOST_API void kvmhost_loop_destroy(struct kvmhost_loop *loop);
/**
 * Return the loop's epoll fd, readable when run_once(…, 0) has work.
 * @param loop the event loop
 * @return the loop's epoll fd, readable when run_once(…, 0) has work.
 */
KVMHOST_API int kvmhost_loop_fd(const struct kvmhost_loop *loop);

/**
 * Watch @p fd for @p events and call @p fn when ready.
 * @param loop the event loop
 * @param fd the file descriptor to watch
 * @param events EPOLLIN, EPOLLOUT, ... (epoll's event bits)
 * @param fn called with the ready events
 * @param opaque passed to @p fn
 * @return 0; -EEXIST if @p fd is watched already; -EINVAL for bad arguments;
 *         -EPERM for a file epoll cannot watch (a regular file).
 */
KVMHOST_API int kvmhost_loop_add(struct kvmhost_loop *loop, int fd, uint32_t events, kvmhost_loop_fn fn, void *opaque);
/**
 * Stop watching @p fd. -ENOENT if not watched.
 * @param loop the event loop
 * @param fd a watched file descriptor
 * @return 0; -ENOENT if @p fd is not watched; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_loop_remove(struct kvmhost_loop *loop, int fd);

/**
 * Wait up to @p timeout_ms (-1: forever) and dispatch ready callbacks.
 * @param loop the event loop
 * @param timeout_ms milliseconds to wait; -1: forever, 0: just check
 * @return number of callbacks called (0 on timeout or signal), or a negative
 *         errno. Returns early (possibly 0) after kvmhost_loop_stop(), which
 *         it consumes; fds not dispatched yet stay ready for the next call.
 */
KVMHOST_API int kvmhost_loop_run_once(struct kvmhost_loop *loop, int timeout_ms);
/**
 * Dispatch until kvmhost_loop_stop() is called. @return 0 or a negative errno.
 * @param loop the event loop
 */
KVMHOST_API int kvmhost_loop_run(struct kvmhost_loop *loop);
/** Make kvmhost_loop_run() (or run_once) return. Safe from any thread. A
 * stop made while no run is in progress is kept: the next run returns at once.
 * @param loop the event loop
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_loop_stop(struct kvmhost_loop *loop);

#ifdef __cplusplus
}
#endif

#endif

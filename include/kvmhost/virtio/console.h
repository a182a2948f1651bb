/**
 * @file virtio/console.h
 * @brief virtio-console (virtio device id 3): one console port (hvc0).
 *
 * Queues: 0 is port 0's receiveq (host to guest), 1 its transmitq (guest to
 * host). Config space: cols, rows (le16 each), max_nr_ports (le32, 1),
 * emerg_wr (le32). Features offered: VIRTIO_CONSOLE_F_SIZE when the options
 * give a size, VIRTIO_CONSOLE_F_EMERG_WRITE (a byte written to emerg_wr is
 * output like transmitted data), and the ring features the framework
 * implements. VIRTIO_CONSOLE_F_MULTIPORT is not offered.
 *
 * Backends (the host side):
 *  - NONE: output is discarded (counted as written); input only through
 *    kvmhost_virtio_console_receive();
 *  - STDIO: a pair of fds, in_fd for input (-1: none) and out_fd for
 *    output (-1: discard), e.g. the VMM's stdin and stdout, a pty, pipes;
 *  - FILE: output only, to out_fd or to a file at path (created or
 *    truncated, owned by the device);
 *  - SOCKET: sock_fd, a connected stream socket (input and output), or a
 *    listening one: kvmhost_virtio_console_pump() then accepts one client at
 *    a time (owned by the device, closed when it hangs up, and the next one
 *    accepted).
 * The embedder's fds are not owned: the device never closes them, nor
 * changes their flags.
 *
 * Output (the transmitq, in the notifying thread) never blocks: sockets are
 * written with MSG_DONTWAIT, O_NONBLOCK fds directly, other fds only as far
 * as poll() says they take bytes. What cannot go out waits in a small
 * buffer (KVMHOST_VIRTIO_CONSOLE_TX_BUFFER), sent before newer bytes on the
 * next transmit or kvmhost_virtio_console_flush(); beyond it bytes are
 * dropped and counted. Transmit buffers are always returned to the guest at
 * once. A write error gives up on the fd (further output dropped and
 * counted), except on an accepted socket client, which is hung up. Sockets
 * are written with MSG_NOSIGNAL; writing to a pipe whose reader has gone
 * raises SIGPIPE, as any write(2) does: embedders normally ignore that
 * signal.
 *
 * Input is delivered from the host side into the buffers the guest posted
 * on the receiveq: kvmhost_virtio_console_receive() with bytes in hand, or
 * kvmhost_virtio_console_pump() from the backend's input fd when it is
 * readable (kvmhost_virtio_console_input_fd() says which fd to watch). With
 * no buffers posted, input waits on the host side: receive() accepts 0
 * bytes, pump() reads nothing, kvmhost_virtio_console_rx_room() says 0; an
 * event loop then stops watching the fd until the rx_ready callback says the
 * guest posted buffers again.
 *
 * A receive buffer with device-readable parts or no room, or a transmit
 * buffer with device-writable parts, is malformed: the queue breaks and the
 * device reports DEVICE_NEEDS_RESET.
 *
 * Thread safety: kicks (any thread), receive/pump/rx_room (any thread),
 * flush, set_size and get_stats may run concurrently. Destroy must not race
 * anything.
 */
#ifndef KVMHOST_VIRTIO_CONSOLE_H
#define KVMHOST_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;
struct kvmhost_virtio_device;

/** Opaque virtio-console device. */
struct kvmhost_virtio_console;

/* Feature bits of virtio-console (bit numbers). */
#define KVMHOST_VIRTIO_CONSOLE_F_SIZE	     0 /**< cols/rows in config space */
#define KVMHOST_VIRTIO_CONSOLE_F_MULTIPORT   1 /**< several ports and control queues (not offered) */
#define KVMHOST_VIRTIO_CONSOLE_F_EMERG_WRITE 2 /**< emerg_wr in config space */

/** Queue indices of port 0. */
#define KVMHOST_VIRTIO_CONSOLE_RXQ 0
#define KVMHOST_VIRTIO_CONSOLE_TXQ 1 /**< index of the transmit queue (guest to host) */

/** Bytes of config space. */
#define KVMHOST_VIRTIO_CONSOLE_CONFIG_SIZE 12
/** Bytes of output held while the output fd is full. */
#define KVMHOST_VIRTIO_CONSOLE_TX_BUFFER 4096

/** Where the console's bytes go and come from. */
enum kvmhost_virtio_console_backend {
	KVMHOST_VIRTIO_CONSOLE_BACKEND_NONE = 0,   /**< output discarded; input only by receive() */
	KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO = 1,  /**< in_fd and out_fd */
	KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE = 2,   /**< out_fd, or path; no input */
	KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET = 3, /**< sock_fd: connected or listening stream socket */
};

/**
 * Called when the guest posted receive buffers after input had found none
 * (so an event loop that stopped watching the input fd can start again).
 * Runs in the notifying thread, without the device's locks held: it may call
 * kvmhost_virtio_console_pump() or _receive().
 */
typedef void (*kvmhost_virtio_console_rx_ready_fn)(void *opaque);

/** Options for kvmhost_virtio_console_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_console_options {
	size_t size;				     /**< sizeof(struct kvmhost_virtio_console_options) */
	enum kvmhost_virtio_console_backend backend; /**< only the fields of this backend are read */
	int in_fd;				     /**< STDIO: input fd, or -1 */
	int out_fd;				     /**< STDIO, FILE (without path): output fd, or -1 (STDIO) */
	int sock_fd;				     /**< SOCKET: a connected or listening stream socket */
	const char *path;			     /**< FILE: open this file instead of out_fd; NULL: use out_fd */
	/** @c cols: the console's columns (with @c rows: both non-zero: VIRTIO_CONSOLE_F_SIZE offered) */
	uint16_t cols, rows; /**< @c rows: the console's rows; both non-zero: VIRTIO_CONSOLE_F_SIZE offered */
	uint32_t queue_size; /**< largest queue size, 1 to 1024; 0: 128 */
	kvmhost_virtio_console_rx_ready_fn rx_ready; /**< optional, see kvmhost_virtio_console_rx_ready_fn */
	void *rx_ready_opaque;			     /**< passed to rx_ready */
	const char *name;			     /**< for messages; copied; NULL: "virtio-console" */
};

/** Counters of a virtio-console, filled by kvmhost_virtio_console_get_stats(). */
struct kvmhost_virtio_console_stats {
	size_t size;	      /**< set by the caller to sizeof(struct kvmhost_virtio_console_stats) */
	uint64_t tx_bytes;    /**< bytes the guest transmitted (emergency writes included) */
	uint64_t tx_written;  /**< bytes written to the backend, or discarded without one */
	uint64_t tx_dropped;  /**< bytes dropped: the buffer was full or the backend failed */
	uint64_t tx_pending;  /**< bytes waiting in the buffer now */
	uint64_t rx_bytes;    /**< bytes delivered to the guest */
	uint64_t connections; /**< clients accepted on a listening socket */
};

/**
 * Create a virtio-console on guest memory @p mem (which must outlive it).
 * @param opts options; NULL: the NONE backend, no size
 * @param mem the VM's guest memory (memory.h)
 * @param out receives the new virtio-console device
 * @return 0 and *out set; -EINVAL (NULL @p mem or @p out, an unknown
 *         backend, a negative fd where one is needed, a fd that is not open,
 *         SOCKET with a fd that is not a stream socket, one of cols/rows
 *         zero, a bad queue size), -E2BIG (options), -ENOMEM; open(2)'s
 *         error for a FILE path.
 */
KVMHOST_API int kvmhost_virtio_console_create(struct kvmhost_memory *mem,
					      const struct kvmhost_virtio_console_options *opts,
					      struct kvmhost_virtio_console **out);

/** Destroy the console and its framework device; closes what the device
 * owns (a FILE path's fd, an accepted client). Buffered output is dropped:
 * call kvmhost_virtio_console_flush() first to keep it. NULL is ignored.
 * @param con the virtio-console device
 */
KVMHOST_API void kvmhost_virtio_console_destroy(struct kvmhost_virtio_console *con);

/** Return the framework device (for the transport), or NULL for NULL. It
 * lives as long as @p con.
 * @param con the virtio-console device
 * @return the framework device (for the transport), or NULL for NULL.
 */
KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_console_device(struct kvmhost_virtio_console *con);

/**
 * Deliver host input into the guest's posted receive buffers, in order, as
 * far as they have room (one buffer per chunk, returned to the guest at once).
 * @param con the virtio-console device
 * @param bytes the bytes
 * @param len bytes at @p bytes
 * @return bytes accepted (0 to @p len; the caller keeps the rest; 0 when the
 *         guest has posted nothing or the device is not live); -EINVAL for a
 *         NULL @p con, or NULL @p bytes with @p len > 0.
 */
KVMHOST_API int kvmhost_virtio_console_receive(struct kvmhost_virtio_console *con, const void *bytes, size_t len);

/**
 * Return the room of the next posted receive buffer: 0 means input waits
 * (nothing posted, or the device is not live); otherwise receive() accepts
 * at least this many bytes (capped at INT32_MAX). -EINVAL for NULL.
 * @param con the virtio-console device
 * @return the room of the next posted receive buffer: 0 means input waits (nothing posted, or the device is not live);
 * otherwise receive() accepts at least this many bytes (capped at INT32_MAX).
 */
KVMHOST_API int kvmhost_virtio_console_rx_room(struct kvmhost_virtio_console *con);

/**
 * Return the fd an event loop should watch for input now: STDIO's in_fd,
 * SOCKET's client (or the listening socket while there is none), -1 when
 * the backend has no input. It changes when a client is accepted or hangs
 * up. -EINVAL for NULL.
 * @param con the virtio-console device
 * @return the fd an event loop should watch for input now: STDIO's in_fd, SOCKET's client (or the listening socket
 * while there is none), -1 when the backend has no input.
 */
KVMHOST_API int kvmhost_virtio_console_input_fd(struct kvmhost_virtio_console *con);

/**
 * Move input from the backend into posted receive buffers, without
 * blocking (poll() first, so blocking fds are fine). On a listening socket
 * without a client, accept one (non-blocking). When this returns 0 and
 * kvmhost_virtio_console_rx_room() says 0, stop watching the input fd until
 * the rx_ready callback.
 * @param con the virtio-console device
 * @return bytes moved (0: nothing to read, no room, or a client was accepted
 *         or hung up: re-read kvmhost_virtio_console_input_fd()); -EPIPE at
 *         end of file of STDIO's in_fd or of a connected SOCKET fd the
 *         embedder gave (stop watching it); -ENODEV if the backend has no
 *         input; -EINVAL for NULL; read(2)'s or accept(2)'s negative errno.
 */
KVMHOST_API int kvmhost_virtio_console_pump(struct kvmhost_virtio_console *con);

/**
 * Try to write buffered output, without blocking.
 * @param con the virtio-console device
 * @return bytes still buffered (0: all out); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_console_flush(struct kvmhost_virtio_console *con);

/**
 * Change the console size shown in config space and announce it (config
 * generation and interrupt), e.g. on SIGWINCH.
 * @param con the virtio-console device
 * @param cols columns; non-zero
 * @param rows rows; non-zero
 * @return 0; -EINVAL for NULL or a zero @p cols or @p rows; -EOPNOTSUPP if
 *         the console was created without a size (F_SIZE not offered).
 */
KVMHOST_API int kvmhost_virtio_console_set_size(struct kvmhost_virtio_console *con, uint16_t cols, uint16_t rows);

/**
 * Copy the counters. @p stats->size must be set; a smaller (older) struct
 * gets the fields it has room for.
 * @param con the virtio-console device
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL for NULL or a size smaller than the size field.
 */
KVMHOST_API int kvmhost_virtio_console_get_stats(struct kvmhost_virtio_console *con,
						 struct kvmhost_virtio_console_stats *stats);

#ifdef __cplusplus
}
#endif

#endif

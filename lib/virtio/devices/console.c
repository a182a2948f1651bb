/*
 * virtio-console (virtio/console.h): a framework device with one console
 * port (receiveq 0, transmitq 1), its config space (size, emergency write)
 * and its host backends: none, a pair of fds, an output file, a connected
 * or listening stream socket.
 *
 * Locks: rx_lock serialises the receive side (receive, pump, rx_room, the
 * receiveq kick) and keeps the backend's input fd alive while it is read;
 * io_lock guards the output buffer, the counters and the socket client.
 * Order: (state lock of the framework), rx_lock, io_lock, then queue locks.
 * A client is closed only with both held, so a pump reading it never sees
 * it go; a failed write marks it dead and the next pump closes it.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/device.h>

#include "../../core/internal.h"

#define RXQ KVMHOST_VIRTIO_CONSOLE_RXQ
#define TXQ KVMHOST_VIRTIO_CONSOLE_TXQ

#define KH_CON_QUEUE_SIZE     128u
#define KH_CON_QUEUE_SIZE_MAX 1024u
/* A blocking output fd is written in chunks no larger than this, each after
 * poll() said it is writable (what POLLOUT promises on pipes and ttys). */
#define KH_CON_BLOCKING_CHUNK 256
/* Receive buffers one pump fills at most (the rest on the next call). */
#define KH_CON_PUMP_CHAINS 16

/* How output reaches an fd. */
enum kh_con_out_mode {
	KH_CON_OUT_SOCK,     /* send(MSG_DONTWAIT | MSG_NOSIGNAL) */
	KH_CON_OUT_NONBLOCK, /* O_NONBLOCK: write() says EAGAIN */
	KH_CON_OUT_REGULAR,  /* a regular file: write() never waits long */
	KH_CON_OUT_POLL,     /* anything else: poll() before each chunk */
};

/* What output can do now. */
enum kh_con_target {
	KH_CON_T_OK,	  /* write to fd */
	KH_CON_T_DISCARD, /* no output at all: counted as written */
	KH_CON_T_WAIT,	  /* no socket client yet: buffer */
	KH_CON_T_BROKEN,  /* the fd failed: drop */
};

struct kvmhost_virtio_console {
	struct kvmhost_virtio_device *dev;
	enum kvmhost_virtio_console_backend backend;
	char name[64];

	/* Set at create. */
	int in_fd;		       /* STDIO input, or -1 */
	int out_fd;		       /* STDIO / FILE output, or -1 */
	int own_out;		       /* out_fd was opened from a path */
	enum kh_con_out_mode out_mode; /* of out_fd */
	int listen_fd;		       /* SOCKET: listening, or -1 */
	int has_size;
	kvmhost_virtio_console_rx_ready_fn rx_ready;
	void *rx_ready_opaque;

	_Atomic uint32_t size; /* cols | rows << 16 */

	pthread_mutex_t rx_lock;
	int rx_waiting; /* input found no buffer: tell rx_ready at the next receiveq kick */

	pthread_mutex_t io_lock;
	int conn_fd;	/* SOCKET: connected socket (given or accepted), or -1 */
	int conn_owned; /* accepted: ours to close */
	int conn_dead;	/* a write to it failed: closed by the next pump */
	int out_broken; /* out_fd (or the given socket) failed: output dropped */
	uint8_t tx_buf[KVMHOST_VIRTIO_CONSOLE_TX_BUFFER];
	size_t tx_len;
	struct kvmhost_virtio_console_stats stats;
};

/* ---- output ---- */

static enum kh_con_target kh_con_target(struct kvmhost_virtio_console *c, int *fd, enum kh_con_out_mode *mode)
{
	switch (c->backend) {
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO:
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE:
		if (c->out_fd < 0)
			return KH_CON_T_DISCARD;
		if (c->out_broken)
			return KH_CON_T_BROKEN;
		*fd = c->out_fd;
		*mode = c->out_mode;
		return KH_CON_T_OK;
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET:
		if (c->out_broken)
			return KH_CON_T_BROKEN;
		if (c->conn_fd < 0 || c->conn_dead)
			return KH_CON_T_WAIT;
		*fd = c->conn_fd;
		*mode = KH_CON_OUT_SOCK;
		return KH_CON_T_OK;
	default:
		return KH_CON_T_DISCARD;
	}
}

/* A write to the current target failed for good. */
static void kh_con_out_failed(struct kvmhost_virtio_console *c, int err)
{
	if (c->backend == KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET && c->conn_owned) {
		if (kh_log_enabled(KVMHOST_LOG_INFO))
			kh_log(KVMHOST_LOG_INFO, "%s: client hung up (%s)", c->name, kvmhost_strerror(-err));
		c->conn_dead = 1;
		c->stats.tx_dropped += c->tx_len;
		c->tx_len = 0;
		return;
	}
	if (kh_log_enabled(KVMHOST_LOG_WARN))
		kh_log(KVMHOST_LOG_WARN, "%s: output failed (%s): further output is dropped", c->name,
		       kvmhost_strerror(-err));
	c->out_broken = 1;
}

/* Write what fits without blocking. Returns bytes written (an error after
 * some bytes went out shows at the next call), or -errno after an error that
 * gives up on the fd. */
static ssize_t kh_con_write_out(int fd, enum kh_con_out_mode mode, const uint8_t *p, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		size_t chunk = len - done;

		if (mode == KH_CON_OUT_POLL) {
			if (KH_RETRY_EINTR(poll(&pfd, 1, 0)) <= 0 || !(pfd.revents & (POLLOUT | POLLERR | POLLHUP)))
				break;
			chunk = KH_MIN(chunk, (size_t)KH_CON_BLOCKING_CHUNK);
		}
		if (mode == KH_CON_OUT_SOCK)
			n = KH_RETRY_EINTR(send(fd, p + done, chunk, MSG_DONTWAIT | MSG_NOSIGNAL));
		else
			n = KH_RETRY_EINTR(write(fd, p + done, chunk));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return done ? (ssize_t)done : -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* With io_lock held: send buffered bytes. */
static void kh_con_flush_locked(struct kvmhost_virtio_console *c)
{
	enum kh_con_out_mode mode = KH_CON_OUT_POLL;
	enum kh_con_target t;
	int fd = -1;
	ssize_t n;

	if (!c->tx_len)
		return;
	t = kh_con_target(c, &fd, &mode);
	if (t == KH_CON_T_OK) {
		n = kh_con_write_out(fd, mode, c->tx_buf, c->tx_len);
		if (n > 0) {
			c->stats.tx_written += (uint64_t)n;
			memmove(c->tx_buf, c->tx_buf + n, c->tx_len - (size_t)n);
			c->tx_len -= (size_t)n;
		} else if (n < 0) {
			kh_con_out_failed(c, (int)n);
		}
		t = kh_con_target(c, &fd, &mode);
	}
	if (t == KH_CON_T_BROKEN || t == KH_CON_T_DISCARD) {
		c->stats.tx_dropped += c->tx_len;
		c->tx_len = 0;
	}
}

/* With io_lock held: bytes the guest sent. Nothing overtakes buffered bytes. */
static void kh_con_output(struct kvmhost_virtio_console *c, const uint8_t *p, size_t len)
{
	enum kh_con_out_mode mode = KH_CON_OUT_POLL;
	enum kh_con_target t;
	int fd = -1;
	size_t k;

	if (!len)
		return;
	c->stats.tx_bytes += len;
	t = kh_con_target(c, &fd, &mode);
	if (t == KH_CON_T_DISCARD) {
		c->stats.tx_written += len;
		return;
	}
	kh_con_flush_locked(c);
	t = kh_con_target(c, &fd, &mode);
	if (t == KH_CON_T_OK && !c->tx_len) {
		ssize_t n = kh_con_write_out(fd, mode, p, len);

		if (n < 0) {
			kh_con_out_failed(c, (int)n);
			t = kh_con_target(c, &fd, &mode);
		} else {
			c->stats.tx_written += (uint64_t)n;
			p += n;
			len -= (size_t)n;
		}
	}
	if (t == KH_CON_T_BROKEN) {
		c->stats.tx_dropped += len;
		return;
	}
	k = KH_MIN(len, sizeof(c->tx_buf) - c->tx_len);
	memcpy(c->tx_buf + c->tx_len, p, k);
	c->tx_len += k;
	c->stats.tx_dropped += len - k;
}

/* The transmitq: every buffer goes out (or to the buffer) and back at once. */
static void kh_con_transmit(struct kvmhost_virtio_console *c)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(c->dev, TXQ);
	const struct kvmhost_virtq_chain *ch;
	int done = 0, stop = 0;

	pthread_mutex_lock(&c->io_lock);
	while (!stop) {
		/* No kicks while draining; re-check after enabling them. */
		if (kvmhost_virtq_set_notify(q, 0) < 0)
			break;
		while (kvmhost_virtq_pop(q, &ch) == 1) {
			if (ch->writable_count) {
				kvmhost_virtq_set_broken(q, "transmit buffer with device-writable parts");
				(void)kvmhost_virtq_push(q, ch, 0); /* released: the queue is broken */
				stop = 1;
				break;
			}
			for (uint32_t i = 0; i < ch->readable_count; i++)
				kh_con_output(c, ch->readable[i].iov_base, ch->readable[i].iov_len);
			if (kvmhost_virtq_push(q, ch, 0) == 0)
				done++;
		}
		if (stop || kvmhost_virtq_set_notify(q, 1) != 1)
			break;
	}
	pthread_mutex_unlock(&c->io_lock);
	if (done)
		(void)kvmhost_virtio_device_notify_used(c->dev, TXQ);
}

/* ---- input ---- */

/* Whether the driver runs the device (DRIVER_OK, not FAILED, no reset pending). */
static int kh_con_live(struct kvmhost_virtio_console *c)
{
	int st = kvmhost_virtio_device_get_status(c->dev);

	return (st & KVMHOST_VIRTIO_STATUS_DRIVER_OK) &&
	       !(st & (KVMHOST_VIRTIO_STATUS_FAILED | KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}

/* With rx_lock held: the next usable receive buffer, 1 and *out; 0 when none
 * (input now waits); a malformed one breaks the queue (0). */
static int kh_con_rx_pop(struct kvmhost_virtio_console *c, struct kvmhost_virtq *q,
			 const struct kvmhost_virtq_chain **out)
{
	const struct kvmhost_virtq_chain *ch;
	int r = kh_con_live(c) ? kvmhost_virtq_pop(q, &ch) : 0;

	if (r != 1) {
		c->rx_waiting = 1;
		return 0;
	}
	if (ch->readable_count || ch->writable_len == 0) {
		kvmhost_virtq_set_broken(q, ch->readable_count ? "receive buffer with device-readable parts"
							       : "receive buffer without room");
		(void)kvmhost_virtq_push(q, ch, 0);
		c->rx_waiting = 1;
		return 0;
	}
	*out = ch;
	return 1;
}

static void kh_con_rx_kick(struct kvmhost_virtio_console *c)
{
	int was;

	pthread_mutex_lock(&c->rx_lock);
	was = c->rx_waiting;
	c->rx_waiting = 0;
	pthread_mutex_unlock(&c->rx_lock);
	if (was && c->rx_ready)
		c->rx_ready(c->rx_ready_opaque);
}

static void kh_con_count_rx(struct kvmhost_virtio_console *c, size_t n)
{
	pthread_mutex_lock(&c->io_lock);
	c->stats.rx_bytes += n;
	pthread_mutex_unlock(&c->io_lock);
}

KVMHOST_API int kvmhost_virtio_console_receive(struct kvmhost_virtio_console *con, const void *bytes, size_t len)
{
	struct kvmhost_virtq *q;
	const struct kvmhost_virtq_chain *ch;
	const uint8_t *p = bytes;
	size_t done = 0;

	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	if (!bytes && len)
		return KH_FAIL(EINVAL, "%s: bytes is NULL", con->name);
	if (len > INT32_MAX)
		len = INT32_MAX;
	q = kvmhost_virtio_device_queue(con->dev, RXQ);
	pthread_mutex_lock(&con->rx_lock);
	while (done < len && kh_con_rx_pop(con, q, &ch) == 1) {
		size_t n = (size_t)KH_MIN((uint64_t)(len - done), ch->writable_len);

		if (kvmhost_virtq_chain_write(ch, 0, p + done, n) < 0 || kvmhost_virtq_push(q, ch, (uint32_t)n) < 0)
			break;
		done += n;
	}
	pthread_mutex_unlock(&con->rx_lock);
	if (done) {
		kh_con_count_rx(con, done);
		(void)kvmhost_virtio_device_notify_used(con->dev, RXQ);
	}
	return (int)done;
}

KVMHOST_API int kvmhost_virtio_console_rx_room(struct kvmhost_virtio_console *con)
{
	const struct kvmhost_virtq_chain *ch;
	struct kvmhost_virtq *q;
	int room = 0;

	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	q = kvmhost_virtio_device_queue(con->dev, RXQ);
	pthread_mutex_lock(&con->rx_lock);
	if (kh_con_rx_pop(con, q, &ch) == 1) {
		room = (int)KH_MIN(ch->writable_len, (uint64_t)INT32_MAX);
		(void)kvmhost_virtq_unpop(q, ch);
	}
	pthread_mutex_unlock(&con->rx_lock);
	return room;
}

KVMHOST_API int kvmhost_virtio_console_input_fd(struct kvmhost_virtio_console *con)
{
	int fd = -1;

	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	if (con->backend == KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO)
		return con->in_fd;
	if (con->backend != KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET)
		return -1;
	pthread_mutex_lock(&con->io_lock);
	fd = con->conn_fd >= 0 ? con->conn_fd : con->listen_fd;
	pthread_mutex_unlock(&con->io_lock);
	return fd;
}

/* With rx_lock and io_lock held: close an accepted client. */
static void kh_con_hang_up(struct kvmhost_virtio_console *c)
{
	if (c->conn_owned && c->conn_fd >= 0)
		close(c->conn_fd);
	c->conn_fd = -1;
	c->conn_owned = 0;
	c->conn_dead = 0;
}

/*
 * With rx_lock held: socket housekeeping before a read. Returns 1 when the
 * pump is done for this call (a client was accepted or closed, or none came),
 * 0 to go on and read *fd, or a negative errno.
 */
static int kh_con_socket_prepare(struct kvmhost_virtio_console *c, int *fd)
{
	int r = 0;

	pthread_mutex_lock(&c->io_lock);
	if (c->conn_dead) {
		kh_con_hang_up(c);
		r = 1;
	} else if (c->conn_fd >= 0) {
		*fd = c->conn_fd;
	} else if (c->listen_fd >= 0) {
		int nfd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		r = 1;
		if (nfd >= 0) {
			c->conn_fd = nfd;
			c->conn_owned = 1;
			c->stats.connections++;
			if (kh_log_enabled(KVMHOST_LOG_INFO))
				kh_log(KVMHOST_LOG_INFO, "%s: client connected", c->name);
			kh_con_flush_locked(c); /* what waited for a client */
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED && errno != EINTR) {
			r = KH_FAIL_ERRNO("%s: accept on socket %d failed", c->name, c->listen_fd);
		}
	} else {
		r = KH_FAIL(EPIPE, "%s: the socket is closed", c->name);
	}
	pthread_mutex_unlock(&c->io_lock);
	return r;
}

KVMHOST_API int kvmhost_virtio_console_pump(struct kvmhost_virtio_console *con)
{
	struct kvmhost_virtq *q;
	const struct kvmhost_virtq_chain *ch;
	size_t moved = 0;
	int fd = -1, r = 0;

	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	q = kvmhost_virtio_device_queue(con->dev, RXQ);
	pthread_mutex_lock(&con->rx_lock);
	if (con->backend == KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET) {
		r = kh_con_socket_prepare(con, &fd);
		if (r != 0)
			goto out;
	} else if (con->backend == KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO && con->in_fd >= 0) {
		fd = con->in_fd;
	} else {
		r = KH_FAIL(ENODEV, "%s: the backend has no input", con->name);
		goto out;
	}
	for (int i = 0; i < KH_CON_PUMP_CHAINS; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (kh_con_rx_pop(con, q, &ch) != 1)
			break;
		/* poll() first: a blocking fd must not block us. */
		n = KH_RETRY_EINTR(poll(&pfd, 1, 0));
		if (n <= 0 || (pfd.revents & POLLNVAL)) {
			(void)kvmhost_virtq_unpop(q, ch);
			if (n < 0 || (pfd.revents & POLLNVAL)) {
				if (n >= 0)
					errno = EBADF;
				r = KH_FAIL_ERRNO("%s: poll of input fd %d failed", con->name, fd);
			}
			break;
		}
		n = KH_RETRY_EINTR(readv(fd, ch->writable, (int)KH_MIN(ch->writable_count, (uint32_t)IOV_MAX)));
		if (n > 0) {
			if (kvmhost_virtq_push(q, ch, (uint32_t)n) < 0)
				break;
			moved += (size_t)n;
			continue;
		}
		(void)kvmhost_virtq_unpop(q, ch);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			r = KH_FAIL_ERRNO("%s: read of input fd %d failed", con->name, fd);
			break;
		}
		/* End of file. */
		if (con->backend == KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET) {
			pthread_mutex_lock(&con->io_lock);
			if (con->conn_owned) {
				if (kh_log_enabled(KVMHOST_LOG_INFO))
					kh_log(KVMHOST_LOG_INFO, "%s: client hung up", con->name);
				kh_con_hang_up(con);
				pthread_mutex_unlock(&con->io_lock);
				break;
			}
			pthread_mutex_unlock(&con->io_lock);
		}
		if (!moved)
			r = KH_FAIL(EPIPE, "%s: end of file on input fd %d", con->name, fd);
		break;
	}
out:
	pthread_mutex_unlock(&con->rx_lock);
	if (moved) {
		kh_con_count_rx(con, moved);
		(void)kvmhost_virtio_device_notify_used(con->dev, RXQ);
	}
	if (r < 0)
		return r;
	return (int)KH_MIN(moved, (size_t)INT32_MAX);
}

KVMHOST_API int kvmhost_virtio_console_flush(struct kvmhost_virtio_console *con)
{
	int left;

	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	pthread_mutex_lock(&con->io_lock);
	kh_con_flush_locked(con);
	left = (int)con->tx_len;
	pthread_mutex_unlock(&con->io_lock);
	return left;
}

/* ---- device ops ---- */

static uint64_t kh_con_get_features(void *opaque)
{
	struct kvmhost_virtio_console *c = opaque;
	uint64_t f = KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_EMERG_WRITE) |
		     KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) |
		     KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |
		     KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);

	if (c->has_size)
		f |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_CONSOLE_F_SIZE);
	return f;
}

static int kh_con_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct kvmhost_virtio_console *c = opaque;
	uint8_t cfg[KVMHOST_VIRTIO_CONSOLE_CONFIG_SIZE];
	uint32_t size = atomic_load(&c->size);

	memset(cfg, 0, sizeof(cfg));
	if (c->has_size) {
		cfg[0] = (uint8_t)size;
		cfg[1] = (uint8_t)(size >> 8);
		cfg[2] = (uint8_t)(size >> 16);
		cfg[3] = (uint8_t)(size >> 24);
	}
	cfg[4] = 1; /* max_nr_ports */
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int kh_con_config_write(void *opaque, uint32_t offset, const void *buf, uint32_t len)
{
	struct kvmhost_virtio_console *c = opaque;

	/* Only emerg_wr (offset 8) is writable; its low byte is output. */
	if (offset < 8)
		return -EROFS;
	if (offset == 8) {
		pthread_mutex_lock(&c->io_lock);
		kh_con_output(c, buf, 1);
		pthread_mutex_unlock(&c->io_lock);
	}
	(void)len;
	return 0;
}

static void kh_con_queue_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	(void)dev;
	if (queue == TXQ)
		kh_con_transmit(opaque);
	else if (queue == RXQ)
		kh_con_rx_kick(opaque);
}

static const struct kvmhost_virtio_device_ops kh_con_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = kh_con_get_features,
    .config_read = kh_con_config_read,
    .config_write = kh_con_config_write,
    .queue_notify = kh_con_queue_notify,
};

/* ---- objects ---- */

static int kh_con_check_fd(int fd, const char *what, const char *func)
{
	if (fcntl(fd, F_GETFL) < 0)
		return kh_fail(EINVAL, func, "%s %d is not an open fd", what, fd);
	return 0;
}

static enum kh_con_out_mode kh_con_out_mode(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fstat(fd, &st) == 0) {
		if (S_ISSOCK(st.st_mode))
			return KH_CON_OUT_SOCK;
		if (S_ISREG(st.st_mode))
			return KH_CON_OUT_REGULAR;
	}
	return (fl >= 0 && (fl & O_NONBLOCK)) ? KH_CON_OUT_NONBLOCK : KH_CON_OUT_POLL;
}

/* Check and take over the backend's fds (nothing is owned yet on failure). */
static int kh_con_backend(struct kvmhost_virtio_console *c, const struct kvmhost_virtio_console_options *o,
			  const char *func)
{
	int err, type = 0, listening = 0;
	socklen_t sl = sizeof(int);

	switch (o->backend) {
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_NONE:
		return 0;
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO:
		if (o->in_fd < -1 || o->out_fd < -1)
			return kh_fail(EINVAL, func, "in_fd %d or out_fd %d is invalid (-1 for none)", o->in_fd,
				       o->out_fd);
		if (o->in_fd >= 0 && (err = kh_con_check_fd(o->in_fd, "in_fd", func)) < 0)
			return err;
		if (o->out_fd >= 0 && (err = kh_con_check_fd(o->out_fd, "out_fd", func)) < 0)
			return err;
		c->in_fd = o->in_fd;
		c->out_fd = o->out_fd;
		break;
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE:
		if (o->path) {
			int fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);

			if (fd < 0)
				return kh_fail(errno ? errno : EIO, func, "cannot open %s", o->path);
			c->out_fd = fd;
			c->own_out = 1;
		} else {
			if (o->out_fd < 0)
				return kh_fail(EINVAL, func, "the FILE backend needs out_fd or path");
			if ((err = kh_con_check_fd(o->out_fd, "out_fd", func)) < 0)
				return err;
			c->out_fd = o->out_fd;
		}
		break;
	case KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET:
		if (o->sock_fd < 0)
			return kh_fail(EINVAL, func, "sock_fd %d is invalid", o->sock_fd);
		if (getsockopt(o->sock_fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM)
			return kh_fail(EINVAL, func, "sock_fd %d is not a stream socket", o->sock_fd);
		sl = sizeof(int);
		if (getsockopt(o->sock_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0)
			return kh_fail(errno ? errno : EIO, func, "sock_fd %d: SO_ACCEPTCONN", o->sock_fd);
		if (listening)
			c->listen_fd = o->sock_fd;
		else
			c->conn_fd = o->sock_fd;
		return 0;
	default:
		return kh_fail(EINVAL, func, "unknown backend %d", (int)o->backend);
	}
	if (c->out_fd >= 0)
		c->out_mode = kh_con_out_mode(c->out_fd);
	return 0;
}

KVMHOST_API int kvmhost_virtio_console_create(struct kvmhost_memory *mem,
					      const struct kvmhost_virtio_console_options *opts,
					      struct kvmhost_virtio_console **out)
{
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_virtio_console_options o;
	struct kvmhost_virtio_console *c;
	int err;

	if (out)
		*out = NULL;
	if (!mem || !out)
		return KH_FAIL(EINVAL, "mem or out is NULL");
	memset(&o, 0, sizeof(o));
	if (opts) {
		err = KH_COPY_OPTIONS(&o, opts);
		if (err < 0)
			return err;
	}
	if (!o.cols != !o.rows)
		return KH_FAIL(EINVAL, "cols %u and rows %u: give both or neither", o.cols, o.rows);
	if (o.queue_size > KH_CON_QUEUE_SIZE_MAX)
		return KH_FAIL(EINVAL, "queue_size %u is above %u", o.queue_size, KH_CON_QUEUE_SIZE_MAX);
	c = calloc(1, sizeof(*c));
	if (!c)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-console");
	c->in_fd = c->out_fd = c->listen_fd = c->conn_fd = -1;
	c->backend = o.backend;
	snprintf(c->name, sizeof(c->name), "%s", o.name ? o.name : "virtio-console");
	err = kh_con_backend(c, &o, __func__);
	if (err < 0) {
		free(c);
		return err;
	}
	c->has_size = o.cols != 0;
	atomic_store(&c->size, (uint32_t)o.cols | (uint32_t)o.rows << 16);
	c->rx_ready = o.rx_ready;
	c->rx_ready_opaque = o.rx_ready_opaque;
	c->stats.size = sizeof(c->stats);
	pthread_mutex_init(&c->rx_lock, NULL);
	pthread_mutex_init(&c->io_lock, NULL);
	dopts.device_id = KVMHOST_VIRTIO_ID_CONSOLE;
	dopts.num_queues = 2;
	dopts.queue_max_size = o.queue_size ? o.queue_size : KH_CON_QUEUE_SIZE;
	dopts.config_size = KVMHOST_VIRTIO_CONSOLE_CONFIG_SIZE;
	dopts.ops = &kh_con_ops;
	dopts.opaque = c;
	dopts.name = c->name;
	err = kvmhost_virtio_device_create(mem, &dopts, &c->dev);
	if (err < 0) {
		c->dev = NULL;
		kvmhost_virtio_console_destroy(c);
		return err;
	}
	*out = c;
	return 0;
}

KVMHOST_API void kvmhost_virtio_console_destroy(struct kvmhost_virtio_console *con)
{
	if (!con)
		return;
	kvmhost_virtio_device_destroy(con->dev);
	if (con->own_out && con->out_fd >= 0)
		close(con->out_fd);
	if (con->conn_owned && con->conn_fd >= 0)
		close(con->conn_fd);
	pthread_mutex_destroy(&con->rx_lock);
	pthread_mutex_destroy(&con->io_lock);
	free(con);
}

KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_console_device(struct kvmhost_virtio_console *con)
{
	return con ? con->dev : NULL;
}

KVMHOST_API int kvmhost_virtio_console_set_size(struct kvmhost_virtio_console *con, uint16_t cols, uint16_t rows)
{
	if (!con)
		return KH_FAIL(EINVAL, "con is NULL");
	if (!con->has_size)
		return KH_FAIL(EOPNOTSUPP, "%s: created without a size (VIRTIO_CONSOLE_F_SIZE not offered)", con->name);
	if (!cols || !rows)
		return KH_FAIL(EINVAL, "%s: size %ux%u has a zero", con->name, cols, rows);
	atomic_store(&con->size, (uint32_t)cols | (uint32_t)rows << 16);
	return kvmhost_virtio_device_config_changed(con->dev);
}

KVMHOST_API int kvmhost_virtio_console_get_stats(struct kvmhost_virtio_console *con,
						 struct kvmhost_virtio_console_stats *stats)
{
	struct kvmhost_virtio_console_stats s;
	size_t size;

	if (!con || !stats)
		return KH_FAIL(EINVAL, "con or stats is NULL");
	size = stats->size;
	if (size < sizeof(size_t) || size > 65536)
		return KH_FAIL(EINVAL, "%s: stats size %zu is invalid", con->name, size);
	pthread_mutex_lock(&con->io_lock);
	s = con->stats;
	s.tx_pending = con->tx_len;
	pthread_mutex_unlock(&con->io_lock);
	memcpy(stats, &s, KH_MIN(size, sizeof(s)));
	if (size > sizeof(s))
		memset((char *)stats + sizeof(s), 0, size - sizeof(s));
	stats->size = size;
	return 0;
}

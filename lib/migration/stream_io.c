/*
 * Moving a migration stream's bytes: full reads and writes over any fd (a
 * file, a pipe, a socket) that loop over short transfers and EINTR, name
 * what was being moved and where when they fail, and turn an early end of
 * file into -ENODATA; a write to a pipe or socket whose reader is gone gives
 * -EPIPE without the process dying of SIGPIPE. The same calls read from a
 * buffer (unit tests, the fuzz target) and write into a growable one.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../core/internal.h"
#include "stream.h"

void kh_buf_put(struct kh_buf *b, const void *data, size_t len)
{
	if (b->err || !len)
		return;
	if (b->cap - b->len < len) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				b->err = ENOMEM;
				return;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->err = ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void kh_buf_le(struct kh_buf *b, uint64_t v, unsigned n)
{
	uint8_t tmp[8];

	for (unsigned i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	kh_buf_put(b, tmp, n);
}

void kh_buf_free(struct kh_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

uint64_t kh_mig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Live endpoints (io->ctl): wait for @events on the fd, or the cancel. 1: ready (revents in *got); <0: the
 * error, the message naming @what and the offset.
 */
static int live_wait(struct kh_mig_io *io, short events, int timeout_ms, short *got, const char *what, size_t done)
{
	struct pollfd p[2] = {{.fd = io->fd, .events = events}, {.fd = io->ctl->wake_fd, .events = POLLIN}};
	int r;

	do
		r = poll(p, 2, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return KH_FAIL_ERRNO("%s: poll at stream offset %llu failed", what,
				     (unsigned long long)(io->bytes + done));
	if (p[1].revents)
		return KH_FAIL(ECANCELED, "%s: cancelled at stream offset %llu", what,
			       (unsigned long long)(io->bytes + done));
	if (r == 0)
		return KH_FAIL(ETIMEDOUT, "%s: the peer made no progress for %d ms (stream offset %llu)", what,
			       timeout_ms, (unsigned long long)(io->bytes + done));
	*got = p[0].revents;
	return 1;
}

/* A read of the stream that returned @r <= 0 (errno set for < 0) after @done of @len bytes: its error, the
 * message naming @what, the offset and the reader (@func). */
static int read_failed(const struct kh_mig_io *io, ssize_t r, const char *func, const char *what, size_t done,
		       size_t len)
{
	if (r < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: read at stream offset %llu failed", what,
			       (unsigned long long)(io->bytes + done));
	return kh_fail(ENODATA, func, "%s: the stream ends after %llu bytes (%zu of %zu bytes there)", what,
		       (unsigned long long)(io->bytes + done), done, len);
}

static int live_read(struct kh_mig_io *io, uint8_t *p, size_t len, const char *what)
{
	struct kh_mig_ctl *ctl = io->ctl;
	size_t done = 0;

	if (ctl->ra_pos < ctl->ra_len) {
		done = KH_MIN(len, ctl->ra_len - ctl->ra_pos);
		memcpy(p, ctl->ra + ctl->ra_pos, done);
		ctl->ra_pos += done;
	}
	if (ctl->read_ahead && !ctl->ra && done < len && !(ctl->ra = malloc(KH_MIG_READ_AHEAD)))
		ctl->read_ahead = 0; /* no memory for it: exact reads */
	while (done < len) {
		/* What is asked, and with read-ahead the stream's next bytes behind it into the read-ahead buffer.
		 * The read first: a pass's bytes are mostly there already, and a poll before each read was a second
		 * system call per read (docs/benchmarks.md "Live migration"). */
		struct iovec iov[2] = {{p + done, len - done}, {ctl->ra, KH_MIG_READ_AHEAD}};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = ctl->read_ahead ? 2 : 1};
		short got;
		ssize_t r = recvmsg(io->fd, &mh, MSG_DONTWAIT);
		int w;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			if ((w = live_wait(io, POLLIN, ctl->timeout_ms, &got, what, done)) < 0)
				return w;
			continue;
		}
		if (r <= 0)
			return read_failed(io, r, __func__, what, done, len);
		if ((size_t)r > len - done) { /* past what is asked: the rest is read ahead */
			ctl->ra_pos = 0;
			ctl->ra_len = (size_t)r - (len - done);
			done = len;
		} else {
			done += (size_t)r;
		}
	}
	io->bytes += len;
	return 0;
}

#define LIVE_CHUNK (64u << 10) /* the bandwidth limit's granule */

static int live_write(struct kh_mig_io *io, const uint8_t *p, size_t len, const char *what)
{
	struct kh_mig_ctl *ctl = io->ctl;
	size_t done = 0;

	while (done < len) {
		/* Without a limit, all of it at once (the kernel takes what the socket buffer holds). */
		size_t n = ctl->max_bandwidth ? KH_MIN(len - done, (size_t)LIVE_CHUNK) : len - done;
		short got = 0;
		ssize_t r;
		int w;

		if (ctl->max_bandwidth) {
			uint64_t due = ctl->rl_start_ns + ctl->rl_bytes * 1000000000ull / ctl->max_bandwidth,
				 now = kh_mig_now_ns();

			if (due > now) { /* ahead of the limit: sleep (a cancel wakes it) */
				struct pollfd c = {.fd = ctl->wake_fd, .events = POLLIN};

				if (poll(&c, 1, (int)((due - now + 999999) / 1000000)) > 0)
					return KH_FAIL(ECANCELED, "%s: cancelled at stream offset %llu", what,
						       (unsigned long long)(io->bytes + done));
			}
		}
		/* The write first, the poll only when the socket is full: a destination that failed stops reading,
		 * so its FAILED message is seen within a socket buffer of bytes (and a closed one is -EPIPE). */
		if (!ctl->write_blocked) {
			r = send(io->fd, p + done, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN) {
				ctl->write_blocked = 1;
				continue;
			}
			if (r < 0 && ctl->watch_peer && (errno == EPIPE || errno == ECONNRESET))
				return KH_FAIL(ECONNRESET, "%s: the peer closed at stream offset %llu (it failed)",
					       what, (unsigned long long)(io->bytes + done));
			if (r < 0)
				return KH_FAIL_ERRNO("%s: write at stream offset %llu failed", what,
						     (unsigned long long)(io->bytes + done));
			done += (size_t)r;
			ctl->rl_bytes += (uint64_t)r;
			continue;
		}
		w = live_wait(io, (short)(POLLOUT | (ctl->watch_peer ? POLLIN : 0)), ctl->timeout_ms, &got, what, done);
		if (w < 0)
			return w;
		if (ctl->watch_peer && (got & (POLLIN | POLLHUP | POLLERR)))
			return KH_FAIL(ECONNRESET, "%s: the peer %s at stream offset %llu", what,
				       got & POLLIN ? "spoke or closed (it failed)" : "hung up",
				       (unsigned long long)(io->bytes + done));
		ctl->write_blocked = 0;
		r = send(io->fd, p + done, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return KH_FAIL_ERRNO("%s: write at stream offset %llu failed", what,
					     (unsigned long long)(io->bytes + done));
		done += (size_t)r;
		ctl->rl_bytes += (uint64_t)r;
	}
	io->bytes += len;
	return 0;
}

int kh_mig_read_full(struct kh_mig_io *io, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;
	size_t done = 0;

	if (io->ctl)
		return live_read(io, buf, len, what);

	if (io->fd < 0) {
		if (io->in_len - io->in_pos < len)
			return KH_FAIL(ENODATA, "%s: the stream ends after %llu bytes (%zu of %zu bytes there)", what,
				       (unsigned long long)io->in_len, io->in_len - io->in_pos, len);
		memcpy(buf, io->in + io->in_pos, len);
		io->in_pos += len;
		io->bytes += len;
		return 0;
	}
	while (done < len) {
		ssize_t r = read(io->fd, p + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return read_failed(io, r, __func__, what, done, len);
		done += (size_t)r;
	}
	io->bytes += len;
	return 0;
}

/*
 * SIGPIPE: a socket write uses MSG_NOSIGNAL. Anything else (a pipe) is
 * written with SIGPIPE blocked in this thread; a SIGPIPE our write raised is
 * then pending for the thread and is taken away before the mask is restored,
 * unless one was pending already (that one is not ours to eat).
 */
static ssize_t write_some(int fd, const void *buf, size_t len, int *is_socket)
{
	sigset_t pipe_set, old, pending;
	int was_pending;
	ssize_t r;

	if (*is_socket) {
		r = send(fd, buf, len, MSG_NOSIGNAL);
		if (r >= 0 || errno != ENOTSOCK)
			return r;
		*is_socket = 0;
	}
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	r = write(fd, buf, len);
	if (r < 0 && errno == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		int saved = errno;

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
		errno = saved;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int kh_mig_write_full(struct kh_mig_io *io, const void *buf, size_t len, const char *what)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int is_socket = 1;

	if (io->ctl)
		return live_write(io, buf, len, what);
	while (done < len) {
		ssize_t r = write_some(io->fd, p + done, len - done, &is_socket);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return KH_FAIL_ERRNO("%s: write at stream offset %llu failed", what,
					     (unsigned long long)(io->bytes + done));
		if (r == 0)
			return KH_FAIL(EIO, "%s: write at stream offset %llu wrote nothing", what,
				       (unsigned long long)(io->bytes + done));
		done += (size_t)r;
	}
	io->bytes += len;
	return 0;
}

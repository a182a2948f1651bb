/*
 * Moving a migration stream's bytes: full reads and writes over any fd (a
 * file, a pipe, a socket) that loop over short transfers and EINTR, name
 * what was being moved and where when they fail, and turn an early end of
 * file into -ENODATA; a write to a pipe or socket whose reader is gone gives
 * -EPIPE without the process dying of SIGPIPE. The same calls read from a
 * buffer (unit tests, the fuzz target) and write into a growable one.
 */
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

int kh_mig_read_full(struct kh_mig_io *io, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;
	size_t done = 0;

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
		if (r < 0)
			return KH_FAIL_ERRNO("%s: read at stream offset %llu failed", what,
					     (unsigned long long)(io->bytes + done));
		if (r == 0)
			return KH_FAIL(ENODATA, "%s: the stream ends after %llu bytes (%zu of %zu bytes there)", what,
				       (unsigned long long)(io->bytes + done), done, len);
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

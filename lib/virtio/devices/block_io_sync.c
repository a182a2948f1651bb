/*
 * virtio-blk: a request's I/O done synchronously in the calling thread
 * (block_internal.h). The thread pool runs every request through here; the
 * io_uring backend only the rare leftovers (a short transfer to finish, a
 * chain with more than IOV_MAX buffers, a write-zeroes the file system could
 * not do with fallocate).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <string.h>
#include <unistd.h>

#include "block_internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define KH_BLK_ZERO_CHUNK (64u * 1024u)
static const uint8_t kh_blk_zeros[KH_BLK_ZERO_CHUNK];

void kh_blk_io_error(struct kh_blk_req *req, const char *what, int err)
{
	kh_log(KVMHOST_LOG_WARN, "virtio-blk %s: queue %u: %s failed: %s", req->blk->name, req->queue, what,
	       kvmhost_strerror(-err));
}

/* Drop the first @n bytes of an iovec array in place; returns the new start. */
static struct iovec *kh_blk_iov_advance(struct iovec *iov, uint32_t *cnt, uint64_t n)
{
	while (*cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt && n) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

static void kh_blk_iov_zero(struct iovec *iov, uint32_t cnt)
{
	for (uint32_t i = 0; i < cnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/* Read or write the rest of the request, @done bytes already transferred. */
static int kh_blk_rw(struct kh_blk_req *req, uint64_t done)
{
	int write = req->op == KH_BLK_OP_WRITE;
	uint32_t cnt = req->iovcnt;
	struct iovec *iov = kh_blk_iov_advance(req->iov, &cnt, done);

	while (done < req->len) {
		int n = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
		off_t off = (off_t)(req->offset + done);
		ssize_t r = write ? KH_RETRY_EINTR(pwritev2(req->blk->fd, iov, n, off, req->dsync ? RWF_DSYNC : 0))
				  : KH_RETRY_EINTR(preadv(req->blk->fd, iov, n, off));

		if (r < 0)
			return -errno;
		if (r == 0) {
			if (write)
				return -EIO;
			/* The file shrank under us: what is not there reads as zeros. */
			kh_blk_iov_zero(iov, cnt);
			return 0;
		}
		done += (uint64_t)r;
		iov = kh_blk_iov_advance(iov, &cnt, (uint64_t)r);
	}
	return 0;
}

static int kh_blk_write_zeros(int fd, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < KH_BLK_ZERO_CHUNK ? (size_t)len : KH_BLK_ZERO_CHUNK;
		ssize_t r = KH_RETRY_EINTR(pwrite(fd, kh_blk_zeros, n, (off_t)off));

		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static int kh_blk_fallocate(int fd, int mode, uint64_t off, uint64_t len)
{
	if (KH_RETRY_EINTR(fallocate(fd, mode, (off_t)off, (off_t)len)) < 0)
		return -errno;
	return 0;
}

/* fallocate said the file system cannot do this mode. */
static int kh_blk_unsupported(int err)
{
	return err == -EOPNOTSUPP || err == -ENOSYS || err == -EINVAL;
}

static int kh_blk_zero_range(int fd, const struct kh_blk_seg *s)
{
	int err = -EOPNOTSUPP;

	/* A punched hole reads as zeros and frees the space, which the
	 * driver allowed with the unmap flag. */
	if (s->unmap)
		err = kh_blk_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, s->offset, s->len);
	if (err < 0 && kh_blk_unsupported(err))
		err = kh_blk_fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, s->offset, s->len);
	if (err < 0 && kh_blk_unsupported(err))
		err = kh_blk_write_zeros(fd, s->offset, s->len);
	return err;
}

void kh_blk_exec(struct kh_blk_req *req, uint64_t done)
{
	int fd = req->blk->fd, err = 0;
	const char *what = "I/O";

	switch (req->op) {
	case KH_BLK_OP_READ:
	case KH_BLK_OP_WRITE:
		what = req->op == KH_BLK_OP_READ ? "read" : "write";
		err = kh_blk_rw(req, done);
		break;
	case KH_BLK_OP_FLUSH:
		what = "flush (fdatasync)";
		if (KH_RETRY_EINTR(fdatasync(fd)) < 0)
			err = -errno;
		break;
	case KH_BLK_OP_DISCARD:
		what = "discard";
		for (uint32_t i = 0; i < req->nseg && err == 0; i++) {
			err = kh_blk_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, req->seg[i].offset,
					       req->seg[i].len);
			/* A discard is a hint: a file system without holes ignores it. */
			if (kh_blk_unsupported(err))
				err = 0;
		}
		break;
	case KH_BLK_OP_WRITE_ZEROES:
		what = "write zeroes";
		for (uint32_t i = 0; i < req->nseg && err == 0; i++)
			err = kh_blk_zero_range(fd, &req->seg[i]);
		if (err == 0 && req->dsync && KH_RETRY_EINTR(fdatasync(fd)) < 0)
			err = -errno;
		break;
	case KH_BLK_OP_NONE:
		break;
	}
	if (err < 0) {
		kh_blk_io_error(req, what, err);
		req->status = KVMHOST_VIRTIO_BLK_S_IOERR;
	} else {
		req->status = KVMHOST_VIRTIO_BLK_S_OK;
	}
}

/*
 * virtio-blk backend: io_uring (through liburing), built when
 * KVMHOST_HAVE_LIBURING is defined (CMake option KVMHOST_WITH_LIBURING);
 * otherwise its start() says -EOPNOTSUPP.
 *
 * Each ring has one thread that does everything on it: it claims the
 * flagged queues it serves (queue q belongs to ring q % rings), takes their
 * requests, queues one SQE per request (READV, WRITEV, FSYNC with DATASYNC)
 * or one FALLOCATE per discard / write-zeroes segment, submits and waits in
 * one io_uring_enter(), then completes what finished and interrupts the
 * driver once per queue per batch. Kicks reach it through an eventfd that
 * the ring itself keeps a READ pending on, so the thread sleeps in one
 * place. Submitting on the ring's own thread keeps even the page-cache
 * copies that io_uring does inline off the notifying (vCPU) thread.
 *
 * Reads of KH_URING_ASYNC_MIN bytes or more are flagged IOSQE_ASYNC, so
 * that io_uring's workers copy large reads from the page cache in parallel;
 * smaller requests complete inline, which is what makes io_uring cheap.
 *
 * Rare cases finish synchronously on the ring thread through kh_blk_exec():
 * a short read or write (the rest), a chain of more than IOV_MAX buffers, a
 * write-zeroes the file system cannot do with fallocate (the fallbacks), a
 * write-through write-zeroes (FLUSH not negotiated).
 */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block_internal.h"

#ifdef KVMHOST_HAVE_LIBURING

#include <linux/falloc.h>
#include <liburing.h>
#include <sys/eventfd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define KH_URING_ENTRIES 256u

/* Reads of at least this many bytes are submitted with IOSQE_ASYNC
 * (docs/virtio-block.md has the measurement behind it). Overridable at
 * build time for measurements. */
#ifndef KH_URING_ASYNC_MIN
#define KH_URING_ASYNC_MIN (64ull * 1024)
#endif

struct kh_uring {
	struct kvmhost_virtio_blk *blk;
	struct io_uring ring;
	int ring_ok;
	int efd;
	uint64_t efd_buf;
	int efd_armed;
	_Atomic int wake_pending;
	_Atomic int stop;
	pthread_t thread;
	int thread_ok;
	uint16_t index, nrings; /* serves the queues q with q % nrings == index */
	uint32_t inflight;	/* request SQEs not completed */
	uint32_t cap;		/* completions the CQ holds beside the eventfd read */
	uint32_t worst;		/* most SQEs one request needs */
	uint8_t *claimed;	/* per queue: this thread holds a claim */
	uint8_t *touched;	/* per queue: completed since the last interrupt */
	int warned;
};

struct kh_uring_set {
	uint16_t n;
	struct kh_uring *r;
};

static struct io_uring_sqe *kh_uring_sqe(struct kh_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ is full: hand it to the kernel, which empties it. */
		(void)io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void kh_uring_finish(struct kh_uring *u, struct kh_blk_req *req)
{
	u->touched[req->queue] = 1;
	kh_blk_finish(req, 0);
}

/* Do the request on this thread instead. */
static void kh_uring_sync(struct kh_uring *u, struct kh_blk_req *req, uint64_t done)
{
	kh_blk_exec(req, done);
	kh_uring_finish(u, req);
}

static void kh_uring_submit_req(struct kh_uring *u, struct kh_blk_req *req)
{
	int fd = req->blk->fd;
	struct io_uring_sqe *sqe;

	req->err = 0;
	req->pending = 0;
	switch (req->op) {
	case KH_BLK_OP_READ:
	case KH_BLK_OP_WRITE:
		if (req->iovcnt == 0 || req->iovcnt > IOV_MAX || !(sqe = kh_uring_sqe(u))) {
			kh_uring_sync(u, req, 0);
			return;
		}
		if (req->op == KH_BLK_OP_READ)
			io_uring_prep_readv(sqe, fd, req->iov, req->iovcnt, req->offset);
		else
			io_uring_prep_writev2(sqe, fd, req->iov, req->iovcnt, req->offset, req->dsync ? RWF_DSYNC : 0);
		io_uring_sqe_set_data(sqe, req);
		/* Large reads go to io_uring's worker threads, so that several
		 * page-cache copies run in parallel instead of one after
		 * another on this thread. Writes stay inline: buffered writes
		 * to one file serialise on its inode lock, and workers only
		 * burn CPU waiting for it (docs/virtio-block.md). */
		if (req->op == KH_BLK_OP_READ && req->len >= KH_URING_ASYNC_MIN)
			io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
		req->pending = 1;
		break;
	case KH_BLK_OP_FLUSH:
		if (!(sqe = kh_uring_sqe(u))) {
			kh_uring_sync(u, req, 0);
			return;
		}
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, req);
		req->pending = 1;
		break;
	case KH_BLK_OP_DISCARD:
	case KH_BLK_OP_WRITE_ZEROES:
		if (req->dsync && req->op == KH_BLK_OP_WRITE_ZEROES) {
			/* Write-through zeroing (no FLUSH negotiated): rare
			 * enough to do here, with its fdatasync. */
			kh_uring_sync(u, req, 0);
			return;
		}
		for (uint32_t i = 0; i < req->nseg; i++) {
			const struct kh_blk_seg *s = &req->seg[i];
			int mode = FALLOC_FL_KEEP_SIZE;

			if (req->op == KH_BLK_OP_DISCARD || s->unmap)
				mode |= FALLOC_FL_PUNCH_HOLE;
			else
				mode |= FALLOC_FL_ZERO_RANGE;
			if (!(sqe = kh_uring_sqe(u))) {
				/* Cannot happen (the SQ was just emptied);
				 * the rest then fails the request. */
				req->err = -EAGAIN;
				break;
			}
			io_uring_prep_fallocate(sqe, fd, mode, s->offset, s->len);
			io_uring_sqe_set_data(sqe, req);
			req->pending++;
		}
		if (req->pending == 0) {
			kh_uring_sync(u, req, 0);
			return;
		}
		break;
	case KH_BLK_OP_NONE:
		req->status = KVMHOST_VIRTIO_BLK_S_OK;
		kh_uring_finish(u, req);
		return;
	}
	u->inflight += req->pending;
}

static int kh_uring_unsupported(int res)
{
	return res == -EOPNOTSUPP || res == -ENOSYS || res == -EINVAL;
}

static void kh_uring_complete(struct kh_uring *u, struct io_uring_cqe *cqe)
{
	struct kh_blk_req *req = io_uring_cqe_get_data(cqe);
	int res = cqe->res;

	if (!req) {
		/* The eventfd read: a kick. Re-armed by the loop. */
		u->efd_armed = 0;
		atomic_store(&u->wake_pending, 0);
		if (res < 0 && res != -EINTR && res != -EAGAIN && !u->warned++)
			kh_log(KVMHOST_LOG_WARN, "virtio-blk %s: ring %u: eventfd read failed: %s", u->blk->name,
			       u->index, kvmhost_strerror(res));
		return;
	}
	u->inflight--;
	switch (req->op) {
	case KH_BLK_OP_READ:
	case KH_BLK_OP_WRITE:
		if (res == -EAGAIN || res == -EINTR || (res >= 0 && (uint64_t)res < req->len)) {
			/* Finish the transfer here (a short one, at EOF say). */
			kh_uring_sync(u, req, res > 0 ? (uint64_t)res : 0);
			return;
		}
		if (res < 0)
			req->err = res;
		break;
	case KH_BLK_OP_DISCARD:
		/* A hint: a file system without holes ignores it. */
		if (res < 0 && !kh_uring_unsupported(res) && !req->err)
			req->err = res;
		break;
	case KH_BLK_OP_WRITE_ZEROES:
		if (res < 0 && (!req->err || kh_uring_unsupported(res)))
			req->err = res;
		break;
	default:
		if (res < 0 && !req->err)
			req->err = res;
		break;
	}
	if (--req->pending)
		return;
	if (req->op == KH_BLK_OP_WRITE_ZEROES && req->err && kh_uring_unsupported(req->err)) {
		/* The fallbacks: ZERO_RANGE, then writing zeros. */
		kh_uring_sync(u, req, 0);
		return;
	}
	if (req->err) {
		kh_blk_io_error(req, "io_uring operation", req->err);
		req->status = KVMHOST_VIRTIO_BLK_S_IOERR;
	} else {
		req->status = KVMHOST_VIRTIO_BLK_S_OK;
	}
	kh_uring_finish(u, req);
}

/* Take requests from the flagged queues this ring serves while the CQ has
 * room for the worst case. */
static void kh_uring_fill(struct kh_uring *u)
{
	struct kvmhost_virtio_blk *blk = u->blk;

	for (uint32_t q = u->index; q < blk->num_queues; q += u->nrings) {
		for (;;) {
			struct kh_blk_req *req;

			if (u->inflight + u->worst > u->cap)
				return; /* a claim held stays ours until there is room */
			if (!u->claimed[q]) {
				if (!kh_blk_claim(blk, (uint16_t)q))
					break;
				u->claimed[q] = 1;
			}
			if (kh_blk_take(blk, (uint16_t)q, &req) != 1) {
				u->claimed[q] = 0;
				kh_blk_unclaim(blk);
				break;
			}
			kh_uring_submit_req(u, req);
		}
	}
}

static void kh_uring_notify_touched(struct kh_uring *u)
{
	for (uint32_t q = u->index; q < u->blk->num_queues; q += u->nrings) {
		if (u->touched[q]) {
			u->touched[q] = 0;
			kh_blk_notify(u->blk, (uint16_t)q);
		}
	}
}

static void *kh_uring_thread(void *opaque)
{
	struct kh_uring *u = opaque;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int stop = atomic_load(&u->stop), r;

		if (stop && u->inflight == 0)
			break;
		if (!u->efd_armed) {
			struct io_uring_sqe *sqe = kh_uring_sqe(u);

			if (sqe) {
				io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof(u->efd_buf), 0);
				io_uring_sqe_set_data(sqe, NULL);
				u->efd_armed = 1;
			}
		}
		if (!stop)
			kh_uring_fill(u);
		kh_uring_notify_touched(u); /* requests finished synchronously */
		r = io_uring_submit_and_wait(&u->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && !u->warned++)
			kh_log(KVMHOST_LOG_WARN, "virtio-blk %s: ring %u: io_uring_submit_and_wait: %s", u->blk->name,
			       u->index, kvmhost_strerror(r));
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			kh_uring_complete(u, cqe);
			seen++;
		}
		io_uring_cq_advance(&u->ring, seen);
		kh_uring_notify_touched(u);
	}
	return NULL;
}

static void kh_uring_kick(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	struct kh_uring_set *set = blk->backend_priv;
	struct kh_uring *u = &set->r[q % set->n];

	/* One eventfd write per wake-up: the thread clears wake_pending
	 * before it looks at the flags again. */
	if (!atomic_exchange(&u->wake_pending, 1)) {
		uint64_t one = 1;

		if (KH_RETRY_EINTR(write(u->efd, &one, sizeof(one))) < 0)
			atomic_store(&u->wake_pending, 0);
	}
}

static void kh_uring_stop(struct kvmhost_virtio_blk *blk)
{
	struct kh_uring_set *set = blk->backend_priv;

	if (!set)
		return;
	for (uint16_t i = 0; i < set->n; i++) {
		struct kh_uring *u = &set->r[i];

		if (u->thread_ok) {
			uint64_t one = 1;

			atomic_store(&u->stop, 1);
			(void)!write(u->efd, &one, sizeof(one));
			pthread_join(u->thread, NULL);
		}
		if (u->ring_ok)
			io_uring_queue_exit(&u->ring);
		if (u->efd >= 0)
			close(u->efd);
		free(u->claimed);
		free(u->touched);
	}
	free(set->r);
	free(set);
	blk->backend_priv = NULL;
}

/* Set up ring @u; 0 or a negative errno with the last error set. */
static int kh_uring_init_one(struct kvmhost_virtio_blk *blk, struct kh_uring *u)
{
	static const int ops[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
				  IORING_OP_READ};
	struct io_uring_params p;
	struct io_uring_probe *probe;
	int err;

	u->claimed = calloc(blk->num_queues, 1);
	u->touched = calloc(blk->num_queues, 1);
	if (!u->claimed || !u->touched)
		return KH_BLK_FAIL(ENOMEM, "cannot allocate a ring");
	u->efd = eventfd(0, EFD_CLOEXEC); /* blocking: io_uring polls it */
	if (u->efd < 0)
		return KH_BLK_FAIL_ERRNO("eventfd");
	memset(&p, 0, sizeof(p));
#ifdef IORING_SETUP_COOP_TASKRUN
	/* Completions are run when the thread enters the kernel anyway. */
	p.flags = IORING_SETUP_COOP_TASKRUN;
#endif
	err = io_uring_queue_init_params(KH_URING_ENTRIES, &u->ring, &p);
	if (err == -EINVAL && p.flags) {
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(KH_URING_ENTRIES, &u->ring, &p);
	}
	if (err < 0)
		return KH_BLK_FAIL(-err, "io_uring_queue_init");
	u->ring_ok = 1;
	probe = io_uring_get_probe_ring(&u->ring);
	if (!probe)
		return KH_BLK_FAIL(EOPNOTSUPP, "io_uring: the kernel cannot say which operations it has");
	for (size_t i = 0; i < KH_ARRAY_SIZE(ops); i++) {
		if (!io_uring_opcode_supported(probe, ops[i])) {
			io_uring_free_probe(probe);
			return KH_BLK_FAIL(EOPNOTSUPP, "io_uring: the kernel lacks operation %d", ops[i]);
		}
	}
	io_uring_free_probe(probe);
	/* One CQE slot stays for the eventfd read. */
	u->cap = p.cq_entries - 1;
	u->worst = KH_MIN(KH_URING_ENTRIES,
			  (uint32_t)(blk->max_discard_seg > blk->max_write_zeroes_seg ? blk->max_discard_seg
										      : blk->max_write_zeroes_seg));
	if (u->worst == 0)
		u->worst = 1;
	return 0;
}

static int kh_uring_start(struct kvmhost_virtio_blk *blk)
{
	uint32_t n = KH_MIN(blk->io_threads ? blk->io_threads : 4u, (uint32_t)blk->num_queues);
	struct kh_uring_set *set = calloc(1, sizeof(*set));
	sigset_t all, old;
	int err = 0;

	if (!set)
		return KH_BLK_FAIL(ENOMEM, "cannot allocate rings");
	set->r = calloc(n, sizeof(*set->r));
	if (!set->r) {
		free(set);
		return KH_BLK_FAIL(ENOMEM, "cannot allocate rings");
	}
	set->n = (uint16_t)n;
	blk->backend_priv = set;
	for (uint16_t i = 0; i < n; i++) {
		set->r[i].efd = -1;
		set->r[i].blk = blk;
		set->r[i].index = i;
		set->r[i].nrings = (uint16_t)n;
	}
	for (uint16_t i = 0; i < n && err == 0; i++)
		err = kh_uring_init_one(blk, &set->r[i]);
	if (err == 0) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (uint16_t i = 0; i < n && err == 0; i++) {
			int e = pthread_create(&set->r[i].thread, NULL, kh_uring_thread, &set->r[i]);

			if (e)
				err = KH_BLK_FAIL(e, "cannot start I/O thread %u of %u", i + 1, n);
			else
				set->r[i].thread_ok = 1;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (err < 0)
		kh_uring_stop(blk);
	return err;
}

#else /* !KVMHOST_HAVE_LIBURING */

static int kh_uring_start(struct kvmhost_virtio_blk *blk)
{
	(void)blk;
	return KH_BLK_FAIL(EOPNOTSUPP, "this libkvmhost was built without liburing (KVMHOST_WITH_LIBURING)");
}

static void kh_uring_kick(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	(void)blk;
	(void)q;
}

static void kh_uring_stop(struct kvmhost_virtio_blk *blk)
{
	(void)blk;
}

#endif

const struct kh_blk_backend_ops kh_blk_uring_backend = {
    .name = "io_uring",
    .start = kh_uring_start,
    .kick = kh_uring_kick,
    .stop = kh_uring_stop,
};

/*
 * virtio-blk backend: a pool of worker threads doing synchronous I/O
 * (preadv/pwritev/fdatasync/fallocate through kh_blk_exec()).
 *
 * A kick signals the pool's condition variable. A worker claims a flagged
 * queue, takes a small batch of requests, flags the queue again if it did
 * not empty it (so that another worker takes the next batch in parallel),
 * does the I/O, completes the batch and interrupts the driver once. The
 * pool is shared by all of the device's queues; io_threads workers (default
 * 4) are started with every signal blocked, so that process-directed
 * signals (the vCPU kick signal included) never land on them.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "block_internal.h"

/* A worker takes up to this many requests, or this many data bytes, from a
 * queue at a time: small requests share one wake-up and one interrupt, large
 * ones still spread over the workers. */
#ifndef KH_POOL_BATCH
#define KH_POOL_BATCH 8u
#endif
#define KH_POOL_BATCH_BYTES (64u * 1024u)
/* Workers when io_threads is 0 (docs/virtio-block.md). */
#ifndef KH_POOL_DEFAULT_THREADS
#define KH_POOL_DEFAULT_THREADS 4u
#endif

struct kh_blk_pool {
	struct kvmhost_virtio_blk *blk;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	uint32_t nthreads;
	pthread_t *threads;
};

/* Serve a claimed queue: take a small batch, let another worker carry on
 * with the queue if there may be more, do the batch, interrupt once. */
static void kh_blk_pool_serve(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	struct kh_blk_req *batch[KH_POOL_BATCH];
	uint64_t bytes = 0;
	unsigned n = 0;

	while (n < KH_POOL_BATCH && bytes < KH_POOL_BATCH_BYTES && kh_blk_take(blk, q, &batch[n]) == 1) {
		/* Flushes, discards and write-zeroes may take long: alone. */
		bytes += batch[n]->op == KH_BLK_OP_READ || batch[n]->op == KH_BLK_OP_WRITE ? batch[n]->len
											   : KH_POOL_BATCH_BYTES;
		n++;
	}
	if (n == 0)
		return;
	/* Stopped short of empty (take returned 1 each time): more may wait. */
	if (n == KH_POOL_BATCH || bytes >= KH_POOL_BATCH_BYTES)
		kh_blk_rekick(blk, q);
	for (unsigned i = 0; i < n; i++) {
		kh_blk_exec(batch[i], 0);
		kh_blk_finish(batch[i], 0);
	}
	kh_blk_notify(blk, q);
}

static void *kh_blk_pool_worker(void *opaque)
{
	struct kh_blk_pool *p = opaque;
	struct kvmhost_virtio_blk *blk = p->blk;
	uint16_t cursor = 0, q;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!kh_blk_claim_any(blk, &cursor, &q)) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		kh_blk_pool_serve(blk, q);
		kh_blk_unclaim(blk);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void kh_blk_pool_kick(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	struct kh_blk_pool *p = blk->backend_priv;

	(void)q;
	/* Taking the lock orders the flag (set before) with a worker that is
	 * about to wait after finding no flag. */
	pthread_mutex_lock(&p->lock);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void kh_blk_pool_stop(struct kvmhost_virtio_blk *blk)
{
	struct kh_blk_pool *p = blk->backend_priv;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (uint32_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
	blk->backend_priv = NULL;
}

static int kh_blk_pool_start(struct kvmhost_virtio_blk *blk)
{
	uint32_t n = blk->io_threads ? blk->io_threads : KH_POOL_DEFAULT_THREADS;
	struct kh_blk_pool *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	uint32_t started = 0;
	int err = 0;

	if (!p)
		return KH_BLK_FAIL(ENOMEM, "cannot allocate a thread pool");
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return KH_BLK_FAIL(ENOMEM, "cannot allocate a thread pool");
	}
	p->blk = blk;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	blk->backend_priv = p;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (uint32_t i = 0; i < n; i++) {
		err = pthread_create(&p->threads[i], NULL, kh_blk_pool_worker, p);
		if (err)
			break;
		p->nthreads = ++started;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		kh_blk_pool_stop(blk);
		return KH_BLK_FAIL(err, "cannot start I/O thread %u of %u", started + 1, n);
	}
	return 0;
}

const struct kh_blk_backend_ops kh_blk_threads_backend = {
    .name = "threads",
    .start = kh_blk_pool_start,
    .kick = kh_blk_pool_kick,
    .stop = kh_blk_pool_stop,
};

/*
 * Logging through the embedder's callback. The callback and its level are
 * read without a lock on hot paths; they are published as one atomic
 * pointer to an immutable record so a reader never sees a torn pair.
 */
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct kh_logger {
	kvmhost_log_fn fn;
	void *opaque;
	enum kvmhost_log_level max_level;
	struct kh_logger *older; /* keeps every record reachable */
};

/* Records are never freed: a reader may still hold the previous one, and the
 * embedder changes the callback a handful of times per process at most. They
 * stay chained from kh_logger_all so that leak checkers see them as owned. */
static _Atomic(struct kh_logger *) kh_logger;
static struct kh_logger *kh_logger_all;
static pthread_mutex_t kh_logger_lock = PTHREAD_MUTEX_INITIALIZER;

KVMHOST_API int kvmhost_set_log_callback(kvmhost_log_fn fn, void *opaque, enum kvmhost_log_level max_level)
{
	struct kh_logger *l;

	if ((int)max_level < KVMHOST_LOG_ERROR || max_level > KVMHOST_LOG_DEBUG)
		return KH_FAIL(EINVAL, "log level %d is not a kvmhost_log_level", (int)max_level);
	if (!fn) {
		atomic_store(&kh_logger, NULL);
		return 0;
	}
	l = malloc(sizeof(*l));
	if (!l)
		return KH_FAIL(ENOMEM, "cannot allocate the logger");
	l->fn = fn;
	l->opaque = opaque;
	l->max_level = max_level;
	pthread_mutex_lock(&kh_logger_lock);
	l->older = kh_logger_all;
	kh_logger_all = l;
	atomic_store(&kh_logger, l);
	pthread_mutex_unlock(&kh_logger_lock);
	return 0;
}

int kh_log_enabled(enum kvmhost_log_level level)
{
	struct kh_logger *l = atomic_load_explicit(&kh_logger, memory_order_acquire);
	return l && level <= l->max_level;
}

void kh_log(enum kvmhost_log_level level, const char *fmt, ...)
{
	struct kh_logger *l = atomic_load_explicit(&kh_logger, memory_order_acquire);
	char msg[1024];
	va_list ap;

	if (!l || level > l->max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->fn(level, msg, l->opaque);
}

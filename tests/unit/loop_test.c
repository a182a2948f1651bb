/*
 * Unit tests of the event loop (lib/events/loop.c): eventfd-driven
 * callbacks, removal from inside a batch (own fd and others), removal from
 * another thread while a callback runs, stop from another thread and from a
 * callback, and the error paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include "core/internal.h"

static void reset_error(void)
{
	kh_fail(EPERM, "reset", "marker");
}

static void assert_error_from(const char *func)
{
	const char *e = kvmhost_last_error();

	if (strncmp(e, func, strlen(func)) != 0 || e[strlen(func)] != ':')
		fail_msg("last error \"%s\" is not from %s", e, func);
}

#define EXPECT_FAIL(call, err, func)                                                                                   \
	do {                                                                                                           \
		reset_error();                                                                                         \
		assert_int_equal((call), -(err));                                                                      \
		assert_error_from(func);                                                                               \
	} while (0)

static int new_eventfd(void)
{
	int fd;

	assert_int_equal(kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &fd), 0);
	return fd;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Callback state shared by the simple tests. */
struct cb {
	struct kvmhost_loop *loop;
	int calls;
	int last_fd;
	uint32_t last_events;
	uint64_t consumed;
	int remove_fds[4]; /* fds to remove when called (-1: none) */
	int close_removed;
	int add_fd; /* fd to add when called (-1: none) */
	int stop;   /* call kvmhost_loop_stop() */
	int nested_result;
};

static void cb_init(struct cb *c, struct kvmhost_loop *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	for (size_t i = 0; i < KH_ARRAY_SIZE(c->remove_fds); i++)
		c->remove_fds[i] = -1;
	c->add_fd = -1;
}

static void on_ready(int fd, uint32_t events, void *opaque)
{
	struct cb *c = opaque;
	uint64_t v;

	c->calls++;
	c->last_fd = fd;
	c->last_events = events;
	if (kvmhost_eventfd_consume(fd, &v) == 0)
		c->consumed += v;
	for (size_t i = 0; i < KH_ARRAY_SIZE(c->remove_fds); i++) {
		if (c->remove_fds[i] < 0)
			continue;
		assert_int_equal(kvmhost_loop_remove(c->loop, c->remove_fds[i]), 0);
		if (c->close_removed)
			close(c->remove_fds[i]);
		c->remove_fds[i] = -1;
	}
	if (c->add_fd >= 0) {
		assert_int_equal(kvmhost_loop_add(c->loop, c->add_fd, KVMHOST_LOOP_IN, on_ready, c), 0);
		c->add_fd = -1;
	}
	if (c->stop)
		assert_int_equal(kvmhost_loop_stop(c->loop), 0);
}

static void test_create_destroy(void **state)
{
	struct kvmhost_loop *loop;

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	assert_true(kvmhost_loop_fd(loop) >= 0);
	/* Nothing ready: a zero timeout returns 0 callbacks. */
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 10), 0);
	kvmhost_loop_destroy(loop);
	kvmhost_loop_destroy(NULL);
}

static void test_eventfd_callbacks(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a, b, c;
	int fa = new_eventfd(), fb = new_eventfd(), fc = new_eventfd();
	struct pollfd p;

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	cb_init(&a, loop);
	cb_init(&b, loop);
	cb_init(&c, loop);
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), 0);
	assert_int_equal(kvmhost_loop_add(loop, fb, KVMHOST_LOOP_IN, on_ready, &b), 0);
	assert_int_equal(kvmhost_loop_add(loop, fc, KVMHOST_LOOP_IN, on_ready, &c), 0);

	assert_int_equal(kvmhost_eventfd_signal(fa, 3), 0);
	assert_int_equal(kvmhost_eventfd_signal(fc, 5), 0);
	/* The loop's own fd is readable when there is work: it nests in other loops. */
	p.fd = kvmhost_loop_fd(loop);
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 1000), 1);

	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 2);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.last_fd, fa);
	assert_int_equal(a.last_events, KVMHOST_LOOP_IN);
	assert_int_equal(a.consumed, 3);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.consumed, 5);
	/* Consumed: nothing more to do. */
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);
	assert_int_equal(poll(&p, 1, 0), 0);

	assert_int_equal(kvmhost_eventfd_signal(fb, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, -1), 1);
	assert_int_equal(b.calls, 1);

	/* Removed fds are not watched any more. */
	assert_int_equal(kvmhost_loop_remove(loop, fb), 0);
	assert_int_equal(kvmhost_eventfd_signal(fb, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);
	assert_int_equal(b.calls, 1);
	kvmhost_loop_destroy(loop);
	close(fa);
	close(fb);
	close(fc);
}

static void test_remove_inside_callback(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a, b;
	int fa = new_eventfd(), fb = new_eventfd();

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	/* Each callback removes both fds: whichever runs first, the other must not run. */
	cb_init(&a, loop);
	cb_init(&b, loop);
	a.remove_fds[0] = b.remove_fds[0] = fa;
	a.remove_fds[1] = b.remove_fds[1] = fb;
	a.close_removed = b.close_removed = 1;
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), 0);
	assert_int_equal(kvmhost_loop_add(loop, fb, KVMHOST_LOOP_IN, on_ready, &b), 0);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_eventfd_signal(fb, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);
	assert_int_equal(kvmhost_loop_remove(loop, fa), -ENOENT);
	kvmhost_loop_destroy(loop);
}

static void test_remove_self_and_readd(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a, n;
	int fa = new_eventfd(), fnew;

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	cb_init(&a, loop);
	cb_init(&n, loop);
	/* The callback removes and closes its own fd, then adds a new one,
	 * which will likely get the same fd number. */
	a.remove_fds[0] = fa;
	a.close_removed = 1;
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), 0);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(a.calls, 1);

	fnew = new_eventfd();
	assert_int_equal(kvmhost_loop_add(loop, fnew, KVMHOST_LOOP_IN, on_ready, &n), 0);
	assert_int_equal(kvmhost_eventfd_signal(fnew, 7), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.consumed, 7);
	assert_int_equal(a.calls, 1);

	/* Add from inside a callback. */
	int fx = new_eventfd();
	struct cb x;
	cb_init(&x, loop);
	n.add_fd = fx;
	assert_int_equal(kvmhost_eventfd_signal(fnew, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	/* on_ready added fx with n as its state. */
	assert_int_equal(kvmhost_eventfd_signal(fx, 2), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(n.calls, 3);
	assert_int_equal(n.last_fd, fx);
	kvmhost_loop_destroy(loop);
	close(fnew);
	close(fx);
}

/* Removing an fd the caller already closed is still fine. */
static void test_remove_closed_fd(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a;
	int fa = new_eventfd();

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	cb_init(&a, loop);
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), 0);
	close(fa);
	assert_int_equal(kvmhost_loop_remove(loop, fa), 0);
	kvmhost_loop_destroy(loop);
}

struct stopper {
	struct kvmhost_loop *loop;
	int delay_ms;
};

static void *stop_later(void *arg)
{
	struct stopper *s = arg;

	sleep_ms(s->delay_ms);
	return (void *)(intptr_t)kvmhost_loop_stop(s->loop);
}

static void test_stop_from_other_thread(void **state)
{
	struct kvmhost_loop *loop;
	struct stopper s;
	pthread_t t;
	void *r;

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	s.loop = loop;
	s.delay_ms = 50;
	assert_int_equal(pthread_create(&t, NULL, stop_later, &s), 0);
	assert_int_equal(kvmhost_loop_run(loop), 0);
	assert_int_equal(pthread_join(t, &r), 0);
	assert_int_equal((intptr_t)r, 0);

	/* A stop that lands before run() still stops it (it is not lost). */
	assert_int_equal(kvmhost_loop_stop(loop), 0);
	assert_int_equal(kvmhost_loop_run(loop), 0);
	/* ...and is consumed: the next run_once waits normally. */
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);

	/* run_once returns early on a stop from another thread. */
	assert_int_equal(pthread_create(&t, NULL, stop_later, &s), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 10000), 0);
	assert_int_equal(pthread_join(t, &r), 0);
	kvmhost_loop_destroy(loop);
}

static void test_stop_from_callback(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a;
	int fa = new_eventfd();

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	cb_init(&a, loop);
	a.stop = 1;
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), 0);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_loop_run(loop), 0);
	assert_int_equal(a.calls, 1);
	kvmhost_loop_destroy(loop);
	close(fa);
}

/* A callback that sleeps, to race a removal from another thread against. */
struct slow {
	atomic_int entered;
	atomic_int finished;
};

static void on_slow(int fd, uint32_t events, void *opaque)
{
	struct slow *s = opaque;
	uint64_t v;

	(void)events;
	(void)kvmhost_eventfd_consume(fd, &v);
	atomic_store(&s->entered, 1);
	sleep_ms(100);
	atomic_store(&s->finished, 1);
}

struct remover {
	struct kvmhost_loop *loop;
	struct slow *slow;
	int fd;
	int result;
	int finished_when_returned;
};

static void *remove_while_running(void *arg)
{
	struct remover *r = arg;

	while (!atomic_load(&r->slow->entered))
		sleep_ms(1);
	r->result = kvmhost_loop_remove(r->loop, r->fd);
	r->finished_when_returned = atomic_load(&r->slow->finished);
	return NULL;
}

static void test_remove_from_other_thread(void **state)
{
	struct kvmhost_loop *loop;
	struct slow s = {0};
	struct remover rm;
	pthread_t t;
	int fa = new_eventfd();

	(void)state;
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_slow, &s), 0);
	rm.loop = loop;
	rm.slow = &s;
	rm.fd = fa;
	assert_int_equal(pthread_create(&t, NULL, remove_while_running, &rm), 0);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rm.result, 0);
	/* remove() waited for the running callback to return. */
	assert_int_equal(rm.finished_when_returned, 1);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 0), 0);
	kvmhost_loop_destroy(loop);
	close(fa);
}

static void on_nested(int fd, uint32_t events, void *opaque)
{
	struct cb *c = opaque;
	uint64_t v;

	(void)events;
	(void)kvmhost_eventfd_consume(fd, &v);
	c->calls++;
	c->nested_result = kvmhost_loop_run_once(c->loop, 0);
}

static void test_errors(void **state)
{
	struct kvmhost_loop *loop;
	struct cb a;
	int fa = new_eventfd();
	char path[] = "/tmp/kvmhost_loop_test_XXXXXX";
	int file;

	(void)state;
	EXPECT_FAIL(kvmhost_loop_create(NULL), EINVAL, "kvmhost_loop_create");
	assert_int_equal(kvmhost_loop_create(&loop), 0);
	cb_init(&a, loop);

	EXPECT_FAIL(kvmhost_loop_fd(NULL), EINVAL, "kvmhost_loop_fd");
	EXPECT_FAIL(kvmhost_loop_add(NULL, fa, KVMHOST_LOOP_IN, on_ready, &a), EINVAL, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_add(loop, -1, KVMHOST_LOOP_IN, on_ready, &a), EINVAL, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, NULL, &a), EINVAL, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_add(loop, fa, 0, on_ready, &a), EINVAL, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_add(loop, fa, 0x8000, on_ready, &a), EINVAL, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_add(loop, kvmhost_loop_fd(loop), KVMHOST_LOOP_IN, on_ready, &a), EINVAL,
		    "kvmhost_loop_add");
	/* Closed fd: epoll says EBADF. */
	EXPECT_FAIL(kvmhost_loop_add(loop, 9999, KVMHOST_LOOP_IN, on_ready, &a), EBADF, "kvmhost_loop_add");
	/* A regular file cannot be polled. */
	file = mkstemp(path);
	assert_true(file >= 0);
	unlink(path);
	EXPECT_FAIL(kvmhost_loop_add(loop, file, KVMHOST_LOOP_IN, on_ready, &a), EPERM, "kvmhost_loop_add");
	close(file);

	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN | KVMHOST_LOOP_OUT, on_ready, &a), 0);
	EXPECT_FAIL(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_ready, &a), EEXIST, "kvmhost_loop_add");
	EXPECT_FAIL(kvmhost_loop_remove(loop, fa + 100), ENOENT, "kvmhost_loop_remove");
	EXPECT_FAIL(kvmhost_loop_remove(loop, -1), EINVAL, "kvmhost_loop_remove");
	EXPECT_FAIL(kvmhost_loop_remove(NULL, fa), EINVAL, "kvmhost_loop_remove");
	assert_int_equal(kvmhost_loop_remove(loop, fa), 0);
	EXPECT_FAIL(kvmhost_loop_remove(loop, fa), ENOENT, "kvmhost_loop_remove");

	EXPECT_FAIL(kvmhost_loop_run_once(NULL, 0), EINVAL, "kvmhost_loop_run_once");
	EXPECT_FAIL(kvmhost_loop_run_once(loop, -2), EINVAL, "kvmhost_loop_run_once");
	EXPECT_FAIL(kvmhost_loop_run(NULL), EINVAL, "kvmhost_loop_run");
	EXPECT_FAIL(kvmhost_loop_stop(NULL), EINVAL, "kvmhost_loop_stop");

	/* Dispatching from inside a callback is refused, not recursive. */
	assert_int_equal(kvmhost_loop_add(loop, fa, KVMHOST_LOOP_IN, on_nested, &a), 0);
	assert_int_equal(kvmhost_eventfd_signal(fa, 1), 0);
	assert_int_equal(kvmhost_loop_run_once(loop, 1000), 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.nested_result, -EBUSY);
	kvmhost_loop_destroy(loop);
	close(fa);
}

/* Many fds ready at once, more than one epoll batch, each removed by the previous callback's neighbour. */
#define MANY 200
struct many {
	struct kvmhost_loop *loop;
	int fds[MANY];
	int calls[MANY];
};

static void on_many(int fd, uint32_t events, void *opaque)
{
	struct many *m = opaque;
	uint64_t v;
	int i;

	(void)events;
	for (i = 0; i < MANY; i++)
		if (m->fds[i] == fd)
			break;
	assert_true(i < MANY);
	m->calls[i]++;
	(void)kvmhost_eventfd_consume(fd, &v);
	/* Remove the odd neighbour of each even fd: it must then never be called. */
	if (i % 2 == 0)
		assert_int_equal(kvmhost_loop_remove(m->loop, m->fds[i + 1]), 0);
}

static void test_many_fds(void **state)
{
	static struct many m;
	int total = 0, r;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(kvmhost_loop_create(&m.loop), 0);
	for (int i = 0; i < MANY; i++) {
		m.fds[i] = new_eventfd();
		assert_int_equal(kvmhost_loop_add(m.loop, m.fds[i], KVMHOST_LOOP_IN, on_many, &m), 0);
		assert_int_equal(kvmhost_eventfd_signal(m.fds[i], 1), 0);
	}
	while ((r = kvmhost_loop_run_once(m.loop, 0)) > 0)
		total += r;
	assert_int_equal(r, 0);
	/* Every even fd ran once; odd ones ran only if they came before their even neighbour. */
	for (int i = 0; i < MANY; i += 2) {
		assert_int_equal(m.calls[i], 1);
		assert_true(m.calls[i + 1] <= 1);
	}
	int odd = 0;
	for (int i = 1; i < MANY; i += 2)
		odd += m.calls[i];
	assert_int_equal(total, MANY / 2 + odd);
	kvmhost_loop_destroy(m.loop);
	for (int i = 0; i < MANY; i++)
		close(m.fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_destroy),
	    cmocka_unit_test(test_eventfd_callbacks),
	    cmocka_unit_test(test_remove_inside_callback),
	    cmocka_unit_test(test_remove_self_and_readd),
	    cmocka_unit_test(test_remove_closed_fd),
	    cmocka_unit_test(test_stop_from_other_thread),
	    cmocka_unit_test(test_stop_from_callback),
	    cmocka_unit_test(test_remove_from_other_thread),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_many_fds),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}

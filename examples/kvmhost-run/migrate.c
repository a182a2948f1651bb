/*
 * kvmhost-run's migration: --incoming URI (the destination) and --control's migrate, query-migrate,
 * migrate_cancel, migrate-set-parameters and migrate-set-capabilities (the source), on kvmhost/migration.h.
 *
 * URIs: unix:PATH, tcp:HOST:PORT (HOST an IPv4 or [IPv6] address or localhost), file:PATH, and for --incoming
 * fd:N (an inherited fd).
 *
 * To a socket (unix:, tcp:) a migration is live: kvmhost_machine_migrate_send() pre-copies memory while the guest
 * runs (downtime-limit and max-bandwidth are its options), pauses it for the last pass and the state, and the
 * commit point is the library's: once the destination confirms the guest runs there, the machine here is
 * STOPPED (reason MIGRATED) and kvmhost-run exits 0. A failure before the commit leaves the guest running here
 * (event RESUME when it had been paused for the last pass); one after it with no confirmation (-EHOSTDOWN) leaves
 * it paused: the guest may run there, so only a person may `cont` it here. The destination takes the stream with
 * kvmhost_machine_migrate_receive(), which starts the guest itself.
 *
 * With the capability x-ignore-shared (QEMU's name: the shared RAM is not sent), a migration to unix: is a
 * same-host hand-over (KVMHOST_MIGRATION_SAME_HOST): the guest's RAM, a memfd (--memory-backend memfd), goes to the
 * destination as fds with SCM_RIGHTS and only the state is sent; the destination (any kvmhost-run --incoming
 * unix:, the capability set there or not) maps the same memory. It is refused, with a QMP error, for tcp: and
 * file: and for RAM that is not a memfd.
 *
 * To file: a migration is a snapshot (kvmhost_machine_snapshot()) written through a relay thread that counts and
 * paces the bytes (max-bandwidth): the guest is paused while it is written and goes on as it was (running or
 * paused) once the file is written and synced; a failed or cancelled one removes the file. --incoming file:PATH
 * (or fd:N on something that is not a socket) restores it (kvmhost_machine_restore()), then starts the guest.
 *
 * Threads: a migration runs on a thread of its own (the library's rule: not the machine's threads; and the main
 * loop keeps serving QMP); what the QMP clients must hear (MIGRATION, STOP, RESUME) is queued for the main
 * thread, which sends it in migration_dispatch() (qmp.h: one thread only).
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <kvmhost/migration.h>
#include <kvmhost/virtio/device.h>
#include "kvmhost-run.h"
#include "qmp.h"

#define RELAY_CHUNK	(256u << 10)	    /* bytes per read/write of the relay */
#define ANNOUNCE_STOP	QMP_MIGRATION_COUNT /* queued announcements besides MIGRATION statuses */
#define ANNOUNCE_RESUME (QMP_MIGRATION_COUNT + 1)
#define ANNOUNCE_MAX	32

enum uri_kind { URI_UNIX, URI_TCP, URI_FD, URI_FILE };

struct uri {
	enum uri_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix, file */
	char host[256], port[8];				/* tcp */
	int fd;							/* fd */
};

struct migration {
	pthread_mutex_t lock;
	int efd;    /* the main loop's: announcements or a finished thread */
	int cancel; /* the threads': readable once cancelled */
	pthread_t thread;
	bool thread_running, thread_done; /* done: the main thread must join it */
	bool incoming;			  /* this process waits for (or received) a guest */
	bool incoming_pending;		  /* ... and has not finished receiving it */
	bool outgoing;			  /* a migration from here runs now */
	bool postmigrate;		  /* a migration to a socket completed: the guest is elsewhere */
	bool finish_phase;		  /* the guest is paused for the transfer */
	bool cancelled, ok;
	bool live;		   /* the migration under way is kvmhost_machine_migrate_send/_receive() */
	bool ignore_shared;	   /* x-ignore-shared: a migrate to unix: is a same-host hand-over */
	bool same_host;		   /* outgoing: the migration under way is one (x-ignore-shared at its start) */
	bool was_running;	   /* outgoing: the guest ran when it started */
	bool stop_announced;	   /* outgoing: STOP was queued (the last pass paused the guest) */
	const char *incoming_text; /* --incoming's argument, for messages */
	struct uri uri;
	int listen_fd, fd; /* incoming: the listening socket; the stream */
	int relay_in;	   /* outgoing: the relay's end of the socketpair */
	enum qmp_migration_status status;
	uint8_t announce[ANNOUNCE_MAX];
	unsigned nannounce;
	uint64_t t_start, t_active, t_pause, t_end; /* ns, CLOCK_MONOTONIC */
	uint64_t transferred, ram_total, data_pages, zero_pages;
	uint64_t remaining, dirty_rate, bandwidth, expected_downtime_us, passes; /* live: the last progress */
	uint64_t total_us, downtime_us, downtime_bytes;				 /* live: the library's figures */
	uint64_t downtime_limit, max_bandwidth; /* migrate-set-parameters: ms; bytes/s, 0 unlimited */
	char error[512];
};

static struct migration mig = {.lock = PTHREAD_MUTEX_INITIALIZER,
			       .efd = -1,
			       .cancel = -1,
			       .listen_fd = -1,
			       .fd = -1,
			       .relay_in = -1,
			       .downtime_limit = 300};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- URIs ---- */

/* 0, or -1 with @why set. @incoming: fd: is allowed, tcp's HOST may be empty (every address). */
static int parse_uri(const char *s, bool incoming, struct uri *u, char *why, size_t why_size)
{
	const char *p, *colon;
	char *end;
	long n;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	if (!strncmp(s, "unix:", 5) || !strncmp(s, "file:", 5)) {
		u->kind = s[0] == 'u' ? URI_UNIX : URI_FILE;
		p = s + 5;
		if (!*p || strlen(p) >= sizeof(u->path)) {
			snprintf(why, why_size, "want %.5sPATH, PATH 1 to %zu bytes", s, sizeof(u->path) - 1);
			return -1;
		}
		memcpy(u->path, p, strlen(p) + 1);
		return 0;
	}
	if (!strncmp(s, "tcp:", 4)) {
		u->kind = URI_TCP;
		p = s + 4;
		if (*p == '[') {
			const char *close = strchr(p, ']');

			colon = close && close[1] == ':' ? close + 1 : NULL;
			p++;
			n = close ? close - p : 0;
		} else {
			colon = strrchr(p, ':');
			n = colon ? colon - p : 0;
		}
		if (!colon || (size_t)n >= sizeof(u->host) || (!incoming && n == 0)) {
			snprintf(why, why_size, "want tcp:HOST:PORT%s",
				 incoming ? " (HOST may be empty: every address)" : "");
			return -1;
		}
		memcpy(u->host, p, (size_t)n);
		u->host[n] = '\0';
		errno = 0;
		n = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || errno || n < 1 || n > 65535 || colon[1] == '-' || colon[1] == '+') {
			snprintf(why, why_size, "the port must be a number from 1 to 65535");
			return -1;
		}
		snprintf(u->port, sizeof(u->port), "%ld", n);
		return 0;
	}
	if (incoming && !strncmp(s, "fd:", 3)) {
		u->kind = URI_FD;
		errno = 0;
		n = strtol(s + 3, &end, 10);
		if (!s[3] || *end || errno || n < 0 || n > 1 << 20 || s[3] == '-' || s[3] == '+') {
			snprintf(why, why_size, "want fd:N, N a file descriptor number");
			return -1;
		}
		if (fcntl((int)n, F_GETFD) < 0) {
			snprintf(why, why_size, "fd %ld is not open", n);
			return -1;
		}
		u->fd = (int)n;
		return 0;
	}
	snprintf(why, why_size, "want unix:PATH, tcp:HOST:PORT, %sfile:PATH", incoming ? "fd:N or " : "");
	return -2; /* an unknown protocol */
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* tcp:'s HOST (an IPv4 or IPv6 address, "localhost", or empty: every address) and PORT as a socket address. No
 * name lookup: the static kvmhost-run has no resolver (and a migration should not wait for DNS). */
static int tcp_address(const struct uri *u, struct sockaddr_storage *ss, socklen_t *len, char *why, size_t why_size)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	uint16_t port = htons((uint16_t)atoi(u->port));

	memset(ss, 0, sizeof(*ss));
	if (!u->host[0] || !strcmp(u->host, "localhost") || inet_pton(AF_INET, u->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = port;
		if (!u->host[0])
			in->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(u->host, "localhost"))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		*len = sizeof(*in6);
		return 0;
	}
	snprintf(why, why_size, "%s is not an IPv4 or IPv6 address (or localhost)", u->host);
	return -1;
}

static bool is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* A listening socket for unix: or tcp:, or -errno with @why set. */
static int listen_on(const struct uri *u, char *why, size_t why_size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr_storage ss;
	socklen_t len;
	struct stat st;
	int fd, r, one = 1;

	if (u->kind == URI_UNIX) {
		memcpy(sun.sun_path, u->path, strlen(u->path) + 1);
		if (lstat(u->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			/* a stale socket (nobody listening) is replaced; a live one is in use */
			if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
				r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
				close(fd);
				if (r == 0) {
					snprintf(why, why_size, "%s", strerror(EADDRINUSE));
					return -EADDRINUSE;
				}
			}
			unlink(u->path);
		}
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0) {
			r = -errno;
			snprintf(why, why_size, "%s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return r;
		}
		return fd;
	}
	if (tcp_address(u, &ss, &len, why, why_size) < 0)
		return -EINVAL;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		snprintf(why, why_size, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* Connect for unix: or tcp: (blocking; migrate_cancel shuts it down), or -errno with @why set. */
static int connect_to(const struct uri *u, char *why, size_t why_size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = -1, r;

	if (u->kind == URI_UNIX) {
		memcpy(sun.sun_path, u->path, strlen(u->path) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			r = -errno;
			snprintf(why, why_size, "connect to %s: %s", u->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return r;
		}
		return fd;
	}
	if (tcp_address(u, &ss, &len, why, why_size) < 0)
		return -EINVAL;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, len) < 0) {
		r = -errno;
		snprintf(why, why_size, "connect to %s port %s: %s", u->host, u->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* ---- What the main thread announces ---- */

static void wake_main(void)
{
	uint64_t one = 1;

	if (write(mig.efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the main loop wakes anyway */
	}
}

/* With the lock held. */
static void announce(unsigned what)
{
	if (mig.nannounce < ANNOUNCE_MAX)
		mig.announce[mig.nannounce++] = (uint8_t)what;
}

/* With the lock held. */
static void set_status(enum qmp_migration_status s)
{
	mig.status = s;
	announce(s);
}

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&mig.lock);
	if (!mig.error[0]) {
		va_start(ap, fmt);
		vsnprintf(mig.error, sizeof(mig.error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&mig.lock);
}

/* Wait until @fd is readable (or for the cancel): 1 readable, 0 timed out or cancelled. */
static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = mig.cancel, .events = POLLIN}};
	int r;

	do
		r = poll(p, 2, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0 && !p[1].revents && p[0].revents;
}

/* ---- The destination ---- */

int migration_incoming_open(struct vmm *v, const char *text)
{
	char why[300];
	int r;

	if ((r = parse_uri(text, true, &mig.uri, why, sizeof(why))) < 0)
		return usage_error("--incoming %s: %s", text, why);
	mig.incoming = mig.incoming_pending = true;
	mig.incoming_text = text;
	v->opts.flags |= KVMHOST_MACHINE_INCOMING;
	return 0;
}

/* After the checks, before KVM: open the file, or listen (a path or address in use is a usage error). */
int migration_prepare(struct vmm *v)
{
	char why[300];

	(void)v;
	if ((mig.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (mig.cancel = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return say(EXIT_HOST, "eventfd: %s", strerror(errno));
	if (!mig.incoming)
		return 0;
	switch (mig.uri.kind) {
	case URI_FILE:
		if ((mig.fd = open(mig.uri.path, O_RDONLY | O_CLOEXEC)) < 0)
			return usage_error("--incoming %s: %s", mig.incoming_text, strerror(errno));
		break;
	case URI_FD:
		mig.fd = mig.uri.fd;
		fcntl(mig.fd, F_SETFD, FD_CLOEXEC);
		break;
	default:
		if ((mig.listen_fd = listen_on(&mig.uri, why, sizeof(why))) < 0)
			return usage_error("--incoming %s: %s", mig.incoming_text, why);
	}
	return 0;
}

static void *incoming_thread(void *arg)
{
	struct vmm *v = arg;
	struct kvmhost_migration_options o = {.size = sizeof(o)};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	int r = 0, fd = mig.fd;

	if (mig.listen_fd >= 0) {
		if (!wait_readable(mig.listen_fd, -1)) {
			set_error("cancelled while waiting for the source");
			r = -ECANCELED;
		} else if ((fd = accept4(mig.listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			r = -errno;
			set_error("accept: %s", strerror(errno));
		}
		close(mig.listen_fd);
		mig.listen_fd = -1;
		if (mig.uri.kind == URI_UNIX)
			unlink(mig.uri.path);
	}
	pthread_mutex_lock(&mig.lock);
	mig.fd = fd;
	mig.live = fd >= 0 && is_socket(fd);
	mig.t_active = now_ns();
	if (!r)
		set_status(QMP_MIGRATION_ACTIVE);
	pthread_mutex_unlock(&mig.lock);
	wake_main();
	if (!r && !__atomic_load_n(&mig.cancelled, __ATOMIC_RELAXED)) {
		/* A stream from another process: the guest's clock catches up the time it spent in transit. A
		 * snapshot file: it goes on from the time saved (it may be restored much later). */
		o.flags = mig.uri.kind == URI_FILE ? 0 : KVMHOST_MIGRATION_CLOCK_CATCH_UP;
		r = mig.live ? kvmhost_machine_migrate_receive(v->m, fd, &o, &st)
			     : kvmhost_machine_restore(v->m, fd, &o, &st);
		if (r < 0)
			set_error("%s", kvmhost_last_error());
	} else if (!r) {
		r = -ECANCELED;
		set_error("cancelled");
	}
	pthread_mutex_lock(&mig.lock);
	mig.t_end = now_ns();
	mig.transferred = st.bytes;
	mig.data_pages = st.data_pages;
	mig.zero_pages = st.zero_pages;
	mig.passes = st.passes;
	mig.total_us = st.total_us;
	mig.downtime_us = st.downtime_us;
	mig.downtime_bytes = st.state_bytes + st.last_pass_pages * 4096;
	mig.ok = r == 0;
	set_status(mig.ok ? QMP_MIGRATION_COMPLETED : mig.cancelled ? QMP_MIGRATION_CANCELLED : QMP_MIGRATION_FAILED);
	mig.thread_done = true;
	pthread_mutex_unlock(&mig.lock);
	wake_main();
	return NULL;
}

int migration_incoming_start(struct vmm *v)
{
	int r;

	if (!mig.incoming)
		return 0;
	mig.t_start = now_ns();
	mig.ram_total = v->opts.ram_size;
	set_status(QMP_MIGRATION_SETUP);
	if ((r = pthread_create(&mig.thread, NULL, incoming_thread, v)))
		return say(EXIT_HOST, "cannot start the incoming migration's thread: %s", strerror(r));
	mig.thread_running = true;
	return 0;
}

bool migration_incoming_pending(void)
{
	bool r;

	pthread_mutex_lock(&mig.lock);
	r = mig.incoming_pending;
	pthread_mutex_unlock(&mig.lock);
	return r;
}

/* ---- The source ---- */

static int relay_out; /* the stream's fd while a migration runs */

/* Copy the snapshot from the socketpair to the destination, counting and pacing. 0 or -errno. */
static int relay(int in, int out)
{
	static char buf[RELAY_CHUNK];
	uint64_t start = now_ns(), sent = 0, bw;
	bool sock = is_socket(out);
	ssize_t n, w;

	for (;;) {
		do
			n = read(in, buf, sizeof(buf));
		while (n < 0 && errno == EINTR);
		if (n == 0)
			return 0;
		if (n < 0)
			return -errno;
		for (ssize_t off = 0; off < n; off += w) {
			w = sock ? send(out, buf + off, (size_t)(n - off), MSG_NOSIGNAL)
				 : write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				w = 0;
			else if (w <= 0)
				return w < 0 ? -errno : -EIO;
		}
		sent += (uint64_t)n;
		pthread_mutex_lock(&mig.lock);
		mig.transferred = sent;
		bw = mig.max_bandwidth;
		pthread_mutex_unlock(&mig.lock);
		if (bw) { /* sleep until @sent bytes are due at @bw bytes per second (or the cancel) */
			uint64_t due = start + (uint64_t)((double)sent * 1e9 / (double)bw), t = now_ns();

			if (due > t)
				wait_readable(mig.cancel, (int)((due - t) / 1000000));
		}
		if (__atomic_load_n(&mig.cancelled, __ATOMIC_RELAXED))
			return -ECANCELED;
	}
}

struct relay_job {
	int in, out, result;
};

static void *relay_thread(void *arg)
{
	struct relay_job *j = arg;

	j->result = relay(j->in, j->out);
	if (j->result < 0)
		shutdown(j->in, SHUT_RDWR); /* the snapshot's writes fail at once: it resumes the guest */
	return NULL;
}

/* The live migration's progress callback (the migrating thread): figures for query-migrate; STOP once the last
 * pass has paused the guest. */
static void progress(void *opaque, const struct kvmhost_migration_progress *p)
{
	(void)opaque;
	pthread_mutex_lock(&mig.lock);
	mig.transferred = p->bytes_sent;
	mig.remaining = p->dirty_pages * 4096;
	mig.passes = p->iteration;
	mig.dirty_rate = p->dirty_rate;
	mig.bandwidth = p->bandwidth;
	mig.expected_downtime_us = p->expected_downtime_us;
	if (p->phase >= KVMHOST_MIGRATION_PHASE_STOPCOPY && !mig.t_pause) {
		mig.t_pause = now_ns();
		mig.finish_phase = true;
		if (mig.was_running && !mig.stop_announced) {
			mig.stop_announced = true;
			announce(ANNOUNCE_STOP);
		}
	}
	pthread_mutex_unlock(&mig.lock);
	wake_main();
}

/* To a socket: live. 0, or -errno with the error set; the guest runs here again after a failure before the
 * commit (RESUME if STOP was said). */
static int send_live(struct vmm *v, int fd)
{
	struct kvmhost_migration_options o = {.size = sizeof(o), .progress = progress};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	const char *verify = getenv("KVMHOST_MIGRATION_VERIFY");
	int r;

	/* KVMHOST_MIGRATION_VERIFY=1 in the environment: the library checks that no page escaped the pre-copy
	 * (docs/migration.md, "Verifying a pre-copy"). KVMHOST_MIGRATION_STATS set: a line of the source's figures on
	 * stderr when the guest has moved. */
	if (verify && *verify && strcmp(verify, "0") != 0 && !mig.same_host) /* (nothing to verify: no page is sent) */
		o.flags |= KVMHOST_MIGRATION_VERIFY;
	if (mig.same_host)
		o.flags |= KVMHOST_MIGRATION_SAME_HOST;
	pthread_mutex_lock(&mig.lock);
	o.downtime_limit_ms = mig.downtime_limit ? (uint32_t)mig.downtime_limit : 1;
	o.max_bandwidth = mig.max_bandwidth;
	mig.live = true;
	mig.was_running = kvmhost_machine_get_state(v->m) == KVMHOST_MACHINE_RUNNING;
	pthread_mutex_unlock(&mig.lock);
	/* (a cancel before the library's call started has nothing to cancel there: it is seen here) */
	r = __atomic_load_n(&mig.cancelled, __ATOMIC_RELAXED) ? -ECANCELED
							      : kvmhost_machine_migrate_send(v->m, fd, &o, &st);
	if (r == -EHOSTDOWN)
		set_error("%s (the guest may run on the destination: it stays paused here; cont resumes it only if "
			  "it does not)",
			  kvmhost_last_error());
	else if (r < 0)
		set_error("%s", kvmhost_last_error());
	else if (getenv("KVMHOST_MIGRATION_STATS")) /* the source's figures: its downtime starts at its pause */
		fprintf(stderr,
			PROG ": migrated: downtime %llu ms (pause to the destination's confirmation; the paused pass "
			     "%llu pages, state %llu bytes), %u passes, %llu bytes in %llu ms\n",
			(unsigned long long)(st.downtime_us / 1000), (unsigned long long)st.last_pass_pages,
			(unsigned long long)st.state_bytes, st.passes, (unsigned long long)st.bytes,
			(unsigned long long)(st.total_us / 1000));
	pthread_mutex_lock(&mig.lock);
	mig.data_pages = st.data_pages;
	mig.zero_pages = st.zero_pages;
	mig.transferred = st.bytes;
	mig.passes = st.passes;
	mig.total_us = st.total_us;
	mig.downtime_us = st.downtime_us;
	mig.downtime_bytes = st.state_bytes + st.last_pass_pages * 4096;
	if (r < 0 && mig.stop_announced && kvmhost_machine_get_state(v->m) == KVMHOST_MACHINE_RUNNING)
		announce(ANNOUNCE_RESUME);
	pthread_mutex_unlock(&mig.lock);
	return r;
}

static void *outgoing_thread(void *arg)
{
	struct vmm *v = arg;
	struct kvmhost_migration_options o = {.size = sizeof(o)};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	bool stream = mig.uri.kind != URI_FILE;
	struct relay_job job = {.in = -1, .out = -1};
	pthread_t relay_tid;
	int sp[2] = {-1, -1}, r = 0, fd;
	char why[400] = "";

	if (stream)
		fd = connect_to(&mig.uri, why, sizeof(why));
	else if ((fd = open(mig.uri.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		snprintf(why, sizeof(why), "%s: %s", mig.uri.path, strerror(errno));
	if (fd < 0) {
		set_error("%s", why);
		r = fd;
		goto out;
	}
	pthread_mutex_lock(&mig.lock);
	relay_out = fd;
	mig.t_active = now_ns();
	set_status(QMP_MIGRATION_ACTIVE);
	pthread_mutex_unlock(&mig.lock);
	wake_main();
	if (stream) {
		r = send_live(v, fd);
		goto out;
	}
	/* To file: a snapshot (the guest paused while it is written, then as it was), through the relay. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		r = -errno;
		set_error("socketpair: %s", strerror(errno));
		goto out;
	}
	job = (struct relay_job){.in = sp[1], .out = fd};
	pthread_mutex_lock(&mig.lock);
	mig.relay_in = sp[1];
	pthread_mutex_unlock(&mig.lock);
	if ((r = -pthread_create(&relay_tid, NULL, relay_thread, &job))) {
		set_error("cannot start the relay thread: %s", strerror(-r));
		goto out;
	}
	pthread_mutex_lock(&mig.lock);
	mig.t_pause = now_ns();
	pthread_mutex_unlock(&mig.lock);
	r = kvmhost_machine_snapshot(v->m, sp[0], &o, &st);
	if (r < 0)
		set_error("%s", kvmhost_last_error()); /* the library's last error is this thread's */
	shutdown(sp[0], SHUT_WR);		       /* the relay sees the end */
	pthread_join(relay_tid, NULL);
	if (!r && job.result < 0) {
		r = job.result;
		set_error("writing %s: %s", mig.uri.path, strerror(-r));
	}
	if (!r && is_regular(fd) && fdatasync(fd) < 0) { /* (a FIFO or a device: nothing to sync) */
		r = -errno;
		set_error("%s: fdatasync: %s", mig.uri.path, strerror(errno));
	}
	pthread_mutex_lock(&mig.lock);
	mig.data_pages = st.data_pages;
	mig.zero_pages = st.zero_pages;
	if (!r && st.bytes > mig.transferred)
		mig.transferred = st.bytes;
	mig.downtime_bytes = mig.transferred;
	pthread_mutex_unlock(&mig.lock);
out:
	if (r < 0 && !stream && fd >= 0 && is_regular(fd))
		unlink(mig.uri.path); /* no half snapshot is left behind */
	pthread_mutex_lock(&mig.lock);
	mig.t_end = now_ns();
	mig.ok = r == 0;
	mig.postmigrate = mig.ok && stream;
	mig.finish_phase = false;
	relay_out = -1;
	mig.relay_in = -1;
	set_status(mig.ok ? QMP_MIGRATION_COMPLETED : mig.cancelled ? QMP_MIGRATION_CANCELLED : QMP_MIGRATION_FAILED);
	mig.thread_done = true;
	pthread_mutex_unlock(&mig.lock);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (fd >= 0)
		close(fd);
	wake_main();
	return NULL;
}

int migration_start(struct vmm *v, const char *text, char *why, size_t why_size)
{
	int st = kvmhost_machine_get_state(v->m), r;
	struct uri u;
	char what[300];

	if ((r = parse_uri(text, false, &u, what, sizeof(what))) < 0) {
		if (r == -2 && !strncmp(text, "fd:", 3))
			snprintf(why, why_size,
				 "Parameter 'uri' expects unix:PATH, tcp:HOST:PORT or file:PATH: %s has no "
				 "getfd for fd:",
				 PROG);
		else if (r == -2)
			snprintf(why, why_size,
				 "Parameter 'uri' expects a valid migration protocol"); /* QEMU's words */
		else
			snprintf(why, why_size, "Parameter 'uri' %s: %s", text, what);
		return -EINVAL;
	}
	if (mig.ignore_shared && u.kind != URI_UNIX) {
		snprintf(why, why_size,
			 "x-ignore-shared is on: the same-host hand-over passes the guest's RAM as fds over a Unix "
			 "socket, so it needs unix:PATH, not %.*s (set x-ignore-shared off to copy the RAM)",
			 (int)(strcspn(text, ":") + 1), text);
		return -EINVAL;
	}
	if (mig.ignore_shared && v->opts.ram_backing != KVMHOST_MACHINE_RAM_MEMFD) {
		snprintf(
		    why, why_size,
		    "x-ignore-shared is on but the guest's RAM is not shared: start " PROG
		    " with --memory-backend memfd (QEMU: memory-backend-memfd,share=on), or set x-ignore-shared off");
		return -EINVAL;
	}
	pthread_mutex_lock(&mig.lock);
	{
		const char *no = mig.outgoing || mig.thread_running ? "There's a migration process in progress"
				 : mig.incoming_pending		    ? "Guest is waiting for an incoming migration"
				 : mig.postmigrate ? "Can't migrate the vm that was paused due to previous migration"
				 : st == KVMHOST_MACHINE_STOPPED ? "the VM has stopped: nothing to migrate"
								 : NULL; /* QEMU's words but the last */

		r = no ? -EBUSY : 0;
		if (no)
			snprintf(why, why_size, "%s", no);
	}
	if (r < 0) {
		pthread_mutex_unlock(&mig.lock);
		return r;
	}
	mig.uri = u;
	mig.outgoing = true;
	mig.cancelled = mig.ok = mig.thread_done = false;
	mig.error[0] = '\0';
	mig.t_start = now_ns();
	mig.t_active = mig.t_pause = mig.t_end = 0;
	mig.transferred = mig.data_pages = mig.zero_pages = 0;
	mig.remaining = mig.dirty_rate = mig.bandwidth = mig.expected_downtime_us = mig.passes = 0;
	mig.total_us = mig.downtime_us = mig.downtime_bytes = 0;
	mig.live = mig.was_running = mig.stop_announced = mig.finish_phase = false;
	mig.same_host = mig.ignore_shared;
	mig.ram_total = v->opts.ram_size;
	set_status(QMP_MIGRATION_SETUP);
	pthread_mutex_unlock(&mig.lock);
	{
		uint64_t n;

		while (read(mig.cancel, &n, sizeof(n)) > 0) /* an old cancel */
			;
	}
	if ((r = pthread_create(&mig.thread, NULL, outgoing_thread, v))) {
		pthread_mutex_lock(&mig.lock);
		mig.outgoing = false;
		set_status(QMP_MIGRATION_FAILED);
		pthread_mutex_unlock(&mig.lock);
		snprintf(why, why_size, "cannot start the migration's thread: %s", strerror(r));
		return -r;
	}
	mig.thread_running = true;
	return 0;
}

int migration_set_ignore_shared(bool on, char *why, size_t why_size)
{
	int r = 0;

	pthread_mutex_lock(&mig.lock);
	if (mig.outgoing) { /* (a destination still waiting may set it, as QEMU's: it changes nothing there) */
		snprintf(why, why_size, "There's a migration process in progress"); /* QEMU's words */
		r = -EBUSY;
	} else {
		mig.ignore_shared = on;
	}
	pthread_mutex_unlock(&mig.lock);
	return r;
}

bool migration_ignore_shared(void)
{
	bool r;

	pthread_mutex_lock(&mig.lock);
	r = mig.ignore_shared;
	pthread_mutex_unlock(&mig.lock);
	return r;
}

int migration_cancel(struct vmm *v)
{
	uint64_t one = 1;

	pthread_mutex_lock(&mig.lock);
	/* A live one past its commit point cannot be cancelled: it finishes (as QEMU, the reply is {} all the same). */
	if (mig.thread_running && !mig.thread_done && !mig.cancelled &&
	    !(mig.live && kvmhost_machine_migrate_cancel(v->m) == -EBUSY)) {
		__atomic_store_n(&mig.cancelled, true, __ATOMIC_RELAXED);
		if (mig.outgoing)
			set_status(QMP_MIGRATION_CANCELLING);
		if (write(mig.cancel, &one, sizeof(one)) < 0) {
			/* full: readable anyway */
		}
		/* Wake blocked reads and writes: the stream, the relay's socketpair. */
		if (mig.outgoing && relay_out >= 0 && is_socket(relay_out) && !mig.live)
			shutdown(relay_out, SHUT_RDWR);
		if (mig.relay_in >= 0)
			shutdown(mig.relay_in, SHUT_RDWR);
		if (!mig.live && mig.incoming_pending && mig.fd >= 0 && is_socket(mig.fd))
			shutdown(mig.fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&mig.lock);
	wake_main();
	return 0;
}

int migration_set_parameters(bool has_downtime_limit, uint64_t downtime_limit, bool has_max_bandwidth,
			     uint64_t max_bandwidth)
{
	pthread_mutex_lock(&mig.lock);
	if (has_downtime_limit)
		mig.downtime_limit = downtime_limit;
	if (has_max_bandwidth)
		mig.max_bandwidth = max_bandwidth;
	pthread_mutex_unlock(&mig.lock);
	return 0;
}

void migration_query(struct qmp_migration_info *m)
{
	static char error[sizeof(mig.error)];
	uint64_t end, ms;
	bool done;

	pthread_mutex_lock(&mig.lock);
	end = mig.t_end ? mig.t_end : now_ns();
	done = mig.t_end != 0;
	m->status = mig.status;
	m->total_time = (end - mig.t_start) / 1000000;
	m->setup_time = mig.t_active > mig.t_start ? (mig.t_active - mig.t_start) / 1000000 : 0;
	if (mig.live) /* the library's: from the pause to the destination's confirmation (receive: to its start) */
		m->downtime = mig.downtime_us / 1000;
	else /* a snapshot: the guest is paused while it is written (read) */
		m->downtime = mig.t_pause && end > mig.t_pause ? (end - mig.t_pause) / 1000000
			      : end > mig.t_active	       ? (end - mig.t_active) / 1000000
							       : 0;
	m->expected_downtime = mig.expected_downtime_us ? mig.expected_downtime_us / 1000 : mig.downtime_limit;
	m->has_ram = mig.status != QMP_MIGRATION_SETUP && mig.status != QMP_MIGRATION_NONE &&
		     mig.status != QMP_MIGRATION_CANCELLED && mig.status != QMP_MIGRATION_CANCELLING;
	m->ram_total = mig.ram_total;
	m->ram_transferred = mig.transferred;
	m->ram_remaining = mig.status == QMP_MIGRATION_COMPLETED ? 0 : mig.remaining;
	m->ram_duplicate = mig.zero_pages;
	m->ram_normal = mig.data_pages;
	m->ram_normal_bytes = mig.data_pages * 4096;
	m->ram_dirty_sync_count = mig.live ? mig.passes : mig.status == QMP_MIGRATION_COMPLETED;
	m->ram_dirty_pages_rate = mig.dirty_rate / 4096;
	m->ram_downtime_bytes = mig.downtime_bytes < mig.transferred ? mig.downtime_bytes : mig.transferred;
	m->ram_precopy_bytes = mig.transferred - m->ram_downtime_bytes;
	ms = mig.t_active && end > mig.t_active ? (end - mig.t_active) / 1000000 : 0;
	if (mig.live && !done && mig.bandwidth)
		m->ram_mbps = (double)mig.bandwidth * 8 / 1e6;
	else
		m->ram_mbps = ms ? (double)mig.transferred * 8 / 1000.0 / (double)ms : 0;
	m->ram_pages_per_second = ms ? (mig.data_pages + mig.zero_pages) * 1000 / ms : 0;
	if (mig.status == QMP_MIGRATION_FAILED && mig.error[0]) {
		memcpy(error, mig.error, sizeof(error));
		m->error_desc = error;
	}
	pthread_mutex_unlock(&mig.lock);
}

bool migration_run_state(enum qmp_run_state *state)
{
	bool r = true;

	pthread_mutex_lock(&mig.lock);
	if (mig.incoming_pending)
		*state = QMP_RUN_STATE_INMIGRATE;
	else if (mig.postmigrate)
		*state = QMP_RUN_STATE_POSTMIGRATE;
	else if (mig.finish_phase)
		*state = QMP_RUN_STATE_FINISH_MIGRATE;
	else
		r = false;
	pthread_mutex_unlock(&mig.lock);
	return r;
}

bool migration_busy(void)
{
	bool r;

	pthread_mutex_lock(&mig.lock);
	r = mig.outgoing || mig.postmigrate;
	pthread_mutex_unlock(&mig.lock);
	return r;
}

int migration_fd(void)
{
	return mig.efd;
}

/* Until the library does it itself (docs/migration.md, "Not yet": post-resume queue notifications), a guest that
 * has arrived gets one notification on every queue of every virtio device: queue notifications are not state, so
 * a request the driver had made available (and kicked) on the source but the device had not taken yet, or a queue
 * whose notifications the device had suppressed while it was busy, would otherwise wait for ever. A queue with
 * nothing new ignores it. */
static void kick_queues(struct vmm *v)
{
	for (uint32_t i = 0; i < v->opts.device_count; i++) {
		struct kvmhost_virtio_device *d = kvmhost_machine_virtio_device(v->m, i);

		for (uint16_t q = 0; d && q < kvmhost_virtio_device_num_queues(d); q++)
			kvmhost_virtio_device_queue_notify(d, q);
	}
}

/* Join a finished thread; an incoming guest that arrived starts here (unless --paused, or a stop meanwhile). */
static void finish(struct vmm *v)
{
	bool incoming, ok;

	pthread_join(mig.thread, NULL);
	pthread_mutex_lock(&mig.lock);
	mig.thread_running = mig.thread_done = false;
	incoming = mig.incoming_pending;
	mig.incoming_pending = false;
	mig.outgoing = false;
	ok = mig.ok;
	pthread_mutex_unlock(&mig.lock);
	if (!incoming)
		return;
	if (!ok || v->status >= 0) {
		v->incoming_failed = !ok;
		v->loop_done = true; /* the main loop ends: exit_status() says why */
		return;
	}
	if (kvmhost_machine_get_state(v->m) == KVMHOST_MACHINE_RUNNING) { /* a live migration started it */
		if (v->paused && kvmhost_machine_pause(v->m) == 0)
			return; /* QEMU's -S: cont resumes it */
	} else if (v->paused) {
		return; /* QEMU's -S: cont starts it */
	} else if (kvmhost_machine_start(v->m) < 0) {
		snprintf(mig.error, sizeof(mig.error), "cannot start the VM: %s", kvmhost_last_error());
		v->incoming_failed = v->loop_done = true;
		return;
	}
	kick_queues(v);
	qmp_server_event(v->qmp, "RESUME", NULL);
}

/* Send what the threads queued to the QMP clients; true when a thread has finished (to be joined). */
static bool flush(struct vmm *v)
{
	uint8_t what[ANNOUNCE_MAX];
	unsigned n;
	bool done;

	pthread_mutex_lock(&mig.lock);
	n = mig.nannounce;
	memcpy(what, mig.announce, n);
	mig.nannounce = 0;
	done = mig.thread_running && mig.thread_done;
	pthread_mutex_unlock(&mig.lock);
	for (unsigned i = 0; v->qmp && i < n; i++)
		if (what[i] == ANNOUNCE_STOP)
			qmp_server_event(v->qmp, "STOP", NULL);
		else if (what[i] == ANNOUNCE_RESUME)
			qmp_server_event(v->qmp, "RESUME", NULL);
		else
			qmp_server_event_migration(v->qmp, (enum qmp_migration_status)what[i]);
	return done;
}

void migration_dispatch(struct vmm *v)
{
	uint64_t count;

	if (read(mig.efd, &count, sizeof(count)) < 0) {
		/* nothing new: spurious */
	}
	if (flush(v))
		finish(v);
}

bool migration_migrated_away(void)
{
	bool r;

	pthread_mutex_lock(&mig.lock);
	r = mig.postmigrate;
	pthread_mutex_unlock(&mig.lock);
	return r;
}

const char *migration_error(void)
{
	return mig.error[0] ? mig.error : "failed";
}

const char *migration_incoming_text(void)
{
	return mig.incoming_text;
}

void migration_fini(struct vmm *v, bool cancel)
{
	bool done;

	if (mig.thread_running) {
		pthread_mutex_lock(&mig.lock);
		done = mig.thread_done;
		cancel |= mig.incoming_pending;
		pthread_mutex_unlock(&mig.lock);
		if (!done && cancel)
			migration_cancel(v); /* a live one past its commit point finishes */
		pthread_join(mig.thread, NULL);
		mig.thread_running = false;
	}
	flush(v); /* the last MIGRATION event (completed, when the guest left) before the server goes */
	if (mig.listen_fd >= 0) {
		close(mig.listen_fd);
		if (mig.uri.kind == URI_UNIX && mig.incoming)
			unlink(mig.uri.path);
	}
	mig.listen_fd = -1;
	if (mig.fd >= 0)
		close(mig.fd);
	mig.fd = -1;
}

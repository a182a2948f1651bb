/*
 * Live migration (include/kvmhost/migration.h, docs/migration.md "Live migration"): the source's pre-copy
 * loop over KVM's dirty log and the VMM's bitmap, its stop-and-copy, the auto-converge throttle, the same-host
 * hand-over of the RAM fds (SCM_RIGHTS), the destination's side, and the back channel between them:
 *
 *   S->D  header (flags LIVE [| SHARED_MEMORY]), CONFIG
 *   D->S  ACCEPT | FAILED                     (the header, CPU features and shape checked: nothing sent yet)
 *   S->D  [same-host: FDS, the RAM fds]  MEMORY passes ...
 *   S->D  (source paused) last MEMORY pass, VM, VCPU..., DEVICES, VIRTIO..., END
 *   D->S  READY | FAILED                      (the state applied; the machine not started)
 *   S->D  GO                                  (the commit point) | ABORT
 *   D->S  RUNNING | FAILED
 *
 * A message: u32 magic "KHMR", u32 type, i32 errno (FAILED), u32 length (at most 512), the payload, u32 CRC-32
 * of everything before it. The destination speaks during the memory and the state only to say FAILED, so the
 * source's writes watch for it (kh_mig_ctl.watch_peer) and stop at once.
 *
 * Until GO is written whole the destination cannot have started (it starts on GO alone), so any failure before
 * it leaves the source as it was; after it, the source waits for RUNNING and stays paused without it.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <kvmhost/memory.h>
#include <kvmhost/migration.h>

#include "../core/crc32.h"
#include "../core/internal.h"
#include "../core/state_io.h"
#include "../machine/machine_internal.h"
#include "../memory/memory_internal.h"
#include "migration_arch.h"
#include "migration_internal.h"
#include "stream.h"

/* ---- the back channel ---- */

#define MSG_MAGIC   0x524d484bu /* "KHMR" */
#define MSG_HEADER  16u
#define MSG_MAX	    512u
#define MSG_ACCEPT  1u
#define MSG_READY   2u
#define MSG_GO	    3u
#define MSG_RUNNING 4u
#define MSG_FAILED  5u
#define MSG_ABORT   6u
#define MSG_FDS	    7u

static const char *const msg_names[] = {"?", "ACCEPT", "READY", "GO", "RUNNING", "FAILED", "ABORT", "FDS"};

struct msg {
	uint32_t type;
	int32_t error;
	uint32_t len;
	uint8_t data[MSG_MAX + 1]; /* NUL after a FAILED message's text */
	int fds[KH_MIG_MAX_RAM_RANGES];
	uint32_t nfds;
};

static const char *msg_name(uint32_t t)
{
	return t < KH_ARRAY_SIZE(msg_names) ? msg_names[t] : "unknown";
}

static int send_msg(struct kh_mig_io *io, uint32_t type, int32_t error, const void *data, uint32_t len, const int *fds,
		    uint32_t nfds)
{
	uint8_t buf[MSG_HEADER + MSG_MAX + 4], *p = buf;
	char what[48];

	if (len > MSG_MAX)
		len = MSG_MAX;
	kh_le_put(&p, MSG_MAGIC, 4);
	kh_le_put(&p, type, 4);
	kh_le_put(&p, (uint32_t)error, 4);
	kh_le_put(&p, len, 4);
	if (len)
		memcpy(p, data, len);
	p += len;
	kh_le_put(&p, kh_crc32(0, buf, (size_t)(p - buf)), 4);
	snprintf(what, sizeof(what), "the %s message", msg_name(type));
	if (nfds) {
		/* The fds ride on the message's bytes; all of it in one sendmsg (a few hundred bytes fit any
		 * socket buffer, but a short send is finished below without them). */
		char cbuf[CMSG_SPACE(sizeof(int) * KH_MIG_MAX_RAM_RANGES)];
		struct iovec iov = {buf, (size_t)(p - buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf};
		struct cmsghdr *cm;
		ssize_t r;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		r = KH_RETRY_EINTR(sendmsg(io->fd, &mh, MSG_NOSIGNAL));
		if (r < 0)
			return KH_FAIL_ERRNO("%s: sendmsg with %u fds failed", what, nfds);
		io->bytes += (uint64_t)r;
		if ((size_t)r == (size_t)(p - buf))
			return 0;
		return kh_mig_write_full(io, buf + r, (size_t)(p - buf) - (size_t)r, what);
	}
	return kh_mig_write_full(io, buf, (size_t)(p - buf), what);
}

static void close_fds(struct msg *m)
{
	for (uint32_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* The first bytes with recvmsg, to take the fds an FDS message carries (any other message carries none). */
static int recv_head(struct kh_mig_io *io, uint8_t *h, struct msg *m, const char *what)
{
	char cbuf[CMSG_SPACE(sizeof(int) * KH_MIG_MAX_RAM_RANGES)];
	struct iovec iov = {h, MSG_HEADER};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t r;

	/* A message comes only when the peer waits for it, after the stream's last byte: never read ahead. */
	if (io->ctl->ra_pos < io->ctl->ra_len)
		return KH_FAIL(EBADMSG, "%s: %zu bytes of the stream came where a message comes", what,
			       io->ctl->ra_len - io->ctl->ra_pos);
	for (;;) {
		struct pollfd p[2] = {{.fd = io->fd, .events = POLLIN}, {.fd = io->ctl->wake_fd, .events = POLLIN}};
		int n;

		do
			n = poll(p, 2, io->ctl->timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return KH_FAIL_ERRNO("%s: poll failed", what);
		if (p[1].revents)
			return KH_FAIL(ECANCELED, "%s: cancelled", what);
		if (n == 0)
			return KH_FAIL(ETIMEDOUT, "%s: nothing came for %d ms", what, io->ctl->timeout_ms);
		r = KH_RETRY_EINTR(recvmsg(io->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
		if (r >= 0 || errno != EAGAIN)
			break;
	}
	if (r < 0)
		return KH_FAIL_ERRNO("%s: recvmsg failed", what);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (m->nfds < KH_MIG_MAX_RAM_RANGES)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		close_fds(m);
		return KH_FAIL(EINVAL, "%s: more fds than the %u RAM ranges a stream has", what, KH_MIG_MAX_RAM_RANGES);
	}
	if (r == 0)
		return KH_FAIL(ENODATA, "%s: the connection closed", what);
	io->bytes += (uint64_t)r;
	if ((size_t)r < MSG_HEADER) {
		int e = kh_mig_read_full(io, h + r, MSG_HEADER - (size_t)r, what);

		if (e < 0) {
			close_fds(m);
			return e;
		}
	}
	return 0;
}

/* Read one message; a FAILED one's text is NUL-terminated in m->data. */
static int recv_msg(struct kh_mig_io *io, struct msg *m, const char *what)
{
	uint8_t buf[MSG_HEADER + MSG_MAX + 4];
	const uint8_t *p = buf;
	uint32_t magic, crc;
	int r;

	memset(m, 0, offsetof(struct msg, fds));
	m->nfds = 0;
	if ((r = recv_head(io, buf, m, what)) < 0)
		return r;
	magic = (uint32_t)kh_le_get(&p, 4);
	m->type = (uint32_t)kh_le_get(&p, 4);
	m->error = (int32_t)kh_le_get(&p, 4);
	m->len = (uint32_t)kh_le_get(&p, 4);
	if (magic != MSG_MAGIC || m->len > MSG_MAX) {
		close_fds(m);
		return KH_FAIL(EBADMSG, "%s: not a migration message (magic 0x%08x, length %u)", what, magic, m->len);
	}
	if ((r = kh_mig_read_full(io, buf + MSG_HEADER, m->len + 4u, what)) < 0) {
		close_fds(m);
		return r;
	}
	p = buf + MSG_HEADER + m->len;
	crc = (uint32_t)kh_le_get(&p, 4);
	if (crc != kh_crc32(0, buf, MSG_HEADER + m->len)) {
		close_fds(m);
		return KH_FAIL(EBADMSG, "%s: the %s message is damaged (CRC-32)", what, msg_name(m->type));
	}
	memcpy(m->data, buf + MSG_HEADER, m->len);
	m->data[m->len] = 0;
	if (m->type != MSG_FDS && m->nfds) {
		close_fds(m);
		return KH_FAIL(EBADMSG, "%s: a %s message carrying fds", what, msg_name(m->type));
	}
	if (m->type == MSG_FAILED)
		for (uint32_t i = 0; i < m->len; i++)
			if (m->data[i] < 0x20 || m->data[i] > 0x7e)
				m->data[i] = '?'; /* the peer's text goes into our messages: printable only */
	return 0;
}

/* Expect @type; a FAILED message (or anything else) is an error saying what the peer said. */
static int expect_msg(struct kh_mig_io *io, uint32_t type, int failed_errno, const char *what)
{
	struct msg m;
	int r;

	if ((r = recv_msg(io, &m, what)) < 0)
		return r;
	if (m.type == type)
		return 0;
	if (m.type == MSG_FAILED)
		return KH_FAIL(failed_errno, "%s: the peer failed (%s): %s", what,
			       m.error < 0 && m.error > -4096 ? strerror(-m.error) : "?", (const char *)m.data);
	if (m.type == MSG_ABORT)
		return KH_FAIL(ECANCELED, "%s: the peer aborted", what);
	close_fds(&m);
	return KH_FAIL(EBADMSG, "%s: a %s message where %s comes", what, msg_name(m.type), msg_name(type));
}

/* ---- migrations under way (for cancel) ---- */

struct live {
	struct kvmhost_machine *m;
	struct kh_mig_ctl ctl;
	int cancelled, committed; /* under reg_lock */
	struct live *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live *reg;

static int live_register(struct live *l, struct kvmhost_machine *m, const struct kvmhost_migration_options *o,
			 const char *func)
{
	memset(l, 0, sizeof(*l));
	l->m = m;
	l->ctl.timeout_ms =
	    o->timeout_ms ? (int)KH_MIN(o->timeout_ms, (uint32_t)INT32_MAX) : (int)KVMHOST_MIGRATION_DEFAULT_TIMEOUT_MS;
	if ((l->ctl.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return kh_fail(errno, func, "eventfd: %s", strerror(errno));
	pthread_mutex_lock(&reg_lock);
	for (struct live *x = reg; x; x = x->next)
		if (x->m == m) {
			pthread_mutex_unlock(&reg_lock);
			close(l->ctl.wake_fd);
			return kh_fail(EBUSY, func, "machine %s: a migration is under way", m->cfg.name);
		}
	l->next = reg;
	reg = l;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static void live_unregister(struct live *l)
{
	pthread_mutex_lock(&reg_lock);
	for (struct live **x = &reg; *x; x = &(*x)->next)
		if (*x == l) {
			*x = l->next;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	close(l->ctl.wake_fd);
	free(l->ctl.ra);
	l->ctl.ra = NULL;
}

/* The commit: 0 and committed, or -ECANCELED when a cancel came first. */
static int live_commit(struct live *l)
{
	int r = 0;

	pthread_mutex_lock(&reg_lock);
	if (l->cancelled)
		r = KH_FAIL(ECANCELED, "machine %s: migration cancelled", l->m->cfg.name);
	else
		l->committed = 1;
	pthread_mutex_unlock(&reg_lock);
	return r;
}

KVMHOST_API int kvmhost_machine_migrate_cancel(struct kvmhost_machine *m)
{
	int r = -ENOENT;

	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	pthread_mutex_lock(&reg_lock);
	for (struct live *x = reg; x; x = x->next)
		if (x->m == m) {
			if (x->committed) {
				r = -EBUSY;
			} else {
				uint64_t one = 1;

				x->cancelled = 1;
				if (write(x->ctl.wake_fd, &one, sizeof(one)) < 0) {
					/* an eventfd below its maximum takes it */
				}
				r = 0;
			}
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	if (r == -ENOENT)
		return KH_FAIL(ENOENT, "machine %s: no migration under way", m->cfg.name);
	if (r == -EBUSY)
		return KH_FAIL(EBUSY, "machine %s: the migration is past its commit point", m->cfg.name);
	return 0;
}

static int is_stream_socket(int fd, int want_unix, const char *func)
{
	int type = 0;
	socklen_t len = sizeof(type);
	struct sockaddr_storage sa;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return kh_fail(errno == ENOTSOCK ? ENOTSOCK : errno, func,
			       "fd %d: live migration needs a connected stream socket (%s)", fd, strerror(errno));
	if (type != SOCK_STREAM)
		return kh_fail(ENOTSOCK, func, "fd %d: a socket of type %d, not a stream socket", fd, type);
	len = sizeof(sa);
	if (want_unix && (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.ss_family != AF_UNIX))
		return kh_fail(EINVAL, func, "fd %d: the same-host hand-over passes fds: it needs a Unix socket", fd);
	len = sizeof(sa);
	if (!want_unix && getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
	    (sa.ss_family == AF_INET || sa.ss_family == AF_INET6)) {
		int one = 1;

		/* TCP: the back channel's small messages (END, READY, GO, RUNNING) go out at once, not after the
		 * peer's delayed ACK of what Nagle holds them behind: each would add up to 40 ms to the downtime. */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			kh_log(KVMHOST_LOG_DEBUG, "fd %d: TCP_NODELAY: %s", fd, strerror(errno));
	}
	return 0;
}

/* The last error's text without the trailing ": <strerror(r)>" a wrap would repeat. */
static const char *prev_msg(char *buf, size_t size, int r)
{
	const char *e = kvmhost_strerror(r < 0 ? r : -r);
	size_t n, k = strlen(e);

	snprintf(buf, size, "%s", kvmhost_last_error());
	n = strlen(buf);
	if (n > k + 2 && strcmp(buf + n - k, e) == 0 && buf[n - k - 2] == ':')
		buf[n - k - 2] = 0;
	return buf;
}

static uint64_t us_since(uint64_t t0)
{
	return (kh_mig_now_ns() - t0) / 1000u;
}

/* ---- the source ---- */

struct region_log {
	struct kvmhost_memory_region *region;
	uint64_t *bitmap;  /* the dirty pages not sent yet: harvests OR into it, a pass sending them clears it */
	uint64_t *scratch; /* what one fetch (KVM's log, the VMM's bitmap) returns */
	size_t bitmap_size;
	int we_enabled; /* logging was off: turned off again at the end */
};

struct send {
	struct live l;
	struct kvmhost_machine *m;
	struct kvmhost_migration_options o;
	struct kh_mig_io io;
	struct kh_mig_counts c;
	struct kh_mig_ranges rs;
	struct region_log log[KH_MIG_MAX_RAM_RANGES];
	struct kvmhost_migration_stats st;
	uint64_t t0;
	uint32_t downtime_ms, max_iter;
	uint64_t dirty_pages;
	uint32_t header_flags;
	/* VERIFY: per range, the hash of each page as last sent and the pass that sent it */
	uint64_t *hash[KH_MIG_MAX_RAM_RANGES];
	uint8_t *hash_pass[KH_MIG_MAX_RAM_RANGES];
	/* auto-converge */
	pthread_t throttle_thread;
	int throttling;
	_Atomic uint32_t throttle_pct;
	_Atomic int throttle_stop;
	int throttle_fd; /* eventfd waking the throttle thread */
};

static int collect_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct send *s = opaque;
	uint32_t i;

	for (i = 0; i < s->rs.n; i++)
		if (s->rs.r[i].gpa == kvmhost_memory_region_gpa(region))
			break;
	if (i == s->rs.n)
		return KH_FAIL(EINVAL, "a region at 0x%llx is not in the RAM ranges",
			       (unsigned long long)kvmhost_memory_region_gpa(region));
	s->log[i].region = region;
	return 0;
}

static void progress(struct send *s, uint32_t phase, uint64_t dirty_rate, uint64_t bandwidth, uint64_t expect_us)
{
	struct kvmhost_migration_progress p = {.size = sizeof(p)};

	if (!s->o.progress)
		return;
	p.phase = phase;
	p.iteration = s->st.passes;
	p.throttle_percent = atomic_load(&s->throttle_pct);
	p.bytes_sent = s->io.bytes;
	p.dirty_pages = s->dirty_pages;
	p.dirty_rate = dirty_rate;
	p.bandwidth = bandwidth;
	p.expected_downtime_us = expect_us;
	p.elapsed_us = us_since(s->t0);
	s->o.progress(s->o.progress_opaque, &p);
}

/* Dirty logging on, every region; the log and the VMM's bitmap emptied (everything is sent next). */
static int start_logging(struct send *s)
{
	uint64_t t = kh_mig_now_ns();
	int r;

	for (uint32_t i = 0; i < s->rs.n; i++) {
		struct region_log *g = &s->log[i];

		g->bitmap_size = kvmhost_memory_region_bitmap_size(g->region);
		if (!(g->bitmap = calloc(1, g->bitmap_size)) || !(g->scratch = calloc(1, g->bitmap_size)))
			return KH_FAIL(ENOMEM, "cannot allocate %zu-byte dirty bitmaps", g->bitmap_size);
		if (!(kvmhost_memory_region_flags(g->region) & KVMHOST_MEMORY_LOG_DIRTY)) {
			if ((r = kvmhost_vm_set_dirty_logging(s->m->vm, g->region, 1)) < 0)
				return r;
			g->we_enabled = 1;
		}
		/* Emptied: the first pass, next, sends every page whatever these say. */
		if ((r = kvmhost_vm_get_dirty_log(s->m->vm, g->region, g->scratch, g->bitmap_size)) < 0 ||
		    (r = kvmhost_memory_fetch_vmm_dirty(g->region, g->scratch, g->bitmap_size)) < 0)
			return r;
	}
	s->st.log_start_us = us_since(t);
	return 0;
}

static void stop_logging(struct send *s)
{
	for (uint32_t i = 0; i < s->rs.n; i++) {
		struct region_log *g = &s->log[i];

		if (g->we_enabled && kvmhost_machine_get_state(s->m) != KVMHOST_MACHINE_STOPPED)
			kvmhost_vm_set_dirty_logging(s->m->vm, g->region, 0);
		free(g->bitmap);
		free(g->scratch);
		g->bitmap = g->scratch = NULL;
	}
}

/* KVM's log (GET + CLEAR: the pages are write-protected again before they are read) and the VMM's bitmap, ORed
 * into the pages still to send. Never a plain copy: GET + CLEAR hands each dirty page over exactly once, so a
 * harvest whose pages no pass sent yet (pre-copy deciding to stop right after it) must keep them for the last,
 * paused pass; overwriting them lost every page dirtied during the last pre-copy pass (docs/migration.md). */
static int harvest(struct send *s)
{
	uint64_t n = 0;
	int r;

	for (uint32_t i = 0; i < s->rs.n; i++) {
		struct region_log *g = &s->log[i];
		size_t words = g->bitmap_size / 8;

		if ((r = kvmhost_vm_get_dirty_log(s->m->vm, g->region, g->scratch, g->bitmap_size)) < 0)
			return r;
		for (size_t w = 0; w < words; w++)
			g->bitmap[w] |= g->scratch[w];
		if ((r = kvmhost_memory_fetch_vmm_dirty(g->region, g->scratch, g->bitmap_size)) < 0)
			return r;
		for (size_t w = 0; w < words; w++) {
			g->bitmap[w] |= g->scratch[w];
			n += (uint64_t)__builtin_popcountll(g->bitmap[w]);
		}
	}
	s->dirty_pages = n;
	return 0;
}

/* VERIFY: the pass number of each page the dirty bitmaps (NULL: every page) say this pass sends. */
static void note_pass(struct send *s, const uint64_t *const *bm)
{
	uint8_t pass = (uint8_t)KH_MIN(s->st.passes + 1u, 255u);

	for (uint32_t k = 0; k < s->rs.n && s->hash_pass[k]; k++)
		for (uint64_t i = 0; i < s->rs.r[k].length / KH_MIG_PAGE_SIZE; i++)
			if (!bm || (bm[k][i / 64] >> (i % 64)) & 1)
				s->hash_pass[k][i] = pass;
}

/* Every page (pass 1, or a paused machine's only pass). */
static int send_all(struct send *s)
{
	note_pass(s, NULL);
	return kh_mig_write_pages(&s->io, &s->c, kvmhost_machine_memory(s->m), s->rs.r, s->rs.n,
				  !!(s->o.flags & KVMHOST_MIGRATION_ALL_PAGES), NULL, s->hash[0] ? s->hash : NULL);
}

static int send_dirty(struct send *s)
{
	const uint64_t *bm[KH_MIG_MAX_RAM_RANGES];
	uint64_t before = s->c.data_pages + s->c.zero_pages;
	int r;

	for (uint32_t i = 0; i < s->rs.n; i++)
		bm[i] = s->log[i].bitmap;
	note_pass(s, bm);
	r = kh_mig_write_pages(&s->io, &s->c, kvmhost_machine_memory(s->m), s->rs.r, s->rs.n,
			       !!(s->o.flags & KVMHOST_MIGRATION_ALL_PAGES), bm, s->hash[0] ? s->hash : NULL);
	/* Sent (a failure ends the migration): a write after the harvest that took them is in the next one. */
	for (uint32_t i = 0; i < s->rs.n; i++)
		memset(s->log[i].bitmap, 0, s->log[i].bitmap_size);
	if (s->st.passes < KVMHOST_MIGRATION_STATS_PASSES)
		s->st.pass_pages[s->st.passes] = s->c.data_pages + s->c.zero_pages - before;
	s->st.passes++;
	return r;
}

/* Auto-converge: park the vCPUs for pct% of every period. */
#define THROTTLE_PERIOD_MS 50u

static void throttle_sleep(struct send *s, uint32_t ms)
{
	struct pollfd p = {.fd = s->throttle_fd, .events = POLLIN};

	if (ms)
		poll(&p, 1, (int)ms);
}

static void *throttle_main(void *arg)
{
	struct send *s = arg;

	while (!atomic_load(&s->throttle_stop)) {
		uint32_t pct = atomic_load(&s->throttle_pct), off = THROTTLE_PERIOD_MS * pct / 100u;

		throttle_sleep(s, THROTTLE_PERIOD_MS - off);
		if (atomic_load(&s->throttle_stop) || !off)
			continue;
		if (kh_machine_park_vcpus(s->m) < 0)
			break; /* stopped: the migration sees it */
		throttle_sleep(s, off);
		kh_machine_unpark_vcpus(s->m);
	}
	return NULL;
}

static int throttle(struct send *s, uint32_t pct)
{
	int r;

	atomic_store(&s->throttle_pct, pct);
	if (pct > s->st.throttle_percent)
		s->st.throttle_percent = pct;
	if (s->throttling)
		return 0;
	if ((s->throttle_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return KH_FAIL_ERRNO("eventfd");
	atomic_store(&s->throttle_stop, 0);
	if ((r = pthread_create(&s->throttle_thread, NULL, throttle_main, s)) != 0) {
		close(s->throttle_fd);
		return KH_FAIL(r, "cannot start the throttle thread");
	}
	s->throttling = 1;
	return 0;
}

static void throttle_end(struct send *s)
{
	uint64_t one = 1;

	if (!s->throttling)
		return;
	atomic_store(&s->throttle_stop, 1);
	if (write(s->throttle_fd, &one, sizeof(one)) < 0) {
		/* the eventfd takes it */
	}
	pthread_join(s->throttle_thread, NULL);
	close(s->throttle_fd);
	s->throttling = 0;
	atomic_store(&s->throttle_pct, 0);
}

/* What the state will take: measured the last time (this process), else a guess per vCPU. */
static uint64_t state_guess(const struct send *s)
{
	return 64u * 1024u + (uint64_t)s->m->ncpus * 16u * 1024u;
}

/*
 * After a pass: wait (the guest runs on) until what the socket still holds for the destination is down to
 * DRAIN_BYTES (SIOCOUTQ: bytes the peer has not read yet on a Unix socket, not yet acknowledged on TCP). A pass
 * "ends" when its last byte is in the socket buffer, so without it the bandwidth a pass measures was the
 * sender's, and when the source paused up to a socket buffer of pages (megabytes on TCP, whose buffers grow)
 * was still on its way, inside the downtime. With it a pass's time is until the destination has nearly all of
 * it, and its bandwidth is what the destination takes. A socket without SIOCOUTQ: no wait.
 */
#define DRAIN_BYTES (64u << 10)

static int drain(struct send *s)
{
	uint64_t t0 = kh_mig_now_ns();

	for (;;) {
		struct pollfd p[2] = {{.fd = s->io.ctl->wake_fd, .events = POLLIN}, {.fd = s->io.fd, .events = POLLIN}};
		int q = 0, n;

		if (ioctl(s->io.fd, SIOCOUTQ, &q) < 0 || q <= (int)DRAIN_BYTES)
			return 0;
		if ((kh_mig_now_ns() - t0) / 1000000u > (uint64_t)s->io.ctl->timeout_ms)
			return KH_FAIL(ETIMEDOUT, "the destination read nothing of the last %d bytes sent for %d ms", q,
				       s->io.ctl->timeout_ms);
		do
			n = poll(p, 2, 1);
		while (n < 0 && errno == EINTR);
		if (n > 0 && p[0].revents)
			return KH_FAIL(ECANCELED, "cancelled");
		if (n > 0 && p[1].revents)
			return KH_FAIL(ECONNRESET, "the peer spoke or closed while the pass drained (it failed)");
	}
}

/* A pass must send this much before its time says anything about the link's bandwidth. */
#define MEASURE_BYTES (256u << 10)

/* Pre-copy: the whole RAM, then passes of what was dirtied, until the rest fits the downtime. */
static int precopy(struct send *s)
{
	uint64_t bandwidth = 0, dirty_rate = 0, remaining, t_pass, t_harvest;
	uint32_t fast_passes = 0;
	int measured = 0;
	uint64_t last_pages; /* pages the pass just sent */
	int r;

	if ((r = start_logging(s)) < 0)
		return r;
	t_pass = t_harvest = kh_mig_now_ns();
	s->io.ctl->rl_start_ns = t_pass;
	s->io.ctl->rl_bytes = 0;
	if ((r = send_all(s)) < 0 || (r = drain(s)) < 0)
		return r;
	s->st.pass_pages[0] = s->c.data_pages + s->c.zero_pages;
	s->st.passes = 1;
	last_pages = s->st.pass_pages[0];
	for (;;) {
		uint64_t now = kh_mig_now_ns(), pass_ns = now - t_pass, bytes = s->io.ctl->rl_bytes, expect_us;

		/* Bandwidth of the pass just sent; a pass of a few pages (socket buffer) tells little. */
		if (bytes >= MEASURE_BYTES || !bandwidth)
			bandwidth = pass_ns ? bytes * 1000000000ull / pass_ns : 0;
		measured |= bytes >= MEASURE_BYTES;
		if (!bandwidth)
			bandwidth = 1;
		if ((r = harvest(s)) < 0)
			return r;
		dirty_rate =
		    now - t_harvest ? s->dirty_pages * KH_MIG_PAGE_SIZE * 1000000000ull / (now - t_harvest) : 0;
		t_harvest = now;
		remaining = s->dirty_pages * (KH_MIG_PAGE_SIZE + KH_MIG_MEM_RECORD) + state_guess(s);
		expect_us = remaining * 1000000ull / bandwidth;
		s->st.dirty_rate = dirty_rate;
		s->st.bandwidth = bandwidth;
		s->st.expected_downtime_us = expect_us;
		progress(s, KVMHOST_MIGRATION_PHASE_PRECOPY, dirty_rate, bandwidth, expect_us);
		/* Fits the budget; or nothing is dirty, so another pass cannot shorten the stop (what is left is the
		 * state, sent once whatever the estimate says: a small first pass, mostly zero pages, can make the
		 * measured bandwidth too low for even the state to "fit", as L1 under TCG showed). */
		if (!s->dirty_pages)
			return 0;
		/* Within the budget, one more pass while it pays: the expected stop is above a tenth of the budget
		 * and the pass just sent at least halved what is dirty (a guest writing little: the idle Linux
		 * guest's ~300 pages left after the pass over all of RAM, sent in a short pass while it runs, became
		 * a few dozen to send paused). A pass that did not halve it says the guest dirties about as fast as
		 * the passes send: stop. */
		if (expect_us <= (uint64_t)s->downtime_ms * 1000u &&
		    (expect_us <= (uint64_t)s->downtime_ms * 100u || s->st.passes >= s->max_iter ||
		     s->dirty_pages * 2 > last_pages))
			return 0;
		/* No pass has yet sent enough to measure the link (mostly zero pages, or a few dirty ones), and what
		 * is left is no more than such a pass: the estimate says nothing, and the rest is small. */
		if (!measured && remaining <= MEASURE_BYTES)
			return 0;
		if (s->st.passes >= s->max_iter)
			return KH_FAIL(ETIMEDOUT,
				       "no convergence after %u passes: %llu pages dirty (%llu bytes/s dirtied, %llu "
				       "bytes/s sent: %llu ms expected, %u ms allowed%s)",
				       s->st.passes, (unsigned long long)s->dirty_pages, (unsigned long long)dirty_rate,
				       (unsigned long long)bandwidth, (unsigned long long)(expect_us / 1000),
				       s->downtime_ms,
				       s->o.flags & KVMHOST_MIGRATION_AUTO_CONVERGE ? ", throttled" : "");
		if (s->o.flags & KVMHOST_MIGRATION_AUTO_CONVERGE) {
			uint32_t init = s->o.throttle_initial ? s->o.throttle_initial
							      : KVMHOST_MIGRATION_DEFAULT_THROTTLE_INIT,
				 step = s->o.throttle_increment ? s->o.throttle_increment
								: KVMHOST_MIGRATION_DEFAULT_THROTTLE_STEP,
				 max = s->o.throttle_max ? s->o.throttle_max : KVMHOST_MIGRATION_DEFAULT_THROTTLE_MAX,
				 after = s->o.throttle_after ? s->o.throttle_after
							     : KVMHOST_MIGRATION_DEFAULT_THROTTLE_AFTER;
			uint32_t pct = atomic_load(&s->throttle_pct);

			fast_passes = dirty_rate >= bandwidth / 2 ? fast_passes + 1 : 0;
			if (fast_passes >= after) {
				pct = pct ? KH_MIN(pct + step, KH_MIN(max, 99u)) : KH_MIN(init, KH_MIN(max, 99u));
				if ((r = throttle(s, pct)) < 0)
					return r;
			}
		}
		t_pass = kh_mig_now_ns();
		s->io.ctl->rl_start_ns = t_pass;
		s->io.ctl->rl_bytes = 0;
		last_pages = s->dirty_pages;
		if ((r = send_dirty(s)) < 0 || (r = drain(s)) < 0)
			return r;
	}
}

/* Ranges -> the FDS message: u32 n, n x (u64 gpa, u64 length, u64 offset), the fds alongside. */
static int send_fds(struct send *s)
{
	uint8_t buf[8 + 24 * KH_MIG_MAX_RAM_RANGES], *p = buf;
	int fds[KH_MIG_MAX_RAM_RANGES];

	kh_le_put(&p, s->rs.n, 4);
	kh_le_put(&p, 0, 4);
	for (uint32_t i = 0; i < s->rs.n; i++) {
		struct kvmhost_memory_region *g = s->log[i].region;

		fds[i] = kvmhost_memory_region_fd(g);
		/* A memfd maps from offset 0; a FILE region (a same-host destination's RAM: the source's memfd, which
		 * it may hand on) from the offset it keeps. */
		if (fds[i] < 0 || (g->backing != KVMHOST_MEMORY_MEMFD && g->backing != KVMHOST_MEMORY_HUGETLB &&
				   g->backing != KVMHOST_MEMORY_FILE))
			return KH_FAIL(EINVAL,
				       "RAM range %u is not memfd-backed: the same-host hand-over needs "
				       "KVMHOST_MACHINE_RAM_MEMFD (or RAM_SHARED, HUGETLB)",
				       i);
		kh_le_put(&p, s->rs.r[i].gpa, 8);
		kh_le_put(&p, s->rs.r[i].length, 8);
		kh_le_put(&p, g->backing == KVMHOST_MEMORY_FILE ? g->fd_offset : 0, 8);
	}
	return send_msg(&s->io, MSG_FDS, 0, buf, (uint32_t)(p - buf), fds, s->rs.n);
}

static void abort_peer(struct send *s, int at_boundary)
{
	s->io.ctl->timeout_ms = 200;
	s->io.ctl->watch_peer = 0;
	s->io.ctl->max_bandwidth = 0;
	if (at_boundary)
		send_msg(&s->io, MSG_ABORT, 0, NULL, 0, NULL, 0);
	shutdown(s->io.fd, SHUT_WR); /* the peer reads the end of the stream, wherever it was */
}

/* The destination spoke mid-stream: take its FAILED message for ours. */
static int peer_failure(struct send *s, int r)
{
	struct msg m;
	char mine[256];

	if (r != -ECONNRESET && r != -EPIPE)
		return r;
	prev_msg(mine, sizeof(mine), r);
	s->io.ctl->timeout_ms = 500;
	if (recv_msg(&s->io, &m, "the destination's message") == 0 && m.type == MSG_FAILED)
		return KH_FAIL(ECONNREFUSED, "the destination failed: %s", (const char *)m.data);
	return KH_FAIL(-r, "%s", mine);
}

/* VERIFY: paused, everything sent: every page must still be what the stream carries for it. */
static int verify(struct send *s)
{
	uint64_t bad = 0, first = 0, t = kh_mig_now_ns();
	int r;

	for (uint32_t k = 0; k < s->rs.n; k++) {
		uint64_t pages = s->rs.r[k].length / KH_MIG_PAGE_SIZE;
		void *hv;
		const uint8_t *host;

		if ((r = kvmhost_memory_translate(kvmhost_machine_memory(s->m), s->rs.r[k].gpa, s->rs.r[k].length,
						  &hv)) < 0)
			return r;
		host = hv;
		for (uint64_t i = 0; i < pages; i++) {
			uint64_t gpa = s->rs.r[k].gpa + i * KH_MIG_PAGE_SIZE;

			if (kh_mig_page_hash(host + i * KH_MIG_PAGE_SIZE) == s->hash[k][i])
				continue;
			if (!bad++)
				first = gpa;
			if (bad <= 32)
				kh_log(KVMHOST_LOG_ERROR,
				       "machine %s: verify: page 0x%llx changed after pass %u sent it (of %u passes), "
				       "and no dirty log said so",
				       s->m->cfg.name, (unsigned long long)gpa, s->hash_pass[k][i], s->st.passes);
		}
	}
	kh_log(KVMHOST_LOG_INFO, "machine %s: verify: %llu of %llu pages differ from what was sent (%llu us)",
	       s->m->cfg.name, (unsigned long long)bad,
	       (unsigned long long)(s->c.data_pages + s->c.zero_pages ? s->c.data_pages + s->c.zero_pages : 0),
	       (unsigned long long)us_since(t));
	if (bad)
		return KH_FAIL(EIO,
			       "%llu pages changed after they were last sent without being reported dirty (the first "
			       "at 0x%llx)",
			       (unsigned long long)bad, (unsigned long long)first);
	return 0;
}

static int alloc_verify(struct send *s)
{
	for (uint32_t k = 0; k < s->rs.n; k++) {
		uint64_t pages = s->rs.r[k].length / KH_MIG_PAGE_SIZE;

		if (!(s->hash[k] = calloc(pages ? pages : 1, sizeof(uint64_t))) ||
		    !(s->hash_pass[k] = calloc(pages ? pages : 1, 1)))
			return KH_FAIL(ENOMEM, "verify: cannot allocate the hashes of %llu pages",
				       (unsigned long long)pages);
	}
	return 0;
}

static int do_send(struct send *s, int *paused_by_us, int *committed, uint64_t *t_pause)
{
	struct kh_mig_feature f[KH_MIG_MAX_FEATURES];
	uint32_t nfeat = 0;
	int r, running = kvmhost_machine_get_state(s->m) == KVMHOST_MACHINE_RUNNING, same_host;
	uint64_t state_at;

	same_host = !!(s->o.flags & KVMHOST_MIGRATION_SAME_HOST);
	if ((r = kh_mig_get_ranges(s->m, &s->rs)) < 0 ||
	    (r = kvmhost_memory_for_each_region(kvmhost_machine_memory(s->m), collect_region, s)) < 0)
		return r;
	if ((s->o.flags & KVMHOST_MIGRATION_VERIFY) && (r = alloc_verify(s)) < 0)
		return r;
	/* vCPU 0's CPUID: KVM gives it only outside KVM_RUN, so park the vCPUs a moment (no pause, no event). */
	if (running && (r = kh_machine_park_vcpus(s->m)) < 0)
		return r;
	r = kh_mig_arch_features(s->m->cpu[0].vcpu, f, KH_MIG_MAX_FEATURES, &nfeat);
	if (running)
		kh_machine_unpark_vcpus(s->m);
	if (r < 0)
		return r;
	s->header_flags = KH_MIG_FLAG_LIVE | (same_host ? KH_MIG_FLAG_SHARED_MEMORY : 0);
	if ((r = kh_mig_write_header(&s->io, kh_mig_arch_id(), s->header_flags, f, nfeat)) < 0 ||
	    (r = kh_mig_write_config(&s->io, &s->c, s->m->ncpus, s->rs.r, s->rs.n)) < 0)
		return r;
	if ((r = expect_msg(&s->io, MSG_ACCEPT, ECONNREFUSED, "the destination's answer to the header")) < 0)
		return r;
	progress(s, KVMHOST_MIGRATION_PHASE_SETUP, 0, 0, 0);
	s->io.ctl->watch_peer = 1;
	if (same_host) {
		if ((r = send_fds(s)) < 0)
			return r;
	} else if (running) {
		s->io.ctl->max_bandwidth = s->o.max_bandwidth;
		if ((r = precopy(s)) < 0)
			return r;
	}
	throttle_end(s);
	/* Stop and copy. */
	s->io.ctl->max_bandwidth = 0;
	*t_pause = kh_mig_now_ns();
	if (running) {
		if ((r = kvmhost_machine_pause(s->m)) < 0)
			return r;
		*paused_by_us = 1;
	}
	progress(s, KVMHOST_MIGRATION_PHASE_STOPCOPY, 0, 0, 0);
	/* Paused: what the architecture keeps outside guest RAM goes into it before the last pass harvests it
	 * (arm64: the ITS tables and LPI pending bits, KVM's writes dirty the log). */
	if ((r = kh_mig_arch_prepare(s->m->vm)) < 0)
		return r;
	if (!same_host) {
		uint64_t before = s->c.data_pages + s->c.zero_pages;

		if (running) {
			if ((r = harvest(s)) < 0 || (r = send_dirty(s)) < 0)
				return r;
		} else if ((r = send_all(s)) < 0) {
			return r;
		} else {
			s->st.pass_pages[0] = s->c.data_pages + s->c.zero_pages;
			s->st.passes = 1;
		}
		s->st.last_pass_pages = s->c.data_pages + s->c.zero_pages - before;
	}
	state_at = s->io.bytes;
	if ((r = kh_mig_write_state(s->m, &s->io, &s->c)) < 0)
		return r;
	s->st.state_bytes = s->io.bytes - state_at;
	if (s->hash[0] && (r = verify(s)) < 0)
		return r;
	s->io.ctl->watch_peer = 0;
	if ((r = expect_msg(&s->io, MSG_READY, ECONNREFUSED, "the destination's READY")) < 0)
		return r;
	if ((r = live_commit(&s->l)) < 0)
		return r;
	/* GO: written whole, the destination may run from now on; not written whole, it cannot. */
	if ((r = send_msg(&s->io, MSG_GO, 0, NULL, 0, NULL, 0)) < 0)
		return r;
	*committed = 1;
	progress(s, KVMHOST_MIGRATION_PHASE_HANDOVER, 0, 0, 0);
	if ((r = expect_msg(&s->io, MSG_RUNNING, ECONNABORTED, "the destination's confirmation")) == 0)
		s->st.downtime_us = us_since(*t_pause);
	return r;
}

KVMHOST_API int kvmhost_machine_migrate_send(struct kvmhost_machine *m, int fd,
					     const struct kvmhost_migration_options *opts,
					     struct kvmhost_migration_stats *stats)
{
	struct send *s;
	int r, state, paused_by_us = 0, committed = 0;
	uint64_t t_pause = 0;

	if (!(s = calloc(1, sizeof(*s))))
		return KH_FAIL(ENOMEM, "cannot allocate a migration");
	s->t0 = kh_mig_now_ns();
	if ((r = kh_mig_load_options(&s->o, opts,
				     KVMHOST_MIGRATION_SAME_HOST | KVMHOST_MIGRATION_AUTO_CONVERGE |
					 KVMHOST_MIGRATION_ALL_PAGES | KVMHOST_MIGRATION_VERIFY,
				     __func__)) < 0)
		goto out_free;
	if ((s->o.flags & KVMHOST_MIGRATION_VERIFY) && (s->o.flags & KVMHOST_MIGRATION_SAME_HOST)) {
		r = KH_FAIL(EINVAL, "VERIFY checks the pages sent: a same-host hand-over sends none");
		goto out_free;
	}
	if (!m || fd < 0) {
		r = KH_FAIL(EINVAL, "%s", !m ? "machine is NULL" : "fd is negative");
		goto out_free;
	}
	if (kh_machine_is_self(m)) {
		r = KH_FAIL(EDEADLK, "machine %s: called from one of its own threads", m->cfg.name);
		goto out_free;
	}
	if (s->o.throttle_max > 99 || s->o.throttle_initial > 99 || s->o.throttle_increment > 99) {
		r = KH_FAIL(EINVAL, "throttle percentages above 99 (initial %u, increment %u, max %u)",
			    s->o.throttle_initial, s->o.throttle_increment, s->o.throttle_max);
		goto out_free;
	}
	state = kvmhost_machine_get_state(m);
	if (state != KVMHOST_MACHINE_RUNNING && state != KVMHOST_MACHINE_PAUSED) {
		r = KH_FAIL(EINVAL, "machine %s is not running or paused: nothing to migrate", m->cfg.name);
		goto out_free;
	}
	if ((r = is_stream_socket(fd, !!(s->o.flags & KVMHOST_MIGRATION_SAME_HOST), __func__)) < 0 ||
	    (r = live_register(&s->l, m, &s->o, __func__)) < 0)
		goto out_free;
	s->m = m;
	kh_mig_diff_invalidate(m, "a live migration (kvmhost_machine_migrate_send)"); /* its harvests take the logs */
	s->io = (struct kh_mig_io){.fd = fd, .ctl = &s->l.ctl};
	s->downtime_ms = s->o.downtime_limit_ms ? s->o.downtime_limit_ms : KVMHOST_MIGRATION_DEFAULT_DOWNTIME_MS;
	s->max_iter = s->o.max_iterations ? s->o.max_iterations : KVMHOST_MIGRATION_DEFAULT_MAX_ITERATIONS;

	r = do_send(s, &paused_by_us, &committed, &t_pause);
	throttle_end(s);
	if (r < 0 && !committed)
		r = peer_failure(s, r);
	if (r == 0) {
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_MIGRATED, UINT32_MAX, NULL, 0,
				     "migrated: the destination runs the guest");
		kvmhost_machine_wait(m, 10000);
		progress(s, KVMHOST_MIGRATION_PHASE_DONE, 0, 0, 0);
	} else if (!committed) {
		char msg[512];

		prev_msg(msg, sizeof(msg), r);
		abort_peer(s, s->io.ctl->watch_peer == 0);
		if (paused_by_us) {
			for (uint32_t i = 0; i < m->ncpus; i++)
				kh_mig_arch_before_resume(m->cpu[i].vcpu);
			kvmhost_machine_resume(m);
		}
		r = KH_FAIL(-r, "machine %s: migration failed, the machine %s: %s", m->cfg.name,
			    paused_by_us || state == KVMHOST_MACHINE_RUNNING ? "runs on" : "stays paused", msg);
	} else if (r == -ECONNABORTED && !(s->o.flags & KVMHOST_MIGRATION_SAME_HOST)) {
		char msg[512];

		prev_msg(msg, sizeof(msg), r);
		for (uint32_t i = 0; i < m->ncpus; i++)
			kh_mig_arch_before_resume(m->cpu[i].vcpu);
		if (paused_by_us)
			kvmhost_machine_resume(m);
		r = KH_FAIL(ECONNABORTED, "machine %s: the destination did not start the guest, this one %s: %s",
			    m->cfg.name, paused_by_us ? "runs on" : "stays paused", msg);
	} else {
		char msg[512];

		prev_msg(msg, sizeof(msg), r);
		r = KH_FAIL(r == -ECONNABORTED ? ECONNABORTED : EHOSTDOWN,
			    "machine %s: after the hand-over (GO sent): %s; the guest may run at the destination%s, so "
			    "this machine stays paused (resume it only knowing the destination is gone)",
			    m->cfg.name, msg,
			    r == -ECONNABORTED ? " (it says not, but the memory is shared and it may have written it)"
					       : "");
	}
	stop_logging(s);
	for (uint32_t k = 0; k < KH_MIG_MAX_RAM_RANGES; k++) {
		free(s->hash[k]);
		free(s->hash_pass[k]);
	}
	s->st.total_us = us_since(s->t0);
	kh_mig_fill_stats(stats, &s->io, &s->c, &s->st);
	live_unregister(&s->l);
	free(s);
	return r;
out_free:
	free(s);
	return r;
}

/* ---- the destination ---- */

struct recv {
	struct kvmhost_machine *m;
	struct kh_mig_io *io;
	int accepted;
	int timeout_ms;
};

/* Same-host: the source's RAM fds replace this machine's RAM regions (same place, same size). */
static int take_fds(struct recv *rc)
{
	struct kh_mig_ranges rs;
	struct msg msg;
	const uint8_t *p;
	struct kvmhost_memory_region *old[KH_MIG_MAX_RAM_RANGES];
	uint32_t n;
	int r;

	if ((r = recv_msg(rc->io, &msg, "the RAM fds")) < 0)
		return r;
	if (msg.type != MSG_FDS) {
		close_fds(&msg);
		return KH_FAIL(EBADMSG, "a %s message where the RAM fds come", msg_name(msg.type));
	}
	p = msg.data;
	n = msg.len >= 8 ? (uint32_t)kh_le_get(&p, 4) : UINT32_MAX;
	if ((r = kh_mig_get_ranges(rc->m, &rs)) < 0)
		goto out;
	if (n != rs.n || msg.nfds != n || msg.len != 8 + 24 * n) {
		r = KH_FAIL(EINVAL, "the RAM fds: %u ranges, %u fds in %u bytes; this machine has %u RAM ranges", n,
			    msg.nfds, msg.len, rs.n);
		goto out;
	}
	p += 4;
	for (uint32_t i = 0; i < rs.n; i++) {
		uint64_t gpa = kh_le_get(&p, 8), len = kh_le_get(&p, 8), off = kh_le_get(&p, 8);
		struct stat st;

		if (gpa != rs.r[i].gpa || len != rs.r[i].length || off % KH_MIG_PAGE_SIZE ||
		    fstat(msg.fds[i], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < off ||
		    (uint64_t)st.st_size - off < len) {
			r = KH_FAIL(EINVAL,
				    "RAM fd %u (0x%llx+0x%llx at offset 0x%llx) does not fit this machine's "
				    "range 0x%llx+0x%llx",
				    i, (unsigned long long)gpa, (unsigned long long)len, (unsigned long long)off,
				    (unsigned long long)rs.r[i].gpa, (unsigned long long)rs.r[i].length);
			goto out;
		}
	}
	/* Replace: remove each region and add the source's file in its place (an incoming machine never ran:
	 * nothing holds a pointer into its RAM yet). */
	{
		struct send tmp; /* collect_region's map of gpa -> region */

		memset(&tmp, 0, sizeof(tmp));
		tmp.rs = rs;
		if ((r = kvmhost_memory_for_each_region(kvmhost_machine_memory(rc->m), collect_region, &tmp)) < 0)
			goto out;
		for (uint32_t i = 0; i < rs.n; i++)
			old[i] = tmp.log[i].region;
	}
	p = msg.data + 8;
	for (uint32_t i = 0; i < rs.n && r == 0; i++) {
		struct kvmhost_memory_options mo = {.size = sizeof(mo)};
		uint64_t off;

		p += 16;
		off = kh_le_get(&p, 8);
		mo.guest_phys_addr = rs.r[i].gpa;
		mo.length = rs.r[i].length;
		mo.backing = KVMHOST_MEMORY_FILE;
		mo.flags = kvmhost_memory_region_flags(old[i]) & KVMHOST_MEMORY_LOG_DIRTY;
		mo.fd = msg.fds[i];
		mo.fd_offset = off;
		mo.name = "ram (same-host)";
		if ((r = kvmhost_vm_remove_memory(rc->m->vm, old[i])) == 0)
			r = kvmhost_vm_add_memory(rc->m->vm, &mo, NULL);
	}
out:
	close_fds(&msg); /* the regions hold duplicates */
	return r;
}

static int recv_after_config(void *opaque, uint32_t flags)
{
	struct recv *rc = opaque;
	int r;

	rc->io->ctl->timeout_ms = rc->timeout_ms; /* the stream has begun: from now on the peer must keep up */
	if (!(flags & KH_MIG_FLAG_LIVE))
		return 0;
	if ((r = send_msg(rc->io, MSG_ACCEPT, 0, NULL, 0, NULL, 0)) < 0)
		return r;
	rc->accepted = 1;
	if ((flags & KH_MIG_FLAG_SHARED_MEMORY) && (r = take_fds(rc)) < 0)
		return r;
	/* From here to the end marker only the stream comes (the source waits for READY after it): its reads
	 * may take the bytes behind them, and memory goes straight into the guest's RAM (stream.c). */
	rc->io->ctl->read_ahead = 1;
	return 0;
}

KVMHOST_API int kvmhost_machine_migrate_receive(struct kvmhost_machine *m, int fd,
						const struct kvmhost_migration_options *opts,
						struct kvmhost_migration_stats *stats)
{
	struct kvmhost_migration_options o;
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	struct kh_mig_counts c = {0};
	struct kh_mig_io io = {.fd = fd};
	struct recv rc = {0};
	struct kh_mig_hooks hooks;
	struct live l;
	uint64_t t0 = kh_mig_now_ns(), state_ns = 0, state_off = 0;
	int r, live_stream;

	if ((r = kh_mig_load_options(&o, opts, KVMHOST_MIGRATION_CLOCK_CATCH_UP, __func__)) < 0 ||
	    (r = kh_mig_check_incoming(m, fd, __func__)) < 0 || (r = is_stream_socket(fd, 0, __func__)) < 0 ||
	    (r = live_register(&l, m, &o, __func__)) < 0)
		return r;
	io.ctl = &l.ctl;
	rc.m = m;
	rc.io = &io;
	rc.timeout_ms = l.ctl.timeout_ms;
	l.ctl.timeout_ms = -1; /* an incoming machine waits for its source as long as it takes (cancel ends it) */
	hooks = (struct kh_mig_hooks){.accept_flags = KH_MIG_FLAG_LIVE | KH_MIG_FLAG_SHARED_MEMORY,
				      .after_config = recv_after_config,
				      .opaque = &rc};
	r = kh_mig_restore_stream(m, &io, o.flags, &hooks, &c, &state_ns, &state_off);
	live_stream = rc.accepted;
	l.ctl.read_ahead = 0;
	if (r == 0 && l.ctl.ra_pos < l.ctl.ra_len)
		r = KH_FAIL(EBADMSG, "%zu bytes after the stream's end marker", l.ctl.ra_len - l.ctl.ra_pos);
	if (r == 0 && live_stream && (r = send_msg(&io, MSG_READY, 0, NULL, 0, NULL, 0)) == 0)
		r = expect_msg(&io, MSG_GO, ECANCELED, "the source's GO");
	if (r == 0)
		r = live_commit(&l);
	if (r == 0 && (r = kvmhost_machine_start(m)) < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", kvmhost_last_error());
		kvmhost_machine_stop(m);
		kvmhost_machine_wait(m, 10000);
		r = KH_FAIL(-r, "%s", msg);
	}
	if (r == 0) {
		if (state_ns)
			st.downtime_us = us_since(state_ns);
		if (live_stream && send_msg(&io, MSG_RUNNING, 0, NULL, 0, NULL, 0) < 0) {
			/* The guest runs here now whatever the source hears: not a failure of this call. */
			kh_log(KVMHOST_LOG_WARN, "machine %s: runs, but the source did not get the confirmation: %s",
			       m->cfg.name, kvmhost_last_error());
		}
	} else {
		char msg[MSG_MAX];

		prev_msg(msg, sizeof(msg), r);
		if (kvmhost_machine_get_state(m) != KVMHOST_MACHINE_STOPPED)
			kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_HOST_ERROR, UINT32_MAX, NULL, r,
					     "migration failed: %.120s", msg);
		l.ctl.timeout_ms = 200;
		send_msg(&io, MSG_FAILED, r, msg, (uint32_t)strlen(msg), NULL, 0);
		shutdown(fd, SHUT_WR);
		r = KH_FAIL(-r, "%s", msg);
	}
	live_unregister(&l);
	st.total_us = us_since(t0);
	if (state_ns)
		st.state_bytes = io.bytes >= state_off ? io.bytes - state_off : 0;
	kh_mig_fill_stats(stats, &io, &c, &st);
	return r;
}

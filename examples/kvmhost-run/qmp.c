/*
 * qmp: the QMP server (see qmp.h): the Unix socket, the clients and their bounded queues, the protocol (greeting,
 * capabilities negotiation, checking each request as QEMU 7.2 does, with its error classes and texts) and the
 * events. The commands' replies are built in qmp_commands.c, the byte stream is cut into JSON texts by
 * qmp_stream.c, jansson parses and prints them.
 *
 * Lines go out as QEMU sends them: one JSON text per line, ", " and ": " separators, "\r\n" at the end. Every
 * write is non-blocking: what the socket does not take waits in the client's queue (bounded, QMP_MAX_OUTPUT) for
 * EPOLLOUT. A client that has closed its sending side still gets what is queued, then is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <jansson.h>
#include "qmp.h"
#include "qmp_commands.h"
#include "qmp_stream.h"

#define READ_CHUNK	     16384u /* bytes per recv() */
#define READS_PER_DISPATCH   4	    /* recv() calls for one client per dispatch: others get their turn */
#define ACCEPTS_PER_DISPATCH 16
#define EVENTS_PER_WAIT	     16

#define GENERIC_ERROR	   "GenericError"
#define COMMAND_NOT_FOUND  "CommandNotFound"
#define ALREADY_NEGOTIATED "Capabilities negotiation is already complete, command ignored"

struct qmp_client {
	struct qmp_server *server;
	int fd;
	bool negotiated;
	bool read_closed; /* the client sent EOF: send what is queued, then close */
	bool dead;	  /* to be closed once no dispatch is running */
	bool out_armed;	  /* EPOLLOUT is being watched */
	struct qmp_stream in;
	char *out; /* queued output: bytes [out_off, out_len) */
	size_t out_off, out_len, out_cap;
};

struct qmp_server {
	const struct qmp_ops *ops;
	void *opaque;
	int listen_fd, epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t path_dev; /* the socket file we made, to remove only that one */
	ino_t path_ino;
	bool path_ours;
	struct qmp_client *clients[QMP_MAX_CLIENTS];
	unsigned dispatching; /* nesting depth of dispatch: dead clients are freed at depth 0 */
	bool any_dead;
	char why[256]; /* the failing callback's text (qmp_server_set_error) */
};

static const char *const cause_names[QMP_CAUSE_COUNT] = {
    [QMP_CAUSE_HOST_ERROR] = "host-error",
    [QMP_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
    [QMP_CAUSE_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
    [QMP_CAUSE_HOST_SIGNAL] = "host-signal",
    [QMP_CAUSE_GUEST_SHUTDOWN] = "guest-shutdown",
    [QMP_CAUSE_GUEST_RESET] = "guest-reset",
    [QMP_CAUSE_GUEST_PANIC] = "guest-panic",
};

const char *qmp_shutdown_cause_name(enum qmp_shutdown_cause cause)
{
	return (unsigned)cause < QMP_CAUSE_COUNT ? cause_names[cause] : NULL;
}

/* ---- Clients: queues, writes, teardown ---- */

static void mark_dead(struct qmp_client *c)
{
	c->dead = true;
	c->server->any_dead = true;
}

static void watch(struct qmp_client *c, bool out)
{
	struct epoll_event ev = {.events = (c->read_closed ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (epoll_ctl(c->server->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		mark_dead(c);
	c->out_armed = out;
}

/* Send what the socket takes now; watch EPOLLOUT for the rest. */
static void flush(struct qmp_client *c)
{
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			mark_dead(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->read_closed)
			mark_dead(c);
	}
	if (!c->dead && c->out_armed != (c->out_len > 0))
		watch(c, c->out_len > 0);
}

/* Room for @n more queued bytes, within QMP_MAX_OUTPUT: a client that far behind is dropped. */
static bool reserve(struct qmp_client *c, size_t n)
{
	size_t queued = c->out_len - c->out_off, cap;
	char *out;

	if (c->dead)
		return false;
	if (n > QMP_MAX_OUTPUT - queued) {
		mark_dead(c);
		return false;
	}
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, queued);
		c->out_off = 0;
		c->out_len = queued;
	}
	if (queued + n <= c->out_cap)
		return true;
	for (cap = c->out_cap ? c->out_cap : 1024; cap < queued + n;)
		cap *= 2;
	if (!(out = realloc(c->out, cap))) {
		mark_dead(c);
		return false;
	}
	c->out = out;
	c->out_cap = cap;
	return true;
}

/* Queue @msg as one line and start sending it. */
static void send_json(struct qmp_client *c, const json_t *msg)
{
	size_t n = msg ? json_dumpb(msg, NULL, 0, 0) : 0;

	if (!n) {
		/* Only when jansson could not allocate: there is no reply to give, and the client would wait. */
		mark_dead(c);
		return;
	}
	if (!reserve(c, n + 2))
		return;
	json_dumpb(msg, c->out + c->out_len, n, 0);
	memcpy(c->out + c->out_len + n, "\r\n", 2);
	c->out_len += n + 2;
	flush(c);
}

static void free_client(struct qmp_client *c)
{
	epoll_ctl(c->server->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	qmp_stream_fini(&c->in);
	free(c->out);
	free(c);
}

static void reap(struct qmp_server *s)
{
	if (s->dispatching || !s->any_dead)
		return;
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		if (s->clients[i] && s->clients[i]->dead) {
			free_client(s->clients[i]);
			s->clients[i] = NULL;
		}
	s->any_dead = false;
}

/* ---- Replies ---- */

/* {"return": @ret, "id": @id}; @ret is consumed, @id (may be NULL) is not. */
static void reply_return(struct qmp_client *c, json_t *id, json_t *ret)
{
	json_t *msg = json_pack("{s:o}", "return", ret);

	if (msg && id)
		json_object_set(msg, "id", id);
	send_json(c, msg);
	json_decref(msg);
}

/* {"error": {"class": @class, "desc": ...}, "id": @id} */
static void reply_error(struct qmp_client *c, json_t *id, const char *class, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(struct qmp_client *c, json_t *id, const char *class, const char *fmt, ...)
{
	char *desc = NULL;
	json_t *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&desc, fmt, ap);
	va_end(ap);
	msg = json_pack("{s:{s:s, s:o}}", "error", "class", class, "desc",
			qmp_json_string_lossy(n < 0 ? "out of memory" : desc));
	free(n < 0 ? NULL : desc);
	if (msg && id)
		json_object_set(msg, "id", id);
	send_json(c, msg);
	json_decref(msg);
}

/* ---- Requests ---- */

/* qmp_capabilities: "enable" may only list capabilities the greeting offered, and it offers none. */
static void negotiate(struct qmp_client *c, json_t *id, json_t *args)
{
	json_t *value, *enable = args ? json_object_get(args, "enable") : NULL;
	size_t i;

	for (void *it = json_object_iter(args); it; it = json_object_iter_next(args, it)) {
		if (strcmp(json_object_iter_key(it), "enable")) {
			reply_error(c, id, GENERIC_ERROR, "Parameter '%s' is unexpected", json_object_iter_key(it));
			return;
		}
	}
	if (enable && !json_is_array(enable)) {
		reply_error(c, id, GENERIC_ERROR, "Invalid parameter type for 'enable', expected: array");
		return;
	}
	for (i = 0; i < json_array_size(enable); i++) {
		value = json_array_get(enable, i);
		if (!json_is_string(value))
			reply_error(c, id, GENERIC_ERROR, "Invalid parameter type for 'enable[%zu]', expected: string",
				    i);
		else if (!strcmp(json_string_value(value), "oob"))
			reply_error(c, id, GENERIC_ERROR, "Capability oob not available");
		else
			reply_error(c, id, GENERIC_ERROR, "Parameter 'enable[%zu]' does not accept value '%s'", i,
				    json_string_value(value));
		return;
	}
	c->negotiated = true;
	reply_return(c, id, json_object());
}

static void execute(struct qmp_client *c, json_t *id, const char *name, json_t *args)
{
	struct qmp_server *s = c->server;
	const struct qmp_command *cmd;
	json_t *ret;

	if (!strcmp(name, "qmp_capabilities")) {
		if (c->negotiated)
			reply_error(c, id, COMMAND_NOT_FOUND, "%s", ALREADY_NEGOTIATED);
		else
			negotiate(c, id, args);
		return;
	}
	if (!c->negotiated) {
		reply_error(c, id, COMMAND_NOT_FOUND, "Expecting capabilities negotiation with 'qmp_capabilities'");
		return;
	}
	if (!(cmd = qmp_command_find(s->ops, name))) {
		reply_error(c, id, COMMAND_NOT_FOUND, "The command %s has not been found", name);
		return;
	}
	s->why[0] = '\0';
	/* The arguments are the command's to check (most take none: "Parameter 'X' is unexpected"). */
	ret = qmp_command_run(cmd, s->ops, s->opaque, args, s->why, sizeof(s->why));
	if (ret)
		reply_return(c, id, ret);
	else
		reply_error(c, id, GENERIC_ERROR, "%s", s->why);
}

/* One JSON text from the client: checked the way QEMU's qmp_dispatch() checks it, in the same order. */
static void handle_text(struct qmp_client *c, const char *text, size_t len)
{
	json_t *req, *id, *args = NULL;
	const char *name = NULL;
	json_error_t e;

	req = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
	if (!req) {
		reply_error(c, NULL, GENERIC_ERROR, "JSON parse error, %s", e.text);
		return;
	}
	if (!json_is_object(req)) {
		reply_error(c, NULL, GENERIC_ERROR, "QMP input must be a JSON object");
		goto out;
	}
	id = json_object_get(req, "id");
	for (void *it = json_object_iter(req); it; it = json_object_iter_next(req, it)) {
		const char *key = json_object_iter_key(it);
		json_t *value = json_object_iter_value(it);

		if (!strcmp(key, "execute")) {
			if (!json_is_string(value)) {
				reply_error(c, id, GENERIC_ERROR, "QMP input member 'execute' must be a string");
				goto out;
			}
			name = json_string_value(value);
		} else if (!strcmp(key, "arguments")) {
			if (!json_is_object(value)) {
				reply_error(c, id, GENERIC_ERROR, "QMP input member 'arguments' must be an object");
				goto out;
			}
			args = value;
		} else if (strcmp(key, "id")) {
			/* exec-oob too: out-of-band execution is never enabled (no "oob" capability). */
			reply_error(c, id, GENERIC_ERROR, "QMP input member '%s' is unexpected", key);
			goto out;
		}
	}
	if (!name)
		reply_error(c, id, GENERIC_ERROR, "QMP input lacks member 'execute'");
	else
		execute(c, id, name, args);
out:
	json_decref(req);
}

static void take_input(struct qmp_client *c, const char *data, size_t size)
{
	while (size && !c->dead) {
		size_t used, len;
		enum qmp_stream_result r = qmp_stream_feed(&c->in, data, size, &used);
		const char *text;

		switch (r) {
		case QMP_STREAM_TEXT:
			text = qmp_stream_text(&c->in, &len);
			handle_text(c, text, len);
			break;
		case QMP_STREAM_TOO_BIG:
			reply_error(c, NULL, GENERIC_ERROR, "JSON message size limit exceeded (%u bytes)",
				    QMP_MAX_MESSAGE);
			break;
		case QMP_STREAM_TOO_DEEP:
			reply_error(c, NULL, GENERIC_ERROR, "JSON nesting depth limit exceeded");
			break;
		case QMP_STREAM_STRAY:
			reply_error(c, NULL, GENERIC_ERROR, "JSON parse error, stray '%c'", data[used - 1]);
			break;
		case QMP_STREAM_NO_MEMORY:
			reply_error(c, NULL, GENERIC_ERROR, "out of memory");
			break;
		case QMP_STREAM_MORE:
			break;
		}
		data += used;
		size -= used;
	}
}

static void read_client(struct qmp_client *c)
{
	char buf[READ_CHUNK];

	for (unsigned k = 0; k < READS_PER_DISPATCH && !c->dead && !c->read_closed; k++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR) {
			k--;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			mark_dead(c);
			return;
		}
		if (n == 0) {
			/* A message cut short by the EOF is dropped; what is queued still goes out. */
			c->read_closed = true;
			if (c->out_len == c->out_off)
				mark_dead(c);
			else
				watch(c, true);
			return;
		}
		take_input(c, buf, (size_t)n);
		if ((size_t)n < sizeof(buf))
			return;
	}
}

/* ---- Accepting ---- */

static json_t *greeting(struct qmp_server *s)
{
	struct qmp_version v = {0};

	if (!s->ops->query_version || s->ops->query_version(s->opaque, &v) < 0)
		v = (struct qmp_version){0};
	return json_pack("{s:{s:{s:{s:I, s:I, s:I}, s:o}, s:[]}}", "QMP", "version", "qemu", "major",
			 (json_int_t)v.major, "minor", (json_int_t)v.minor, "micro", (json_int_t)v.micro, "package",
			 qmp_json_string_lossy(v.package), "capabilities");
}

int qmp_server_add_client(struct qmp_server *s, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct qmp_client *c;
	unsigned slot;
	json_t *hello;
	int flags;

	if (!s || fd < 0)
		return -EINVAL;
	for (slot = 0; slot < QMP_MAX_CLIENTS && s->clients[slot]; slot++)
		;
	if (slot == QMP_MAX_CLIENTS)
		return -EBUSY;
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->server = s;
	c->fd = fd;
	qmp_stream_init(&c->in, QMP_MAX_MESSAGE, QMP_MAX_NESTING);
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		free(c);
		return -err;
	}
	s->clients[slot] = c;
	hello = greeting(s);
	send_json(c, hello);
	json_decref(hello);
	reap(s);
	return 0;
}

/* One client too many: it is told why, and closed. */
static void refuse(int fd)
{
	static const char line[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many QMP clients\"}}\r\n";

	(void)!send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT); /* closed either way */
	close(fd);
}

static void accept_clients(struct qmp_server *s)
{
	for (unsigned k = 0; k < ACCEPTS_PER_DISPATCH; k++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) /* EAGAIN: none left; EMFILE and the like: the next dispatch tries again */
			return;
		if (qmp_server_add_client(s, fd) < 0)
			refuse(fd);
	}
}

/* ---- The server ---- */

/* Whether a Unix socket at @path has a listener (a VMM of its own): then it is not stale. */
static bool socket_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return true;
	used =
	    connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return used;
}

static int listen_on(struct qmp_server *s, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;

	if (!path[0])
		return -EINVAL;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	strcpy(s->path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (socket_in_use(&addr))
			return -EADDRINUSE;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	s->path_ours = true;
	s->path_dev = st.st_dev;
	s->path_ino = st.st_ino;
	/* Nobody can connect before listen(), so the mode is set before the first client can come. */
	if (chmod(path, 0600) < 0 || listen(s->listen_fd, QMP_MAX_CLIENTS) < 0)
		return -errno;
	return 0;
}

int qmp_server_create(struct qmp_server **out, const char *path, const struct qmp_ops *ops, void *opaque)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct qmp_server *s;
	int r;

	if (!out || !path || !ops)
		return -EINVAL;
	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->ops = ops;
	s->opaque = opaque;
	s->listen_fd = s->epfd = -1;
	ev.data.ptr = s;
	if ((r = listen_on(s, path)) < 0 || (s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
		if (!r)
			r = -errno;
		qmp_server_destroy(s);
		return r;
	}
	*out = s;
	return 0;
}

void qmp_server_destroy(struct qmp_server *s)
{
	struct stat st;

	if (!s)
		return;
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++)
		if (s->clients[i]) {
			flush(s->clients[i]); /* the reply to `quit` included */
			free_client(s->clients[i]);
		}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path_ours && lstat(s->path, &st) == 0 && st.st_dev == s->path_dev && st.st_ino == s->path_ino)
		unlink(s->path);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
}

int qmp_server_fd(const struct qmp_server *s)
{
	return s ? s->epfd : -EINVAL;
}

int qmp_server_dispatch(struct qmp_server *s)
{
	struct epoll_event ev[EVENTS_PER_WAIT];
	int n;

	if (!s)
		return -EINVAL;
	n = epoll_wait(s->epfd, ev, EVENTS_PER_WAIT, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	s->dispatching++;
	for (int i = 0; i < n; i++) {
		struct qmp_client *c = ev[i].data.ptr;

		if (ev[i].data.ptr == s) {
			accept_clients(s);
			continue;
		}
		if (c->dead)
			continue;
		if (ev[i].events & EPOLLOUT)
			flush(c);
		if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			if (c->read_closed) /* EPOLLHUP after our EOF: the peer is gone, nothing more will go out */
				mark_dead(c);
			else
				read_client(c);
		}
	}
	s->dispatching--;
	reap(s);
	return 0;
}

void qmp_server_on_ready(int fd, uint32_t events, void *server)
{
	(void)fd;
	(void)events;
	qmp_server_dispatch(server);
}

unsigned qmp_server_client_count(const struct qmp_server *s)
{
	unsigned n = 0;

	for (unsigned i = 0; s && i < QMP_MAX_CLIENTS; i++)
		n += s->clients[i] && !s->clients[i]->dead;
	return n;
}

/* ---- Events ---- */

static bool valid_event_name(const char *name)
{
	if (!name || !name[0] || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int send_event(struct qmp_server *s, const char *name, json_t *data)
{
	struct timespec now;
	json_t *msg;
	int sent = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	msg = json_pack("{s:s}", "event", name);
	if (msg && data && json_object_set(msg, "data", data) < 0)
		goto nomem;
	if (msg && json_object_set_new(msg, "timestamp",
				       json_pack("{s:I, s:I}", "seconds", (json_int_t)now.tv_sec, "microseconds",
						 (json_int_t)(now.tv_nsec / 1000))) < 0)
		goto nomem;
	if (!msg)
		return -ENOMEM;
	for (unsigned i = 0; i < QMP_MAX_CLIENTS; i++) {
		struct qmp_client *c = s->clients[i];

		if (c && c->negotiated && !c->dead) {
			send_json(c, msg);
			sent += !c->dead;
		}
	}
	json_decref(msg);
	reap(s);
	return sent;
nomem:
	json_decref(msg);
	return -ENOMEM;
}

int qmp_server_event(struct qmp_server *s, const char *name, const char *data_json)
{
	json_t *data = NULL;
	int r;

	if (!s || !valid_event_name(name))
		return -EINVAL;
	if (data_json) {
		data = json_loads(data_json, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(data)) {
			json_decref(data);
			return -EINVAL;
		}
	}
	r = send_event(s, name, data);
	json_decref(data);
	return r;
}

int qmp_server_event_cause(struct qmp_server *s, const char *name, enum qmp_shutdown_cause cause)
{
	const char *reason = qmp_shutdown_cause_name(cause);
	json_t *data;
	int r;

	if (!s || !valid_event_name(name) || !reason)
		return -EINVAL;
	data = json_pack("{s:b, s:s}", "guest", !strncmp(reason, "guest-", 6), "reason", reason);
	if (!data)
		return -ENOMEM;
	r = send_event(s, name, data);
	json_decref(data);
	return r;
}

int qmp_server_event_migration(struct qmp_server *s, enum qmp_migration_status status)
{
	const char *name = qmp_migration_status_name(status);
	json_t *data;
	int r;

	if (!s || !name)
		return -EINVAL;
	if (!(data = json_pack("{s:s}", "status", name)))
		return -ENOMEM;
	r = send_event(s, "MIGRATION", data);
	json_decref(data);
	return r;
}

void qmp_server_set_error(struct qmp_server *s, const char *fmt, ...)
{
	va_list ap;

	if (!s || !fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

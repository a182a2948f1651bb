/*
 * kvmhostctl: a small QMP client for people and scripts, for kvmhost-run's --control socket or QEMU's -qmp one.
 * It connects, reads the greeting, negotiates capabilities, sends one command, prints the reply and, when asked,
 * the events that come with it:
 *
 *   kvmhostctl [OPTIONS] PATH [COMMAND [JSON-ARGS]]
 *     --compact       one line per message, as the server sent it (default: indented)
 *     --shape         the messages' shapes instead of their values: keys (sorted) and JSON types, recursively,
 *                     an array by its first element; an error's "class" and an event's name are kept, as they
 *                     are part of the contract. Two servers' replies compare as text this way.
 *     --greeting      print the greeting first
 *     --events N      also print the next N events (those that came before the reply count)
 *     --event NAME    also wait for the event NAME and print it (others are ignored)
 *     --timeout SECS  give up after this long in all (default 10)
 *
 * The reply is printed first, then the events, in the order they came. Exit status: 0 the reply was a "return",
 * 1 it was an "error", 2 a usage error, no connection, a timeout, or a server that does not speak QMP.
 * Without COMMAND it only negotiates (and waits for the events asked for).
 *
 * The server is not trusted: a message is at most MAX_MESSAGE bytes and must be valid JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <jansson.h>

#define PROG	    "kvmhostctl"
#define MAX_MESSAGE (16u << 20)

enum { EXIT_RETURN = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 }; /* EXIT_USAGE: also no connection, no QMP */

struct options {
	const char *path, *command, *args, *event;
	bool shape, compact, greeting;
	long events;
	double timeout;
};

/* A buffered reader over the socket, handing jansson one byte at a time so that it never reads past a message. */
struct reader {
	int fd;
	char buf[4096];
	size_t pos, len;
	size_t taken; /* bytes of the message being parsed */
	struct timespec deadline;
	bool eof, timed_out, too_big;
};

static int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	return status;
}

static int usage(void)
{
	fputs("usage: " PROG " [--compact|--shape] [--greeting] [--events N|--event NAME] [--timeout SECS] PATH "
	      "[COMMAND [JSON-ARGS]]\n",
	      stderr);
	return EXIT_USAGE;
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

static size_t read_byte(void *buffer, size_t buflen, void *data)
{
	struct reader *r = data;
	struct pollfd p = {.fd = r->fd, .events = POLLIN};
	ssize_t n;

	if (!buflen)
		return 0;
	while (r->pos == r->len) {
		if (r->eof)
			return 0;
		n = poll(&p, 1, (int)ms_left(&r->deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			r->timed_out = true;
			return (size_t)-1;
		}
		n = n < 0 ? -1 : recv(r->fd, r->buf, sizeof(r->buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (size_t)-1;
		if (n == 0)
			r->eof = true;
		r->pos = 0;
		r->len = (size_t)n;
	}
	if (++r->taken > MAX_MESSAGE) {
		r->too_big = true;
		return (size_t)-1;
	}
	*(char *)buffer = r->buf[r->pos++];
	return 1;
}

/* The next message, which must be a JSON object; NULL after saying why. */
static json_t *read_message(struct reader *r)
{
	json_error_t e;
	json_t *msg;

	r->taken = 0;
	msg = json_load_callback(read_byte, r, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &e);
	if (msg && json_is_object(msg))
		return msg;
	json_decref(msg);
	if (r->timed_out)
		say(0, "timed out waiting for the server");
	else if (r->too_big)
		say(0, "the server sent a message of more than %u bytes", MAX_MESSAGE);
	else if (r->eof && r->pos == r->len && !msg)
		say(0, "the server closed the connection");
	else
		say(0, "the server sent %s: %s", msg ? "a JSON text that is not an object" : "bad JSON",
		    msg ? "" : e.text);
	return NULL;
}

static int send_message(int fd, const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t len, off = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len] = '\n'; /* json_dumps' NUL becomes the line's end */
	while (off <= len) {
		ssize_t n = send(fd, text + off, len + 1 - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(text);
			return -errno;
		}
		off += (size_t)n;
	}
	free(text);
	return 0;
}

/* The shape of @v: keys and types. @key is the key @v sits under, @parent the key of the object holding it. */
static json_t *shape(const json_t *v, const char *key, const char *parent)
{
	json_t *out;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		out = json_object();
		for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it))
			json_object_set_new(out, json_object_iter_key(it),
					    shape(json_object_iter_value(it), json_object_iter_key(it), key));
		return out;
	case JSON_ARRAY:
		out = json_array();
		if (json_array_size(v))
			json_array_append_new(out, shape(json_array_get(v, 0), NULL, key));
		return out;
	case JSON_STRING:
		/* Values that are the contract itself: an error's class, an event's name. */
		if ((key && parent && !strcmp(key, "class") && !strcmp(parent, "error")) ||
		    (key && !parent && !strcmp(key, "event")))
			return json_copy((json_t *)v);
		return json_string("string");
	case JSON_INTEGER:
		return json_string("int");
	case JSON_REAL:
		return json_string("number");
	case JSON_TRUE:
	case JSON_FALSE:
		return json_string("bool");
	case JSON_NULL:
		return json_string("null");
	}
	return json_string("?");
}

static void print(const struct options *o, const json_t *msg)
{
	json_t *shown = o->shape ? shape(msg, NULL, NULL) : json_incref((json_t *)msg);
	size_t flags = o->compact ? 0 : JSON_INDENT(2);

	if (o->shape)
		flags |= JSON_SORT_KEYS;
	json_dumpf(shown, stdout, flags);
	fputc('\n', stdout);
	json_decref(shown);
}

static bool wanted_event(const struct options *o, const json_t *msg, long *seen)
{
	const char *name = json_string_value(json_object_get(msg, "event"));

	if (o->event)
		return name && !strcmp(name, o->event) && (*seen)++ == 0;
	return (*seen)++ < o->events;
}

static bool events_done(const struct options *o, long seen)
{
	return o->event ? seen > 0 : seen >= o->events;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longs[] = {
	    {"compact", no_argument, NULL, 'c'},     {"shape", no_argument, NULL, 's'},
	    {"greeting", no_argument, NULL, 'g'},    {"events", required_argument, NULL, 'n'},
	    {"event", required_argument, NULL, 'e'}, {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},	     {NULL, 0, NULL, 0},
	};
	char *end;
	int opt;

	o->timeout = 10;
	while ((opt = getopt_long(argc, argv, "+", longs, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->compact = true;
			break;
		case 's':
			o->shape = true;
			break;
		case 'g':
			o->greeting = true;
			break;
		case 'n':
			errno = 0;
			o->events = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o->events < 0 || o->events > 1000000)
				return say(EXIT_USAGE, "--events wants a count, not '%s'", optarg);
			break;
		case 'e':
			o->event = optarg;
			break;
		case 't':
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->timeout > 0 && o->timeout <= 86400))
				return say(EXIT_USAGE, "--timeout wants seconds, not '%s'", optarg);
			break;
		case 'h':
			usage();
			return -1;
		default:
			return usage();
		}
	}
	if (o->event && o->events)
		return say(EXIT_USAGE, "--events and --event do not go together");
	if (optind >= argc || argc - optind > 3)
		return usage();
	o->path = argv[optind];
	o->command = optind + 1 < argc ? argv[optind + 1] : NULL;
	o->args = optind + 2 < argc ? argv[optind + 2] : NULL;
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Send @request and read until its reply, keeping the events asked for; the reply, or NULL after saying why. */
static json_t *transact(const struct options *o, struct reader *r, json_t *request, json_t *events, long *seen)
{
	json_t *msg;
	int err;

	if ((err = send_message(r->fd, request)) < 0) {
		say(0, "sending to the server: %s", strerror(-err));
		return NULL;
	}
	while ((msg = read_message(r))) {
		if (!json_object_get(msg, "event")) {
			if (json_object_get(msg, "return") || json_object_get(msg, "error"))
				return msg;
			say(0, "the server sent a message that is no reply, error or event");
			json_decref(msg);
			return NULL;
		}
		if (wanted_event(o, msg, seen))
			json_array_append(events, msg);
		json_decref(msg);
	}
	return NULL;
}

static int run(const struct options *o, struct reader *r, json_t *args)
{
	json_t *greeting, *request, *reply = NULL, *events = json_array(), *msg;
	long seen = 0;
	int status = EXIT_USAGE;
	size_t i;

	if (!(greeting = read_message(r)))
		goto out;
	if (!json_is_object(json_object_get(greeting, "QMP"))) {
		json_t *desc = json_object_get(json_object_get(greeting, "error"), "desc");

		say(0, "%s", json_is_string(desc) ? json_string_value(desc) : "the server sent no QMP greeting");
		goto out;
	}
	if (o->greeting)
		print(o, greeting);
	request = json_pack("{s:s}", "execute", "qmp_capabilities");
	reply = transact(o, r, request, events, &seen);
	json_decref(request);
	if (!reply)
		goto out;
	if (!json_object_get(reply, "return")) {
		say(0, "capabilities negotiation failed");
		print(o, reply);
		goto out;
	}
	json_decref(reply);
	reply = NULL;
	if (o->command) {
		request = json_pack("{s:s}", "execute", o->command);
		if (request && args)
			json_object_set(request, "arguments", args);
		reply = transact(o, r, request, events, &seen);
		json_decref(request);
		if (!reply)
			goto out;
	}
	while (!events_done(o, seen) && (msg = read_message(r))) {
		if (json_object_get(msg, "event") && wanted_event(o, msg, &seen))
			json_array_append(events, msg);
		json_decref(msg);
	}
	if (reply)
		print(o, reply);
	for (i = 0; i < json_array_size(events); i++)
		print(o, json_array_get(events, i));
	if (!events_done(o, seen))
		goto out;
	status = !reply || json_object_get(reply, "return") ? EXIT_RETURN : EXIT_ERROR;
out:
	fflush(stdout);
	json_decref(greeting);
	json_decref(reply);
	json_decref(events);
	return status;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct reader r = {.fd = -1};
	json_t *args = NULL;
	json_error_t e;
	struct timespec now;
	int status;

	if ((status = parse_options(&o, argc, argv)))
		return status < 0 ? 0 : status;
	if (o.args) {
		args = json_loads(o.args, JSON_REJECT_DUPLICATES, &e);
		if (!json_is_object(args)) {
			json_decref(args);
			return say(EXIT_USAGE, "JSON-ARGS must be a JSON object, not '%s'", o.args);
		}
	}
	if ((r.fd = connect_to(o.path)) < 0) {
		json_decref(args);
		return say(EXIT_USAGE, "%s: %s", o.path, strerror(errno));
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	r.deadline.tv_sec = now.tv_sec + (time_t)o.timeout;
	r.deadline.tv_nsec = now.tv_nsec + (long)((o.timeout - (double)(time_t)o.timeout) * 1e9);
	if (r.deadline.tv_nsec >= 1000000000L) {
		r.deadline.tv_sec++;
		r.deadline.tv_nsec -= 1000000000L;
	}
	status = run(&o, &r, args);
	close(r.fd);
	json_decref(args);
	return status;
}

/*
 * Unit tests of examples/kvmhost-run's QMP server (qmp.c, qmp_commands.c, qmp_stream.c) on the fake VM of
 * tests/qmp/qmp_fake_vm.c: clients on a real Unix socket in a temporary directory, the server driven by hand
 * (dispatch until it has nothing ready) in the same thread. The greeting, negotiation, every command's reply
 * shape, `id` echo, QEMU's errors for bad requests, bad bytes (truncated, 1 MiB, invalid UTF-8, not an object,
 * too deep), many messages in one write and one message in many, a client that does not read, one client too
 * many, events for negotiated clients only, and the JSON stream splitter on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>
#include <jansson.h>
#include "qmp.h"
#include "qmp_fake_vm.h"
#include "qmp_stream.h"

struct fixture {
	char dir[64], path[128];
	struct qmp_fake_vm vm;
	struct qmp_server *server;
};

struct peer {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/qmp_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	qmp_fake_vm_init(&f->vm);
	assert_int_equal(qmp_server_create(&f->server, f->path, &qmp_fake_vm_ops, &f->vm), 0);
	f->vm.server = f->server;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	qmp_server_destroy(f->server);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Dispatch until the server has nothing ready. */
static void pump(struct fixture *f)
{
	struct pollfd p = {.fd = qmp_server_fd(f->server), .events = POLLIN};

	for (int i = 0; i < 10000 && poll(&p, 1, 0) > 0; i++)
		assert_int_equal(qmp_server_dispatch(f->server), 0);
}

static void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->buf);
	free(p);
}

static struct peer *peer_connect(struct fixture *f)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct peer *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	strcpy(addr.sun_path, f->path);
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(p->fd >= 0);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	pump(f);
	return p;
}

/* Take what the socket has (non-blocking). */
static void peer_fill(struct peer *p)
{
	for (;;) {
		ssize_t n;

		if (p->cap - p->len < 65536) {
			p->cap = p->cap * 2 + 65536;
			p->buf = realloc(p->buf, p->cap);
			assert_non_null(p->buf);
		}
		n = recv(p->fd, p->buf + p->len, p->cap - p->len, MSG_DONTWAIT);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			p->eof = true;
		return;
	}
}

/* The next line the server sent, parsed (it must be a JSON object), within 2 s; NULL at EOF. */
static json_t *peer_read(struct fixture *f, struct peer *p)
{
	for (int i = 0; i < 400; i++) {
		char *end;

		pump(f);
		peer_fill(p);
		end = p->len ? memmem(p->buf, p->len, "\r\n", 2) : NULL;
		if (end) {
			size_t line = (size_t)(end - p->buf);
			json_error_t e;
			json_t *msg = json_loadb(p->buf, line, 0, &e);

			if (!msg)
				fail_msg("the server sent a line that is not JSON: %s: %.*s", e.text, (int)line,
					 p->buf);
			assert_true(json_is_object(msg));
			memmove(p->buf, end + 2, p->len - line - 2);
			p->len -= line + 2;
			return msg;
		}
		if (p->eof)
			return NULL;
		poll(&(struct pollfd){.fd = p->fd, .events = POLLIN}, 1, 5);
	}
	fail_msg("no message from the server in 2 s");
	return NULL;
}

/* Nothing more arrives (within 50 ms of dispatching). */
static void assert_silent(struct fixture *f, struct peer *p)
{
	for (int i = 0; i < 10; i++) {
		pump(f);
		poll(&(struct pollfd){.fd = p->fd, .events = POLLIN}, 1, 5);
	}
	peer_fill(p);
	if (p->len)
		fail_msg("unexpected output: %.*s", (int)p->len, p->buf);
}

/* Send all of @data, dispatching while the socket is full. */
static void peer_send_bytes(struct fixture *f, struct peer *p, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(p->fd, (const char *)data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		assert_true(n < 0 && (errno == EAGAIN || errno == EINTR));
		pump(f);
		peer_fill(p); /* the replies must not fill our own buffer meanwhile */
	}
	pump(f);
}

static void peer_send(struct fixture *f, struct peer *p, const char *text)
{
	peer_send_bytes(f, p, text, strlen(text));
}

static json_t *command(struct fixture *f, struct peer *p, const char *text)
{
	peer_send(f, p, text);
	return peer_read(f, p);
}

static void assert_return(json_t *msg)
{
	assert_non_null(msg);
	if (!json_object_get(msg, "return")) {
		char *s = json_dumps(msg, 0);

		fail_msg("not a return: %s", s);
	}
}

static void assert_empty_return(json_t *msg)
{
	assert_return(msg);
	assert_true(json_is_object(json_object_get(msg, "return")));
	assert_int_equal(json_object_size(json_object_get(msg, "return")), 0);
}

/* An error reply of @class whose desc starts with @desc. */
static void assert_error(json_t *msg, const char *class, const char *desc)
{
	json_t *error;
	const char *d;

	assert_non_null(msg);
	error = json_object_get(msg, "error");
	if (!json_is_object(error)) {
		char *s = json_dumps(msg, 0);

		fail_msg("not an error: %s", s);
	}
	assert_int_equal(json_object_size(error), 2);
	assert_string_equal(json_string_value(json_object_get(error, "class")), class);
	d = json_string_value(json_object_get(error, "desc"));
	assert_non_null(d);
	if (strncmp(d, desc, strlen(desc)))
		fail_msg("desc '%s' does not start with '%s'", d, desc);
	assert_null(json_object_get(msg, "return"));
}

static void take_error(json_t *msg, const char *class, const char *desc)
{
	assert_error(msg, class, desc);
	json_decref(msg);
}

static void take_empty_return(json_t *msg)
{
	assert_empty_return(msg);
	json_decref(msg);
}

static struct peer *negotiated_peer(struct fixture *f)
{
	struct peer *p = peer_connect(f);

	json_decref(peer_read(f, p)); /* the greeting */
	take_empty_return(command(f, p, "{\"execute\": \"qmp_capabilities\"}"));
	return p;
}

static void assert_member(json_t *obj, const char *key, json_type type)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		fail_msg("no member '%s'", key);
	if (type == JSON_TRUE)
		assert_true(json_is_boolean(v));
	else
		assert_int_equal(json_typeof(v), type);
}

/* ---- Greeting and negotiation ---- */

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	json_t *g = peer_read(f, p), *qmp, *version, *qemu;

	assert_int_equal(json_object_size(g), 1);
	qmp = json_object_get(g, "QMP");
	assert_true(json_is_object(qmp));
	assert_int_equal(json_object_size(qmp), 2);
	assert_true(json_is_array(json_object_get(qmp, "capabilities")));
	assert_int_equal(json_array_size(json_object_get(qmp, "capabilities")), 0); /* no "oob" */
	version = json_object_get(qmp, "version");
	assert_string_equal(json_string_value(json_object_get(version, "package")), "kvmhost-run (fake VM)");
	qemu = json_object_get(version, "qemu");
	assert_int_equal(json_integer_value(json_object_get(qemu, "major")), 0);
	assert_int_equal(json_integer_value(json_object_get(qemu, "minor")), 1);
	assert_member(qemu, "micro", JSON_INTEGER);
	json_decref(g);
	assert_int_equal(qmp_server_client_count(f->server), 1);
	peer_close(p);
}

static void test_negotiation(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	json_t *r;

	json_decref(peer_read(f, p));
	/* Before negotiation every command but qmp_capabilities is refused, as QEMU refuses it. */
	r = command(f, p, "{\"execute\": \"query-status\", \"id\": 7}");
	assert_error(r, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	json_decref(r);
	take_error(command(f, p, "{\"execute\": \"no-such-command\"}"), "CommandNotFound", "Expecting capabilities");
	/* qmp_capabilities' own arguments are checked. */
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"),
		   "GenericError", "Capability oob not available");
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}"),
		   "GenericError", "Parameter 'enable[0]' does not accept value 'x'");
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}"),
		   "GenericError", "Invalid parameter type for 'enable[0]'");
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}"),
		   "GenericError", "Invalid parameter type for 'enable', expected: array");
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"foo\": 1}}"), "GenericError",
		   "Parameter 'foo' is unexpected");
	/* Still not negotiated after all that. */
	take_error(command(f, p, "{\"execute\": \"query-status\"}"), "CommandNotFound", "Expecting capabilities");
	r = command(f, p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}, \"id\": \"n\"}");
	assert_empty_return(r);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "n");
	json_decref(r);
	take_error(command(f, p, "{\"execute\": \"qmp_capabilities\"}"), "CommandNotFound",
		   "Capabilities negotiation is already complete, command ignored");
	r = command(f, p, "{\"execute\": \"query-status\"}");
	assert_return(r);
	json_decref(r);
	peer_close(p);
}

/* ---- Commands ---- */

static void test_query_status(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	json_t *r = command(f, p, "{\"execute\": \"query-status\"}"), *ret = json_object_get(r, "return");

	assert_int_equal(json_object_size(r), 1);
	assert_int_equal(json_object_size(ret), 3);
	assert_true(json_is_false(json_object_get(ret, "running")));
	assert_true(json_is_false(json_object_get(ret, "singlestep")));
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "prelaunch");
	json_decref(r);
	f->vm.state = QMP_RUN_STATE_RUNNING;
	r = command(f, p, "{\"execute\": \"query-status\"}");
	ret = json_object_get(r, "return");
	assert_true(json_is_true(json_object_get(ret, "running")));
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(r);
	for (int s = 0; s < QMP_RUN_STATE_COUNT; s++) {
		f->vm.state = (enum qmp_run_state)s;
		r = command(f, p, "{\"execute\": \"query-status\"}");
		assert_string_equal(json_string_value(json_object_get(json_object_get(r, "return"), "status")),
				    qmp_run_state_name((enum qmp_run_state)s));
		json_decref(r);
	}
	f->vm.state = (enum qmp_run_state)99; /* a VMM's bug is an error reply, not a crash */
	take_error(command(f, p, "{\"execute\": \"query-status\"}"), "GenericError", "the VMM reported run state 99");
	assert_null(qmp_run_state_name(QMP_RUN_STATE_COUNT));
	peer_close(p);
}

static void test_query_version(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	json_t *r = command(f, p, "{\"execute\": \"query-version\"}"), *ret = json_object_get(r, "return");
	json_t *qemu = json_object_get(ret, "qemu");

	assert_int_equal(json_object_size(ret), 2);
	assert_string_equal(json_string_value(json_object_get(ret, "package")), "kvmhost-run (fake VM)");
	assert_int_equal(json_object_size(qemu), 3);
	assert_int_equal(json_integer_value(json_object_get(qemu, "major")), 0);
	assert_int_equal(json_integer_value(json_object_get(qemu, "minor")), 1);
	assert_int_equal(json_integer_value(json_object_get(qemu, "micro")), 0);
	json_decref(r);
	peer_close(p);
}

static void test_query_cpus_fast(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	json_t *r = command(f, p, "{\"execute\": \"query-cpus-fast\"}"), *ret = json_object_get(r, "return");
	json_t *cpu, *props;
	size_t i;

	assert_true(json_is_array(ret));
	assert_int_equal(json_array_size(ret), 2);
	for (i = 0; i < json_array_size(ret); i++) {
		cpu = json_array_get(ret, i);
		char qom[64];

		assert_int_equal(json_object_size(cpu), 5);
		assert_int_equal(json_integer_value(json_object_get(cpu, "cpu-index")), (json_int_t)i);
		assert_int_equal(json_integer_value(json_object_get(cpu, "thread-id")), 1000 + (json_int_t)i);
		snprintf(qom, sizeof(qom), "/machine/unattached/device[%zu]", i);
		assert_string_equal(json_string_value(json_object_get(cpu, "qom-path")), qom);
		assert_string_equal(json_string_value(json_object_get(cpu, "target")), "x86_64");
		props = json_object_get(cpu, "props");
		assert_int_equal(json_object_size(props), 3);
		assert_int_equal(json_integer_value(json_object_get(props, "core-id")), (json_int_t)i);
		assert_member(props, "socket-id", JSON_INTEGER);
		assert_member(props, "thread-id", JSON_INTEGER);
	}
	json_decref(r);
	f->vm.ncpus = 0;
	r = command(f, p, "{\"execute\": \"query-cpus-fast\"}");
	assert_int_equal(json_array_size(json_object_get(r, "return")), 0);
	json_decref(r);
	f->vm.ncpus = 100000; /* bounded by QMP_MAX_CPUS */
	r = command(f, p, "{\"execute\": \"query-cpus-fast\"}");
	assert_int_equal(json_array_size(json_object_get(r, "return")), QMP_MAX_CPUS);
	json_decref(r);
	peer_close(p);
}

static void test_query_block(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	json_t *r = command(f, p, "{\"execute\": \"query-block\"}"), *ret = json_object_get(r, "return");
	json_t *disk = json_array_get(ret, 0), *ins, *image, *cache;
	static const char *const int_keys[] = {
	    "backing_file_depth", "bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "write_threshold"};

	assert_int_equal(json_array_size(ret), 1);
	assert_string_equal(json_string_value(json_object_get(disk, "device")), "virtio0");
	assert_member(disk, "qdev", JSON_STRING);
	assert_member(disk, "locked", JSON_TRUE);
	assert_member(disk, "removable", JSON_TRUE);
	assert_string_equal(json_string_value(json_object_get(disk, "type")), "unknown");
	assert_string_equal(json_string_value(json_object_get(disk, "io-status")), "ok");
	assert_null(json_object_get(disk, "tray_open")); /* only for removable media */
	ins = json_object_get(disk, "inserted");
	assert_string_equal(json_string_value(json_object_get(ins, "file")), "/var/lib/fake/disk.img");
	assert_string_equal(json_string_value(json_object_get(ins, "node-name")), "#block000");
	assert_string_equal(json_string_value(json_object_get(ins, "drv")), "raw");
	assert_string_equal(json_string_value(json_object_get(ins, "detect_zeroes")), "off");
	assert_member(ins, "ro", JSON_TRUE);
	assert_member(ins, "encrypted", JSON_TRUE);
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		assert_member(ins, int_keys[i], JSON_INTEGER);
	image = json_object_get(ins, "image");
	assert_int_equal(json_integer_value(json_object_get(image, "virtual-size")), 1 << 20);
	assert_int_equal(json_integer_value(json_object_get(image, "actual-size")), 4096);
	assert_string_equal(json_string_value(json_object_get(image, "format")), "raw");
	assert_member(image, "filename", JSON_STRING);
	assert_member(image, "dirty-flag", JSON_TRUE);
	cache = json_object_get(ins, "cache");
	assert_true(json_is_true(json_object_get(cache, "writeback")));
	assert_true(json_is_false(json_object_get(cache, "direct")));
	assert_true(json_is_false(json_object_get(cache, "no-flush")));
	json_decref(r);
	f->vm.ndisks = 0;
	r = command(f, p, "{\"execute\": \"query-block\"}");
	assert_int_equal(json_array_size(json_object_get(r, "return")), 0);
	json_decref(r);
	peer_close(p);
}

/* An event named @name, with a timestamp within a few seconds of now; data must be absent or an object. */
static json_t *assert_event(json_t *msg, const char *name)
{
	json_t *ts;
	time_t now = time(NULL);

	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "event")), name);
	ts = json_object_get(msg, "timestamp");
	assert_int_equal(json_object_size(ts), 2);
	assert_true(json_integer_value(json_object_get(ts, "seconds")) >= now - 5);
	assert_true(json_integer_value(json_object_get(ts, "seconds")) <= now + 5);
	assert_true(json_integer_value(json_object_get(ts, "microseconds")) >= 0);
	assert_true(json_integer_value(json_object_get(ts, "microseconds")) < 1000000);
	if (json_object_get(msg, "data"))
		assert_true(json_is_object(json_object_get(msg, "data")));
	return msg;
}

static void take_event(json_t *msg, const char *name)
{
	assert_event(msg, name);
	assert_null(json_object_get(msg, "data"));
	json_decref(msg);
}

static void take_cause_event(json_t *msg, const char *name, bool guest, const char *reason)
{
	json_t *data = json_object_get(assert_event(msg, name), "data");

	assert_int_equal(json_object_size(data), 2);
	assert_int_equal(json_is_true(json_object_get(data, "guest")), guest);
	assert_string_equal(json_string_value(json_object_get(data, "reason")), reason);
	json_decref(msg);
}

/* The actions: {} replies, state changes and events before the reply, as QEMU sends them. */
static void test_actions(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);

	peer_send(f, p, "{\"execute\": \"cont\"}");
	take_event(peer_read(f, p), "RESUME");
	take_empty_return(peer_read(f, p));
	assert_int_equal(f->vm.state, QMP_RUN_STATE_RUNNING);
	peer_send(f, p, "{\"execute\": \"stop\"}");
	take_event(peer_read(f, p), "STOP");
	take_empty_return(peer_read(f, p));
	assert_int_equal(f->vm.state, QMP_RUN_STATE_PAUSED);
	take_empty_return(command(f, p, "{\"execute\": \"stop\"}")); /* stopped already: no event */
	peer_send(f, p, "{\"execute\": \"system_reset\"}");
	take_cause_event(peer_read(f, p), "RESET", false, "host-qmp-system-reset");
	take_empty_return(peer_read(f, p));
	peer_send(f, p, "{\"execute\": \"system_powerdown\"}");
	take_event(peer_read(f, p), "POWERDOWN");
	take_empty_return(peer_read(f, p));
	peer_send(f, p, "{\"execute\": \"quit\"}");
	take_cause_event(peer_read(f, p), "SHUTDOWN", false, "host-qmp-quit");
	take_empty_return(peer_read(f, p));
	assert_true(f->vm.quit_requested);
	assert_int_equal(f->vm.stops, 2);
	assert_int_equal(f->vm.conts + f->vm.resets + f->vm.powerdowns + f->vm.quits, 4);
	/* After a shutdown, cont needs a reset first (QEMU's words). */
	take_error(command(f, p, "{\"execute\": \"cont\"}"), "GenericError",
		   "Resetting the Virtual Machine is required");
	assert_silent(f, p);
	peer_close(p);
}

static void test_id_echo(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	static const char *const ids[] = {"\"text\"", "42",   "-1.5", "{\"a\": [1, {\"b\": null}]}",
					  "[]",	      "null", "true"};
	char req[256];

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL), *r;
		static const char *const forms[] = {
		    "{\"execute\": \"query-status\", \"id\": %s}", /* a return */
		    "{\"id\": %s, \"execute\": \"nope\"}",	   /* CommandNotFound */
		    "{\"id\": %s}",				   /* lacks execute */
		    "{\"execute\": 1, \"id\": %s}",		   /* execute not a string */
		    "{\"execute\": \"stop\", \"id\": %s, \"arguments\": {\"x\": 1}}",
		};

		assert_non_null(want);
		for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
			snprintf(req, sizeof(req), forms[k], ids[i]);
			r = command(f, p, req);
			assert_non_null(json_object_get(r, "id"));
			assert_true(json_equal(json_object_get(r, "id"), want));
			assert_int_equal(json_object_size(r), 2);
			json_decref(r);
		}
		json_decref(want);
	}
	/* No id, no id in the reply. */
	json_t *r = command(f, p, "{\"execute\": \"query-status\"}");

	assert_null(json_object_get(r, "id"));
	json_decref(r);
	peer_close(p);
}

static void test_request_errors(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);

	take_error(command(f, p, "{\"execute\": \"nope\"}"), "CommandNotFound", "The command nope has not been found");
	take_error(command(f, p, "{}"), "GenericError", "QMP input lacks member 'execute'");
	take_error(command(f, p, "{\"id\": 1}"), "GenericError", "QMP input lacks member 'execute'");
	take_error(command(f, p, "{\"execute\": 5}"), "GenericError", "QMP input member 'execute' must be a string");
	take_error(command(f, p, "{\"execute\": null}"), "GenericError", "QMP input member 'execute' must be a string");
	take_error(command(f, p, "{\"execute\": [\"stop\"]}"), "GenericError", "QMP input member 'execute' must be");
	take_error(command(f, p, "{\"execute\": \"stop\", \"arguments\": []}"), "GenericError",
		   "QMP input member 'arguments' must be an object");
	take_error(command(f, p, "{\"execute\": \"stop\", \"arguments\": null}"), "GenericError",
		   "QMP input member 'arguments' must be an object");
	take_error(command(f, p, "{\"execute\": \"stop\", \"arguments\": \"x\"}"), "GenericError",
		   "QMP input member 'arguments' must be an object");
	take_error(command(f, p, "{\"execute\": \"stop\", \"foo\": 1}"), "GenericError",
		   "QMP input member 'foo' is unexpected");
	take_error(command(f, p, "{\"execute\": \"stop\", \"control\": {}}"), "GenericError",
		   "QMP input member 'control' is unexpected");
	take_error(command(f, p, "{\"exec-oob\": \"query-status\"}"), "GenericError",
		   "QMP input member 'exec-oob' is unexpected");
	take_error(command(f, p, "{\"execute\": \"query-status\", \"arguments\": {\"verbose\": true}}"), "GenericError",
		   "Parameter 'verbose' is unexpected");
	take_error(command(f, p, "{\"execute\": \"stop\", \"execute\": \"cont\"}"), "GenericError", "JSON parse error");
	/* Not an object. */
	take_error(command(f, p, "[1, 2]\n"), "GenericError", "QMP input must be a JSON object");
	take_error(command(f, p, "\"query-status\"\n"), "GenericError", "QMP input must be a JSON object");
	take_error(command(f, p, "3\n"), "GenericError", "QMP input must be a JSON object");
	take_error(command(f, p, "null\n"), "GenericError", "QMP input must be a JSON object");
	take_error(command(f, p, "true\n"), "GenericError", "QMP input must be a JSON object");
	take_error(command(f, p, "nonsense\n"), "GenericError", "JSON parse error");
	take_error(command(f, p, "}"), "GenericError", "JSON parse error, stray '}'");
	take_error(command(f, p, "]"), "GenericError", "JSON parse error, stray ']'");
	take_error(command(f, p, "{\"execute\": \"stop\"]"), "GenericError", "JSON parse error");
	take_error(command(f, p, "{\"execute\": \"st\\u0000op\"}"), "GenericError", "JSON parse error");
	assert_int_equal(f->vm.stops, 0);
	/* And the connection still works. */
	take_empty_return(command(f, p, "{\"execute\": \"stop\"}"));
	peer_close(p);
}

static void test_callback_errors(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	static const char *const cmds[] = {"query-status", "stop", "cont",	    "system_powerdown",
					   "system_reset", "quit", "query-version", "query-cpus-fast",
					   "query-block"};
	char req[128], desc[64];

	f->vm.fail = -EIO;
	snprintf(desc, sizeof(desc), "%s", strerror(EIO));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", cmds[i]);
		take_error(command(f, p, req), "GenericError", desc);
	}
	f->vm.fail_desc = "the disk is on fire";
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", cmds[i]);
		take_error(command(f, p, req), "GenericError", "the disk is on fire");
	}
	assert_false(f->vm.quit_requested);
	assert_silent(f, p);
	peer_close(p);
}

/* A VMM without a callback does not have that command, as a QEMU built without it. */
static int only_status(void *opaque, enum qmp_run_state *state)
{
	(void)opaque;
	*state = QMP_RUN_STATE_RUNNING;
	return 0;
}

static void test_missing_ops(void **state)
{
	struct fixture *f = *state;
	static const struct qmp_ops ops = {.query_status = only_status};
	static const char *const cmds[] = {"stop", "cont",	    "system_powerdown", "system_reset",
					   "quit", "query-version", "query-cpus-fast",	"query-block"};
	struct qmp_server *server = f->server;
	struct peer *p;
	json_t *g, *r;
	char req[128], desc[128];

	qmp_server_destroy(server);
	assert_int_equal(qmp_server_create(&f->server, f->path, &ops, NULL), 0);
	p = peer_connect(f);
	g = peer_read(f, p);
	r = json_object_get(json_object_get(json_object_get(g, "QMP"), "version"), "qemu");
	assert_int_equal(json_integer_value(json_object_get(r, "major")), 0);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(json_object_get(g, "QMP"), "version"), "package")), "");
	json_decref(g);
	take_empty_return(command(f, p, "{\"execute\": \"qmp_capabilities\"}"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", cmds[i]);
		snprintf(desc, sizeof(desc), "The command %s has not been found", cmds[i]);
		take_error(command(f, p, req), "CommandNotFound", desc);
	}
	r = command(f, p, "{\"execute\": \"query-status\"}");
	assert_true(json_is_true(json_object_get(json_object_get(r, "return"), "running")));
	json_decref(r);
	peer_close(p);
}

/* ---- Bad bytes ---- */

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f), *q;

	/* A message that is not complete yet gets no reply... */
	peer_send(f, p, "{\"execute\": \"query-status\",\n");
	assert_silent(f, p);
	/* ...and one completed badly gets a parse error, like QEMU's for the same bytes. */
	take_error(command(f, p, "}\n"), "GenericError", "JSON parse error");
	/* A string cut by a line end is still a string to the splitter (a bracket in it does not count); jansson
	 * then refuses the raw line end in it. */
	peer_send(f, p, "{\"execute\": \"query-status\", \"id\": \"cut}\n");
	assert_silent(f, p);
	take_error(command(f, p, "\"}"), "GenericError", "JSON parse error");
	take_empty_return(command(f, p, "{\"execute\": \"stop\"}"));
	peer_close(p);
	/* A client that goes away in the middle of a message is just gone. */
	q = negotiated_peer(f);
	peer_send(f, q, "{\"execute\": \"query-st");
	close(q->fd);
	q->fd = -1;
	pump(f);
	assert_int_equal(qmp_server_client_count(f->server), 0);
	peer_close(q);
}

static void test_huge_line(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	const size_t big = 1u << 20;
	char *line = malloc(2 * big);
	json_t *r;

	assert_non_null(line);
	/* 1 MiB in a string: one error, then the rest of the text is skipped to its end and the next one answered. */
	strcpy(line, "{\"execute\": \"query-status\", \"id\": \"");
	memset(line + strlen(line), 'x', big);
	strcpy(line + strlen("{\"execute\": \"query-status\", \"id\": \"") + big,
	       "\"}\n{\"execute\": \"query-status\", \"id\": 2}\n");
	peer_send(f, p, line);
	take_error(peer_read(f, p), "GenericError", "JSON message size limit exceeded");
	r = peer_read(f, p);
	assert_return(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	/* The same with braces and quotes inside the skipped part, and a top-level scalar of 1 MiB. */
	memset(line, 0, 2 * big);
	strcpy(line, "{\"a\": [");
	for (size_t n = strlen(line); n + 32 < big;)
		n += (size_t)sprintf(line + n, "{\"}\\\"{\": \"]\"},");
	strcat(line, "1]} 7");
	memset(line + strlen(line), '7', big / 2);
	strcat(line, " {\"execute\": \"query-status\", \"id\": 3}");
	peer_send(f, p, line);
	take_error(peer_read(f, p), "GenericError", "JSON message size limit exceeded");
	take_error(peer_read(f, p), "GenericError", "JSON message size limit exceeded");
	r = peer_read(f, p);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	json_decref(r);
	/* Nesting deeper than QMP_MAX_NESTING: one error, skipped to its end. */
	memset(line, 0, 2 * big);
	memset(line, '[', 5000);
	memset(line + 5000, ']', 5000);
	strcat(line, "{\"execute\": \"query-status\", \"id\": 4}");
	peer_send(f, p, line);
	take_error(peer_read(f, p), "GenericError", "JSON nesting depth limit exceeded");
	r = peer_read(f, p);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 4);
	json_decref(r);
	assert_silent(f, p);
	assert_int_equal(qmp_server_client_count(f->server), 1);
	free(line);
	peer_close(p);
}

static void test_invalid_utf8(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	static const char *const bad[] = {
	    "{\"execute\": \"query-status\", \"id\": \"\xff\"}",
	    "{\"execute\": \"query-status\", \"id\": \"\xc0\xaf\"}",	 /* overlong '/' */
	    "{\"execute\": \"query-status\", \"id\": \"\xed\xa0\x80\"}", /* a surrogate */
	    "{\"execute\": \"query-\xe2\x82\"}",			 /* cut short */
	    "{\"execute\xfe\": 1}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		take_error(command(f, p, bad[i]), "GenericError", "JSON parse error");
	/* Valid UTF-8 is fine, and comes back in the error's text. */
	json_t *r = command(f, p, "{\"execute\": \"caf\xc3\xa9\"}");

	assert_error(r, "CommandNotFound", "The command caf\xc3\xa9 has not been found");
	json_decref(r);
	peer_close(p);
}

static void test_many_in_one_write(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	size_t cap = 300 * 64, n = 0;
	char *all = malloc(cap);

	assert_non_null(all);
	/* 300 requests in one write, some without any separator, some sharing a line. */
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(all + n, cap - n, "{\"execute\":\"query-status\",\"id\":%d}%s", i,
				      i % 3 == 0   ? "\r\n"
				      : i % 3 == 1 ? " "
						   : "");
	peer_send_bytes(f, p, all, n);
	for (int i = 0; i < 300; i++) {
		json_t *r = peer_read(f, p);

		assert_return(r);
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		json_decref(r);
	}
	assert_silent(f, p);
	free(all);
	peer_close(p);
}

static void test_split_writes(void **state)
{
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	const char *req = "{ \"execute\" :\n \"query-status\",\r\n \"id\": \"a}\\\"]\" }";
	json_t *r;

	for (const char *c = req; *c; c++) {
		assert_silent(f, p); /* nothing until the last byte */
		peer_send_bytes(f, p, c, 1);
	}
	r = peer_read(f, p);
	assert_return(r);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "a}\"]");
	json_decref(r);
	peer_close(p);
}

/* ---- Clients ---- */

/* Read every complete line @p has now; each must be the event @name. How many. */
static int drain_events(struct fixture *f, struct peer *p, const char *name)
{
	int n = 0;
	char *end;

	pump(f);
	peer_fill(p);
	while (p->len && (end = memmem(p->buf, p->len, "\r\n", 2))) {
		take_event(peer_read(f, p), name);
		n++;
	}
	return n;
}

/* A client that never reads is dropped when its queue is full; another is served all along. */
static void test_client_that_never_reads(void **state)
{
	struct fixture *f = *state;
	struct peer *lazy = negotiated_peer(f), *busy = negotiated_peer(f);
	int i, got = 0, small = 4096;
	json_t *m;

	setsockopt(lazy->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(qmp_server_client_count(f->server), 2);
	for (i = 0; i < 100000 && qmp_server_client_count(f->server) == 2; i++) {
		assert_true(qmp_server_event(f->server, "STOP", NULL) >= 1);
		got += drain_events(f, busy, "STOP");
	}
	assert_int_equal(qmp_server_client_count(f->server), 1);
	assert_true(i > (int)(QMP_MAX_OUTPUT / 100)); /* it was sent at least a queue's worth first */
	while (got < i) {
		take_event(peer_read(f, busy), "STOP");
		got++;
	}
	m = command(f, busy, "{\"execute\": \"query-status\"}");
	assert_return(m);
	json_decref(m);
	/* The lazy one can still read what it got, then the end. */
	while ((m = peer_read(f, lazy)))
		json_decref(m);
	assert_true(lazy->eof);
	peer_close(lazy);

	/* The same with commands: a client that sends and never reads does not block the server. */
	lazy = negotiated_peer(f);
	setsockopt(lazy->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < 200000 && qmp_server_client_count(f->server) == 2; i++) {
		static const char req[] = "{\"execute\": \"query-cpus-fast\"}";

		if (send(lazy->fd, req, sizeof(req) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
			break;
		pump(f);
		if (i % 1000 == 0) {
			m = command(f, busy, "{\"execute\": \"query-status\"}");
			assert_return(m);
			json_decref(m);
		}
	}
	pump(f);
	assert_int_equal(qmp_server_client_count(f->server), 1);
	m = command(f, busy, "{\"execute\": \"query-status\"}");
	assert_return(m);
	json_decref(m);
	peer_close(lazy);
	peer_close(busy);
}

static void test_nine_clients(void **state)
{
	struct fixture *f = *state;
	struct peer *p[QMP_MAX_CLIENTS + 1], *again;
	json_t *m;

	for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
		p[i] = peer_connect(f);
		m = peer_read(f, p[i]);
		assert_non_null(json_object_get(m, "QMP"));
		json_decref(m);
	}
	assert_int_equal(qmp_server_client_count(f->server), QMP_MAX_CLIENTS);
	/* The ninth is told, and closed. */
	p[QMP_MAX_CLIENTS] = peer_connect(f);
	take_error(peer_read(f, p[QMP_MAX_CLIENTS]), "GenericError", "too many QMP clients");
	assert_null(peer_read(f, p[QMP_MAX_CLIENTS]));
	assert_int_equal(qmp_server_client_count(f->server), QMP_MAX_CLIENTS);
	/* Every one of the eight works. */
	for (int i = 0; i < QMP_MAX_CLIENTS; i++)
		take_empty_return(command(f, p[i], "{\"execute\": \"qmp_capabilities\"}"));
	/* When one goes, there is room again. */
	peer_close(p[3]);
	pump(f);
	assert_int_equal(qmp_server_client_count(f->server), QMP_MAX_CLIENTS - 1);
	again = peer_connect(f);
	m = peer_read(f, again);
	assert_non_null(json_object_get(m, "QMP"));
	json_decref(m);
	assert_int_equal(qmp_server_client_count(f->server), QMP_MAX_CLIENTS);
	peer_close(again);
	for (int i = 0; i <= QMP_MAX_CLIENTS; i++)
		if (i != 3)
			peer_close(p[i]);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct peer *a = negotiated_peer(f), *b = negotiated_peer(f), *fresh = peer_connect(f);
	json_t *m;

	json_decref(peer_read(f, fresh)); /* greeting only: not negotiated */
	assert_int_equal(qmp_server_event(f->server, "STOP", NULL), 2);
	take_event(peer_read(f, a), "STOP");
	take_event(peer_read(f, b), "STOP");
	assert_int_equal(qmp_server_event_cause(f->server, "RESET", QMP_CAUSE_GUEST_RESET), 2);
	take_cause_event(peer_read(f, a), "RESET", true, "guest-reset");
	take_cause_event(peer_read(f, b), "RESET", true, "guest-reset");
	assert_int_equal(qmp_server_event_cause(f->server, "SHUTDOWN", QMP_CAUSE_HOST_SIGNAL), 2);
	take_cause_event(peer_read(f, a), "SHUTDOWN", false, "host-signal");
	take_cause_event(peer_read(f, b), "SHUTDOWN", false, "host-signal");
	assert_int_equal(qmp_server_event(f->server, "BLOCK_IO_ERROR", "{\"device\": \"virtio0\", \"nospace\": false}"),
			 2);
	m = assert_event(peer_read(f, a), "BLOCK_IO_ERROR");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "data"), "device")), "virtio0");
	json_decref(m);
	json_decref(peer_read(f, b));
	/* Bad events are refused and sent to nobody. */
	assert_int_equal(qmp_server_event(f->server, "STOP", "[1]"), -EINVAL);
	assert_int_equal(qmp_server_event(f->server, "STOP", "{"), -EINVAL);
	assert_int_equal(qmp_server_event(f->server, "STOP", "{\"a\": 1, \"a\": 2}"), -EINVAL);
	assert_int_equal(qmp_server_event(f->server, NULL, NULL), -EINVAL);
	assert_int_equal(qmp_server_event(f->server, "", NULL), -EINVAL);
	assert_int_equal(qmp_server_event(f->server, "stop\"", NULL), -EINVAL);
	assert_int_equal(qmp_server_event_cause(f->server, "RESET", QMP_CAUSE_COUNT), -EINVAL);
	assert_int_equal(qmp_server_event(NULL, "STOP", NULL), -EINVAL);
	assert_silent(f, a);
	/* The client that never negotiated got none of them. */
	assert_silent(f, fresh);
	take_empty_return(command(f, fresh, "{\"execute\": \"qmp_capabilities\"}"));
	assert_int_equal(qmp_server_event(f->server, "RESUME", NULL), 3);
	take_event(peer_read(f, fresh), "RESUME");
	assert_null(qmp_shutdown_cause_name(QMP_CAUSE_COUNT));
	assert_string_equal(qmp_shutdown_cause_name(QMP_CAUSE_GUEST_PANIC), "guest-panic");
	peer_close(a);
	peer_close(b);
	peer_close(fresh);
}

static void take_migration_event(json_t *msg, const char *status)
{
	json_t *m = assert_event(msg, "MIGRATION");

	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "data"), "status")), status);
	json_decref(m);
}

/* The migration commands: their arguments checked as QEMU 7.2 checks them, before any callback; the fake VM's
 * migration completes at once (MIGRATION setup, active, completed before the reply); query-migrate's shape. */
static void test_migration(void **state)
{
	static const char *const ram[] = {"transferred",
					  "remaining",
					  "total",
					  "duplicate",
					  "skipped",
					  "normal",
					  "normal-bytes",
					  "dirty-pages-rate",
					  "dirty-sync-count",
					  "postcopy-requests",
					  "page-size",
					  "multifd-bytes",
					  "pages-per-second",
					  "precopy-bytes",
					  "downtime-bytes",
					  "postcopy-bytes",
					  "dirty-sync-missed-zero-copy"};
	struct fixture *f = *state;
	struct peer *p = negotiated_peer(f);
	json_t *r, *ret, *m;

	r = command(f, p, "{\"execute\": \"query-migrate\"}");
	assert_empty_return(r); /* no migration yet: {} */
	json_decref(r);
	take_error(command(f, p, "{\"execute\": \"migrate\"}"), "GenericError", "Parameter 'uri' is missing");
	take_error(command(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": 3}}"), "GenericError",
		   "Invalid parameter type for 'uri', expected: string");
	take_error(command(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:x\", \"x\": 1}}"),
		   "GenericError", "Parameter 'x' is unexpected");
	take_error(command(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:x\", \"blk\": 1}}"),
		   "GenericError", "Invalid parameter type for 'blk', expected: boolean");
	take_error(command(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:x\", \"inc\": true}}"),
		   "GenericError", "Parameter 'blk' expects false");
	take_error(command(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"nope:x\"}}"), "GenericError",
		   "Parameter 'uri' expects a valid migration protocol");
	assert_int_equal(f->vm.migrations, 0);
	take_error(command(f, p, "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": -1}}"),
		   "GenericError",
		   "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms");
	take_error(
	    command(f, p, "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": \"1\"}}"),
	    "GenericError", "Invalid parameter type for 'max-bandwidth', expected: integer");
	take_error(command(f, p, "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"tls-creds\": \"\"}}"),
		   "GenericError", "Parameter 'tls-creds' is unexpected");
	take_empty_return(command(f, p,
				  "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
				  "{\"downtime-limit\": 2000000, \"max-bandwidth\": 5}}"));
	assert_int_equal(f->vm.downtime_limit, 2000000);
	assert_int_equal(f->vm.max_bandwidth, 5);
	take_error(command(f, p, "{\"execute\": \"migrate-set-capabilities\"}"), "GenericError",
		   "Parameter 'capabilities' is missing");
	take_error(command(f, p,
			   "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
			   "[{\"capability\": \"bogus\", \"state\": true}]}}"),
		   "GenericError", "Parameter 'capability' does not accept value 'bogus'");
	take_error(command(f, p,
			   "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
			   "[{\"capability\": \"events\"}]}}"),
		   "GenericError", "Parameter 'capabilities[0].state' is missing");
	take_error(
	    command(f, p,
		    "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
		    "[{\"capability\": \"events\", \"state\": true}, {\"capability\": \"xbzrle\", \"state\": true}]}}"),
	    "GenericError", "Capability 'xbzrle' is not supported");
	take_empty_return(command(f, p,
				  "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
				  "[{\"capability\": \"events\", \"state\": true}]}}"));
	/* x-ignore-shared (the same-host hand-over): query-migrate-capabilities lists what the VM has, in QEMU's
	 * order, each {"capability", "state"}; a bad element leaves every capability as it was. */
	{
		json_t *caps;

		r = command(f, p, "{\"execute\": \"query-migrate-capabilities\"}");
		assert_return(r);
		caps = json_object_get(r, "return");
		assert_true(json_is_array(caps));
		assert_int_equal(json_array_size(caps), 2);
		assert_string_equal(json_string_value(json_object_get(json_array_get(caps, 0), "capability")),
				    "events");
		assert_true(json_is_true(json_object_get(json_array_get(caps, 0), "state")));
		assert_string_equal(json_string_value(json_object_get(json_array_get(caps, 1), "capability")),
				    "x-ignore-shared");
		assert_true(json_is_false(json_object_get(json_array_get(caps, 1), "state")));
		assert_int_equal(json_object_size(json_array_get(caps, 1)), 2);
		json_decref(r);
		take_error(command(f, p,
				   "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
				   "[{\"capability\": \"x-ignore-shared\", \"state\": true}, {\"capability\": "
				   "\"x-ignore-shared\", \"state\": 1}]}}"),
			   "GenericError", "Invalid parameter type for 'capabilities[1].state', expected: boolean");
		assert_false(f->vm.ignore_shared);
		take_error(command(f, p,
				   "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
				   "[{\"capability\": \"x-ignore-shared\", \"state\": true, \"x\": 1}]}}"),
			   "GenericError", "Parameter 'capabilities[0].x' is unexpected");
		assert_false(f->vm.ignore_shared);
		take_empty_return(
		    command(f, p,
			    "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
			    "[{\"capability\": \"x-ignore-shared\", \"state\": true}]}}"));
		assert_true(f->vm.ignore_shared);
		r = command(f, p, "{\"execute\": \"query-migrate-capabilities\"}");
		assert_return(r);
		assert_true(json_is_true(json_object_get(json_array_get(json_object_get(r, "return"), 1), "state")));
		json_decref(r);
		take_error(command(f, p, "{\"execute\": \"query-migrate-capabilities\", \"arguments\": {\"x\": 1}}"),
			   "GenericError", "Parameter 'x' is unexpected");
		f->vm.fail = -EIO;
		take_error(command(f, p, "{\"execute\": \"query-migrate-capabilities\"}"), "GenericError",
			   strerror(EIO));
		f->vm.fail = 0;
		take_empty_return(
		    command(f, p,
			    "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
			    "[{\"capability\": \"x-ignore-shared\", \"state\": false}]}}"));
		assert_false(f->vm.ignore_shared);
	}
	/* A migration: its events come before the reply, as the callback sends them. */
	peer_send(f, p, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/run/x.mig\", \"detach\": true}}");
	take_migration_event(peer_read(f, p), "setup");
	take_migration_event(peer_read(f, p), "active");
	take_migration_event(peer_read(f, p), "completed");
	take_empty_return(peer_read(f, p));
	assert_int_equal(f->vm.migrations, 1);
	r = command(f, p, "{\"execute\": \"query-migrate\"}");
	assert_return(r);
	ret = json_object_get(r, "return");
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "completed");
	assert_member(ret, "total-time", JSON_INTEGER);
	assert_member(ret, "setup-time", JSON_INTEGER);
	assert_member(ret, "downtime", JSON_INTEGER);
	assert_null(json_object_get(ret, "expected-downtime"));
	m = json_object_get(ret, "ram");
	assert_int_equal(json_object_size(m), 18);
	for (size_t i = 0; i < sizeof(ram) / sizeof(ram[0]); i++)
		assert_member(m, ram[i], JSON_INTEGER);
	assert_member(m, "mbps", JSON_REAL);
	assert_int_equal(json_integer_value(json_object_get(m, "normal-bytes")), 8192);
	json_decref(r);
	r = command(f, p, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "return"), "status")), "postmigrate");
	json_decref(r);
	take_empty_return(command(f, p, "{\"execute\": \"migrate_cancel\"}"));
	take_error(command(f, p, "{\"execute\": \"migrate_cancel\", \"arguments\": {\"x\": 1}}"), "GenericError",
		   "Parameter 'x' is unexpected");
	assert_string_equal(qmp_migration_status_name(QMP_MIGRATION_CANCELLING), "cancelling");
	assert_null(qmp_migration_status_name(QMP_MIGRATION_COUNT));
	assert_string_equal(qmp_run_state_name(QMP_RUN_STATE_INMIGRATE), "inmigrate");
	assert_int_equal(qmp_server_event_migration(f->server, QMP_MIGRATION_COUNT), -EINVAL);
	assert_silent(f, p);
	peer_close(p);
}

/* A client that stops sending (shutdown(SHUT_WR), as socat does at the end of its input) still gets its replies. */
static void test_half_close(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);
	json_t *m;
	int n = 0;

	peer_send(f, p, "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"query-block\"}{\"execute\": \"quit\"}");
	shutdown(p->fd, SHUT_WR);
	while ((m = peer_read(f, p))) {
		n++;
		json_decref(m);
	}
	assert_int_equal(n, 5); /* greeting, {}, query-block, SHUTDOWN, {} */
	pump(f);
	assert_int_equal(qmp_server_client_count(f->server), 0);
	peer_close(p);
}

/* ---- The socket ---- */

static void test_socket_path(void **state)
{
	struct fixture *f = *state;
	struct qmp_server *other;
	char path[256], longpath[200];
	struct stat st;
	int fd, sv[2];
	json_t *m;

	/* The socket is private, and another server cannot take a live one. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(qmp_server_create(&other, f->path, &qmp_fake_vm_ops, &f->vm), -EADDRINUSE);
	assert_null(other);
	/* A regular file is not replaced. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(qmp_server_create(&other, path, &qmp_fake_vm_ops, &f->vm), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
	/* Too long, empty, NULL. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(qmp_server_create(&other, longpath, &qmp_fake_vm_ops, &f->vm), -ENAMETOOLONG);
	assert_int_equal(qmp_server_create(&other, "", &qmp_fake_vm_ops, &f->vm), -EINVAL);
	assert_int_equal(qmp_server_create(&other, path, NULL, NULL), -EINVAL);
	assert_int_equal(qmp_server_create(NULL, path, &qmp_fake_vm_ops, NULL), -EINVAL);
	/* A stale socket (its server gone) is replaced; destroy removes it. */
	qmp_server_destroy(f->server);
	assert_int_equal(stat(f->path, &st), -1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un addr = {.sun_family = AF_UNIX};

		strcpy(addr.sun_path, f->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	}
	close(fd);
	assert_int_equal(qmp_server_create(&f->server, f->path, &qmp_fake_vm_ops, &f->vm), 0);
	f->vm.server = f->server;
	/* An adopted socket (a socketpair) is a client like the others. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(qmp_server_add_client(f->server, sv[0]), 0);
	{
		struct peer *p = calloc(1, sizeof(*p));

		p->fd = sv[1];
		m = peer_read(f, p);
		assert_non_null(json_object_get(m, "QMP"));
		json_decref(m);
		take_empty_return(command(f, p, "{\"execute\": \"qmp_capabilities\"}"));
		peer_close(p);
	}
	assert_int_equal(qmp_server_add_client(f->server, -1), -EINVAL);
	assert_int_equal(qmp_server_add_client(NULL, 0), -EINVAL);
	assert_int_equal(qmp_server_dispatch(NULL), -EINVAL);
	assert_int_equal(qmp_server_fd(NULL), -EINVAL);
	qmp_server_destroy(NULL);
}

/* The loop callback is dispatch. */
static void test_on_ready(void **state)
{
	struct fixture *f = *state;
	struct peer *p = peer_connect(f);

	for (int i = 0; i < 100 && !p->len; i++) {
		qmp_server_on_ready(qmp_server_fd(f->server), 1, f->server);
		peer_fill(p);
		usleep(1000);
	}
	assert_true(p->len > 0);
	peer_close(p);
}

/* ---- The stream splitter on its own ---- */

/* Feed @in whole; the texts and errors found, as "T:<text>" "BIG" "DEEP" "STRAY", space-separated. */
static void split(const char *in, size_t max_size, size_t max_depth, char *out, size_t out_size)
{
	struct qmp_stream s;
	size_t len = strlen(in), used, n;
	const char *t;

	qmp_stream_init(&s, max_size, max_depth);
	out[0] = '\0';
	while (len) {
		enum qmp_stream_result r = qmp_stream_feed(&s, in, len, &used);

		in += used;
		len -= used;
		if (r == QMP_STREAM_TEXT) {
			t = qmp_stream_text(&s, &n);
			snprintf(out + strlen(out), out_size - strlen(out), "T:%.*s ", (int)n, t);
		} else if (r != QMP_STREAM_MORE) {
			snprintf(out + strlen(out), out_size - strlen(out), "%s ",
				 r == QMP_STREAM_TOO_BIG    ? "BIG"
				 : r == QMP_STREAM_TOO_DEEP ? "DEEP"
				 : r == QMP_STREAM_STRAY    ? "STRAY"
							    : "NOMEM");
		}
	}
	qmp_stream_fini(&s);
}

static void test_stream(void **state)
{
	char out[512];

	(void)state;
	split("{}[] {\"a\":1}\n[1,[2]]", 64, 8, out, sizeof(out));
	assert_string_equal(out, "T:{} T:[] T:{\"a\":1} T:[1,[2]] ");
	split("12 true\n\"a b\"null{\"x\":\"}\"}", 64, 8, out, sizeof(out));
	assert_string_equal(out, "T:12 T:true T:\"a b\" T:null T:{\"x\":\"}\"} ");
	split("{\"a\":\"\\\"}\"}  {\"b\":\"\\\\\"}", 64, 8, out, sizeof(out));
	assert_string_equal(out, "T:{\"a\":\"\\\"}\"} T:{\"b\":\"\\\\\"} ");
	split("} ] {}", 64, 8, out, sizeof(out));
	assert_string_equal(out, "STRAY STRAY T:{} ");
	/* Just at the limit is fine; one more byte is too big, and the stream resumes after the text's end. */
	split("{\"a\":\"123456\"} {\"a\":\"1234567\"} {}", 14, 8, out, sizeof(out));
	assert_string_equal(out, "T:{\"a\":\"123456\"} BIG T:{} ");
	split("[[[]]] [[[[]]]] []", 64, 3, out, sizeof(out));
	assert_string_equal(out, "T:[[[]]] DEEP T:[] ");
	split("123456789012345678901234567890 {}", 8, 8, out, sizeof(out));
	assert_string_equal(out, "BIG T:{} ");
	split("\"a long string, \\\" with {[ in it\" {}", 8, 8, out, sizeof(out));
	assert_string_equal(out, "BIG T:{} ");
	split("1{}2[]\"s\"3", 64, 8, out, sizeof(out));
	assert_string_equal(out, "T:1 T:{} T:2 T:[] T:\"s\" ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_greeting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_cpus_fast, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_id_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_huge_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_in_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_that_never_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nine_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_on_ready, setup, teardown),
	    cmocka_unit_test(test_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * qmp_commands: the commands' replies, in QEMU's shapes (as QEMU 7.2 sends them; tests/qmp/qemu-shapes.txt), from
 * the VM's callbacks. The fields QEMU always sends with the same value for a VMM like ours (a raw image with no
 * throttling, type "unknown", io-status "ok", singlestep false) are constants here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qmp_commands.h"

#if defined(__x86_64__)
#define QMP_TARGET "x86_64"
#elif defined(__aarch64__)
#define QMP_TARGET "aarch64"
#else
#define QMP_TARGET "unknown"
#endif

struct qmp_command {
	const char *name;
	size_t op; /* offsetof(struct qmp_ops, the command's callback) */
	json_t *(*run)(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size);
	/* instead of run, for a command that takes arguments (@args: NULL or an object) */
	json_t *(*run_args)(const struct qmp_ops *ops, void *opaque, json_t *args, char *why, size_t why_size);
};

static const char *const run_state_names[QMP_RUN_STATE_COUNT] = {
    [QMP_RUN_STATE_PRELAUNCH] = "prelaunch",
    [QMP_RUN_STATE_RUNNING] = "running",
    [QMP_RUN_STATE_PAUSED] = "paused",
    [QMP_RUN_STATE_SHUTDOWN] = "shutdown",
    [QMP_RUN_STATE_INTERNAL_ERROR] = "internal-error",
    [QMP_RUN_STATE_GUEST_PANICKED] = "guest-panicked",
    [QMP_RUN_STATE_INMIGRATE] = "inmigrate",
    [QMP_RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
    [QMP_RUN_STATE_POSTMIGRATE] = "postmigrate",
};

const char *qmp_run_state_name(enum qmp_run_state state)
{
	return (unsigned)state < QMP_RUN_STATE_COUNT ? run_state_names[state] : NULL;
}

static const char *const migration_status_names[QMP_MIGRATION_COUNT] = {
    [QMP_MIGRATION_NONE] = "none",	     [QMP_MIGRATION_SETUP] = "setup",
    [QMP_MIGRATION_ACTIVE] = "active",	     [QMP_MIGRATION_COMPLETED] = "completed",
    [QMP_MIGRATION_FAILED] = "failed",	     [QMP_MIGRATION_CANCELLING] = "cancelling",
    [QMP_MIGRATION_CANCELLED] = "cancelled",
};

const char *qmp_migration_status_name(enum qmp_migration_status status)
{
	return (unsigned)status < QMP_MIGRATION_COUNT ? migration_status_names[status] : NULL;
}

/* Length of the valid UTF-8 sequence at @s (not NUL), or 0. Overlong forms, surrogates and > U+10FFFF are not. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned c = s[0], n, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

json_t *qmp_json_string_lossy(const char *text)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	size_t len = strlen((const char *)s), n;
	char *copy = NULL;
	json_t *j;

	for (size_t i = 0; i < len; i += n ? n : 1) {
		n = utf8_sequence(s + i);
		if (n)
			continue;
		if (!copy && !(copy = strdup((const char *)s)))
			return NULL;
		copy[i] = '?';
	}
	j = json_string(copy ? copy : (const char *)s);
	free(copy);
	return j;
}

static json_t *failed(int r, char *why, size_t why_size)
{
	if (!why[0])
		snprintf(why, why_size, "%s", strerror(r < 0 ? -r : EIO));
	return NULL;
}

static json_t *empty_return(int r, char *why, size_t why_size)
{
	return r < 0 ? failed(r, why, why_size) : json_object();
}

static json_t *run_query_status(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	enum qmp_run_state state = QMP_RUN_STATE_RUNNING;
	int r = ops->query_status(opaque, &state);

	if (r < 0)
		return failed(r, why, why_size);
	if (!qmp_run_state_name(state)) {
		snprintf(why, why_size, "the VMM reported run state %d, which has no name", (int)state);
		return NULL;
	}
	return json_pack("{s:b, s:b, s:s}", "running", state == QMP_RUN_STATE_RUNNING, "singlestep", 0, "status",
			 qmp_run_state_name(state));
}

static json_t *run_stop(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->stop(opaque), why, why_size);
}

static json_t *run_cont(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->cont(opaque), why, why_size);
}

static json_t *run_system_powerdown(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->system_powerdown(opaque), why, why_size);
}

static json_t *run_system_reset(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->system_reset(opaque), why, why_size);
}

static json_t *run_quit(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->quit(opaque), why, why_size);
}

static json_t *run_query_version(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	struct qmp_version v = {0};
	int r = ops->query_version(opaque, &v);

	if (r < 0)
		return failed(r, why, why_size);
	return json_pack("{s:{s:I, s:I, s:I}, s:o}", "qemu", "major", (json_int_t)v.major, "minor", (json_int_t)v.minor,
			 "micro", (json_int_t)v.micro, "package", qmp_json_string_lossy(v.package));
}

static json_t *cpu_row(const struct qmp_cpu_info *c)
{
	char path[64];
	json_t *qom;

	if (c->qom_path) {
		qom = qmp_json_string_lossy(c->qom_path);
	} else {
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]", c->cpu_index);
		qom = json_string(path);
	}
	return json_pack("{s:I, s:o, s:I, s:{s:I, s:I, s:I}, s:s}", "cpu-index", (json_int_t)c->cpu_index, "qom-path",
			 qom, "thread-id", (json_int_t)c->thread_id, "props", "socket-id", (json_int_t)c->socket_id,
			 "core-id", (json_int_t)c->core_id, "thread-id", (json_int_t)c->smt_id, "target", QMP_TARGET);
}

static json_t *run_query_cpus_fast(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	json_t *list = json_array();

	for (unsigned i = 0; list && i < QMP_MAX_CPUS; i++) {
		struct qmp_cpu_info cpu = {.cpu_index = i};
		int r = ops->query_cpu(opaque, i, &cpu);

		if (r == 0)
			break;
		if (r < 0) {
			json_decref(list);
			return failed(r, why, why_size);
		}
		if (json_array_append_new(list, cpu_row(&cpu)) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (!list)
		snprintf(why, why_size, "out of memory");
	return list;
}

static json_t *inserted(unsigned index, const struct qmp_block_info *b)
{
	char node[32];

	snprintf(node, sizeof(node), "#block%03u", index);
	return json_pack("{s:o, s:o, s:b, s:s, s:i, s:b, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
			 "s:{s:o, s:s, s:I, s:I, s:b}, s:{s:b, s:b, s:b}}",
			 "file", qmp_json_string_lossy(b->file), "node-name",
			 b->node_name ? qmp_json_string_lossy(b->node_name) : json_string(node), "ro", b->read_only,
			 "drv", "raw", "backing_file_depth", 0, "encrypted", 0, "detect_zeroes", "off", "bps", 0,
			 "bps_rd", 0, "bps_wr", 0, "iops", 0, "iops_rd", 0, "iops_wr", 0, "write_threshold", 0, "image",
			 "filename", qmp_json_string_lossy(b->file), "format", "raw", "virtual-size",
			 (json_int_t)b->virtual_size, "actual-size", (json_int_t)b->actual_size, "dirty-flag", 0,
			 "cache", "writeback", b->cache_writeback, "direct", b->cache_direct, "no-flush",
			 b->cache_no_flush);
}

static json_t *block_row(unsigned index, const struct qmp_block_info *b)
{
	json_t *row = json_pack("{s:o, s:b, s:b, s:s, s:s}", "device", qmp_json_string_lossy(b->device), "locked",
				b->locked, "removable", b->removable, "type", "unknown", "io-status", "ok");

	if (row && b->qdev && json_object_set_new(row, "qdev", qmp_json_string_lossy(b->qdev)) < 0)
		goto fail;
	if (row && b->file && json_object_set_new(row, "inserted", inserted(index, b)) < 0)
		goto fail;
	if (row && b->removable && json_object_set_new(row, "tray_open", json_false()) < 0)
		goto fail;
	return row;
fail:
	json_decref(row);
	return NULL;
}

static json_t *run_query_block(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	json_t *list = json_array();

	for (unsigned i = 0; list && i < QMP_MAX_BLOCKS; i++) {
		struct qmp_block_info block = {0};
		int r = ops->query_block(opaque, i, &block);

		if (r == 0)
			break;
		if (r < 0) {
			json_decref(list);
			return failed(r, why, why_size);
		}
		if (json_array_append_new(list, block_row(i, &block)) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (!list)
		snprintf(why, why_size, "out of memory");
	return list;
}

/* ---- Migration (QEMU's qapi/migration.json, as QEMU 7.2 answers) ---- */

/* "Parameter 'X' is unexpected" for the first member of @args not in @known (NULL-terminated); true if none. */
static bool only_known(json_t *args, const char *const *known, char *why, size_t why_size)
{
	for (void *it = json_object_iter(args); it; it = json_object_iter_next(args, it)) {
		const char *key = json_object_iter_key(it);
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i]) {
			snprintf(why, why_size, "Parameter '%s' is unexpected", key);
			return false;
		}
	}
	return true;
}

/* An optional boolean argument: absent is false. */
static bool get_bool(json_t *args, const char *name, bool *out, char *why, size_t why_size)
{
	json_t *v = json_object_get(args, name);

	*out = false;
	if (!v)
		return true;
	if (!json_is_boolean(v)) {
		snprintf(why, why_size, "Invalid parameter type for '%s', expected: boolean", name);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static json_t *run_migrate(const struct qmp_ops *ops, void *opaque, json_t *args, char *why, size_t why_size)
{
	static const char *const known[] = {"uri", "blk", "inc", "detach", "resume", NULL};
	json_t *uri = json_object_get(args, "uri");
	bool blk, inc, detach, resume;

	if (!only_known(args, known, why, why_size))
		return NULL;
	if (!uri) {
		snprintf(why, why_size, "Parameter 'uri' is missing");
		return NULL;
	}
	if (!json_is_string(uri)) {
		snprintf(why, why_size, "Invalid parameter type for 'uri', expected: string");
		return NULL;
	}
	if (!get_bool(args, "blk", &blk, why, why_size) || !get_bool(args, "inc", &inc, why, why_size) ||
	    !get_bool(args, "detach", &detach, why, why_size) || !get_bool(args, "resume", &resume, why, why_size))
		return NULL;
	if (blk || inc || resume) {
		snprintf(why, why_size, "Parameter '%s' expects false: this VMM has no %s", resume ? "resume" : "blk",
			 resume ? "postcopy recovery" : "block migration (disks are shared)");
		return NULL;
	}
	return empty_return(ops->migrate(opaque, json_string_value(uri)), why, why_size);
}

static json_t *run_query_migrate(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	struct qmp_migration_info m = {0};
	const char *status;
	int r = ops->query_migrate(opaque, &m);
	json_t *ret;

	if (r < 0)
		return failed(r, why, why_size);
	if (m.status == QMP_MIGRATION_NONE)
		return json_object(); /* QEMU before any migration */
	if (!(status = qmp_migration_status_name(m.status))) {
		snprintf(why, why_size, "the VMM reported migration status %d, which has no name", (int)m.status);
		return NULL;
	}
	ret = json_pack("{s:s}", "status", status);
	if (ret && m.status != QMP_MIGRATION_SETUP && m.status != QMP_MIGRATION_CANCELLED &&
	    m.status != QMP_MIGRATION_CANCELLING)
		json_object_update_new(ret, json_pack("{s:I, s:I}", "setup-time", (json_int_t)m.setup_time,
						      "total-time", (json_int_t)m.total_time));
	if (ret && m.status == QMP_MIGRATION_ACTIVE)
		json_object_set_new(ret, "expected-downtime", json_integer((json_int_t)m.expected_downtime));
	if (ret && m.status == QMP_MIGRATION_COMPLETED)
		json_object_set_new(ret, "downtime", json_integer((json_int_t)m.downtime));
	if (ret && m.has_ram)
		json_object_set_new(
		    ret, "ram",
		    json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
			"transferred", (json_int_t)m.ram_transferred, "remaining", (json_int_t)m.ram_remaining, "total",
			(json_int_t)m.ram_total, "duplicate", (json_int_t)m.ram_duplicate, "skipped", (json_int_t)0,
			"normal", (json_int_t)m.ram_normal, "normal-bytes", (json_int_t)m.ram_normal_bytes,
			"dirty-pages-rate", (json_int_t)m.ram_dirty_pages_rate, "dirty-sync-count",
			(json_int_t)m.ram_dirty_sync_count, "postcopy-requests", (json_int_t)0, "page-size",
			(json_int_t)4096, "multifd-bytes", (json_int_t)0, "pages-per-second",
			(json_int_t)m.ram_pages_per_second, "precopy-bytes", (json_int_t)m.ram_precopy_bytes,
			"downtime-bytes", (json_int_t)m.ram_downtime_bytes, "postcopy-bytes", (json_int_t)0,
			"dirty-sync-missed-zero-copy", (json_int_t)0, "mbps", m.ram_mbps));
	if (ret && m.status == QMP_MIGRATION_FAILED && m.error_desc)
		json_object_set_new(ret, "error-desc", qmp_json_string_lossy(m.error_desc));
	return ret;
}

static json_t *run_migrate_cancel(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	return empty_return(ops->migrate_cancel(opaque), why, why_size);
}

/* An optional unsigned integer argument, at most @max (QEMU's range texts name it with underscores). */
static bool get_uint(json_t *args, const char *name, const char *qemu_name, uint64_t max, const char *range, bool *has,
		     uint64_t *out, char *why, size_t why_size)
{
	json_t *v = json_object_get(args, name);

	*has = v != NULL;
	if (!v)
		return true;
	if (!json_is_integer(v)) {
		snprintf(why, why_size, "Invalid parameter type for '%s', expected: integer", name);
		return false;
	}
	if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
		snprintf(why, why_size, "Parameter '%s' expects an integer in the range of 0 to %s", qemu_name, range);
		return false;
	}
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static json_t *run_migrate_set_parameters(const struct qmp_ops *ops, void *opaque, json_t *args, char *why,
					  size_t why_size)
{
	static const char *const known[] = {"downtime-limit", "max-bandwidth", NULL};
	struct qmp_migration_parameters p = {0};

	if (!only_known(args, known, why, why_size) ||
	    !get_uint(args, "downtime-limit", "downtime_limit", 2000000, "(2000 * 1000) ms", &p.has_downtime_limit,
		      &p.downtime_limit, why, why_size) ||
	    !get_uint(args, "max-bandwidth", "max_bandwidth", UINT64_MAX / 1000000, "18446744073709 bytes/second",
		      &p.has_max_bandwidth, &p.max_bandwidth, why, why_size))
		return NULL;
	return empty_return(ops->migrate_set_parameters(opaque, &p), why, why_size);
}

/* QEMU 7.2's MigrationCapability, in its order (query-migrate-capabilities lists them so). */
static const char *const capability_names[] = {"xbzrle",
					       "rdma-pin-all",
					       "auto-converge",
					       "zero-blocks",
					       "compress",
					       "events",
					       "postcopy-ram",
					       "x-colo",
					       "release-ram",
					       "block",
					       "return-path",
					       "pause-before-switchover",
					       "multifd",
					       "dirty-bitmaps",
					       "postcopy-blocktime",
					       "late-block-activate",
					       "x-ignore-shared",
					       "validate-uuid",
					       "background-snapshot",
					       "zero-copy-send",
					       "postcopy-preempt",
					       NULL};

static json_t *run_migrate_set_capabilities(const struct qmp_ops *ops, void *opaque, json_t *args, char *why,
					    size_t why_size)
{
	static const char *const known[] = {"capabilities", NULL};
	const char *const *names = capability_names;
	json_t *list = json_object_get(args, "capabilities"), *e;
	size_t i, k;
	int r;

	if (!only_known(args, known, why, why_size))
		return NULL;
	if (!list) {
		snprintf(why, why_size, "Parameter 'capabilities' is missing");
		return NULL;
	}
	if (!json_is_array(list)) {
		snprintf(why, why_size, "Invalid parameter type for 'capabilities', expected: array");
		return NULL;
	}
	json_array_foreach(list, i, e)
	{ /* every element checked before any is applied */
		json_t *name = json_object_get(e, "capability"), *state = json_object_get(e, "state");

		if (!json_is_object(e)) {
			snprintf(why, why_size, "Invalid parameter type for 'capabilities[%zu]', expected: object", i);
			return NULL;
		}
		for (void *it = json_object_iter(e); it; it = json_object_iter_next(e, it))
			if (strcmp(json_object_iter_key(it), "capability") &&
			    strcmp(json_object_iter_key(it), "state")) {
				snprintf(why, why_size, "Parameter 'capabilities[%zu].%s' is unexpected", i,
					 json_object_iter_key(it));
				return NULL;
			}
		if (!name || !state) {
			snprintf(why, why_size, "Parameter 'capabilities[%zu].%s' is missing", i,
				 name ? "state" : "capability");
			return NULL;
		}
		if (!json_is_string(name) || !json_is_boolean(state)) {
			snprintf(why, why_size, "Invalid parameter type for 'capabilities[%zu].%s', expected: %s", i,
				 json_is_string(name) ? "state" : "capability",
				 json_is_string(name) ? "boolean" : "string");
			return NULL;
		}
		for (k = 0; names[k] && strcmp(names[k], json_string_value(name)); k++)
			;
		if (!names[k]) {
			snprintf(why, why_size, "Parameter 'capability' does not accept value '%s'",
				 json_string_value(name));
			return NULL;
		}
	}
	json_array_foreach(list, i, e) if ((r = ops->migrate_set_capability(
						opaque, json_string_value(json_object_get(e, "capability")),
						json_is_true(json_object_get(e, "state")))) <
					   0) return failed(r, why, why_size);
	return json_object();
}

/* query-migrate-capabilities: [{"capability": NAME, "state": BOOL}, ...], the capabilities the VMM has. */
static json_t *run_query_migrate_capability(const struct qmp_ops *ops, void *opaque, char *why, size_t why_size)
{
	json_t *list = json_array();
	bool state;
	int r;

	for (size_t k = 0; list && capability_names[k]; k++) {
		state = false;
		if ((r = ops->query_migrate_capability(opaque, capability_names[k], &state)) < 0) {
			json_decref(list);
			return failed(r, why, why_size);
		}
		if (r > 0 && json_array_append_new(list, json_pack("{s:s, s:b}", "capability", capability_names[k],
								   "state", state)) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

#define COMMAND(name, field)                                                                                           \
	{                                                                                                              \
		name, offsetof(struct qmp_ops, field), run_##field, NULL                                               \
	}
#define COMMAND_ARGS(name, field, fn)                                                                                  \
	{                                                                                                              \
		name, offsetof(struct qmp_ops, field), NULL, fn                                                        \
	}

static const struct qmp_command commands[] = {
    COMMAND("query-status", query_status),
    COMMAND("stop", stop),
    COMMAND("cont", cont),
    COMMAND("system_powerdown", system_powerdown),
    COMMAND("system_reset", system_reset),
    COMMAND("quit", quit),
    COMMAND("query-version", query_version),
    {"query-cpus-fast", offsetof(struct qmp_ops, query_cpu), run_query_cpus_fast, NULL},
    COMMAND("query-block", query_block),
    COMMAND_ARGS("migrate", migrate, run_migrate),
    COMMAND("query-migrate", query_migrate),
    COMMAND("migrate_cancel", migrate_cancel),
    COMMAND_ARGS("migrate-set-parameters", migrate_set_parameters, run_migrate_set_parameters),
    COMMAND_ARGS("migrate-set-capabilities", migrate_set_capability, run_migrate_set_capabilities),
    COMMAND("query-migrate-capabilities", query_migrate_capability),
};

const struct qmp_command *qmp_command_find(const struct qmp_ops *ops, const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		void (*fn)(void);

		if (strcmp(commands[i].name, name))
			continue;
		/* Every member of struct qmp_ops is a function pointer; a NULL one makes the command unknown. */
		memcpy(&fn, (const char *)ops + commands[i].op, sizeof(fn));
		return fn ? &commands[i] : NULL;
	}
	return NULL;
}

json_t *qmp_command_run(const struct qmp_command *cmd, const struct qmp_ops *ops, void *opaque, json_t *args, char *why,
			size_t why_size)
{
	json_t *ret;

	if (!cmd->run_args && json_object_iter(args)) {
		snprintf(why, why_size, "Parameter '%s' is unexpected", json_object_iter_key(json_object_iter(args)));
		return NULL;
	}
	ret = cmd->run_args ? cmd->run_args(ops, opaque, args, why, why_size) : cmd->run(ops, opaque, why, why_size);

	if (!ret && !why[0])
		snprintf(why, why_size, "out of memory");
	return ret;
}

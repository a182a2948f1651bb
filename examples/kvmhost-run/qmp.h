/*
 * qmp: a QMP control socket (QEMU Machine Protocol) for a VMM, independent of how the VM is built. It listens on a
 * Unix socket, greets each client, negotiates capabilities and answers QEMU's commands for what a VMM has
 * (query-status, stop, cont, system_powerdown, system_reset, quit, query-cpus-fast, query-block, query-version,
 * and migration's: migrate, query-migrate, migrate_cancel, migrate-set-parameters, migrate-set-capabilities,
 * query-migrate-capabilities) with QEMU's reply shapes and error classes; it sends the VMM's events (STOP, RESUME,
 * SHUTDOWN, RESET, ...) to every negotiated client. The VM side is a table of callbacks (struct qmp_ops) that supply
 * values only: the JSON shapes are built here, so a VMM cannot get them wrong. The JSON library (jansson) stays inside
 * qmp*.c.
 *
 * Everything a client sends is hostile and bounded: a message is at most QMP_MAX_MESSAGE bytes (a longer one gets
 * one error reply and is skipped to its end; the connection stays, as QEMU resynchronises after its own limits),
 * at most QMP_MAX_CLIENTS clients at once (one more gets an error line and is closed), and each client's unsent
 * output is at most QMP_MAX_OUTPUT bytes: a client that does not read is dropped, never waited for. Sockets are
 * non-blocking; nothing here blocks or raises SIGPIPE.
 *
 * Threads: one. Call every function from the thread that runs qmp_server_dispatch() (the VMM's main loop); the
 * callbacks run there, inside dispatch. An event seen on another thread (a vCPU thread's reset) must be handed to
 * that thread first (an eventfd in the loop). Callbacks may call qmp_server_event*() and
 * qmp_server_set_error(), but must not destroy the server: ask the main loop to do it after dispatch returns.
 *
 * Not here: the VM itself, and QMP's out-of-band execution (the greeting offers no "oob" capability).
 */
#ifndef KVMHOST_RUN_QMP_H
#define KVMHOST_RUN_QMP_H

#include <stdbool.h>
#include <stdint.h>

#define QMP_MAX_CLIENTS 8
#define QMP_MAX_MESSAGE (64u * 1024)  /* bytes in one JSON text a client sends */
#define QMP_MAX_NESTING 1024	      /* arrays and objects inside each other, as QEMU's limit */
#define QMP_MAX_OUTPUT	(256u * 1024) /* bytes queued for one client that it has not read yet */
#define QMP_MAX_CPUS	1024	      /* rows query-cpus-fast asks query_cpu() for, at most */
#define QMP_MAX_BLOCKS	256	      /* rows query-block asks query_block() for, at most */

struct qmp_server;

/* QEMU's RunState names, for query-status ("running" is true only for QMP_RUN_STATE_RUNNING). */
enum qmp_run_state {
	QMP_RUN_STATE_PRELAUNCH,      /* "prelaunch": created, not started yet (QEMU -S) */
	QMP_RUN_STATE_RUNNING,	      /* "running" */
	QMP_RUN_STATE_PAUSED,	      /* "paused": stopped by `stop` */
	QMP_RUN_STATE_SHUTDOWN,	      /* "shutdown": the guest powered off, the VMM not gone yet */
	QMP_RUN_STATE_INTERNAL_ERROR, /* "internal-error": KVM could not go on */
	QMP_RUN_STATE_GUEST_PANICKED, /* "guest-panicked" */
	QMP_RUN_STATE_INMIGRATE,      /* "inmigrate": waiting for an incoming migration or snapshot */
	QMP_RUN_STATE_FINISH_MIGRATE, /* "finish-migrate": paused by a migration for its last stage */
	QMP_RUN_STATE_POSTMIGRATE,    /* "postmigrate": the guest was migrated away and runs elsewhere */
	QMP_RUN_STATE_COUNT
};

/* QEMU's ShutdownCause names, the "reason" of SHUTDOWN and RESET events; "guest" is true for the guest-* ones. */
enum qmp_shutdown_cause {
	QMP_CAUSE_HOST_ERROR,		 /* "host-error" */
	QMP_CAUSE_HOST_QMP_QUIT,	 /* "host-qmp-quit": the `quit` command */
	QMP_CAUSE_HOST_QMP_SYSTEM_RESET, /* "host-qmp-system-reset": the `system_reset` command */
	QMP_CAUSE_HOST_SIGNAL,		 /* "host-signal": SIGINT, SIGTERM, SIGHUP */
	QMP_CAUSE_GUEST_SHUTDOWN,	 /* "guest-shutdown": ACPI S5, KVM_SYSTEM_EVENT_SHUTDOWN */
	QMP_CAUSE_GUEST_RESET,		 /* "guest-reset": i8042, ACPI reset register, triple fault */
	QMP_CAUSE_GUEST_PANIC,		 /* "guest-panic" */
	QMP_CAUSE_COUNT
};

/* query-version: what the VMM reports as its version (QEMU clients compare these numbers). */
struct qmp_version {
	unsigned major, minor, micro;
	const char *package; /* free text, e.g. "kvmhost-run 0.1.0"; NULL: "" */
};

/* One row of query-cpus-fast. */
struct qmp_cpu_info {
	unsigned cpu_index;   /* "cpu-index" */
	long thread_id;	      /* "thread-id": the host thread (gettid()) running the vCPU */
	const char *qom_path; /* "qom-path"; NULL: "/machine/unattached/device[<cpu_index>]", as QEMU's pc */
	unsigned socket_id, core_id, smt_id; /* "props": "socket-id", "core-id", "thread-id" */
};

/* One row of query-block: a disk. Strings must stay valid until the callback's caller returns (the next call). */
struct qmp_block_info {
	const char *device;    /* "device", e.g. "virtio0" (QEMU's name for -drive if=virtio) */
	const char *qdev;      /* "qdev": the device model's path or id; NULL: omitted */
	const char *node_name; /* "inserted"."node-name"; NULL: "#block<index>" */
	const char *file;      /* "inserted"."file" and .image.filename; NULL: no medium, "inserted" omitted */
	bool read_only;	       /* "inserted"."ro" */
	bool removable, locked;
	bool cache_writeback, cache_direct, cache_no_flush; /* "inserted"."cache" */
	uint64_t virtual_size;				    /* "image"."virtual-size": bytes the guest sees */
	uint64_t actual_size; /* "image"."actual-size": bytes on the host (st_blocks * 512) */
};

/* QEMU's MigrationStatus names: query-migrate's "status" and the MIGRATION event's. */
enum qmp_migration_status {
	QMP_MIGRATION_NONE,	  /* "none": no migration yet (query-migrate then returns {}) */
	QMP_MIGRATION_SETUP,	  /* "setup" */
	QMP_MIGRATION_ACTIVE,	  /* "active" */
	QMP_MIGRATION_COMPLETED,  /* "completed" */
	QMP_MIGRATION_FAILED,	  /* "failed" */
	QMP_MIGRATION_CANCELLING, /* "cancelling" */
	QMP_MIGRATION_CANCELLED,  /* "cancelled" */
	QMP_MIGRATION_COUNT
};

/* query-migrate's MigrationInfo, as QEMU 7.2 fills it: times in ms; "ram" while SETUP is over (ACTIVE and after,
 * has_ram); "expected-downtime" while ACTIVE; "downtime" once COMPLETED; "error-desc" when FAILED and given. */
struct qmp_migration_info {
	enum qmp_migration_status status;
	uint64_t total_time, setup_time, downtime, expected_downtime;
	bool has_ram;
	uint64_t ram_total, ram_transferred, ram_remaining;   /* bytes: the guest's RAM, sent so far, still to send */
	uint64_t ram_duplicate, ram_normal, ram_normal_bytes; /* zero pages, pages sent with data, their bytes */
	uint64_t ram_dirty_sync_count, ram_dirty_pages_rate, ram_pages_per_second;
	uint64_t ram_precopy_bytes, ram_downtime_bytes; /* bytes sent while the guest ran, while it was stopped */
	double ram_mbps;				/* the transfer's rate, megabits per second */
	const char *error_desc;				/* FAILED: why; NULL: omitted */
};

/* migrate-set-parameters: the parameters given (has_*), already checked against QEMU's ranges. */
struct qmp_migration_parameters {
	bool has_downtime_limit, has_max_bandwidth;
	uint64_t downtime_limit; /* ms, 0 to 2000000 */
	uint64_t max_bandwidth;	 /* bytes per second, 0 to SIZE_MAX / 1000000 */
};

/*
 * The VM side. Every callback gets the opaque pointer given to qmp_server_create(), returns 0 on success or a
 * negative errno (the reply is then GenericError with strerror's text, or the text given to
 * qmp_server_set_error() during the call). A NULL callback makes its command unknown (CommandNotFound), as a
 * QEMU built without it. A state change a command causes is announced by the callback itself, with
 * qmp_server_event*(), before it returns (QEMU sends STOP before stop's reply, RESUME before cont's).
 */
struct qmp_ops {
	int (*query_status)(void *opaque, enum qmp_run_state *state);
	int (*stop)(void *opaque);	       /* pause every vCPU; event STOP if it was running */
	int (*cont)(void *opaque);	       /* resume; event RESUME */
	int (*system_powerdown)(void *opaque); /* press the ACPI power button; event POWERDOWN */
	int (*system_reset)(void *opaque);     /* reset the machine; event RESET (host-qmp-system-reset) */
	int (*quit)(void *opaque);	       /* ask the VMM to exit; event SHUTDOWN (host-qmp-quit) */
	int (*query_version)(void *opaque, struct qmp_version *version); /* also the greeting's version */
	/* Fill vCPU @index's row: return 1, or 0 when there is no such vCPU (the list ends there), or -errno. */
	int (*query_cpu)(void *opaque, unsigned index, struct qmp_cpu_info *cpu);
	/* Fill disk @index's row (the struct comes zeroed): 1, 0 past the last disk, or -errno. */
	int (*query_block)(void *opaque, unsigned index, struct qmp_block_info *block);
	/* migrate {"uri": ...}: check the URI (a bad one: qmp_server_set_error() and -EINVAL), start the migration
	 * and return at once (its MIGRATION events say how it goes: setup, active, completed/failed/cancelled;
	 * the server's thread must send them, qmp.h's threads rule). "blk", "inc" and "resume" true are refused
	 * before the call, "detach" is ignored (QEMU ignores it too). */
	int (*migrate)(void *opaque, const char *uri);
	int (*query_migrate)(void *opaque, struct qmp_migration_info *info); /* the struct comes zeroed */
	int (*migrate_cancel)(void *opaque); /* nothing in progress: 0, nothing done (as QEMU) */
	int (*migrate_set_parameters)(void *opaque, const struct qmp_migration_parameters *params);
	/* migrate-set-capabilities: one call per {"capability": NAME, "state": BOOL} of the list, NAME one of
	 * QEMU 7.2's capabilities (others are refused before the call). */
	int (*migrate_set_capability)(void *opaque, const char *name, bool state);
	/* query-migrate-capabilities: asked for each of QEMU 7.2's capabilities in QEMU's order; 1 with *@state set:
	 * the capability is listed (one the VMM has), 0: left out of the list (one it does not have), or -errno. */
	int (*query_migrate_capability)(void *opaque, const char *name, bool *state);
};

/* Listen on the Unix socket @path (mode 0600; a stale socket there is replaced, any other file is -EEXIST;
 * -ENAMETOOLONG past sun_path). @ops must outlive the server. 0 or a negative errno. */
int qmp_server_create(struct qmp_server **out, const char *path, const struct qmp_ops *ops, void *opaque);
/* Close every client (after one last non-blocking try to send what is queued), the socket, and remove its path
 * if it is still ours. NULL is ignored. */
void qmp_server_destroy(struct qmp_server *server);
/* Adopt an already connected stream socket as a client (a socketpair, an fd handed over by a manager): it gets
 * the greeting. On success the server owns @fd; on failure (-EBUSY when QMP_MAX_CLIENTS are connected) the caller
 * still does. */
int qmp_server_add_client(struct qmp_server *server, int fd);

/* One fd, readable when qmp_server_dispatch() has work (an epoll fd over the socket and the clients). */
int qmp_server_fd(const struct qmp_server *server);
/* Accept, read, answer and write what is ready, without waiting. 0, or a negative errno from epoll. */
int qmp_server_dispatch(struct qmp_server *server);
/* The same as a kvmhost_loop_fn (include/kvmhost/loop.h), for
 * kvmhost_loop_add(loop, qmp_server_fd(s), KVMHOST_LOOP_IN, qmp_server_on_ready, s). */
void qmp_server_on_ready(int fd, uint32_t events, void *server);
/* Clients connected now (negotiated or not). */
unsigned qmp_server_client_count(const struct qmp_server *server);

/* Send {"event": @name, "data": @data_json, "timestamp": {"seconds", "microseconds"}} to every client that has
 * finished capabilities negotiation. @data_json: a JSON object's text, or NULL for an event without "data" (STOP,
 * RESUME, POWERDOWN). Returns how many clients it was queued for, or -EINVAL (a bad name or data). */
int qmp_server_event(struct qmp_server *server, const char *name, const char *data_json);
/* The same for SHUTDOWN and RESET: data {"guest": bool, "reason": <the cause's name>}. */
int qmp_server_event_cause(struct qmp_server *server, const char *name, enum qmp_shutdown_cause cause);
/* From inside a callback that is about to fail: the "desc" of the GenericError reply (printf format). */
void qmp_server_set_error(struct qmp_server *server, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for MIGRATION: data {"status": <the status's name>}. */
int qmp_server_event_migration(struct qmp_server *server, enum qmp_migration_status status);

/* The QEMU names: "running", ...; "host-qmp-quit", ...; "active", .... NULL when out of range. */
const char *qmp_run_state_name(enum qmp_run_state state);
const char *qmp_shutdown_cause_name(enum qmp_shutdown_cause cause);
const char *qmp_migration_status_name(enum qmp_migration_status status);

#endif

/*
 * kvmhost-run's shared state: what the flags asked for (a machine's options, kvmhost/machine.h), the machine made
 * from them, the exit statuses and the message helpers; used by kvmhost-run.c (flags, checks, the run and its
 * exit status), virtio.c (the virtio flags) and control.c (--control, the QMP socket).
 */
#ifndef KVMHOST_RUN_H
#define KVMHOST_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include "qmp.h"

enum { EXIT_POWEROFF = 0, EXIT_USAGE = 2, EXIT_REBOOT = 4, EXIT_GUEST = 6, EXIT_HOST = 8, EXIT_INCOMING = 10 };

#define PROG "kvmhost-run"

struct vmm {
	struct kvmhost_machine_options opts;
	struct kvmhost_machine_x86_options x86;
	struct kvmhost_machine_serial serial;
	struct kvmhost_machine_device dev[KVMHOST_MACHINE_MAX_DEVICES]; /* as the guest sees them: disks first */
	char *dev_what[KVMHOST_MACHINE_MAX_DEVICES];			/* the flag that asked for each, for messages */
	struct kvmhost_machine_device net, console, rng;		/* until every disk is in dev */
	uint32_t ndisks;
	const char *console_arg, *control; /* --console's backend; --control's socket path */
	struct kvmhost_machine *m;
	struct qmp_server *qmp;
	int status;	      /* set before the machine is stopped on purpose (a signal: 128+N; quit: 0); else -1 */
	bool reset_requested; /* system_reset asked for the reset that stopped the machine */
	bool shutdown_sent;   /* --control's quit announced SHUTDOWN already (control_close() then does not) */
	bool paused;	      /* --paused: created, started by --control's cont */
	bool loop_done;	      /* the main loop ends without the machine's STOPPED (an incoming that failed) */
	bool incoming_failed; /* --incoming did not bring a guest (migration_error() says why) */
};

/* kvmhost-run.c: stop the VM on purpose (a signal, quit) with exit status @status (an incoming migration still
 * waiting is cancelled instead: the VM never ran). */
void vmm_stop(struct vmm *v, int status);

/* Print one line, "kvmhost-run: ...", on stderr; return @status. */
int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define usage_error(...) say(EXIT_USAGE, __VA_ARGS__)

/* virtio.c. The parse functions print one line and return EXIT_USAGE on a bad value, else 0. */
int virtio_parse_transport(struct vmm *v, const char *arg);
int virtio_parse_disk(struct vmm *v, const char *arg);
int virtio_parse_net(struct vmm *v, const char *arg);
int virtio_parse_console(struct vmm *v, const char *arg);
int virtio_parse_rng(struct vmm *v, const char *arg);
/* After all flags: the device array of v->opts, in the guest's order. 0 or EXIT_USAGE. */
int virtio_devices(struct vmm *v);

/* control.c: --control PATH, the QMP server (qmp.h) on the machine. open: before KVM, 0 or EXIT_USAGE after one
 * line; fd: what the main loop polls (-1: none); dispatch when it is readable; close: the event for @status (what
 * stopped the VM: the machine's own events need no QMP one, as stop and cont announce theirs), then the server. */
int control_open(struct vmm *v);
int control_fd(struct vmm *v);
void control_dispatch(struct vmm *v);
void control_close(struct vmm *v, int status);

/* migrate.c: --incoming URI and --control's migration commands (the file comment there has the protocol).
 * incoming_open: parse --incoming (0 or EXIT_USAGE); prepare: after the checks, before KVM: the eventfds, and
 * for --incoming its file opened or its socket listening (0, EXIT_USAGE, EXIT_HOST); incoming_start: after
 * create, the thread that receives the guest; fd/dispatch: the main loop's; fini: cancel and join, close. */
int migration_incoming_open(struct vmm *v, const char *uri);
int migration_prepare(struct vmm *v);
int migration_incoming_start(struct vmm *v);
int migration_fd(void);
void migration_dispatch(struct vmm *v);
void migration_fini(struct vmm *v, bool cancel); /* cancel: what runs (else it ends by itself: wait) */
bool migration_incoming_pending(void);		 /* --incoming has not brought the guest yet */
bool migration_busy(void);			 /* a migration from here runs, or completed to a socket */
bool migration_migrated_away(void);		 /* a migration to a socket completed: the guest runs elsewhere */
const char *migration_error(void);		 /* why the last migration failed */
const char *migration_incoming_text(void);
/* The QMP commands' halves: start (0, or -errno with QMP's error text in @why), cancel, parameters, query. */
int migration_start(struct vmm *v, const char *uri, char *why, size_t why_size);
int migration_cancel(struct vmm *v);
int migration_set_parameters(bool has_downtime_limit, uint64_t downtime_limit, bool has_max_bandwidth,
			     uint64_t max_bandwidth);
void migration_query(struct qmp_migration_info *info);
/* migrate-set-capabilities' x-ignore-shared: a later migrate unix: is a same-host hand-over (the guest's memfd RAM
 * passed, only the state sent). 0, or -EBUSY with @why while a migration runs. */
int migration_set_ignore_shared(bool on, char *why, size_t why_size);
bool migration_ignore_shared(void);
/* query-status during a migration: inmigrate, finish-migrate or postmigrate (true), else false. */
bool migration_run_state(enum qmp_run_state *state);

#endif

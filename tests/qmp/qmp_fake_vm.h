/*
 * qmp_fake_vm: a VM that exists only as a run state, a few vCPUs and disks, behind the QMP server's callbacks
 * (struct qmp_ops), for tests/unit/qmp_test.c and tests/qmp/qmp-fake-vmm.c. It changes state and sends events the
 * way kvmhost-run's callbacks should (and the way QEMU does): STOP when a running VM stops, RESUME when it
 * continues, POWERDOWN, RESET (host-qmp-system-reset), SHUTDOWN (host-qmp-quit); a migration completes at once
 * (MIGRATION setup, active, completed), to a file as a snapshot (the VM's state unchanged), to a socket leaving the
 * VM in postmigrate, as kvmhost-run's do.
 */
#ifndef QMP_FAKE_VM_H
#define QMP_FAKE_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "qmp.h"

struct qmp_fake_vm {
	struct qmp_server *server; /* set after qmp_server_create(), for the events */
	enum qmp_run_state state;
	unsigned ncpus, ndisks;
	bool quit_requested;
	unsigned stops, conts, powerdowns, resets, quits; /* calls */
	unsigned migrations;				  /* migrate calls that started one */
	enum qmp_migration_status migration;		  /* the last migration's (each completes at once) */
	uint64_t downtime_limit, max_bandwidth;		  /* migrate-set-parameters */
	bool ignore_shared;				  /* migrate-set-capabilities' x-ignore-shared */
	int fail;					  /* nonzero: every callback returns it (a negative errno) */
	const char *fail_desc; /* with fail: the text given to qmp_server_set_error(); NULL: none */
};

extern const struct qmp_ops qmp_fake_vm_ops;

/* Paused before its start (QEMU's -S: "prelaunch"), 2 vCPUs, 1 disk. */
void qmp_fake_vm_init(struct qmp_fake_vm *vm);

#endif

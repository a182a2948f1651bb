/*
 * kvmhost-run's --control PATH: the QMP server (qmp.h, docs/qmp.md) on the machine. Its callbacks run in the main
 * thread, inside control_dispatch(), and call the machine's: stop pauses it, cont resumes it, system_powerdown
 * presses the ACPI power button, system_reset asks for a reset (kvmhost-run stops on a reset, as QEMU -no-reboot
 * does: status 4), quit stops it (status 0); the migration commands are migrate.c's. Each announces the change it
 * made, as QEMU does before its reply; what else stops the machine is announced by control_close() from the exit
 * status, before the server goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <kvmhost/version.h>
#include "kvmhost-run.h"
#include "qmp.h"

static int vm_query_status(void *opaque, enum qmp_run_state *state)
{
	struct vmm *v = opaque;
	struct kvmhost_machine_stop_info s = {.size = sizeof(s)};
	int st = kvmhost_machine_get_state(v->m);

	if (migration_run_state(state))
		return 0;
	*state = st == KVMHOST_MACHINE_CREATED	 ? QMP_RUN_STATE_PRELAUNCH
		 : st == KVMHOST_MACHINE_RUNNING ? QMP_RUN_STATE_RUNNING
		 : st == KVMHOST_MACHINE_PAUSED	 ? QMP_RUN_STATE_PAUSED
						 : QMP_RUN_STATE_SHUTDOWN;
	if (st == KVMHOST_MACHINE_STOPPED && kvmhost_machine_get_stop_info(v->m, &s) == 0 &&
	    s.reason == KVMHOST_MACHINE_STOP_GUEST_ERROR)
		*state = s.system_event == 3 /* KVM_SYSTEM_EVENT_CRASH */ ? QMP_RUN_STATE_GUEST_PANICKED
									  : QMP_RUN_STATE_INTERNAL_ERROR;
	return st < 0 ? st : 0;
}

/* stop and cont while a migration from here runs (it pauses and resumes the guest itself) or after it moved the
 * guest away. */
static int refuse_migrating(struct vmm *v)
{
	if (!migration_busy())
		return 0;
	qmp_server_set_error(v->qmp, "There's a migration process in progress, or the guest was migrated away");
	return -EBUSY;
}

static int vm_stop(void *opaque)
{
	struct vmm *v = opaque;
	int r;

	if (migration_incoming_pending()) {
		v->paused = true; /* as QEMU: the guest will not start once it has arrived */
		return 0;
	}
	if ((r = refuse_migrating(v)) < 0)
		return r;
	if (kvmhost_machine_get_state(v->m) != KVMHOST_MACHINE_RUNNING)
		return 0;
	if ((r = kvmhost_machine_pause(v->m)) < 0)
		return r;
	qmp_server_event(v->qmp, "STOP", NULL);
	return 0;
}

static int vm_cont(void *opaque)
{
	struct vmm *v = opaque;
	int r, st = kvmhost_machine_get_state(v->m);

	if (migration_incoming_pending()) {
		v->paused = false; /* as QEMU: it starts once it has arrived */
		return 0;
	}
	if ((r = refuse_migrating(v)) < 0)
		return r;
	if (st == KVMHOST_MACHINE_STOPPED) {
		qmp_server_set_error(v->qmp, "Resetting the Virtual Machine is required"); /* QEMU's words */
		return -EINVAL;
	}
	if (st != KVMHOST_MACHINE_PAUSED && st != KVMHOST_MACHINE_CREATED)
		return 0;
	if ((r = st == KVMHOST_MACHINE_CREATED ? kvmhost_machine_start(v->m) : kvmhost_machine_resume(v->m)) < 0)
		return r; /* CREATED: --paused, QEMU's prelaunch */
	qmp_server_event(v->qmp, "RESUME", NULL);
	return 0;
}

static int vm_system_powerdown(void *opaque)
{
	struct vmm *v = opaque;
	int r = kvmhost_machine_request_poweroff(v->m);

	if (r < 0)
		return r;
	qmp_server_event(v->qmp, "POWERDOWN", NULL);
	return 0;
}

static int vm_system_reset(void *opaque)
{
	struct vmm *v = opaque;
	int r = kvmhost_machine_request_reset(v->m);

	if (r < 0)
		return r;
	v->reset_requested = true;
	qmp_server_event_cause(v->qmp, "RESET", QMP_CAUSE_HOST_QMP_SYSTEM_RESET);
	return 0;
}

static int vm_quit(void *opaque)
{
	struct vmm *v = opaque;

	vmm_stop(v, EXIT_POWEROFF);
	v->shutdown_sent = true;
	qmp_server_event_cause(v->qmp, "SHUTDOWN", QMP_CAUSE_HOST_QMP_QUIT);
	return 0;
}

static int vm_query_version(void *opaque, struct qmp_version *version)
{
	(void)opaque;
	*version = (struct qmp_version){KVMHOST_VERSION_MAJOR, KVMHOST_VERSION_MINOR, KVMHOST_VERSION_PATCH,
					PROG " " KVMHOST_VERSION_STRING};
	return 0;
}

static int vm_query_cpu(void *opaque, unsigned index, struct qmp_cpu_info *cpu)
{
	struct vmm *v = opaque;
	long tid;

	if (index >= kvmhost_machine_vcpu_count(v->m))
		return 0;
	if ((tid = kvmhost_machine_vcpu_thread_id(v->m, index)) < 0)
		return (int)tid;
	*cpu = (struct qmp_cpu_info){.cpu_index = index, .thread_id = tid, .core_id = index};
	return 1;
}

static int vm_query_block(void *opaque, unsigned index, struct qmp_block_info *b)
{
	static char device[24], qdev[40];
	struct vmm *v = opaque;
	const struct kvmhost_machine_device *d = &v->dev[index]; /* the disks come first */
	struct stat st;
	uint64_t bytes;
	int fd;

	if (index >= v->ndisks)
		return 0;
	if (stat(d->path, &st) < 0)
		return -errno;
	bytes = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && (fd = open(d->path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			bytes = 0;
		close(fd);
	}
	snprintf(device, sizeof(device), "virtio%u", index);
	b->device = device;
	/* QEMU names the device model by its QOM path; ours is the machine's device id ("blk0": the default). */
	if (d->id)
		snprintf(qdev, sizeof(qdev), "%s", d->id);
	else
		snprintf(qdev, sizeof(qdev), "blk%u", index);
	b->qdev = qdev;
	b->file = d->path;
	b->read_only = d->flags & KVMHOST_MACHINE_DEVICE_READONLY;
	b->cache_writeback = true; /* virtio-blk offers FLUSH */
	b->virtual_size = bytes & ~511ull;
	b->actual_size = (uint64_t)st.st_blocks * 512;
	return 1;
}

static int vm_migrate(void *opaque, const char *uri)
{
	struct vmm *v = opaque;
	char why[400];
	int r = migration_start(v, uri, why, sizeof(why));

	if (r < 0)
		qmp_server_set_error(v->qmp, "%s", why);
	else
		migration_dispatch(v); /* MIGRATION setup before the reply, as QEMU */
	return r;
}

static int vm_query_migrate(void *opaque, struct qmp_migration_info *info)
{
	(void)opaque;
	migration_query(info);
	return 0;
}

static int vm_migrate_cancel(void *opaque)
{
	return migration_cancel(opaque);
}

static int vm_migrate_set_parameters(void *opaque, const struct qmp_migration_parameters *p)
{
	(void)opaque;
	return migration_set_parameters(p->has_downtime_limit, p->downtime_limit, p->has_max_bandwidth,
					p->max_bandwidth);
}

static int vm_migrate_set_capability(void *opaque, const char *name, bool state)
{
	struct vmm *v = opaque;
	char why[200];
	int r;

	if (!strcmp(name, "x-ignore-shared")) { /* the same-host hand-over (migrate.c) */
		if ((r = migration_set_ignore_shared(state, why, sizeof(why))) < 0)
			qmp_server_set_error(v->qmp, "%s", why);
		return r;
	}
	if (!state || !strcmp(name, "events")) /* MIGRATION events are always sent */
		return 0;
	qmp_server_set_error(v->qmp, "Capability '%s' is not supported by " PROG, name);
	return -ENOTSUP;
}

/* The capabilities kvmhost-run has: events (always on: MIGRATION events are always sent) and x-ignore-shared. */
static int vm_query_migrate_capability(void *opaque, const char *name, bool *state)
{
	(void)opaque;
	if (!strcmp(name, "events"))
		return *state = true, 1;
	if (!strcmp(name, "x-ignore-shared"))
		return *state = migration_ignore_shared(), 1;
	return 0;
}

static const struct qmp_ops vm_ops = {
    .query_status = vm_query_status,
    .stop = vm_stop,
    .cont = vm_cont,
    .system_powerdown = vm_system_powerdown,
    .system_reset = vm_system_reset,
    .quit = vm_quit,
    .query_version = vm_query_version,
    .query_cpu = vm_query_cpu,
    .query_block = vm_query_block,
    .migrate = vm_migrate,
    .query_migrate = vm_query_migrate,
    .migrate_cancel = vm_migrate_cancel,
    .migrate_set_parameters = vm_migrate_set_parameters,
    .migrate_set_capability = vm_migrate_set_capability,
    .query_migrate_capability = vm_query_migrate_capability,
};

int control_open(struct vmm *v)
{
	int r;

	if (v->control && (r = qmp_server_create(&v->qmp, v->control, &vm_ops, v)) < 0)
		return usage_error("--control %s: %s", v->control, strerror(-r));
	return 0;
}

int control_fd(struct vmm *v)
{
	return v->qmp ? qmp_server_fd(v->qmp) : -1;
}

void control_dispatch(struct vmm *v)
{
	qmp_server_dispatch(v->qmp);
}

void control_close(struct vmm *v, int status)
{
	enum qmp_shutdown_cause cause = QMP_CAUSE_HOST_ERROR;

	if (!v->qmp)
		return;
	if (status == EXIT_POWEROFF)
		cause = QMP_CAUSE_GUEST_SHUTDOWN;
	else if (status == EXIT_REBOOT)
		cause = v->reset_requested ? QMP_CAUSE_HOST_QMP_SYSTEM_RESET : QMP_CAUSE_GUEST_RESET;
	else if (status >= 128)
		cause = QMP_CAUSE_HOST_SIGNAL;
	if (status == EXIT_GUEST)
		qmp_server_event(v->qmp, "STOP", NULL);
	/* A debug exit ends the VMM without a word, as QEMU's does; so does a migration away (its last word was
	 * MIGRATION completed). */
	if (!v->shutdown_sent && !(status & 1) && !migration_migrated_away())
		qmp_server_event_cause(v->qmp, "SHUTDOWN", cause);
	qmp_server_destroy(v->qmp);
	v->qmp = NULL;
}

/*
 * qmp_fake_vm: the callbacks of a VM made of a run state (see qmp_fake_vm.h). Each one is what kvmhost-run's will
 * be, less the machine: check the state, change it, announce the change with an event before returning.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "qmp_fake_vm.h"

void qmp_fake_vm_init(struct qmp_fake_vm *vm)
{
	*vm = (struct qmp_fake_vm){.state = QMP_RUN_STATE_PRELAUNCH, .ncpus = 2, .ndisks = 1, .downtime_limit = 300};
}

static int failing(struct qmp_fake_vm *vm)
{
	if (vm->fail && vm->fail_desc)
		qmp_server_set_error(vm->server, "%s", vm->fail_desc);
	return vm->fail;
}

static int fake_query_status(void *opaque, enum qmp_run_state *state)
{
	struct qmp_fake_vm *vm = opaque;

	*state = vm->state;
	return failing(vm);
}

static int fake_stop(void *opaque)
{
	struct qmp_fake_vm *vm = opaque;

	vm->stops++;
	if (vm->fail)
		return failing(vm);
	if (vm->state == QMP_RUN_STATE_RUNNING) { /* stopping a VM that is not running changes nothing */
		vm->state = QMP_RUN_STATE_PAUSED;
		qmp_server_event(vm->server, "STOP", NULL);
	}
	return 0;
}

static int fake_cont(void *opaque)
{
	struct qmp_fake_vm *vm = opaque;

	vm->conts++;
	if (vm->fail)
		return failing(vm);
	if (vm->state == QMP_RUN_STATE_SHUTDOWN || vm->state == QMP_RUN_STATE_INTERNAL_ERROR ||
	    vm->state == QMP_RUN_STATE_GUEST_PANICKED) {
		qmp_server_set_error(vm->server, "Resetting the Virtual Machine is required"); /* QEMU's words */
		return -EINVAL;
	}
	if (vm->state != QMP_RUN_STATE_RUNNING) {
		vm->state = QMP_RUN_STATE_RUNNING;
		qmp_server_event(vm->server, "RESUME", NULL);
	}
	return 0;
}

static int fake_system_powerdown(void *opaque)
{
	struct qmp_fake_vm *vm = opaque;

	vm->powerdowns++;
	if (vm->fail)
		return failing(vm);
	/* The power button is pressed; a guest that listens would shut down later (SHUTDOWN, guest-shutdown). */
	qmp_server_event(vm->server, "POWERDOWN", NULL);
	return 0;
}

static int fake_system_reset(void *opaque)
{
	struct qmp_fake_vm *vm = opaque;

	vm->resets++;
	if (vm->fail)
		return failing(vm);
	if (vm->state == QMP_RUN_STATE_SHUTDOWN)
		vm->state = QMP_RUN_STATE_PAUSED;
	qmp_server_event_cause(vm->server, "RESET", QMP_CAUSE_HOST_QMP_SYSTEM_RESET);
	return 0;
}

static int fake_quit(void *opaque)
{
	struct qmp_fake_vm *vm = opaque;

	vm->quits++;
	if (vm->fail)
		return failing(vm);
	/* The VMM exits after this dispatch; destroying the server sends the reply that is still queued. */
	vm->quit_requested = true;
	vm->state = QMP_RUN_STATE_SHUTDOWN;
	qmp_server_event_cause(vm->server, "SHUTDOWN", QMP_CAUSE_HOST_QMP_QUIT);
	return 0;
}

static int fake_query_version(void *opaque, struct qmp_version *version)
{
	struct qmp_fake_vm *vm = opaque;

	*version = (struct qmp_version){.major = 0, .minor = 1, .micro = 0, .package = "kvmhost-run (fake VM)"};
	return failing(vm);
}

static int fake_query_cpu(void *opaque, unsigned index, struct qmp_cpu_info *cpu)
{
	struct qmp_fake_vm *vm = opaque;

	if (vm->fail)
		return failing(vm);
	if (index >= vm->ncpus)
		return 0;
	cpu->cpu_index = index;
	cpu->thread_id = 1000 + (long)index;
	cpu->core_id = index;
	return 1;
}

static int fake_query_block(void *opaque, unsigned index, struct qmp_block_info *block)
{
	struct qmp_fake_vm *vm = opaque;

	if (vm->fail)
		return failing(vm);
	if (index >= vm->ndisks)
		return 0;
	block->device = index ? "virtio1" : "virtio0";
	block->qdev = "/machine/peripheral-anon/device[0]/virtio-backend";
	block->file = "/var/lib/fake/disk.img";
	block->cache_writeback = true;
	block->virtual_size = 1 << 20;
	block->actual_size = 4096;
	return 1;
}

static int fake_migrate(void *opaque, const char *uri)
{
	struct qmp_fake_vm *vm = opaque;
	static const char *const schemes[] = {"file:", "unix:", "tcp:", "fd:"};
	bool known = false;

	if (vm->fail)
		return failing(vm);
	for (unsigned i = 0; i < 4; i++)
		known |= !strncmp(uri, schemes[i], strlen(schemes[i])) && uri[strlen(schemes[i])];
	if (!known) {
		qmp_server_set_error(vm->server, "Parameter 'uri' expects a valid migration protocol"); /* QEMU's */
		return -EINVAL;
	}
	if (vm->migration == QMP_MIGRATION_SETUP || vm->migration == QMP_MIGRATION_ACTIVE) {
		qmp_server_set_error(vm->server, "There's a migration process in progress");
		return -EBUSY;
	}
	vm->migrations++;
	qmp_server_event_migration(vm->server, QMP_MIGRATION_SETUP);
	qmp_server_event_migration(vm->server, QMP_MIGRATION_ACTIVE);
	if (strncmp(uri, "file:", 5)) { /* to a socket: the guest runs on the other side now */
		if (vm->state == QMP_RUN_STATE_RUNNING)
			qmp_server_event(vm->server, "STOP", NULL);
		vm->state = QMP_RUN_STATE_POSTMIGRATE;
	}
	vm->migration = QMP_MIGRATION_COMPLETED;
	qmp_server_event_migration(vm->server, QMP_MIGRATION_COMPLETED);
	return 0;
}

static int fake_query_migrate(void *opaque, struct qmp_migration_info *info)
{
	struct qmp_fake_vm *vm = opaque;

	info->status = vm->migration;
	if (vm->migration == QMP_MIGRATION_COMPLETED)
		*info = (struct qmp_migration_info){.status = vm->migration,
						    .total_time = 3,
						    .setup_time = 1,
						    .downtime = 2,
						    .has_ram = true,
						    .ram_total = 64 << 20,
						    .ram_transferred = 8192 + 64,
						    .ram_duplicate = 16382,
						    .ram_normal = 2,
						    .ram_normal_bytes = 8192,
						    .ram_dirty_sync_count = 1,
						    .ram_downtime_bytes = 8192 + 64,
						    .ram_mbps = 21.5};
	return failing(vm);
}

static int fake_migrate_cancel(void *opaque)
{
	return failing(opaque); /* it completed at once: nothing to cancel */
}

static int fake_migrate_set_parameters(void *opaque, const struct qmp_migration_parameters *p)
{
	struct qmp_fake_vm *vm = opaque;

	if (vm->fail)
		return failing(vm);
	if (p->has_downtime_limit)
		vm->downtime_limit = p->downtime_limit;
	if (p->has_max_bandwidth)
		vm->max_bandwidth = p->max_bandwidth;
	return 0;
}

static int fake_migrate_set_capability(void *opaque, const char *name, bool state)
{
	struct qmp_fake_vm *vm = opaque;

	if (vm->fail)
		return failing(vm);
	if (!strcmp(name, "x-ignore-shared")) { /* as kvmhost-run's: kept, listed by query-migrate-capabilities */
		vm->ignore_shared = state;
		return 0;
	}
	if (state && strcmp(name, "events")) { /* MIGRATION events are always sent */
		qmp_server_set_error(vm->server, "Capability '%s' is not supported", name);
		return -ENOTSUP;
	}
	return 0;
}

static int fake_query_migrate_capability(void *opaque, const char *name, bool *state)
{
	struct qmp_fake_vm *vm = opaque;

	if (vm->fail)
		return failing(vm);
	if (!strcmp(name, "events"))
		return *state = true, 1;
	if (!strcmp(name, "x-ignore-shared"))
		return *state = vm->ignore_shared, 1;
	return 0;
}

const struct qmp_ops qmp_fake_vm_ops = {
    .query_status = fake_query_status,
    .stop = fake_stop,
    .cont = fake_cont,
    .system_powerdown = fake_system_powerdown,
    .system_reset = fake_system_reset,
    .quit = fake_quit,
    .query_version = fake_query_version,
    .query_cpu = fake_query_cpu,
    .query_block = fake_query_block,
    .migrate = fake_migrate,
    .query_migrate = fake_query_migrate,
    .migrate_cancel = fake_migrate_cancel,
    .migrate_set_parameters = fake_migrate_set_parameters,
    .migrate_set_capability = fake_migrate_set_capability,
    .query_migrate_capability = fake_query_migrate_capability,
};

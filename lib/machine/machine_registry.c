/*
 * The device registry a machine owns (device_registry.h): the platform's
 * devices register in it (lib/arch/<arch>/machine_<arch>.c), and the
 * machine's pause, resume and reboot call it once for all of them. Snapshot
 * and migration will save and restore through it.
 */
#include <kvmhost/device_registry.h>

#include "../core/internal.h"
#include "machine_internal.h"

int kh_machine_registry_create(struct kvmhost_machine *m)
{
	struct kvmhost_device_registry *r;
	int err = kvmhost_device_registry_create(&r);

	if (err < 0)
		return err;
	m->registry = r;
	return 0;
}

void kh_machine_registry_destroy(struct kvmhost_machine *m)
{
	kvmhost_device_registry_destroy(m->registry);
	m->registry = NULL;
}

int kh_machine_registry_pause(struct kvmhost_machine *m)
{
	return m->registry ? kvmhost_device_registry_pause(m->registry) : 0;
}

int kh_machine_registry_resume(struct kvmhost_machine *m)
{
	if (!m->registry || kvmhost_device_registry_is_paused(m->registry) != 1)
		return 0;
	return kvmhost_device_registry_resume(m->registry);
}

int kh_machine_registry_reset(struct kvmhost_machine *m)
{
	return m->registry ? kvmhost_device_registry_reset(m->registry) : 0;
}

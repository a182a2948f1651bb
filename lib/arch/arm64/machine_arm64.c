/*
 * The arm64 half of the machine layer (lib/machine/machine_internal.h, "The architecture's half"): not written
 * yet. Every entry refuses with -ENOTSUP so that the arch-neutral machine code links and fails cleanly on arm64
 * until the next slice (docs/arm64.md: vCPU init, the GICv3, the device tree and Image loader wired in).
 * Built on arm64 only.
 */
#include <errno.h>
#include <stdint.h>

#include "../../core/internal.h"
#include "../../machine/machine_internal.h"

static const char not_yet[] = "the arm64 machine is not implemented yet (docs/arm64.md)";

int kh_machine_arch_check(struct kvmhost_machine *m)
{
	return kh_fail(ENOTSUP, m->cfg.func, "%s", not_yet);
}

int kh_machine_arch_check_boot(struct kvmhost_machine *m)
{
	return kh_fail(ENOTSUP, m->cfg.func, "%s", not_yet);
}

int kh_machine_arch_create(struct kvmhost_machine *m)
{
	return kh_fail(ENOTSUP, m->cfg.func, "%s", not_yet);
}

int kh_machine_arch_boot(struct kvmhost_machine *m)
{
	return kh_fail(ENOTSUP, m->cfg.func, "%s", not_yet);
}

int kh_machine_arch_reboot(struct kvmhost_machine *m)
{
	return kh_fail(ENOTSUP, m->cfg.func, "%s", not_yet);
}

int kh_machine_arch_power_button(struct kvmhost_machine *m)
{
	(void)m;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

uint64_t kh_machine_arch_exit_pc(struct kvmhost_machine *m, uint32_t vcpu)
{
	(void)m;
	(void)vcpu;
	return 0;
}

void kh_machine_arch_destroy(struct kvmhost_machine *m)
{
	(void)m;
}

void kh_machine_arch_virtio_slot(struct kvmhost_machine *m, uint32_t index, uint64_t *base, uint32_t *gsi)
{
	(void)m;
	(void)index;
	*base = 0;
	*gsi = 0;
}

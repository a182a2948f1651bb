/*
 * The arm64 half of snapshot and migration (lib/migration/migration_arch.h): not written yet. Saving and
 * loading refuse with -ENOTSUP (kh_mig_arch_prepare() is the first call of each), so the arch-neutral
 * migration code links on arm64. The next slices save the vCPUs' one-reg lists, the vGIC and the timers
 * (docs/arm64.md). Built on arm64 only.
 */
#include <errno.h>
#include <stdint.h>

#include "../../core/internal.h"
#include "../../migration/migration_arch.h"

static const char not_yet[] = "arm64 snapshot and migration are not implemented yet (docs/arm64.md)";

uint32_t kh_mig_arch_id(void)
{
	return 0; /* no stream id of its own yet: KH_MIG_ARCH_* in stream.h gets one with the implementation */
}

int kh_mig_arch_features(struct kvmhost_vcpu *vcpu, struct kh_mig_feature *f, uint32_t max, uint32_t *n)
{
	(void)vcpu;
	(void)f;
	(void)max;
	*n = 0;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_check_features(struct kvmhost_vm *vm, struct kvmhost_vcpu *vcpu, const struct kh_mig_feature *f,
			       uint32_t n)
{
	(void)vm;
	(void)vcpu;
	(void)f;
	(void)n;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_prepare(struct kvmhost_vm *vm)
{
	(void)vm;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_save_vm(struct kvmhost_vm *vm, struct kh_buf *out)
{
	(void)vm;
	(void)out;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_save_vcpu(struct kvmhost_vcpu *vcpu, struct kh_buf *out)
{
	(void)vcpu;
	(void)out;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_decode_vm(const uint8_t *data, size_t len, struct kh_mig_arch_vm **out)
{
	(void)data;
	(void)len;
	*out = NULL;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_decode_vcpu(const uint8_t *data, size_t len, struct kh_mig_arch_vcpu **out)
{
	(void)data;
	(void)len;
	*out = NULL;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

void kh_mig_arch_free_vm(struct kh_mig_arch_vm *s)
{
	(void)s;
}

void kh_mig_arch_free_vcpu(struct kh_mig_arch_vcpu *s)
{
	(void)s;
}

int64_t kh_mig_arch_elapsed_ns(const struct kh_mig_arch_vm *s)
{
	(void)s;
	return 0;
}

int kh_mig_arch_load_vm(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s)
{
	(void)vm;
	(void)s;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_load_vcpu(struct kvmhost_vcpu *vcpu, const struct kh_mig_arch_vcpu *s, int64_t advance_ns)
{
	(void)vcpu;
	(void)s;
	(void)advance_ns;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

int kh_mig_arch_load_clock(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s, int64_t advance_ns)
{
	(void)vm;
	(void)s;
	(void)advance_ns;
	return KH_FAIL(ENOTSUP, "%s", not_yet);
}

void kh_mig_arch_before_resume(struct kvmhost_vcpu *vcpu)
{
	(void)vcpu;
}

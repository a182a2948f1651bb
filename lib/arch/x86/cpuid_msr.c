/*
 * System-wide x86 queries: the CPUID entries KVM supports and the MSRs it
 * saves/restores. Both copy into caller-owned arrays; the temporary buffer
 * KVM fills is grown here when KVM says E2BIG, so callers never have to guess
 * KVM's sizes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/kvm_internal.h"
#include <kvmhost/system.h>
#include <kvmhost/x86.h>

/* KVM_MAX_CPUID_ENTRIES is 256 today; allow growth far beyond it. */
#define KH_CPUID_START 256u
#define KH_CPUID_LIMIT 65536u

static int kh_check_buffer(const struct kvmhost_system *sys, const void *array, uint32_t max, const uint32_t *count,
			   const char *func)
{
	if (!sys || !count)
		return kh_fail(EINVAL, func, "sys or count is NULL");
	if (max && !array)
		return kh_fail(EINVAL, func, "the array is NULL but max is %u", max);
	return 0;
}

/* A system ioctl that fills a struct kvm_cpuid2 and answers E2BIG while it is too small: grow and retry, then
 * copy into the caller's array. */
static int kh_get_cpuid2(struct kvmhost_system *sys, unsigned long request, const char *name,
			 struct kvm_cpuid_entry2 *entries, uint32_t max, uint32_t *count, const char *func)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t n;
	int r;

	r = kh_check_buffer(sys, entries, max, count, func);
	if (r < 0)
		return r;
	for (n = KH_CPUID_START;; n *= 2) {
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return kh_fail(ENOMEM, func, "cannot allocate %u CPUID entries", n);
		c->nent = n;
		if (ioctl(sys->fd, request, c) == 0)
			break;
		r = errno;
		free(c);
		if (r != E2BIG || n >= KH_CPUID_LIMIT)
			return kh_fail(r, func, "%s (%u entries) failed: %s", name, n, strerror(r));
	}
	*count = c->nent;
	if (c->nent > max) {
		r = kh_fail(E2BIG, func, "KVM has %u CPUID entries here; the array holds %u", c->nent, max);
	} else {
		memcpy(entries, c->entries, (size_t)c->nent * sizeof(c->entries[0]));
		r = 0;
	}
	free(c);
	return r;
}

KVMHOST_API int kvmhost_x86_system_get_supported_cpuid(struct kvmhost_system *sys, struct kvm_cpuid_entry2 *entries,
						       uint32_t max, uint32_t *count)
{
	return kh_get_cpuid2(sys, KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID", entries, max, count, __func__);
}

KVMHOST_API int kvmhost_x86_system_get_supported_hv_cpuid(struct kvmhost_system *sys, struct kvm_cpuid_entry2 *entries,
							  uint32_t max, uint32_t *count)
{
	if (sys && kvmhost_system_check_extension(sys, KVM_CAP_SYS_HYPERV_CPUID) <= 0)
		return KH_FAIL(ENOTSUP, "this KVM has no system-wide KVM_GET_SUPPORTED_HV_CPUID "
					"(KVM_CAP_SYS_HYPERV_CPUID): no Hyper-V enlightenments here");
	return kh_get_cpuid2(sys, KVM_GET_SUPPORTED_HV_CPUID, "KVM_GET_SUPPORTED_HV_CPUID", entries, max, count,
			     __func__);
}

KVMHOST_API int kvmhost_x86_system_get_msr_index_list(struct kvmhost_system *sys, uint32_t *indices, uint32_t max,
						      uint32_t *count)
{
	struct kvm_msr_list probe, *list;
	uint32_t n;
	int r;

	r = kh_check_buffer(sys, indices, max, count, __func__);
	if (r < 0)
		return r;
	/* With nmsrs = 0 KVM answers E2BIG and the number it has. */
	memset(&probe, 0, sizeof(probe));
	if (ioctl(sys->fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0) {
		*count = 0;
		return 0;
	}
	if (errno != E2BIG)
		return KH_FAIL_ERRNO("KVM_GET_MSR_INDEX_LIST failed");
	n = probe.nmsrs;
	for (;;) {
		list = calloc(1, sizeof(*list) + (size_t)n * sizeof(list->indices[0]));
		if (!list)
			return KH_FAIL(ENOMEM, "cannot allocate an MSR list of %u", n);
		list->nmsrs = n;
		if (ioctl(sys->fd, KVM_GET_MSR_INDEX_LIST, list) == 0)
			break;
		r = errno;
		/* The list only grows if KVM changes under us; follow it. */
		if (r == E2BIG && list->nmsrs > n && list->nmsrs <= 65536) {
			n = list->nmsrs;
			free(list);
			continue;
		}
		free(list);
		errno = r;
		return KH_FAIL_ERRNO("KVM_GET_MSR_INDEX_LIST (%u entries) failed", n);
	}
	*count = list->nmsrs;
	if (list->nmsrs > max) {
		r = KH_FAIL(E2BIG, "KVM lists %u MSRs; the array holds %u", list->nmsrs, max);
	} else {
		memcpy(indices, list->indices, (size_t)list->nmsrs * sizeof(list->indices[0]));
		r = 0;
	}
	free(list);
	return r;
}

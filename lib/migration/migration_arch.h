/*
 * What snapshot and restore (lib/migration/snapshot.c) ask of the
 * architecture (lib/arch/<arch>/migration_<arch>.c): its stream id, the CPU
 * feature words of the header and their check, and its VM and vCPU state as
 * plain little-endian payloads, in three steps each: save (read KVM, encode),
 * decode (check every byte, no KVM call: done for every section before
 * anything is applied), load (the KVM calls, in the architecture's order).
 */
#ifndef KVMHOST_MIGRATION_ARCH_H
#define KVMHOST_MIGRATION_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

struct kvmhost_vm;
struct kvmhost_vcpu;
struct kh_mig_arch_vm;	 /* decoded VM state */
struct kh_mig_arch_vcpu; /* decoded vCPU state */

uint32_t kh_mig_arch_id(void);
/* The CPU feature words the guest sees (from @vcpu's CPUID), for the header. */
int kh_mig_arch_features(struct kvmhost_vcpu *vcpu, struct kh_mig_feature *f, uint32_t max, uint32_t *n);
/* -EOPNOTSUPP, naming the bits, when a guest of @vm's KVM would lack any of them (@vcpu: one of the destination's
 * vCPUs, its CPUID set; may be NULL). */
int kh_mig_arch_check_features(struct kvmhost_vm *vm, struct kvmhost_vcpu *vcpu, const struct kh_mig_feature *f,
			       uint32_t n);

/* Before saving or loading vCPU state: what makes KVM report all of it (x86: exception payloads). */
int kh_mig_arch_prepare(struct kvmhost_vm *vm);
int kh_mig_arch_save_vm(struct kvmhost_vm *vm, struct kh_buf *out);
int kh_mig_arch_save_vcpu(struct kvmhost_vcpu *vcpu, struct kh_buf *out);

int kh_mig_arch_decode_vm(const uint8_t *data, size_t len, struct kh_mig_arch_vm **out);
int kh_mig_arch_decode_vcpu(const uint8_t *data, size_t len, struct kh_mig_arch_vcpu **out);
void kh_mig_arch_free_vm(struct kh_mig_arch_vm *s);
void kh_mig_arch_free_vcpu(struct kh_mig_arch_vcpu *s);

/* Nanoseconds of wall-clock time since @s was saved (0 if in the future). */
int64_t kh_mig_arch_elapsed_ns(const struct kh_mig_arch_vm *s);
/* The VM state that goes before the vCPUs (x86: PIC, IOAPIC, PIT). */
int kh_mig_arch_load_vm(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s);
/* One vCPU; @advance_ns is added to its TSC (the catch-up policy; 0: none). */
int kh_mig_arch_load_vcpu(struct kvmhost_vcpu *vcpu, const struct kh_mig_arch_vcpu *s, int64_t advance_ns);
/* The clock, after every vCPU and the devices (x86: KVM_SET_CLOCK). */
int kh_mig_arch_load_clock(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s, int64_t advance_ns);
/* Before a vCPU runs again after a snapshot or restore (x86: KVMCLOCK_CTRL). Never fails the caller. */
void kh_mig_arch_before_resume(struct kvmhost_vcpu *vcpu);

#endif

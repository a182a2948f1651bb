/**
 * @file x86.h
 * @brief x86-specific parts: supported CPUID and MSRs, in-kernel irqchip and
 * PIT, TSS/identity map, KVM clock, register sets, and helpers that put a
 * small guest's vCPU straight into real mode or 64-bit long mode.
 *
 * On other architectures these functions are absent from the library.
 *
 * Thread safety: as vcpu.h and vm.h: vCPU state calls from the vCPU's own
 * thread while it is not running; VM calls from one thread at a time.
 */
#ifndef KVMHOST_X86_H
#define KVMHOST_X86_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_system;
struct kvmhost_vm;
struct kvmhost_vcpu;

/**
 * Copy KVM's supported CPUID entries (KVM_GET_SUPPORTED_CPUID) into a
 * caller-owned array.
 * @param entries array of @p max entries (may be NULL when @p max is 0)
 * @param count   receives the number of entries; when the array is too small
 *                the call fails with -E2BIG and *count is the size needed
 * @param sys the system handle (system.h)
 * @param max entries at @p entries
 * @return 0; -E2BIG when @p max is too small (*count is the size needed); -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_system_get_supported_cpuid(struct kvmhost_system *sys, struct kvm_cpuid_entry2 *entries,
						       uint32_t max, uint32_t *count);

/**
 * Copy the Hyper-V CPUID leaves (0x40000000-0x4000000A) this KVM can offer a
 * guest (KVM_GET_SUPPORTED_HV_CPUID on the system), every feature it
 * emulates set: the input of kvmhost_x86_cpuid_add_hyperv(). Same buffer
 * rules as kvmhost_x86_system_get_supported_cpuid().
 * @param sys the system handle (system.h)
 * @param entries array of @p max entries (may be NULL when @p max is 0)
 * @param max entries at @p entries
 * @param count receives the number of entries (on -E2BIG, the number needed)
 * @return 0; -ENOTSUP when the kernel lacks KVM_CAP_SYS_HYPERV_CPUID; -E2BIG,
 *         -EINVAL as there
 */
KVMHOST_API int kvmhost_x86_system_get_supported_hv_cpuid(struct kvmhost_system *sys, struct kvm_cpuid_entry2 *entries,
							  uint32_t max, uint32_t *count);

/** Copy the list of MSRs KVM saves and restores (KVM_GET_MSR_INDEX_LIST);
 * same buffer rules as kvmhost_x86_system_get_supported_cpuid().
 * @param sys the system handle (system.h)
 * @param indices array of @p max MSR indices (may be NULL when @p max is 0)
 * @param max entries at @p indices
 * @param count receives the number of MSRs (on -E2BIG, the number needed)
 * @return 0; -E2BIG when @p max is too small; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_system_get_msr_index_list(struct kvmhost_system *sys, uint32_t *indices, uint32_t max,
						      uint32_t *count);

/** In-kernel interrupt controller models. */
enum kvmhost_x86_irqchip {
	KVMHOST_X86_IRQCHIP_FULL = 1,  /**< PIC, IOAPIC and LAPICs in the kernel */
	KVMHOST_X86_IRQCHIP_SPLIT = 2, /**< LAPICs in the kernel; PIC/IOAPIC in userspace */
};

/**
 * Create the in-kernel irqchip, before any vCPU (KVM_CREATE_IRQCHIP for FULL,
 * KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP) for SPLIT).
 * @param ioapic_pins SPLIT: GSIs reserved for the userspace IOAPIC, 1 to 4096
 *                    (24 is usual); FULL: must be 0
 * @param vm the VM
 * @param mode FULL (all in the kernel) or SPLIT (the IOAPIC and PIC in userspace)
 * @return 0; -EEXIST if already created; -EINVAL for bad mode/pins or if a
 *         vCPU exists or existed (KVM keeps destroyed vCPUs until the VM goes).
 */
KVMHOST_API int kvmhost_x86_vm_create_irqchip(struct kvmhost_vm *vm, enum kvmhost_x86_irqchip mode,
					      uint32_t ioapic_pins);

/** Create the in-kernel i8254 PIT (KVM_CREATE_PIT2). Needs a FULL irqchip
 * (-EINVAL otherwise); KVM refuses a second one (-EEXIST).
 * @param flags KVM_PIT_SPEAKER_DUMMY or 0
 * @param vm the VM
 * @return 0; -EINVAL without a FULL irqchip; -EEXIST for a second PIT; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_create_pit(struct kvmhost_vm *vm, uint32_t flags);

/** Set the guest-physical address of the three-page TSS region (Intel).
 * -EINVAL unless page aligned with all three pages below 4 GiB.
 * @param vm the VM
 * @param addr the region's guest physical address
 * @return 0; -EINVAL for NULL or a bad address; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_set_tss_addr(struct kvmhost_vm *vm, uint64_t addr);
/** Set the guest-physical address of the one-page identity map (Intel, real
 * mode). Page aligned, below 4 GiB, and before any vCPU (KVM's rule).
 * @param vm the VM
 * @param addr the page's guest physical address
 * @return 0; -EINVAL for NULL or a bad address; KVM's error (after a vCPU exists, say).
 */
KVMHOST_API int kvmhost_x86_vm_set_identity_map_addr(struct kvmhost_vm *vm, uint64_t addr);

/**
 * Read the VM's kvmclock (KVM_GET_CLOCK).
 * @param vm the VM
 * @param clock receives the clock
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_get_clock(struct kvmhost_vm *vm, struct kvm_clock_data *clock);
/**
 * Set the VM's kvmclock (KVM_SET_CLOCK).
 * @param vm the VM
 * @param clock the clock to set
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_set_clock(struct kvmhost_vm *vm, const struct kvm_clock_data *clock);

/** @name vCPU register state (thin, checked wrappers over the KVM ioctls)
 * Each returns 0 or a negative errno with a message (-EINVAL for NULL).
 * LAPIC calls need an in-kernel irqchip. The XSAVE calls use the 4 KiB
 * struct kvm_xsave and fail with -E2BIG when KVM_CAP_XSAVE2 reports a larger
 * area (dynamic features such as AMX enabled for guests). @{ */
/**
 * KVM_GET_REGS: read the general-purpose registers, RIP and RFLAGS.
 * @param vcpu the vCPU
 * @param regs receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_regs(struct kvmhost_vcpu *vcpu, struct kvm_regs *regs);
/**
 * KVM_SET_REGS: write the general-purpose registers, RIP and RFLAGS.
 * @param vcpu the vCPU
 * @param regs the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_regs(struct kvmhost_vcpu *vcpu, const struct kvm_regs *regs);
/**
 * KVM_GET_SREGS: read the segment, control and descriptor-table registers, EFER and the APIC base.
 * @param vcpu the vCPU
 * @param sregs receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_sregs(struct kvmhost_vcpu *vcpu, struct kvm_sregs *sregs);
/**
 * KVM_SET_SREGS: write the segment, control and descriptor-table registers, EFER and the APIC base.
 * @param vcpu the vCPU
 * @param sregs the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_sregs(struct kvmhost_vcpu *vcpu, const struct kvm_sregs *sregs);
/**
 * KVM_GET_FPU: read the x87/SSE state.
 * @param vcpu the vCPU
 * @param fpu receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_fpu(struct kvmhost_vcpu *vcpu, struct kvm_fpu *fpu);
/**
 * KVM_SET_FPU: write the x87/SSE state.
 * @param vcpu the vCPU
 * @param fpu the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_fpu(struct kvmhost_vcpu *vcpu, const struct kvm_fpu *fpu);
/**
 * KVM_GET_LAPIC: read the local APIC's registers.
 * @param vcpu the vCPU
 * @param lapic receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_lapic(struct kvmhost_vcpu *vcpu, struct kvm_lapic_state *lapic);
/**
 * KVM_SET_LAPIC: write the local APIC's registers.
 * @param vcpu the vCPU
 * @param lapic the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_lapic(struct kvmhost_vcpu *vcpu, const struct kvm_lapic_state *lapic);
/**
 * KVM_GET_VCPU_EVENTS: read the pending exceptions, interrupts and NMIs.
 * @param vcpu the vCPU
 * @param events receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_events(struct kvmhost_vcpu *vcpu, struct kvm_vcpu_events *events);
/**
 * KVM_SET_VCPU_EVENTS: write the pending exceptions, interrupts and NMIs.
 * @param vcpu the vCPU
 * @param events the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_events(struct kvmhost_vcpu *vcpu, const struct kvm_vcpu_events *events);
/**
 * KVM_GET_DEBUGREGS: read the debug registers.
 * @param vcpu the vCPU
 * @param dregs receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_debugregs(struct kvmhost_vcpu *vcpu, struct kvm_debugregs *dregs);
/**
 * KVM_SET_DEBUGREGS: write the debug registers.
 * @param vcpu the vCPU
 * @param dregs the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_debugregs(struct kvmhost_vcpu *vcpu, const struct kvm_debugregs *dregs);
/**
 * KVM_GET_XCRS: read the extended control registers (XCR0).
 * @param vcpu the vCPU
 * @param xcrs receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_xcrs(struct kvmhost_vcpu *vcpu, struct kvm_xcrs *xcrs);
/**
 * KVM_SET_XCRS: write the extended control registers (XCR0).
 * @param vcpu the vCPU
 * @param xcrs the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_xcrs(struct kvmhost_vcpu *vcpu, const struct kvm_xcrs *xcrs);
/**
 * KVM_GET_XSAVE: read the XSAVE area.
 * @param vcpu the vCPU
 * @param xsave receives the state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_get_xsave(struct kvmhost_vcpu *vcpu, struct kvm_xsave *xsave);
/**
 * KVM_SET_XSAVE: write the XSAVE area.
 * @param vcpu the vCPU
 * @param xsave the new state
 * @return 0; -EINVAL for NULL; KVM's error (the message names the ioctl).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_xsave(struct kvmhost_vcpu *vcpu, const struct kvm_xsave *xsave);
/** @} */

/**
 * Read MSRs. @p indices and @p values have @p count entries (both may be NULL
 * when @p count is 0). Any count up to INT_MAX: the library hands them to KVM
 * in batches.
 * @param vcpu the vCPU
 * @param indices the MSRs to read
 * @param values receives their values
 * @param count entries in @p indices and @p values
 * @return the number of MSRs read (stops at the first KVM refuses), or a negative errno.
 */
KVMHOST_API int kvmhost_x86_vcpu_get_msrs(struct kvmhost_vcpu *vcpu, const uint32_t *indices, uint64_t *values,
					  uint32_t count);
/**
 * Write MSRs. @return the number written (stops at the first refused), or a negative errno.
 * @param vcpu the vCPU
 * @param indices the MSRs to write
 * @param values their new values
 * @param count entries in @p indices and @p values
 */
KVMHOST_API int kvmhost_x86_vcpu_set_msrs(struct kvmhost_vcpu *vcpu, const uint32_t *indices, const uint64_t *values,
					  uint32_t count);

/**
 * Set the vCPU's CPUID table (KVM_SET_CPUID2).
 * @param count number of entries; 1 to 256
 * @param vcpu the vCPU
 * @param entries the table, @p count entries
 * @return 0; -EINVAL for NULL or a bad count; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vcpu_set_cpuid(struct kvmhost_vcpu *vcpu, const struct kvm_cpuid_entry2 *entries,
					   uint32_t count);

/** @name State for snapshot and migration
 * Checked wrappers over the remaining KVM state ioctls; each returns 0 or a
 * negative errno with a message (-EINVAL for NULL). @{ */

/* The multiprocessing state is arch-neutral: kvmhost_vcpu_get_mp_state() / _set_mp_state() (vcpu.h). */

/**
 * Copy the vCPU's CPUID table (KVM_GET_CPUID2) into a caller-owned array;
 * buffer rules as kvmhost_x86_system_get_supported_cpuid() (-E2BIG with
 * *count the size needed when @p max is too small).
 * @param vcpu the vCPU
 * @param entries array of @p max entries (may be NULL when @p max is 0)
 * @param max entries at @p entries
 * @param count receives the number of entries (on -E2BIG, the number needed)
 * @return 0; -E2BIG when @p max is too small; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vcpu_get_cpuid(struct kvmhost_vcpu *vcpu, struct kvm_cpuid_entry2 *entries, uint32_t max,
					   uint32_t *count);

/**
 * The vCPU's TSC frequency in kHz (KVM_GET_TSC_KHZ, KVM_CAP_GET_TSC_KHZ).
 * @param vcpu the vCPU
 * @param khz receives the frequency
 * @return 0 and *khz set; -ENOTSUP when KVM cannot say.
 */
KVMHOST_API int kvmhost_x86_vcpu_get_tsc_khz(struct kvmhost_vcpu *vcpu, uint32_t *khz);
/**
 * Set the vCPU's TSC frequency (KVM_SET_TSC_KHZ), before it first runs.
 * Without TSC scaling (KVM_CAP_TSC_CONTROL) KVM accepts the host's rate
 * (within 250 ppm) and faster ones (it then catches the TSC up), and
 * refuses slower ones.
 * @param vcpu the vCPU
 * @param khz the frequency in kHz; non-zero
 * @return 0; -EINVAL for NULL or 0 kHz; KVM's error (the message says the
 *         rate asked for).
 */
KVMHOST_API int kvmhost_x86_vcpu_set_tsc_khz(struct kvmhost_vcpu *vcpu, uint32_t khz);
/**
 * Tell a paused guest's kvmclock that its vCPU was stopped by the host
 * (KVM_KVMCLOCK_CTRL), so that its soft-lockup watchdog does not count the
 * pause. Call on every vCPU before resuming a restored or long-paused guest.
 * @param vcpu the vCPU
 * @return 1 when the guest was told; 0 when the guest uses no kvmclock on
 *         this vCPU (KVM's EINVAL: nothing to tell); -ENOTSUP without
 *         KVM_CAP_KVMCLOCK_CTRL; -EINVAL for NULL; KVM's other errors.
 */
KVMHOST_API int kvmhost_x86_vcpu_kvmclock_ctrl(struct kvmhost_vcpu *vcpu);

/**
 * Read one chip of the in-kernel irqchip (KVM_GET_IRQCHIP).
 * @param chip chip_id set by the caller: KVM_IRQCHIP_PIC_MASTER (0),
 *             KVM_IRQCHIP_PIC_SLAVE (1) or KVM_IRQCHIP_IOAPIC (2)
 * @param vm the VM
 * @return 0; -EINVAL for NULL, another chip_id, or a VM without a FULL
 *         irqchip; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_get_irqchip(struct kvmhost_vm *vm, struct kvm_irqchip *chip);
/**
 * Set one chip of the in-kernel irqchip (KVM_SET_IRQCHIP); rules as get.
 * @param vm the VM
 * @param chip the chip's state, chip_id set
 * @return 0; -EINVAL for NULL or no FULL irqchip; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_set_irqchip(struct kvmhost_vm *vm, const struct kvm_irqchip *chip);
/**
 * Read the in-kernel PIT (KVM_GET_PIT2). -EINVAL for NULL or no FULL irqchip; -ENXIO from KVM without a PIT.
 * @param vm the VM
 * @param pit receives the PIT's state
 * @return 0; -EINVAL for NULL or no FULL irqchip; -ENXIO without a PIT; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vm_get_pit(struct kvmhost_vm *vm, struct kvm_pit_state2 *pit);
/**
 * Set the in-kernel PIT (KVM_SET_PIT2); rules as get.
 * @param vm the VM
 * @param pit the PIT's new state
 * @return as kvmhost_x86_vm_get_pit().
 */
KVMHOST_API int kvmhost_x86_vm_set_pit(struct kvmhost_vm *vm, const struct kvm_pit_state2 *pit);
/**
 * Which KVM_CLOCK_* flags KVM_GET_CLOCK can report and KVM_SET_CLOCK takes
 * here (KVM_CHECK_EXTENSION(KVM_CAP_ADJUST_CLOCK): KVM_CLOCK_TSC_STABLE,
 * KVM_CLOCK_REALTIME, KVM_CLOCK_HOST_TSC).
 * @param vm the VM
 * @return the flags (>= 0); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_x86_vm_clock_flags(struct kvmhost_vm *vm);
/**
 * Enable KVM_CAP_EXCEPTION_PAYLOAD: KVM then reports pending (not yet
 * injected) exceptions and their payloads (CR2, DR6) in struct
 * kvm_vcpu_events instead of delivering them early, so that
 * kvmhost_x86_vcpu_get_events() / set_events() carry them across a
 * snapshot. Idempotent.
 * @param vm the VM
 * @return 0; -ENOTSUP when KVM lacks it; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_x86_vm_enable_exception_payload(struct kvmhost_vm *vm);
/** @} */

/**
 * Put the vCPU in 16-bit real mode at @p cs:@p ip (CS base = cs * 16), with
 * the other segments zero-based, a 64 KiB limit and RFLAGS=2.
 * @param vcpu the vCPU
 * @param cs the code segment
 * @param ip the instruction pointer in it
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_real_mode(struct kvmhost_vcpu *vcpu, uint16_t cs, uint16_t ip);

/** Options for kvmhost_x86_vcpu_setup_long_mode(); size rules as elsewhere. */
struct kvmhost_x86_long_mode_options {
	size_t size;		    /**< sizeof(struct kvmhost_x86_long_mode_options) */
	uint64_t entry;		    /**< RIP */
	uint64_t stack;		    /**< RSP */
	uint64_t page_table_gpa;    /**< 4 KiB aligned; the helper writes 3 pages there (PML4, PDPT, PD) */
	uint64_t identity_map_size; /**< bytes identity-mapped with 2 MiB pages; 0 means 1 GiB; at most 1 GiB */
	uint32_t user_mode;	    /**< 1: start at CPL3 (flat user segments, pages user-accessible,
					 RFLAGS.IOPL 3 so the guest may use IN/OUT) */
	uint64_t gdt_gpa;	    /**< 0: no GDT written; else a 4 KiB aligned page where the helper
					 writes a flat GDT and a 64-bit TSS (RSP0 = stack) with an I/O
					 bitmap allowing ports 0-0x3fff. Needed for user_mode guests on
					 hosts that ignore IOPL (the nested PVM) and for any fault at CPL3.
					 Selectors: kernel CS 0x08/DS 0x10, user CS 0x23/DS 0x1b, TR 0x28 */
};

/**
 * Put the vCPU in 64-bit long mode with paging on, identity-mapping the low
 * guest memory with 2 MiB pages written into guest memory at
 * page_table_gpa (through the VM's checked memory access), CS 64-bit flat,
 * data segments flat, RFLAGS=2 (0x3002 in user mode). CR0 = PE|ET|NE|PG,
 * CR4 |= PAE, EFER |= LME|LMA, CR3 = page_table_gpa; other registers zero.
 * The IDT is left alone (empty on a fresh vCPU): a guest fault ends in a
 * SHUTDOWN exit.
 * @param vcpu the vCPU
 * @param opts the options (struct kvmhost_x86_long_mode_options; size rules as every options struct)
 * @return 0; -EINVAL for bad options (unaligned page_table_gpa or gdt_gpa,
 *         identity_map_size not a multiple of 2 MiB or over 1 GiB, user_mode
 *         not 0/1, GDT page overlapping the tables); -EFAULT if the page
 *         tables or GDT do not fit in guest memory.
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_long_mode(struct kvmhost_vcpu *vcpu,
						 const struct kvmhost_x86_long_mode_options *opts);

#ifdef __cplusplus
}
#endif

#endif

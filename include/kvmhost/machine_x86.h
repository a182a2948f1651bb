/**
 * @file machine_x86.h
 * @brief The x86 half of a machine (machine.h): the PC-like platform it
 * builds and the options only x86 has.
 *
 * The platform, as examples/kvmhost-run builds it: RAM around the 32-bit
 * MMIO hole (kvmhost_x86_plan_ram()), KVM's in-kernel irqchip and PIT, ACPI
 * (hardware-reduced: RSDP, XSDT, FADT, DSDT, MADT; MCFG with PCI) and an MP
 * table at 0xf0000, COM1 (16550A, port 0x3f8, IRQ 4, in the DSDT), an i8042
 * whose reset line resets the machine, the CMOS RTC with the memory sizes,
 * fw_cfg, the ACPI sleep/reset ports (0x600-0x602: S5 powers off, the reset
 * value resets), an ACPI power button (a Generic Event Device on GSI
 * KVMHOST_MACHINE_X86_POWER_BUTTON_GSI) for kvmhost_machine_request_poweroff(),
 * CPUID from KVM's supported list with the vCPU topology, vCPU 0 entering the
 * kernel as its loader says and the others waiting for INIT/SIPI.
 * virtio-mmio devices sit at KVMHOST_MACHINE_X86_VIRTIO_MMIO_BASE + n * 4 KiB
 * on GSI 16 + n (edge, in the DSDT as LNRO0005); virtio-pci devices are in
 * slots 1, 2, ... of bus 0 (INTx on GSIs 16-19, MSI-X through routes).
 */
#ifndef KVMHOST_MACHINE_X86_H
#define KVMHOST_MACHINE_X86_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Guest-physical base of the virtio-mmio windows (below the PCI window). */
#define KVMHOST_MACHINE_X86_VIRTIO_MMIO_BASE 0xd0000000ull
/** GSI of the ACPI power button's Generic Event Device (edge, active high). */
#define KVMHOST_MACHINE_X86_POWER_BUTTON_GSI 9u

/** @name x86 machine flags (kvmhost_machine_x86_options.flags) */
/** @{ */
#define KVMHOST_MACHINE_X86_NO_ACPI	   (1u << 0) /**< no ACPI tables (MP table only; no power button) */
#define KVMHOST_MACHINE_X86_NO_MPTABLE	   (1u << 1) /**< no MP table */
#define KVMHOST_MACHINE_X86_LINUX_ENTRY_32 (1u << 2) /**< a bzImage enters at 32 bits */
/** @} */

/** One CPUID edit, applied after the template and topology (an element of
 * kvmhost_machine_x86_options.cpuid_edits; element size cpuid_edit_size). */
struct kvmhost_machine_x86_cpuid_edit {
	uint32_t function; /**< leaf */
	uint32_t index;	   /**< subleaf */
	uint32_t reg;	   /**< enum kvmhost_x86_cpuid_reg: 0 EAX, 1 EBX, 2 ECX, 3 EDX */
	uint32_t set;	   /**< bits to set */
	uint32_t clear;	   /**< bits to clear (applied first) */
};

/** x86 options (kvmhost_machine_options.arch_options). Size rules as every options struct. */
struct kvmhost_machine_x86_options {
	size_t size;		  /**< sizeof(struct kvmhost_machine_x86_options) */
	uint32_t flags;		  /**< KVMHOST_MACHINE_X86_* */
	uint16_t debug_exit_port; /**< a debug-exit device at this port (4 ports; the guest's write stops the
				       machine, DEBUG_EXIT); 0: none */
	uint16_t reserved0;	  /**< must be 0 */
	uint64_t mmio_hole_start; /**< 0: 3 GiB; as kvmhost_x86_plan_ram() */
	/** CPUID edits, @c cpuid_edit_count elements of @c cpuid_edit_size bytes. */
	const struct kvmhost_machine_x86_cpuid_edit *cpuid_edits;
	uint32_t cpuid_edit_count; /**< at most 64 */
	uint32_t raw_mode;	   /**< kernel_format RAW: enum kvmhost_x86_raw_mode (real, protected, long) */
	size_t cpuid_edit_size;	   /**< sizeof(struct kvmhost_machine_x86_cpuid_edit) as the caller knows it */
	uint64_t raw_gpa;	   /**< kernel_format RAW: where the image goes and starts (required) */
	/** Hyper-V enlightenments on KVM's Hyper-V emulation, KVMHOST_X86_HV_* (x86_platform.h: hv-time,
	 * hv-synic, hv-stimer, hv-vpindex, hv-relaxed), what Windows guests rely on; 0: none (KVM's own
	 * paravirtual leaves only). create fails with -ENOTSUP where this KVM cannot offer one. */
	uint32_t hyperv;
};

#ifdef __cplusplus
}
#endif

#endif

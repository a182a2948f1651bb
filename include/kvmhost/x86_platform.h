/**
 * @file x86_platform.h
 * @brief The x86 platform a guest kernel expects to find: the e820 memory
 * map, the MP table and minimal ACPI tables, CPUID with a topology, default
 * MSRs, and the boot vCPU's entry state for each kind the loaders produce.
 *
 * The kernel images, zero page, PVH start_info and multiboot info are the
 * loaders' business (x86_boot.h); this header consumes their
 * struct kvmhost_x86_boot_info and their e820 entry type.
 *
 * Guest-physical layout these helpers assume by default (all of it can be
 * moved through the option structs):
 *
 * | range                     | what                                             |
 * |---------------------------|--------------------------------------------------|
 * | 0x500 - 0x51f             | boot GDT of the Linux entries (32 bytes)         |
 * | 0x8ff0                    | initial stack pointer                            |
 * | 0x9000 - 0xbfff           | identity page tables of the 64-bit Linux entry   |
 * | 0x9fc00 - 0x9ffff         | MP table (last KiB of base memory)               |
 * | 0x9fc00 - 0xfffff         | reported as reserved in the e820 map             |
 * | 0xe0000 - 0xeffff         | ACPI tables, RSDP first (BIOS scan area)         |
 * | 0xc0000000 - 0xffffffff   | 32-bit MMIO hole: no RAM (IOAPIC, LAPIC, devices)|
 *
 * The loaders' defaults fit around these: PVH start_info at 0x6000, the
 * Linux zero page at 0x7000, the multiboot information at 0x9000 (a
 * multiboot entry uses no page tables), the command line at 0x20000, the
 * kernel from 1 MiB. kvmhost_x86_vcpu_setup_boot() refuses a GDT or page
 * tables that would overlap what the loader placed.
 *
 * APIC IDs are the vCPU ids: vCPU i is processor i of the MP table and the
 * MADT, and its CPUID reports APIC ID i. KVM gives a vCPU its id as initial
 * APIC ID, so create vCPUs 0 .. ncpus-1; vCPU 0 is the bootstrap processor.
 *
 * Thread safety: the table writers and e820 builders are reentrant. A CPUID
 * builder may be applied to vCPUs from several threads at once once it is no
 * longer changed; changing it needs one thread at a time. vCPU calls follow
 * vcpu.h (the vCPU's thread, while it is not running).
 */
#ifndef KVMHOST_X86_PLATFORM_H
#define KVMHOST_X86_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <kvmhost/export.h>
#include <kvmhost/x86_boot.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_system;
struct kvmhost_memory;
struct kvmhost_vcpu;

/** @name Memory layout constants */
/** @{ */
/** Start of the EBDA / VGA / option ROM / BIOS hole: RAM ends here below 1 MiB. */
#define KVMHOST_X86_EBDA_START 0x9fc00ull
/** End of that hole: RAM starts again at 1 MiB. */
#define KVMHOST_X86_HIGH_MEMORY_START 0x100000ull
/** Default start of the 32-bit MMIO hole (3 GiB); it always ends at 4 GiB. */
#define KVMHOST_X86_MMIO_HOLE_START_DEFAULT 0xc0000000ull
/** End of the 32-bit MMIO hole: RAM that did not fit below the hole resumes here. */
#define KVMHOST_X86_MMIO_HOLE_END 0x100000000ull
/** @} */

/** A range of guest-physical RAM. Arrays of these carry their element size
 * (kvmhost_x86_plan_ram_sized()'s @c range_size,
 * kvmhost_x86_e820_options.ram_range_size), rules as struct
 * kvmhost_x86_e820_entry (x86_boot.h). */
struct kvmhost_x86_ram_range {
	uint64_t gpa;	 /**< start */
	uint64_t length; /**< bytes */
};

/**
 * Lay out @p ram_size bytes of RAM around the 32-bit MMIO hole: one range
 * from 0 when it fits below the hole, else [0, hole) plus the rest from
 * 4 GiB. Add each range with kvmhost_vm_add_memory(); build the e820 map
 * from the VM's memory afterwards. @p ranges holds elements of the first
 * version of struct kvmhost_x86_ram_range (16 bytes: gpa, length), what
 * callers built before element sizes expect; new code calls
 * kvmhost_x86_plan_ram_sized() with sizeof(struct kvmhost_x86_ram_range).
 * @param ram_size        bytes; non-zero and 4 KiB aligned
 * @param mmio_hole_start 0 for KVMHOST_X86_MMIO_HOLE_START_DEFAULT; else 1 MiB
 *                        aligned, from 1 MiB up to 4 GiB (4 GiB: no hole)
 * @param ranges          receives up to 2 ranges
 * @param max             entries in @p ranges
 * @param count           receives the number of ranges (also on -E2BIG: the
 *                        number needed)
 * @return 0; -EINVAL for NULL, a bad size or hole; -ERANGE if the RAM would
 *         end beyond 2^64; -E2BIG if @p max is too small.
 */
KVMHOST_API int kvmhost_x86_plan_ram(uint64_t ram_size, uint64_t mmio_hole_start, struct kvmhost_x86_ram_range *ranges,
				     uint32_t max, uint32_t *count);

/**
 * kvmhost_x86_plan_ram() into an array of @p range_size-byte elements: each
 * gets the fields this library knows, the rest of a bigger element zeroed.
 * kvmhost_x86_plan_ram() itself writes elements of the first version's size
 * (16 bytes), for the callers built before this function; pass
 * sizeof(struct kvmhost_x86_ram_range) here.
 * @param ram_size        as kvmhost_x86_plan_ram()
 * @param mmio_hole_start as kvmhost_x86_plan_ram()
 * @param ranges          receives up to 2 ranges
 * @param range_size      bytes per element of @p ranges; 0: the first
 *                        version's size; at least that, at most 65536
 * @param max             elements in @p ranges
 * @param count           as kvmhost_x86_plan_ram()
 * @return as kvmhost_x86_plan_ram(); -EINVAL also for a bad @p range_size.
 */
KVMHOST_API int kvmhost_x86_plan_ram_sized(uint64_t ram_size, uint64_t mmio_hole_start,
					   struct kvmhost_x86_ram_range *ranges, size_t range_size, uint32_t max,
					   uint32_t *count);

/** Options of the e820 builders; size rules as kvmhost_system_options. */
struct kvmhost_x86_e820_options {
	size_t size;		  /**< sizeof(struct kvmhost_x86_e820_options) */
	uint64_t mmio_hole_start; /**< 0: KVMHOST_X86_MMIO_HOLE_START_DEFAULT; rules as kvmhost_x86_plan_ram() */
	/** Ranges to report with their own type (RESERVED, ACPI, NVS, ...),
	 * e.g. where the ACPI tables were written. They win over RAM and over
	 * the built-in reserved hole; they must not overlap each other. */
	const struct kvmhost_x86_e820_entry *extra;
	uint32_t extra_count; /**< entries in @p extra, at most KVMHOST_X86_E820_MAX */
	/** Bytes per element of @c extra and of the @c entries array the
	 * builders fill: sizeof(struct kvmhost_x86_e820_entry) as the caller
	 * knows it; 0 (and a NULL options pointer): the first version's size.
	 * Rules as kvmhost_x86_boot_options.e820_entry_size. Added after the
	 * first version's last field (never in its tail padding). */
	size_t e820_entry_size;
	/** Bytes per element of kvmhost_x86_e820_from_ranges()'s @c ram:
	 * sizeof(struct kvmhost_x86_ram_range) as the caller knows it; rules as
	 * @c e820_entry_size. */
	size_t ram_range_size;
};

/**
 * Build an e820 map from RAM ranges (any order; adjacent ones are merged).
 * The map holds, in address order:
 *  - RAM below KVMHOST_X86_EBDA_START;
 *  - [KVMHOST_X86_EBDA_START, 1 MiB) as RESERVED once any memory reaches
 *    above KVMHOST_X86_EBDA_START (the MP table and ACPI tables live there);
 *  - RAM from 1 MiB up, minus the MMIO hole [mmio_hole_start, 4 GiB):
 *    RAM placed in the hole is left out of the map;
 *  - the @c extra entries, which replace whatever they cover;
 * with touching entries of one type merged.
 * @param ram      RAM ranges (NULL only when @p ram_count is 0); none empty
 *                 or overlapping another; elements of
 *                 kvmhost_x86_e820_options.ram_range_size bytes
 * @param opts     options, or NULL for defaults
 * @param entries  receives the map (elements of
 *                 kvmhost_x86_e820_options.e820_entry_size bytes)
 * @param max      entries in @p entries
 * @param count    receives the number of entries (also on -E2BIG: the number needed)
 * @param ram_count entries at @p ram
 * @return 0; -EINVAL for NULL, an empty, wrapping or overlapping range, an
 *         extra entry of type 0, too many extra entries, a bad hole or a
 *         bad element size; -E2BIG for an options struct or an element
 *         (@p ram, @c extra) with unknown non-zero fields or when
 *         the map needs
 *         more than @p max entries or more than KVMHOST_X86_E820_MAX;
 *         -ENOMEM.
 */
KVMHOST_API int kvmhost_x86_e820_from_ranges(const struct kvmhost_x86_ram_range *ram, uint32_t ram_count,
					     const struct kvmhost_x86_e820_options *opts,
					     struct kvmhost_x86_e820_entry *entries, uint32_t max, uint32_t *count);

/**
 * Build the e820 map of a guest memory map (a VM's kvmhost_vm_memory() or a
 * standalone one): writable regions are RAM, read-only regions (firmware,
 * ROMs) are RESERVED; then as kvmhost_x86_e820_from_ranges().
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_x86_e820_options; size rules as every options struct)
 * @param entries array of @p max entries (of kvmhost_x86_e820_options.e820_entry_size bytes)
 * @param max entries at @p entries
 * @param count receives the number of entries (on -E2BIG, the number needed)
 * @return as kvmhost_x86_e820_from_ranges(); -EINVAL for a NULL @p mem.
 */
KVMHOST_API int kvmhost_x86_e820_from_memory(struct kvmhost_memory *mem, const struct kvmhost_x86_e820_options *opts,
					     struct kvmhost_x86_e820_entry *entries, uint32_t max, uint32_t *count);

/** @name Interrupt wiring shared by the MP table and the MADT */
/** @{ */
/** Default guest-physical address of the IOAPIC. */
#define KVMHOST_X86_IOAPIC_ADDR_DEFAULT 0xfec00000u
/** Guest-physical address of every local APIC (xAPIC mode). */
#define KVMHOST_X86_LAPIC_ADDR 0xfee00000u
/** Most vCPUs the tables describe: 8-bit APIC IDs 0-253, and the IOAPIC takes
 * the ID after the last vCPU. */
#define KVMHOST_X86_PLATFORM_MAX_CPUS 254u
/**
 * Table flag: describe ISA IRQ 0 on IOAPIC pin 0 (identity, KVM's default
 * GSI routing) instead of the PC convention of pin 2. Without it, ISA IRQ 0
 * (the PIT) is described on pin 2 and IRQ 2 (the PIC cascade) is left out,
 * as on real PCs and QEMU: route GSI 0 to IOAPIC pin 2 then
 * (kvmhost_vm_set_gsi_routing()), or Linux falls back to the PIC for its
 * timer check.
 */
#define KVMHOST_X86_PLATFORM_IRQ0_PIN0 (1u << 0)
/** @} */

/** Default guest-physical address of the MP table: the last KiB of base memory. */
#define KVMHOST_X86_MPTABLE_GPA_DEFAULT 0x9fc00ull

/** Options of kvmhost_x86_mptable_write(); size rules as kvmhost_system_options. */
struct kvmhost_x86_mptable_options {
	size_t size;	/**< sizeof(struct kvmhost_x86_mptable_options) */
	uint32_t ncpus; /**< vCPUs 0 .. ncpus-1; 1 to KVMHOST_X86_PLATFORM_MAX_CPUS */
	uint32_t flags; /**< KVMHOST_X86_PLATFORM_* flags */
	/** Where the floating pointer goes, the configuration table right after
	 * it; 16-byte aligned inside an area Linux scans: [0x9fc00, 0xa0000)
	 * or [0xf0000, 0x100000). 0: KVMHOST_X86_MPTABLE_GPA_DEFAULT. */
	uint64_t gpa;
	/** Bytes the table may use from @c gpa; 0: up to the end of the scan
	 * area (1 KiB from the default: 40 vCPUs; 64 KiB at 0xf0000). */
	uint64_t space;
	uint32_t ioapic_addr;	/**< 0: KVMHOST_X86_IOAPIC_ADDR_DEFAULT */
	uint32_t cpu_signature; /**< processor entries' CPUID.1:EAX; 0: 0x600 (family 6) */
	uint32_t cpu_features;	/**< processor entries' CPUID.1:EDX; 0: 0x201 (FPU, APIC) */
};

/**
 * Bytes the MP table for @p ncpus takes (floating pointer included).
 * @param ncpus the number of vCPUs
 * @param flags the flags of the options kvmhost_x86_mptable_write() will get
 * @return the size, or -EINVAL for 0 or more than KVMHOST_X86_PLATFORM_MAX_CPUS
 *         vCPUs or an unknown flag.
 */
KVMHOST_API int kvmhost_x86_mptable_size(uint32_t ncpus, uint32_t flags);

/**
 * Write an MP table (Intel MP spec 1.4) into guest memory, for SMP guests
 * without ACPI: a floating pointer, then a configuration table with one
 * processor entry per vCPU (vCPU 0 the BSP), an ISA bus, the IOAPIC (ID
 * @c ncpus), one I/O interrupt entry per ISA IRQ (see
 * KVMHOST_X86_PLATFORM_IRQ0_PIN0), and LINT0 = ExtINT, LINT1 = NMI on every
 * local APIC. Both checksums are set.
 * @param written receives the bytes written; may be NULL
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_x86_mptable_options; size rules as every options struct)
 * @return 0; -EINVAL for NULL or bad options (address outside the scan
 *         areas or unaligned, bad vCPU count, unknown flag); -E2BIG for an
 *         options struct with unknown non-zero fields; -ENOSPC when the table
 *         needs more than @c space; -EFAULT/-EROFS when guest memory does not
 *         hold the range writably.
 */
KVMHOST_API int kvmhost_x86_mptable_write(struct kvmhost_memory *mem, const struct kvmhost_x86_mptable_options *opts,
					  uint64_t *written);

/** @name ACPI
 * Minimal "hardware-reduced" ACPI (RSDP, XSDT, FADT, DSDT, MADT), so that a
 * guest can power off: Linux writes KVMHOST_X86_ACPI_SLEEP_S5 to the sleep
 * control port (@c pm_port + KVMHOST_X86_ACPI_SLEEP_CONTROL) and the VMM,
 * which traps that port on its PIO bus, stops the VM. A write of
 * KVMHOST_X86_ACPI_RESET_VALUE to @c pm_port + KVMHOST_X86_ACPI_RESET asks
 * for a reset; Linux uses it only when booted with reboot=acpi (on a
 * hardware-reduced platform it otherwise tries an EFI reboot, then jumps to
 * the BIOS reset vector at 0xffff0 and, with no firmware there, hangs).
 * Reads of the ports may return 0. Legacy devices that interrupt (COM
 * ports, ...) must be listed in @c devices: see struct
 * kvmhost_x86_acpi_device; a PCI bus is enumerated only when @c pci_host
 * describes its host bridge (struct kvmhost_x86_acpi_pci_host).
 * docs/x86-platform.md says why these tables and no more. @{ */
/** Default address of the RSDP and the tables after it (the 0xe0000 BIOS area Linux scans). */
#define KVMHOST_X86_ACPI_GPA_DEFAULT 0xe0000ull
/** Default base of the three ports the FADT names. */
#define KVMHOST_X86_ACPI_PM_PORT_DEFAULT 0x600u
/** Offset of the sleep control register (1 byte, written). */
#define KVMHOST_X86_ACPI_SLEEP_CONTROL 0u
/** Offset of the sleep status register (1 byte; the guest writes 0x80 to clear wake status). */
#define KVMHOST_X86_ACPI_SLEEP_STATUS 1u
/** Offset of the reset register (1 byte, written). */
#define KVMHOST_X86_ACPI_RESET 2u
/** Value the guest writes to the reset register. */
#define KVMHOST_X86_ACPI_RESET_VALUE 0x01u
/** Sleep control value for S5, soft off: SLP_TYP 5 (the DSDT's `\_S5`) with SLP_EN. */
#define KVMHOST_X86_ACPI_SLEEP_S5 0x34u
/** FADT IA-PC boot flags (iapc_boot_arch). */
#define KVMHOST_X86_ACPI_BOOT_LEGACY_DEVICES (1u << 0)
#define KVMHOST_X86_ACPI_BOOT_8042	     (1u << 1) /**< an i8042 exists */
#define KVMHOST_X86_ACPI_BOOT_NO_VGA	     (1u << 2) /**< no VGA */
#define KVMHOST_X86_ACPI_BOOT_NO_MSI	     (1u << 3) /**< MSI is not to be enabled */
#define KVMHOST_X86_ACPI_BOOT_NO_ASPM	     (1u << 4) /**< ASPM is not to be enabled */
#define KVMHOST_X86_ACPI_BOOT_NO_CMOS_RTC    (1u << 5) /**< no CMOS RTC */
/** @} */

/** Most devices kvmhost_x86_acpi_options.devices may list. */
#define KVMHOST_X86_ACPI_MAX_DEVICES 256u

/**
 * A device the DSDT describes under `\_SB` (as Device (Dnnn), nnn its index in
 * hex), so that an ACPI guest finds its resources. Describe every legacy
 * device that interrupts: on this hardware-reduced platform Linux maps no
 * ISA IRQ on its own, so e.g. a 16550 only its built-in port list knows
 * never gets its interrupt (kernel messages still appear, they are polled;
 * user space's console output does not). virtio-mmio devices ("LNRO0005")
 * can be listed instead of passed on the command line. An element of
 * kvmhost_x86_acpi_options.devices, whose element size is
 * kvmhost_x86_acpi_options.device_size (rules as struct
 * kvmhost_x86_e820_entry, x86_boot.h).
 */
struct kvmhost_x86_acpi_device {
	const char *hid;      /**< _HID: an EISA ID ("PNP0501": 3 capitals, 4 hex digits) or an ACPI/other
				   ID of up to 8 printable characters ("LNRO0005"), written as a string */
	uint32_t uid;	      /**< _UID */
	uint16_t io_base;     /**< first I/O port (with io_length) */
	uint16_t io_length;   /**< ports; 0: none; at most 255 */
	uint64_t mmio_base;   /**< MMIO window (with mmio_length); below 4 GiB */
	uint64_t mmio_length; /**< bytes; 0: none */
	uint32_t irq;	      /**< GSI, 1 to 255; 0: none. Below 16 an ISA IRQ (edge, active high);
				   from 16 an edge-triggered, active-high extended interrupt */
};

/** @name PCI host bridge in the DSDT */
/** @{ */
/** Pins of the IOAPIC the tables describe (KVM's in-kernel IOAPIC): GSIs 0-23. */
#define KVMHOST_X86_IOAPIC_PINS 24u
/** Lowest GSI a PCI interrupt line may use: pins 16-23 carry no ISA IRQ. */
#define KVMHOST_X86_ACPI_PCI_GSI_MIN 16u
/** Bytes of ECAM per bus (32 devices, 8 functions, 4 KiB each). */
#define KVMHOST_X86_ACPI_ECAM_BUS_SIZE 0x100000ull
/** Default I/O window, as kvmhost_pci_host_options: [0xc000, 0x10000). */
#define KVMHOST_X86_ACPI_PCI_IO_BASE_DEFAULT 0xc000u
#define KVMHOST_X86_ACPI_PCI_IO_SIZE_DEFAULT 0x4000u /**< its size */
/** Default 32-bit MMIO window, as kvmhost_pci_host_options: [0xe0000000, 0xfec00000). */
#define KVMHOST_X86_ACPI_PCI_MMIO32_BASE_DEFAULT 0xe0000000ull
#define KVMHOST_X86_ACPI_PCI_MMIO32_SIZE_DEFAULT 0x1ec00000ull /**< its size */
/** @} */

/**
 * A PCI host bridge for the DSDT, so that an ACPI guest enumerates the PCI
 * bus behind it (kvmhost_pci_host, pci.h). On an ACPI machine Linux scans
 * PCI buses only below a PCI root bridge the DSDT describes: it never falls
 * back to probing bus 0 on its own, so without this a device on the host's
 * bus stays invisible. Size rules as kvmhost_system_options; copy the windows
 * from the struct kvmhost_pci_host_options the host was created with (the
 * defaults are the same).
 *
 * The DSDT gets, under `\_SB` after the @c devices:
 *  - Device (PCI0): _HID EisaId ("PNP0A08") (PCI Express root), _CID
 *    EisaId ("PNP0A03") (PCI), _SEG 0, _BBN @c bus_start, _UID 0, and a
 *    _CRS with the bus range (WordBusNumber), the configuration ports
 *    0xCF8-0xCFF it consumes (IO), the I/O window (WordIO), the 32-bit MMIO
 *    window (DWordMemory) and the 64-bit one (QWordMemory) when set, all
 *    non-cacheable (a prefetchable window would refuse the non-prefetchable
 *    BARs the host places there); and a _PRT unless every @c intx_gsi is 0.
 *    No _OSC: Linux then keeps native control of PCIe hot-plug, AER and PME
 *    off, which a bus without those features does not miss.
 *  - with @c ecam_base, Device (ECAM): _HID EisaId ("PNP0C02") (motherboard
 *    resources) whose _CRS holds the ECAM area, the reservation the PCI
 *    Firmware specification asks for; and an MCFG table in the XSDT.
 *
 * **ECAM and e820.** Linux uses an MCFG area only once it finds it
 * reserved. Before its ACPI interpreter runs it checks the e820 map (kernels
 * since 6.10 keep that early check only for a BIOS dated before 2016, which
 * a guest without DMI tables counts as); later it checks the PNP0C02
 * device. Report the ECAM area as KVMHOST_X86_E820_RESERVED too (extra
 * entries of kvmhost_x86_e820_options): [ecam_base + bus_start MiB,
 * ecam_base + (bus_end + 1) MiB), and serve it with
 * kvmhost_pci_host_attach_ecam(). Keep e820 entries out of the windows:
 * Linux clips a host bridge window at an e820 entry that covers part of it.
 *
 * **INTx.** Four interrupt lines with the usual swizzle: INTx pin p (0 =
 * INTA) of the device in slot s (1-31) raises line (s + p) % 4, whose GSI is
 * @c intx_gsi[(s + p) % 4]. The _PRT has one entry per slot and pin,
 * Package () {0xSSSSFFFF, p, 0, GSI} (no link devices). Linux programs such
 * a GSI level-triggered, active-low, its default for a _PRT entry without a
 * link device and the PCI convention; no MADT override is needed. KVM's
 * IOAPIC ignores the polarity bit: the level the VMM sets is the asserted
 * state (1 = asserted), which is what kvmhost_pci_device_set_intx() drives
 * on an interrupt line made with kvmhost_irq_line_create_gsi(). An irqfd line
 * (edge semantics) does not fit a level interrupt. Devices whose lines meet
 * on one GSI (slots s and s + 4, or fewer than four distinct GSIs) need a
 * wired-OR in the VMM (irq_line.h). A VMM with a userspace IOAPIC that
 * honours polarity must drive the pin low to assert it.
 */
struct kvmhost_x86_acpi_pci_host {
	size_t size; /**< sizeof(struct kvmhost_x86_acpi_pci_host) */
	/** First bus number (_BBN), 0-255. kvmhost_pci_host serves bus 0 only:
	 * keep 0 for it (Linux scans bus @c bus_start first). */
	uint32_t bus_start;
	/** Last bus number, @c bus_start to 255 (0: bus 0 only, with bus_start 0). */
	uint32_t bus_end;
	/** I/O window, 4-byte aligned, below 0x10000 and clear of the
	 * configuration ports 0xCF8-0xCFF, the FADT's three PM ports and the
	 * devices' ports; 0/0:
	 * KVMHOST_X86_ACPI_PCI_IO_BASE_DEFAULT/_SIZE_DEFAULT. */
	uint32_t io_base, io_size; /**< @c io_size: the I/O window's size */
	/** 32-bit MMIO window, 4 KiB aligned, ending at or below 4 GiB, clear
	 * of the IOAPIC's and the local APIC's pages and the devices' MMIO; 0/0:
	 * KVMHOST_X86_ACPI_PCI_MMIO32_BASE_DEFAULT/_SIZE_DEFAULT. */
	uint64_t mmio32_base, mmio32_size; /**< @c mmio32_size: the 32-bit window's size */
	/** 64-bit MMIO window, 4 KiB aligned, not wrapping, clear of the other
	 * ranges; size 0: none (then base must be 0). Put it above the guest's
	 * RAM and below its physical address width. */
	uint64_t mmio64_base, mmio64_size; /**< @c mmio64_size: the 64-bit window's size */
	/** ECAM base as the MCFG gives it: the address of bus 0's configuration
	 * space (with bus_start 0, what kvmhost_pci_host_attach_ecam() takes).
	 * 1 MiB aligned; the area [ecam_base + bus_start MiB, ecam_base +
	 * (bus_end + 1) MiB) may not overlap the windows, the IOAPIC or local
	 * APIC pages or the devices' MMIO. 0: no ECAM, no MCFG (type-1
	 * configuration access only). */
	uint64_t ecam_base;
	/** GSIs of the four interrupt lines (see INTx above), each from
	 * KVMHOST_X86_ACPI_PCI_GSI_MIN to KVMHOST_X86_IOAPIC_PINS - 1 (GSIs
	 * 0-15 are the ISA IRQs the MADT describes as edge-triggered); they may
	 * repeat. All four 0: no _PRT, devices use MSI or MSI-X only. */
	uint32_t intx_gsi[4];
};

/** Options of kvmhost_x86_acpi_write(); size rules as kvmhost_system_options. */
struct kvmhost_x86_acpi_options {
	size_t size;	/**< sizeof(struct kvmhost_x86_acpi_options) */
	uint32_t ncpus; /**< vCPUs 0 .. ncpus-1; 1 to KVMHOST_X86_PLATFORM_MAX_CPUS */
	uint32_t flags; /**< KVMHOST_X86_PLATFORM_* flags */
	/** RSDP address, 16-byte aligned; the other tables follow it. Linux
	 * finds an RSDP in [0xe0000, 0x100000) by itself; anywhere else, pass
	 * the address to the loader (zero page acpi_rsdp_addr, PVH rsdp_paddr).
	 * The tables must end below 4 GiB. 0: KVMHOST_X86_ACPI_GPA_DEFAULT. */
	uint64_t gpa;
	/** Bytes the tables may use from @c gpa; 0: up to the next 64 KiB
	 * boundary (so the default area leaves 0xf0000 free). */
	uint64_t space;
	uint32_t ioapic_addr;	 /**< 0: KVMHOST_X86_IOAPIC_ADDR_DEFAULT */
	uint16_t pm_port;	 /**< base of the sleep/reset ports; 0: KVMHOST_X86_ACPI_PM_PORT_DEFAULT */
	uint16_t iapc_boot_arch; /**< KVMHOST_X86_ACPI_BOOT_* flags, written as given (0: none) */
	const struct kvmhost_x86_acpi_device *devices; /**< devices for the DSDT, @c device_count elements of
							    @c device_size bytes; NULL when device_count is 0 */
	uint32_t device_count;			       /**< entries in devices, at most KVMHOST_X86_ACPI_MAX_DEVICES */
	/** A PCI host bridge for the DSDT (and the MCFG with ECAM); NULL: none.
	 * Added after the first version's last field (never in its tail
	 * padding), so callers built before it still work. */
	const struct kvmhost_x86_acpi_pci_host *pci_host;
	/** An ACPI power button on this GSI, 1 to KVMHOST_X86_IOAPIC_PINS - 1
	 * (not 2, the cascade; edge-triggered, active high: pulse the line to
	 * press it); 0: none. The DSDT gets Device (PWRB) (_HID PNP0C0C, the
	 * control-method power button) and Device (GED0) (_HID ACPI0013, a
	 * Generic Event Device, the hardware-reduced way of raising events)
	 * with an Interrupt () on the GSI and Method (_EVT, 1) {Notify (PWRB,
	 * 0x80)}: Linux's GED driver runs _EVT on the interrupt and its button
	 * driver reports KEY_POWER, which the guest's init or logind turns
	 * into a power-off. Added after pci_host (never in the older versions'
	 * tail padding). */
	uint32_t power_button_gsi;
	/** Bytes per element of @c devices: sizeof(struct
	 * kvmhost_x86_acpi_device) as the caller knows it; 0: the first
	 * version's size. Rules as kvmhost_x86_boot_options.module_size
	 * (x86_boot.h). Added after power_button_gsi (never in the older
	 * versions' tail padding). */
	size_t device_size;
};

/**
 * Write the ACPI tables into guest memory: RSDP (ACPI 2.0+, XSDT only) at
 * @c gpa, then XSDT, FADT (revision 6, HW_REDUCED_ACPI, sleep control/status
 * and reset registers in system I/O space), DSDT (`\_S5`, the @c devices and
 * the @c pci_host), MADT (one local APIC per vCPU, the IOAPIC with GSI base 0
 * and ID @c ncpus, the ISA IRQ 0 override unless
 * KVMHOST_X86_PLATFORM_IRQ0_PIN0, LINT1 = NMI on all processors, PCAT_COMPAT
 * since KVM's full irqchip has the 8259s), and an MCFG when the @c pci_host
 * has ECAM. Without a @c pci_host the tables are the same, byte for byte, as
 * before it existed.
 * Every checksum is set. Report the range as KVMHOST_X86_E820_ACPI in the
 * e820 map (extra entries) when it lies outside the built-in reserved hole.
 *
 * A hardware-reduced platform has no PIT or HPET for the guest to calibrate
 * its TSC against: Linux then relies on kvmclock (KVM's CPUID leaves, which
 * the CPUID builder keeps) or CPUID 0x15/0x16. Without either it stops
 * early in boot ("tsc: Unable to calibrate against PIT").
 * When ACPI is present Linux takes its SMP and interrupt information from
 * the MADT and ignores an MP table; writing both is harmless.
 * @param rsdp    receives the RSDP address; may be NULL
 * @param written receives the bytes written from @c gpa; may be NULL
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_x86_acpi_options; size rules as every options struct)
 * @return as kvmhost_x86_mptable_write() (-EINVAL also for an unaligned @c
 *         gpa, tables reaching past 4 GiB, a bad device: _HID empty,
 *         over 8 characters or not printable, over 255 ports or past port
 *         0xffff, MMIO not below 4 GiB, GSI above 255, too many devices, a
 *         bad @c device_size; or
 *         a bad @c pci_host: a size field below sizeof(size_t), a bus range
 *         out of order or past 255, an empty, unaligned or wrapping window,
 *         an I/O window past 0xffff or over ports 0xCF8-0xCFF, the PM ports
 *         or a device's ports, a 32-bit window past 4 GiB, an unaligned ECAM
 *         base, windows and ECAM area overlapping each other, the IOAPIC or
 *         local APIC page or a device's MMIO, INTx GSIs given for some lines
 *         only or outside 16-23; -E2BIG for a @c pci_host struct or a
 *         device element with unknown non-zero fields).
 */
KVMHOST_API int kvmhost_x86_acpi_write(struct kvmhost_memory *mem, const struct kvmhost_x86_acpi_options *opts,
				       uint64_t *rsdp, uint64_t *written);

/** @name CPUID
 * An opaque builder: a template made from KVM's supported list with the
 * defaults below, a topology, and a list of edits replayed in order. Each
 * vCPU then gets the template with its own APIC ID in the topology leaves.
 *
 * Defaults made at creation: leaf 1 ECX gets the hypervisor bit (31) and,
 * with KVMHOST_X86_CPUID_TSC_DEADLINE, TSC-deadline (24); KVM's leaves
 * 0x40000000 ("KVMKVMKVM") and 0x40000001 are added if the list lacks them.
 * Everything else is KVM's supported value (leaf 6 keeps KVM's ARAT).
 *
 * Per vCPU (APIC ID a, topology of n vCPUs in one package, t threads per core):
 * leaf 1 EBX[31:24] = a, EBX[23:16] = logical IDs per package and EDX.HTT
 * when n > 1; leaf 4 EAX[31:26] (cores) and EAX[25:14] (sharing: the core
 * for L1/L2, the package for L3); leaves 0xB (when the maximum basic leaf
 * reaches it) and 0x1F (when present) rebuilt with SMT and core levels and
 * EDX = a; AMD 0x80000008 ECX (NC,
 * ApicIdSize) and 0x8000001E (extended APIC ID, compute unit) when present.
 *
 * Edits (set/clear bits, set a register, remove a leaf) are applied after
 * all of that, so they win. A (function, index) names one entry: an entry
 * without KVM_CPUID_FLAG_SIGNIFCANT_INDEX matches every index. An edit that
 * sets bits in an entry that does not exist adds it (zeroed first), marked
 * index-significant when the index is not 0 or other entries of the
 * function are. Raising a maximum-leaf value (leaf 0, 0x40000000,
 * 0x80000000 EAX) for added leaves is up to the caller. @{ */

/** Opaque CPUID builder. */
struct kvmhost_x86_cpuid;

/** A CPUID output register. */
enum kvmhost_x86_cpuid_reg {
	KVMHOST_X86_CPUID_EAX = 0,
	KVMHOST_X86_CPUID_EBX = 1,
	KVMHOST_X86_CPUID_ECX = 2,
	KVMHOST_X86_CPUID_EDX = 3,
};

/** Creation flag: advertise the TSC-deadline timer (KVM emulates it when
 * KVM_CAP_TSC_DEADLINE_TIMER is present but leaves it out of its supported list). */
#define KVMHOST_X86_CPUID_TSC_DEADLINE (1u << 0)
/** Most entries KVM_SET_CPUID2 accepts (KVM_MAX_CPUID_ENTRIES). */
#define KVMHOST_X86_CPUID_MAX_ENTRIES 256u
/** @} */

/**
 * Create a builder from a supported list (e.g. a saved or fake one); the
 * list is copied. Topology: 1 vCPU, 1 thread per core.
 * @param supported entries; at least one, at most KVMHOST_X86_CPUID_MAX_ENTRIES,
 *                  no (function, index) twice
 * @param flags     KVMHOST_X86_CPUID_* creation flags
 * @param count entries at @p supported
 * @param out receives the new CPUID table
 * @return 0; -EINVAL for NULL, a bad count, a duplicate entry or an unknown
 *         flag; -ENOMEM.
 */
KVMHOST_API int kvmhost_x86_cpuid_create(const struct kvm_cpuid_entry2 *supported, uint32_t count, uint32_t flags,
					 struct kvmhost_x86_cpuid **out);

/** Create a builder from KVM_GET_SUPPORTED_CPUID, with
 * KVMHOST_X86_CPUID_TSC_DEADLINE when KVM has KVM_CAP_TSC_DEADLINE_TIMER.
 * @param sys the system handle (system.h)
 * @param out receives the new CPUID table
 * @return as kvmhost_x86_cpuid_create() plus the ioctl's errors.
 */
KVMHOST_API int kvmhost_x86_cpuid_create_from_system(struct kvmhost_system *sys, struct kvmhost_x86_cpuid **out);

/**
 * Free a builder. NULL is ignored.
 * @param cpuid the CPUID table
 */
KVMHOST_API void kvmhost_x86_cpuid_destroy(struct kvmhost_x86_cpuid *cpuid);

/**
 * Describe the vCPUs as one package of @p ncpus logical processors, @p
 * threads_per_core of them per core, with APIC IDs 0 .. ncpus-1.
 * @param ncpus            1 to KVMHOST_X86_PLATFORM_MAX_CPUS
 * @param threads_per_core a power of two from 1 up to @p ncpus
 * @param cpuid the CPUID table
 * @return 0 or -EINVAL.
 */
KVMHOST_API int kvmhost_x86_cpuid_set_topology(struct kvmhost_x86_cpuid *cpuid, uint32_t ncpus,
					       uint32_t threads_per_core);

/**
 * Set @p bits in one register of one entry (added if missing). @return 0; -EINVAL; -ENOMEM.
 * @param cpuid the CPUID table
 * @param function the CPUID leaf (EAX)
 * @param index the subleaf (ECX); 0 for leaves without one
 * @param reg the register
 * @param bits the bits to set
 */
KVMHOST_API int kvmhost_x86_cpuid_set_bits(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					   enum kvmhost_x86_cpuid_reg reg, uint32_t bits);
/**
 * Clear @p bits in one register of one entry (nothing if it is missing). @return 0; -EINVAL; -ENOMEM.
 * @param cpuid the CPUID table
 * @param function the CPUID leaf (EAX)
 * @param index the subleaf (ECX); 0 for leaves without one
 * @param reg the register
 * @param bits the bits to clear
 */
KVMHOST_API int kvmhost_x86_cpuid_clear_bits(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					     enum kvmhost_x86_cpuid_reg reg, uint32_t bits);
/**
 * Override one register of one entry (added if missing). @return 0; -EINVAL; -ENOMEM.
 * @param cpuid the CPUID table
 * @param function the CPUID leaf (EAX)
 * @param index the subleaf (ECX); 0 for leaves without one
 * @param reg the register
 * @param value its new value
 */
KVMHOST_API int kvmhost_x86_cpuid_set_reg(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index,
					  enum kvmhost_x86_cpuid_reg reg, uint32_t value);
/** Remove one entry (all entries of @p function that match @p index), so the
 * guest reads zeros there. Removing a missing entry is no error. @return 0; -EINVAL; -ENOMEM.
 * @param cpuid the CPUID table
 * @param function the CPUID leaf (EAX)
 * @param index the subleaf (ECX); 0 for leaves without one
 */
KVMHOST_API int kvmhost_x86_cpuid_remove(struct kvmhost_x86_cpuid *cpuid, uint32_t function, uint32_t index);

/**
 * Produce the CPUID table of the vCPU with APIC ID @p apic_id.
 * @param apic_id below the topology's ncpus
 * @param count   receives the number of entries (also on -E2BIG: the number needed)
 * @param cpuid the CPUID table
 * @param entries array of @p max entries
 * @param max entries at @p entries
 * @return 0; -EINVAL for NULL or a bad APIC ID; -E2BIG when @p max is too
 *         small; -ENOMEM.
 */
KVMHOST_API int kvmhost_x86_cpuid_build(const struct kvmhost_x86_cpuid *cpuid, uint32_t apic_id,
					struct kvm_cpuid_entry2 *entries, uint32_t max, uint32_t *count);

/** Set the vCPU's CPUID (KVM_SET_CPUID2) to the table built for APIC ID =
 * its vCPU id. Do it before the vCPU first runs and before setting MSRs that
 * depend on CPUID. @return as kvmhost_x86_cpuid_build() and
 * kvmhost_x86_vcpu_set_cpuid().
 * @param cpuid the CPUID table
 * @param vcpu the vCPU
 */
KVMHOST_API int kvmhost_x86_cpuid_apply(const struct kvmhost_x86_cpuid *cpuid, struct kvmhost_vcpu *vcpu);

/** @name Hyper-V enlightenments (kvmhost_x86_cpuid_add_hyperv(), QEMU's hv-* names) */
/** @{ */
#define KVMHOST_X86_HV_TIME    (1u << 0) /**< hv-time: the reference time counter and the TSC page */
#define KVMHOST_X86_HV_SYNIC   (1u << 1) /**< hv-synic: the synthetic interrupt controller (needs VPINDEX) */
#define KVMHOST_X86_HV_STIMER  (1u << 2) /**< hv-stimer: synthetic timers (needs SYNIC and TIME) */
#define KVMHOST_X86_HV_VPINDEX (1u << 3) /**< hv-vpindex: the virtual processor index MSR */
#define KVMHOST_X86_HV_RELAXED (1u << 4) /**< hv-relaxed: relaxed timing recommended (no watchdog on a late tick) */
#define KVMHOST_X86_HV_ALL     0x1fu	 /**< every enlightenment above */
/** @} */

/**
 * Offer Hyper-V enlightenments on KVM's own Hyper-V emulation: the Hyper-V
 * leaves 0x40000000-0x40000006 ("Microsoft Hv", interface "Hv#1", the
 * version and limits KVM reports, the privileges the enlightenments need,
 * the hypercall MSRs always) go into the builder, and KVM's paravirtual
 * leaves move to 0x40000100, where guests look next. Each vCPU also needs
 * kvmhost_x86_vcpu_setup_hyperv().
 * @param hv             KVM's Hyper-V list (kvmhost_x86_system_get_supported_hv_cpuid())
 * @param enlightenments KVMHOST_X86_HV_* (non-empty)
 * @param cpuid the CPUID table
 * @param count entries at @p hv
 * @return 0; -EINVAL (NULL, unknown bits, SYNIC without VPINDEX, STIMER
 *         without SYNIC and TIME); -ENOTSUP when @p hv lacks a privilege
 *         asked for (the message says which); -EEXIST when Hyper-V's leaves
 *         are there already
 */
KVMHOST_API int kvmhost_x86_cpuid_add_hyperv(struct kvmhost_x86_cpuid *cpuid, const struct kvm_cpuid_entry2 *hv,
					     uint32_t count, uint32_t enlightenments);

/**
 * The per-vCPU part of the enlightenments: with KVMHOST_X86_HV_SYNIC, KVM's
 * synthetic interrupt controller on this vCPU (KVM_CAP_HYPERV_SYNIC2).
 * Before the vCPU first runs.
 * @param vcpu the vCPU
 * @param enlightenments KVMHOST_X86_HV_* bits, as given to kvmhost_x86_cpuid_add_hyperv()
 * @return 0; -EINVAL (NULL, unknown bits); KVM's error
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_hyperv(struct kvmhost_vcpu *vcpu, uint32_t enlightenments);

/**
 * Copy the default MSR values a freshly created vCPU gets from
 * kvmhost_x86_vcpu_set_default_msrs(): IA32_MISC_ENABLE = fast strings,
 * IA32_PAT = the power-on value, IA32_MTRR_DEF_TYPE = MTRRs on with
 * write-back default, and SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SFMASK
 * and KERNEL_GS_BASE = 0. The TSC is left alone.
 * @param indices, values arrays of @p max entries (NULL when @p max is 0)
 * @param count   receives the number of MSRs (also on -E2BIG: the number needed)
 * @param max entries at @p indices and @p values
 * @return 0; -EINVAL for NULL; -E2BIG when @p max is too small.
 */
KVMHOST_API int kvmhost_x86_msr_defaults(uint32_t *indices, uint64_t *values, uint32_t max, uint32_t *count);

/** Write the default MSRs (kvmhost_x86_msr_defaults()) into a vCPU, after
 * its CPUID is set. @return 0; -EINVAL for NULL; -EIO naming the first MSR
 * KVM refused; the ioctl's error.
 * @param vcpu the vCPU
 */
KVMHOST_API int kvmhost_x86_vcpu_set_default_msrs(struct kvmhost_vcpu *vcpu);

/** Program the vCPU's local APIC for virtual-wire mode: LINT0 = ExtINT
 * (8259 interrupts reach the CPU), LINT1 = NMI, both unmasked, as a BIOS
 * leaves them. Needs an in-kernel irqchip (-EINVAL without one).
 * @param vcpu the vCPU
 * @return 0 or a negative errno.
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_lint(struct kvmhost_vcpu *vcpu);

/**
 * Prepare an application processor (any vCPU but the BSP): its CPUID
 * (when @p cpuid is not NULL), the default MSRs, and KVM_MP_STATE_UNINITIALIZED,
 * i.e. waiting for INIT and SIPI. The guest starts it through its local APIC;
 * the VMM just runs its thread: kvmhost_vcpu_run() blocks in KVM until the
 * SIPI and may return KVMHOST_EXIT_KICKED meanwhile (run again).
 * @param vcpu the vCPU
 * @param cpuid the CPUID table
 * @return 0; -EINVAL for NULL, or without an in-kernel irqchip (no LAPIC to
 *         receive the SIPI); the errors of the steps.
 */
KVMHOST_API int kvmhost_x86_vcpu_prepare_ap(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_cpuid *cpuid);

/** @name Boot vCPU */
/** @{ */
/** Default address of the boot GDT (4 descriptors: null, null, code 0x10, data 0x18). */
#define KVMHOST_X86_BOOT_GDT_GPA_DEFAULT 0x500ull
/** Default address of the 3 pages of identity page tables (64-bit entries). */
#define KVMHOST_X86_BOOT_PAGE_TABLE_GPA_DEFAULT 0x9000ull
/** Default initial stack pointer (just below the page tables). */
#define KVMHOST_X86_BOOT_STACK_DEFAULT 0x8ff0ull
/** Bytes the 64-bit entries identity-map (the long-mode helper's limit). */
#define KVMHOST_X86_BOOT_IDENTITY_MAP_SIZE 0x40000000ull

/** How a KVMHOST_X86_ENTRY_RAW image starts. */
enum kvmhost_x86_raw_mode {
	/** 16-bit real mode at CS:IP = (entry >> 4) & 0xf000 : entry & 0xffff; entry below 1 MiB. */
	KVMHOST_X86_RAW_REAL = 0,
	/** 32-bit protected mode, flat, paging off (as PVH); entry below 4 GiB. */
	KVMHOST_X86_RAW_PROTECTED_32 = 1,
	/** 64-bit long mode with the identity map and GDT of the Linux 64-bit entry. */
	KVMHOST_X86_RAW_LONG_64 = 2,
};
/** @} */

/** Options of kvmhost_x86_vcpu_setup_boot(); size rules as kvmhost_system_options. */
struct kvmhost_x86_boot_vcpu_options {
	size_t size;		 /**< sizeof(struct kvmhost_x86_boot_vcpu_options) */
	uint64_t gdt_gpa;	 /**< LINUX_64, LINUX_32, RAW long mode: the boot GDT (32 bytes, 8-byte
				      aligned); 0: KVMHOST_X86_BOOT_GDT_GPA_DEFAULT */
	uint64_t page_table_gpa; /**< LINUX_64, RAW long mode: 3 pages, 4 KiB aligned; 0:
				      KVMHOST_X86_BOOT_PAGE_TABLE_GPA_DEFAULT */
	uint64_t stack;		 /**< initial RSP; 0: KVMHOST_X86_BOOT_STACK_DEFAULT (no entry protocol
				      requires one; it only keeps an early push from hitting address 0) */
	uint32_t raw_mode;	 /**< enum kvmhost_x86_raw_mode, for KVMHOST_X86_ENTRY_RAW */
};

/**
 * Prepare the bootstrap processor to enter a kernel the loaders placed:
 * its CPUID (when @p cpuid is not NULL), the default MSRs, LINT0/LINT1 and
 * KVM_MP_STATE_RUNNABLE when the VM has an in-kernel irqchip, then the
 * entry state @p info describes:
 *  - LINUX_64: long mode with [0, 1 GiB) identity-mapped by 2 MiB pages at
 *    page_table_gpa (kvmhost_x86_vcpu_setup_long_mode()), a GDT at gdt_gpa
 *    with __BOOT_CS 0x10 (64-bit code) and __BOOT_DS 0x18, CS = 0x10,
 *    DS/ES/FS/GS/SS = 0x18;
 *  - LINUX_32: 32-bit protected mode, paging off, the same GDT with a 32-bit
 *    code segment at 0x10;
 *  - PVH_32 and MULTIBOOT_32: kvmhost_x86_vcpu_setup_protected_mode()
 *    (CS 0x10, DS 0x18, no GDT in memory);
 *  - RAW: as @c raw_mode says.
 * RIP = info->entry; RAX, RBX, RSI from @p info (zero page, start_info,
 * multiboot magic and MBI); RSP = @c stack; RFLAGS = 0x2.
 * @param opts NULL for defaults
 * @param vcpu the vCPU
 * @param cpuid the CPUID table
 * @param info what the loader reported (kvmhost_x86_boot_load() and the like)
 * @return 0; -EINVAL for NULL, an unknown kind or raw mode, an entry the
 *         mode cannot reach, identity_map_end beyond 1 GiB, or a GDT or
 *         page tables overlapping the kernel, zero page or command line;
 *         -EFAULT when the GDT or page tables are outside guest memory; the
 *         errors of the steps.
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_boot(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_cpuid *cpuid,
					    const struct kvmhost_x86_boot_info *info,
					    const struct kvmhost_x86_boot_vcpu_options *opts);

#ifdef __cplusplus
}
#endif

#endif

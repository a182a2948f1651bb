/**
 * @file pci.h
 * @brief A PCI host bridge with one bus, a generic PCI device model, and an
 * MSI route table for KVM.
 *
 * **Host bridge.** kvmhost_pci_host_create() makes bus 0 with a host bridge
 * at 00:00.0 (class 0x0600, so that Linux's type-1 probe accepts the bus).
 * Guests reach configuration space through the type-1 mechanism, an address
 * register at port 0xCF8 (32-bit accesses only; bit 31 enables, bits 15:11
 * select the device, 10:8 the function, 7:2 the register) and a data window
 * at 0xCFC-0xCFF (1, 2 or 4 bytes inside the dword), and optionally through
 * ECAM, a memory window of 1 MiB for bus 0 (offset = device << 15 |
 * function << 12 | register, 4 KiB per function, registers 0x100 and up
 * read as 0). Absent devices, other buses and functions 1-7 read all ones;
 * writes to them are dropped.
 *
 * **Devices.** A struct kvmhost_pci_device is a type-0 configuration header
 * plus up to six BARs and a capability list. The library implements the
 * header: read-only ids, class and pointers; Command (I/O, memory, bus
 * master, parity, SERR, INTx disable writable); Status (capability list
 * bit, the INTx status bit, write-1-to-clear error bits); Cache Line Size,
 * Latency Timer and Interrupt Line writable; no expansion ROM. Capabilities
 * carry their own write masks. A model adds hooks for the registers it
 * implements itself (they run after the generic handling).
 *
 * **BARs.** Memory BARs (32- or 64-bit) and I/O BARs of power-of-two sizes.
 * Sizing works as on hardware: writing all ones reads back the size mask
 * and the type bits. When a device is added to a host, the host places its
 * BARs like firmware would, naturally aligned in its windows (32-bit BARs
 * in the 32-bit MMIO window, 64-bit ones in the 64-bit window if there is
 * one), and enables decoding. A memory BAR is a range on the host's MMIO bus
 * while Command.Memory is set and its address is not 0; when the guest
 * reprograms it, the range is unregistered and registered at the new
 * address (an address that overlaps another range stays unmapped, with a
 * warning). I/O BARs are served inside the host's I/O window, a range the
 * host claims on the port bus with kvmhost_pci_host_attach_pio(): an I/O
 * BAR outside that window is not reachable.
 *
 * **Buses.** The configuration mechanism may not reprogram BARs from a
 * callback of the bus that holds them (registering on a bus from its own
 * callback deadlocks; kvmhost_bus_register() says -EDEADLK). Port 0xCF8 is
 * on the port bus and memory BARs on the MMIO bus, so type-1 access is
 * always fine; ECAM must therefore sit on a different bus than the memory
 * BARs (a second MMIO bus to which the VMM dispatches what the first one
 * leaves unclaimed).
 *
 * **MSI routes.** struct kvmhost_msi_router keeps a VM's GSI routing table
 * (KVM_SET_GSI_ROUTING replaces the whole table, so several MSI users must
 * share one): fixed base entries plus MSI routes on GSIs it hands out.
 *
 * Thread safety: configuration accesses are serialised per host; device
 * calls are safe from any thread; BAR callbacks run in parallel (the MMIO
 * bus's rules). A device's config hooks and BAR-move hooks run with the
 * host's configuration lock held: they may call the kvmhost_pci_device_*
 * functions, but not kvmhost_pci_host_add_device()/_remove_device() nor make
 * a configuration access to the same host (those fail with -EDEADLK). Since
 * a BAR move holds that lock while it waits for the MMIO bus's callbacks in
 * flight, BAR callbacks, any other callback of the host's MMIO bus, and I/O
 * BAR callbacks get -EDEADLK for the same calls too, instead of a deadlock
 * (a refused configuration access reaches the guest as a failed dispatch).
 * Adding and removing devices may happen while the guest runs (a removal
 * waits for BAR callbacks in flight); destroying an object must not race
 * any other call on it. docs/architecture.md ("Locks and callbacks") has
 * the whole lock order.
 */
#ifndef KVMHOST_PCI_H
#define KVMHOST_PCI_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/bus.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_irq_line;
struct kvmhost_vm;
struct kvm_irq_routing_entry;

/** Opaque PCI host bridge (and its bus 0). */
struct kvmhost_pci_host;
/** Opaque PCI device model. */
struct kvmhost_pci_device;
/** Opaque MSI routing table of a VM. */
struct kvmhost_msi_router;

/** @name Configuration space */
/** @{ */
#define KVMHOST_PCI_CONFIG_SIZE		256u	    /**< conventional configuration space of a function */
#define KVMHOST_PCI_ECAM_SIZE		0x100000ull /**< ECAM window of bus 0 */
#define KVMHOST_PCI_CONFIG_ADDRESS_PORT 0xcf8u	    /**< CONFIG_ADDRESS port (configuration mechanism \#1) */
#define KVMHOST_PCI_CONFIG_DATA_PORT	0xcfcu	    /**< port of its data register (CONFIG_DATA), 4 bytes */

#define KVMHOST_PCI_VENDOR_ID		0x00 /**< config offset: Vendor ID (16 bits) */
#define KVMHOST_PCI_DEVICE_ID		0x02 /**< config offset: Device ID (16 bits) */
#define KVMHOST_PCI_COMMAND		0x04 /**< config offset: Command (16 bits) */
#define KVMHOST_PCI_STATUS		0x06 /**< config offset: Status (16 bits) */
#define KVMHOST_PCI_REVISION_ID		0x08 /**< config offset: Revision ID */
#define KVMHOST_PCI_CLASS_PROG		0x09 /**< config offset: programming interface (class code, low byte) */
#define KVMHOST_PCI_CLASS_DEVICE	0x0a /**< config offset: subclass and base class (16 bits) */
#define KVMHOST_PCI_CACHE_LINE_SIZE	0x0c /**< config offset: Cache Line Size */
#define KVMHOST_PCI_LATENCY_TIMER	0x0d /**< config offset: Latency Timer */
#define KVMHOST_PCI_HEADER_TYPE		0x0e /**< config offset: Header Type */
#define KVMHOST_PCI_BAR0		0x10 /**< config offset: the first BAR (the others follow, 4 bytes each) */
#define KVMHOST_PCI_SUBSYSTEM_VENDOR_ID 0x2c /**< config offset: Subsystem Vendor ID (16 bits) */
#define KVMHOST_PCI_SUBSYSTEM_ID	0x2e /**< config offset: Subsystem ID (16 bits) */
#define KVMHOST_PCI_ROM_ADDRESS		0x30 /**< config offset: Expansion ROM base address */
#define KVMHOST_PCI_CAPABILITY_LIST	0x34 /**< config offset: Capabilities Pointer */
#define KVMHOST_PCI_INTERRUPT_LINE	0x3c /**< config offset: Interrupt Line */
#define KVMHOST_PCI_INTERRUPT_PIN	0x3d /**< config offset: Interrupt Pin (1 = INTA#) */

#define KVMHOST_PCI_COMMAND_IO		 0x0001u /**< Command: I/O space decoding */
#define KVMHOST_PCI_COMMAND_MEMORY	 0x0002u /**< Command: memory space decoding */
#define KVMHOST_PCI_COMMAND_MASTER	 0x0004u /**< Command: bus master (DMA and MSI) */
#define KVMHOST_PCI_COMMAND_PARITY	 0x0040u /**< Command: parity error response */
#define KVMHOST_PCI_COMMAND_SERR	 0x0100u /**< Command: SERR# enable */
#define KVMHOST_PCI_COMMAND_INTX_DISABLE 0x0400u /**< Command: INTx emulation disabled */
#define KVMHOST_PCI_STATUS_INTERRUPT	 0x0008u /**< Status: the function asserts INTx */
#define KVMHOST_PCI_STATUS_CAP_LIST	 0x0010u /**< Status: a capability list exists */

#define KVMHOST_PCI_CAP_ID_VNDR 0x09 /**< vendor-specific capability */
#define KVMHOST_PCI_CAP_ID_MSIX 0x11 /**< MSI-X */
/** @} */

/** Number of BARs of a type-0 header. */
#define KVMHOST_PCI_NUM_BARS 6u
/** Address of a BAR that is not mapped. */
#define KVMHOST_PCI_BAR_UNMAPPED UINT64_MAX

/** Kind of a BAR. */
enum kvmhost_pci_bar_type {
	KVMHOST_PCI_BAR_MEM32 = 0, /**< 32-bit memory BAR */
	KVMHOST_PCI_BAR_MEM64 = 1, /**< 64-bit memory BAR: takes this BAR and the next */
	KVMHOST_PCI_BAR_IO = 2,	   /**< I/O port BAR */
};

/** BAR flag: prefetchable memory. */
#define KVMHOST_PCI_BAR_PREFETCH (1u << 0)

/**
 * Configuration hooks of a device model. Read: @p data already holds what
 * the generic code read (@p len 1, 2 or 4 bytes at @p offset, inside one
 * dword); the hook may change it. Write: runs after the generic code
 * applied the write through the write masks; @p data is what the guest
 * wrote. Return 0 or a negative errno (logged; the access still completes).
 */
typedef int (*kvmhost_pci_config_read_fn)(void *opaque, uint32_t offset, void *data, uint32_t len);
/** See kvmhost_pci_config_read_fn. */
typedef int (*kvmhost_pci_config_write_fn)(void *opaque, uint32_t offset, const void *data, uint32_t len);
/** BAR @p bar moved from @p old_addr to @p new_addr (either may be
 * KVMHOST_PCI_BAR_UNMAPPED). Runs after the bus ranges changed, in the
 * thread of the configuration write that moved it (or add/remove). */
typedef void (*kvmhost_pci_bar_moved_fn)(void *opaque, uint32_t bar, uint64_t old_addr, uint64_t new_addr);

/** Options for kvmhost_pci_device_create(); size rules as kvmhost_system_options. */
struct kvmhost_pci_device_options {
	size_t size;		       /**< sizeof(struct kvmhost_pci_device_options) */
	uint16_t vendor_id;	       /**< not 0xffff */
	uint16_t device_id;	       /**< the device id */
	uint8_t revision;	       /**< the revision id */
	uint32_t class_code;	       /**< base class << 16 | subclass << 8 | programming interface */
	uint16_t subsystem_vendor_id;  /**< the subsystem vendor id */
	uint16_t subsystem_id;	       /**< the subsystem id */
	uint8_t interrupt_pin;	       /**< 0 (none) or 1-4 (INTA-INTD) */
	uint8_t interrupt_line;	       /**< initial Interrupt Line register: the IRQ the guest should use */
	struct kvmhost_irq_line *intx; /**< INTx line (level; not owned, must outlive the device); NULL: none */
	kvmhost_pci_config_read_fn config_read;	  /**< may be NULL */
	kvmhost_pci_config_write_fn config_write; /**< may be NULL */
	kvmhost_pci_bar_moved_fn bar_moved;	  /**< may be NULL */
	void *opaque;				  /**< passed to the hooks */
	const char *name;			  /**< for messages and bus ranges; copied; may be NULL */
};

/** Describes a BAR to add; size rules as kvmhost_system_options. */
struct kvmhost_pci_bar_options {
	size_t size;			/**< sizeof(struct kvmhost_pci_bar_options) */
	uint32_t index;			/**< 0-5; a 64-bit BAR also takes index + 1 */
	enum kvmhost_pci_bar_type type; /**< MEM32, MEM64 or IO */
	uint64_t length;	    /**< power of two: memory 16 bytes to 2 GiB (MEM32) or 2^63 (MEM64); I/O 4 to 256 */
	uint32_t flags;		    /**< KVMHOST_PCI_BAR_PREFETCH (memory only) */
	kvmhost_bus_read_fn read;   /**< offset is from the BAR's start; NULL: reads all ones */
	kvmhost_bus_write_fn write; /**< NULL: writes dropped */
	void *opaque;		    /**< passed to read and write */
};

/**
 * Create a device with a type-0 header and no BARs or capabilities.
 * @param opts the options (struct kvmhost_pci_device_options; size rules as every options struct)
 * @param out receives the new PCI device
 * @return 0; -EINVAL (NULL, vendor 0xffff, interrupt pin above 4, class
 *         above 24 bits), -E2BIG (options), -ENOMEM.
 */
KVMHOST_API int kvmhost_pci_device_create(const struct kvmhost_pci_device_options *opts,
					  struct kvmhost_pci_device **out);

/**
 * Remove the device from its host (if added) and destroy it. NULL is ignored.
 * @param dev the PCI device
 */
KVMHOST_API void kvmhost_pci_device_destroy(struct kvmhost_pci_device *dev);

/**
 * Add a BAR (before the device is added to a host).
 * @param dev the PCI device
 * @param bar the BAR's index, type, length and flags
 * @return 0; -EINVAL for NULL or a bad index, type, length or flag, or a
 *         64-bit BAR at index 5; -EEXIST if the index (or the one a 64-bit
 *         BAR needs) is taken; -EBUSY once the device is on a host; -E2BIG.
 */
KVMHOST_API int kvmhost_pci_device_add_bar(struct kvmhost_pci_device *dev, const struct kvmhost_pci_bar_options *bar);

/**
 * Append a capability to the list (before the device is added to a host).
 * @param data the whole capability, @p len bytes, from its ID byte; the
 *        library fills the ID (@p id) and next-pointer bytes
 * @param wmask bits the guest may write, @p len bytes (the first two are
 *        ignored); NULL: read-only
 * @param offset receives the capability's offset in configuration space; may be NULL
 * @param dev the PCI device
 * @param id the capability ID (PCI_CAP_ID_*)
 * @param len bytes at @p data
 * @return 0; -EINVAL for NULL @p dev or @p data, or @p len below 2 or above
 *         192; -ENOSPC when configuration space is full; -EBUSY once on a host.
 */
KVMHOST_API int kvmhost_pci_device_add_capability(struct kvmhost_pci_device *dev, uint8_t id, const void *data,
						  uint32_t len, const void *wmask, uint8_t *offset);

/**
 * Read the device's configuration space as the guest would see it, without
 * hooks or side effects (little-endian bytes).
 * @param dev the PCI device
 * @param offset the first byte, 0 to 255
 * @param data the buffer to fill
 * @param len bytes at @p data
 * @return 0; -EINVAL for NULL or a range outside the 256 bytes.
 */
KVMHOST_API int kvmhost_pci_device_config_get(struct kvmhost_pci_device *dev, uint32_t offset, void *data,
					      uint32_t len);

/**
 * The model writes its own configuration space (any byte, write masks
 * ignored; for status fields of its capabilities). The header's BARs and
 * Command register are not writable this way.
 * @param dev the PCI device
 * @param offset the first byte, 0 to 255
 * @param data the bytes
 * @param len bytes at @p data
 * @return 0; -EINVAL for NULL, a range outside the 256 bytes or one that
 *         touches 0x04-0x07 or the BARs.
 */
KVMHOST_API int kvmhost_pci_device_config_set(struct kvmhost_pci_device *dev, uint32_t offset, const void *data,
					      uint32_t len);

/**
 * Set the INTx level the device asserts: Status.Interrupt follows it, and
 * the INTx line is high while it is set and Command.INTx-disable is clear.
 * @param dev the PCI device
 * @param level 1: asserted; 0: deasserted
 * @return 0; -EINVAL for NULL or a level other than 0 or 1; the line's error.
 */
KVMHOST_API int kvmhost_pci_device_set_intx(struct kvmhost_pci_device *dev, int level);

/**
 * Where BAR @p bar is mapped.
 * @param addr receives the guest address, or KVMHOST_PCI_BAR_UNMAPPED
 * @param dev the PCI device
 * @param bar the BAR's index, 0 to 5
 * @return 1 if mapped, 0 if not; -EINVAL for NULL or a BAR the device does
 *         not have (the upper half of a 64-bit BAR included).
 */
KVMHOST_API int kvmhost_pci_device_bar_address(struct kvmhost_pci_device *dev, uint32_t bar, uint64_t *addr);

/** Return the device's slot on its host's bus 0 (0-31), or -ENOTCONN if it is
 * not on a host, -EINVAL for NULL.
 * @param dev the PCI device
 * @return the device's slot on its host's bus 0 (0-31), or -ENOTCONN if it is not on a host, -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_pci_device_slot(struct kvmhost_pci_device *dev);

/** Options for kvmhost_pci_host_create(); size rules as kvmhost_system_options. */
struct kvmhost_pci_host_options {
	size_t size;		  /**< sizeof(struct kvmhost_pci_host_options) */
	struct kvmhost_bus *mmio; /**< where memory BARs are mapped (required) */
	/** Window for placing 32-bit (and, without a 64-bit window, 64-bit)
	 * memory BARs; 0/0: [0xe0000000, 0xfec00000), the hole below the IOAPIC. */
	uint64_t mmio32_base, mmio32_size; /**< @c mmio32_size: the 32-bit window's size */
	/** Window for 64-bit memory BARs; size 0: none. */
	uint64_t mmio64_base, mmio64_size; /**< @c mmio64_size: the 64-bit window's size */
	/** I/O window (served on the port bus, see attach_pio); 0/0: [0xc000, 0x10000). */
	uint32_t io_base, io_size; /**< @c io_size: the I/O window's size */
	uint16_t vendor_id;	   /**< host bridge ids; 0/0: 0x1b36:0x0008 (a generic host bridge) */
	uint16_t device_id;	   /**< the host bridge's device id (see @c vendor_id) */
	const char *name;	   /**< for messages; copied; may be NULL */
};

/**
 * Create a host bridge with bus 0 holding the bridge itself at 00:00.0.
 * @param opts the options (struct kvmhost_pci_host_options; size rules as every options struct)
 * @param out receives the new PCI host bridge
 * @return 0; -EINVAL (NULL mmio bus, an empty, unaligned (4 KiB, I/O: 4)
 *         or wrapping window, windows that overlap, an I/O window past
 *         0xffff), -E2BIG, -ENOMEM.
 */
KVMHOST_API int kvmhost_pci_host_create(const struct kvmhost_pci_host_options *opts, struct kvmhost_pci_host **out);

/** Remove every device (their BARs are unmapped; they are not destroyed),
 * leave the buses and destroy the host. NULL is ignored.
 * @param host the PCI host bridge
 */
KVMHOST_API void kvmhost_pci_host_destroy(struct kvmhost_pci_host *host);

/**
 * Claim the type-1 configuration ports 0xCF8-0xCFF and the I/O window on
 * port bus @p pio (once).
 * @param host the PCI host bridge
 * @param pio the port I/O bus
 * @return 0; -EINVAL for NULL or the MMIO bus; -EBUSY if done already;
 *         -EEXIST if a port is taken.
 */
KVMHOST_API int kvmhost_pci_host_attach_pio(struct kvmhost_pci_host *host, struct kvmhost_bus *pio);

/**
 * Claim the ECAM window of bus 0, KVMHOST_PCI_ECAM_SIZE bytes at @p base
 * (1 MiB aligned) on @p bus, which must not be the host's MMIO bus (see the
 * file comment). Once.
 * @param host the PCI host bridge
 * @param bus the bus
 * @param base the window's guest physical address
 * @return 0; -EINVAL (NULL, the MMIO bus, a bad base); -EBUSY; -EEXIST.
 */
KVMHOST_API int kvmhost_pci_host_attach_ecam(struct kvmhost_pci_host *host, struct kvmhost_bus *bus, uint64_t base);

/**
 * Put @p dev in @p slot of bus 0 (1-31, or -1 for the lowest free one),
 * place its BARs in the host's windows and enable decoding, as firmware
 * would. A device sits on one host at a time. Window space is not reused
 * after a removal.
 * @param host the PCI host bridge
 * @param dev the PCI device
 * @param slot 1 to 31, or -1 for the lowest free one
 * @return the slot; -EINVAL for NULL or a bad slot; -EBUSY if the device is
 *         on a host or the slot is taken; -ENOSPC if the bus or a window is
 *         full; -EDEADLK from the host's hooks, its BAR callbacks or a
 *         callback of its MMIO bus.
 */
KVMHOST_API int kvmhost_pci_host_add_device(struct kvmhost_pci_host *host, struct kvmhost_pci_device *dev, int slot);

/** Take @p dev off the bus, unmapping its BARs. -EINVAL for NULL, -ENOENT if
 * it is not on @p host.
 * @param host the PCI host bridge
 * @param dev the PCI device
 * @return 0; -EINVAL for NULL; -ENOENT if @p dev is not on @p host;
 *         -EDEADLK as kvmhost_pci_host_add_device().
 */
KVMHOST_API int kvmhost_pci_host_remove_device(struct kvmhost_pci_host *host, struct kvmhost_pci_device *dev);

/** Options for kvmhost_msi_router_create(); size rules as kvmhost_system_options. */
struct kvmhost_msi_router_options {
	size_t size; /**< sizeof(struct kvmhost_msi_router_options) */
	/** Routes to keep in the table (copied), e.g. the irqchip routes a VM
	 * with an in-kernel irqchip needs for its GSIs 0-23. */
	const struct kvm_irq_routing_entry *base;
	uint32_t base_count; /**< entries at @c base */
	uint32_t flags;	     /**< KVMHOST_MSI_ROUTER_* */
	uint32_t first_gsi;  /**< lowest GSI handed out for MSI routes; 0: 24 (after the x86 IOAPIC's pins) */
};

/** Router flag (x86): add KVM's default routes of a FULL in-kernel irqchip
 * (GSI 0-15 to the PICs and the IOAPIC, 16-23 to the IOAPIC) to the base
 * entries, so that legacy interrupts keep working once MSI routes exist. */
#define KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS (1u << 0)

/**
 * Create a router for @p vm (which must outlive it). Nothing is written to
 * KVM until the first route is set.
 * @param vm the VM
 * @param opts the options (struct kvmhost_msi_router_options; size rules as every options struct)
 * @param out receives the new MSI router
 * @return 0; -EINVAL (NULL, base_count without base, a base entry with a GSI
 *         at or above first_gsi, an unknown flag), -ENOTSUP
 *         (IRQCHIP_DEFAULTS on another architecture), -E2BIG, -ENOMEM.
 */
KVMHOST_API int kvmhost_msi_router_create(struct kvmhost_vm *vm, const struct kvmhost_msi_router_options *opts,
					  struct kvmhost_msi_router **out);

/** Destroy a router. Routes it installed stay in KVM until the next table
 * change. NULL is ignored.
 * @param router the MSI router
 */
KVMHOST_API void kvmhost_msi_router_destroy(struct kvmhost_msi_router *router);

/**
 * Reserve a GSI for an MSI route (none installed yet: attach an irqfd to it,
 * then kvmhost_msi_router_set()).
 * @param router the MSI router
 * @param gsi receives the GSI
 * @return 0 and *gsi set; -EINVAL for NULL; -ENOSPC when KVM's routing
 *         table (KVM_CAP_IRQ_ROUTING entries) is full; -ENOTSUP without IRQ
 *         routing.
 */
KVMHOST_API int kvmhost_msi_router_alloc(struct kvmhost_msi_router *router, uint32_t *gsi);

/**
 * Route @p gsi to the MSI (@p address, @p data) and push the table to KVM
 * (nothing is pushed when the route is unchanged).
 * @param router the MSI router
 * @param gsi the global system interrupt (GSI)
 * @param address the MSI address
 * @param data the MSI data
 * @return 0; -EINVAL for NULL; -ENOENT if @p gsi was not handed out;
 *         KVM_SET_GSI_ROUTING's error (the previous route is kept).
 */
KVMHOST_API int kvmhost_msi_router_set(struct kvmhost_msi_router *router, uint32_t gsi, uint64_t address,
				       uint32_t data);

/**
 * Remove the route of @p gsi (keeping the GSI reserved) and push the table.
 * @param router the MSI router
 * @param gsi the global system interrupt (GSI)
 * @return 0 (also when no route was set); -EINVAL; -ENOENT; KVM's error.
 */
KVMHOST_API int kvmhost_msi_router_clear(struct kvmhost_msi_router *router, uint32_t gsi);

/**
 * Give @p gsi back (its route is removed first).
 * @param router the MSI router
 * @param gsi the global system interrupt (GSI)
 * @return 0; -EINVAL; -ENOENT; KVM's error (the GSI is released anyway).
 */
KVMHOST_API int kvmhost_msi_router_free(struct kvmhost_msi_router *router, uint32_t gsi);

#ifdef __cplusplus
}
#endif

#endif

/**
 * @file arm64_fdt.h
 * @brief arm64 device tree builder (libfdt): the flattened device tree an arm64 Linux guest boots with.
 *
 * From a description of the machine (RAM ranges, vCPUs with their MPIDRs, a GICv3 and optionally its ITS, the
 * architected timer, one UART, any number of virtio-mmio devices, the kernel's command line and initrd) this
 * builds a DTB in a buffer the caller owns, the way QEMU's and kvmtool's arm64 `virt` machines describe theirs:
 *
 *  - `/` with `#address-cells = #size-cells = 2`, `compatible = "linux,dummy-virt"` and the GIC as
 *    `interrupt-parent`;
 *  - `/memory@<base>` per RAM range (`device_type = "memory"`);
 *  - `/cpus/cpu@<mpidr>` per vCPU (`compatible = "arm,arm-v8"`, `enable-method = "psci"`, `reg` = the MPIDR's
 *    affinity bits) and `/psci` (`compatible = "arm,psci-0.2"`, `method = "hvc"`, which is how KVM offers PSCI);
 *  - `/intc@<gicd>`: `arm,gic-v3` with the distributor and redistributor regions (phandle
 *    KVMHOST_ARM64_FDT_PHANDLE_GIC), and its child `its@<base>` (`arm,gic-v3-its`, `msi-controller`, phandle
 *    KVMHOST_ARM64_FDT_PHANDLE_ITS) when an ITS is given;
 *  - `/timer` (`arm,armv8-timer`, the four timer PPIs, level high);
 *  - the UART: `/uart@<base>` (`ns16550a`, the library's 16550 model on MMIO, one byte per register) or
 *    `/pl011@<base>` (`arm,pl011` with the `/apb-pclk` fixed clock it needs);
 *  - `/virtio_mmio@<base>` per virtio-mmio transport (`virtio,mmio`, `dma-coherent`, its SPI);
 *  - `/chosen` with `bootargs`, `linux,initrd-start` / `linux,initrd-end` and `stdout-path` (the UART's path).
 *
 * Interrupts are given as SPI numbers (0 to 987): the device tree cell `<GIC_SPI n type>`, which is also the
 * GSI KVM's irqfd and KVM_IRQ_LINE routing use for the vGIC's SPI n (INTID 32 + n).
 *
 * After the library's nodes the embedder may add or change nodes (a callback given the blob, open for
 * libfdt's read-write calls), then the tree is packed and checked with fdt_check_full() before it is
 * returned: what the guest sees is always a valid tree.
 *
 * This is pure code (no KVM; the tree is written by libfdt in the caller's buffer, the library allocates only
 * its working copy of the description): it is built and unit-tested on every architecture, so x86 CI exercises
 * it as well.
 *
 * Errors: -ENOMEM; -EINVAL (with a message naming the field) for NULL arguments and inconsistent descriptions
 * (overlapping or wrapping ranges, a duplicate MPIDR, an MPIDR with non-affinity bits, too few redistributor
 * frames for the vCPUs, an SPI out of range...); -ENOSPC when the buffer is too small; -E2BIG under the
 * options' size rule.
 *
 * Thread safety: none needed; the call only touches the caller's buffers.
 */
#ifndef KVMHOST_ARM64_FDT_H
#define KVMHOST_ARM64_FDT_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest DTB the arm64 boot protocol accepts (Documentation/arch/arm64/booting.rst): 2 MiB. */
#define KVMHOST_ARM64_FDT_MAX_SIZE   (2u * 1024 * 1024)
#define KVMHOST_ARM64_FDT_MAX_MEMORY 64	 /**< most RAM ranges a description may hold */
#define KVMHOST_ARM64_FDT_MAX_CPUS   512 /**< most vCPUs (KVM's arm64 limit) */
#define KVMHOST_ARM64_FDT_MAX_VIRTIO 256 /**< most virtio-mmio transports */
/** Highest SPI number (INTID 1019 - 32). */
#define KVMHOST_ARM64_FDT_MAX_SPI	987
#define KVMHOST_ARM64_GICD_SIZE		0x10000ull /**< bytes of a GICv3 distributor (GICD) */
#define KVMHOST_ARM64_GICR_CPU_SIZE	0x20000ull /**< bytes of one vCPU's redistributor (RD and SGI frames) */
#define KVMHOST_ARM64_GIC_ITS_SIZE	0x20000ull /**< bytes of a GICv3 ITS */
#define KVMHOST_ARM64_FDT_PHANDLE_GIC	1u	   /**< the GIC's phandle (the root's interrupt-parent) */
#define KVMHOST_ARM64_FDT_PHANDLE_ITS	2u	   /**< the ITS's phandle (for msi-parent / msi-map) */
#define KVMHOST_ARM64_FDT_PHANDLE_CLOCK 3u	   /**< the PL011's fixed clock */
/** First phandle free for the embedder's nodes. */
#define KVMHOST_ARM64_FDT_PHANDLE_FIRST_FREE 16u
/** Longest bootargs accepted, without the NUL (arm64 COMMAND_LINE_SIZE is 2048 with the NUL). */
#define KVMHOST_ARM64_FDT_BOOTARGS_MAX 2047

#define KVMHOST_ARM64_IRQ_EDGE_RISING 1u /**< interrupt type cell: edge rising (IRQ_TYPE_EDGE_RISING) */
#define KVMHOST_ARM64_IRQ_LEVEL_HIGH  4u /**< interrupt type cell: level high (IRQ_TYPE_LEVEL_HIGH) */

/** Which UART the tree describes. */
enum kvmhost_arm64_uart_type {
	KVMHOST_ARM64_UART_NONE = 0,	 /**< no UART (and no stdout-path) */
	KVMHOST_ARM64_UART_NS16550A = 1, /**< `ns16550a` on MMIO, byte-wide registers (devices/uart16550.h) */
	KVMHOST_ARM64_UART_PL011 = 2,	 /**< ARM PL011 (`arm,pl011`, ttyAMA0) */
};

/** One guest RAM range: a `/memory` node. Element of kvmhost_arm64_fdt_options.memory (element size
 * kvmhost_arm64_fdt_options.memory_size; the struct may grow at its end). */
struct kvmhost_arm64_fdt_memory {
	uint64_t base; /**< guest-physical start */
	uint64_t size; /**< bytes; non-zero, base + size must not wrap */
};

/** One virtio-mmio transport. Element of kvmhost_arm64_fdt_options.virtio (element size
 * kvmhost_arm64_fdt_options.virtio_size; the struct may grow at its end). */
struct kvmhost_arm64_fdt_virtio {
	uint64_t base;	   /**< its register window's guest-physical address */
	uint64_t size;	   /**< the window's bytes (0: 0x200, virtio/mmio.h's window) */
	uint32_t spi;	   /**< its interrupt, an SPI number (0 to KVMHOST_ARM64_FDT_MAX_SPI) */
	uint32_t irq_type; /**< KVMHOST_ARM64_IRQ_* (0: edge rising, as QEMU's and kvmtool's virt machines) */
};

/**
 * Called after the library's nodes are in, before the tree is packed and checked: add or change nodes with
 * libfdt's read-write calls (fdt_add_subnode(), fdt_setprop(), ...) on @p fdt, which has the whole buffer as
 * room. Phandles from KVMHOST_ARM64_FDT_PHANDLE_FIRST_FREE up are free.
 * @param fdt the tree (a libfdt blob in the caller's buffer)
 * @param opaque kvmhost_arm64_fdt_options.opaque
 * @return 0, or a negative libfdt error (-FDT_ERR_*) as libfdt's calls return it, which stops the build:
 *         -FDT_ERR_NOSPACE becomes -ENOSPC, any other -EINVAL
 */
typedef int (*kvmhost_arm64_fdt_fn)(void *fdt, void *opaque);

/** What the tree describes. Options struct: `size` first (docs/architecture.md, ABI rules). */
struct kvmhost_arm64_fdt_options {
	size_t size; /**< sizeof(struct kvmhost_arm64_fdt_options) */

	const struct kvmhost_arm64_fdt_memory *memory; /**< RAM ranges, non-overlapping; at least one */
	uint32_t memory_count;			       /**< entries in @c memory (1 to KVMHOST_ARM64_FDT_MAX_MEMORY) */
	size_t memory_size; /**< bytes per element of @c memory: sizeof(struct kvmhost_arm64_fdt_memory) */

	const uint64_t *mpidrs; /**< per vCPU, its MPIDR_EL1 as KVM reports it (bits 31 and 30 and the MT bit
				     are ignored; only Aff3..Aff0 go into `reg`); unique */
	uint32_t cpu_count;	/**< entries in @c mpidrs (1 to KVMHOST_ARM64_FDT_MAX_CPUS) */

	uint64_t gicd_base; /**< GICv3 distributor, 64 KiB (KVMHOST_ARM64_GICD_SIZE) */
	uint64_t gicr_base; /**< redistributors, one KVMHOST_ARM64_GICR_CPU_SIZE frame pair per vCPU */
	uint64_t gicr_size; /**< bytes of the redistributor region (0: cpu_count frame pairs); at least that */
	uint64_t its_base;  /**< GICv3 ITS (KVMHOST_ARM64_GIC_ITS_SIZE bytes); 0: no ITS */
	/** The timer PPIs (0 to 15) in the order the binding wants: secure physical, non-secure physical,
	 * virtual, hypervisor. All zero: 13, 14, 11, 10 (INTIDs 29, 30, 27, 26, KVM's defaults). */
	uint32_t timer_ppis[4];

	enum kvmhost_arm64_uart_type uart_type; /**< the UART, or KVMHOST_ARM64_UART_NONE */
	uint64_t uart_base;			/**< its registers */
	uint64_t uart_size;			/**< bytes of its window (0: 0x1000) */
	uint32_t uart_spi;			/**< its interrupt (an SPI number), level high */
	uint32_t uart_clock_hz;			/**< input clock (0: 1843200 for the 16550, 24 MHz for the PL011) */

	const struct kvmhost_arm64_fdt_virtio *virtio; /**< virtio-mmio transports (may be NULL when none) */
	uint32_t virtio_count;			       /**< entries in @c virtio (up to KVMHOST_ARM64_FDT_MAX_VIRTIO) */
	size_t virtio_size; /**< bytes per element of @c virtio: sizeof(struct kvmhost_arm64_fdt_virtio) */

	const char *bootargs;  /**< the kernel command line (NULL: none) */
	uint64_t initrd_start; /**< the initrd's guest-physical range [start, end) for `/chosen`; both 0: none
				    (kvmhost_arm64_boot_load_image() fills these in itself when it loads one) */
	uint64_t initrd_end;   /**< end (exclusive) of the initrd */

	kvmhost_arm64_fdt_fn add_nodes; /**< the embedder's nodes (NULL: none) */
	void *opaque;			/**< handed to @c add_nodes */
};

/**
 * Build the device tree described by @p opts into @p buf, pack it and check it with fdt_check_full().
 * Nodes and properties are listed in the file comment. Every range (RAM, GIC, ITS, UART, virtio) is checked
 * for wrapping and overlap with every other.
 * @param opts the description (must not be NULL: it has at least the RAM and the vCPUs)
 * @param buf the caller's buffer; on success it holds the DTB (its first *@p fdt_size bytes)
 * @param buf_size bytes at @p buf (at most KVMHOST_ARM64_FDT_MAX_SIZE are used; 64 KiB is plenty for
 *        hundreds of devices)
 * @param fdt_size receives the DTB's total size (fdt_totalsize())
 * @return 0; -EINVAL (bad description, named in the message); -ENOSPC (the buffer is too small); -E2BIG
 *         (options size rule); an error the callback returned, as in kvmhost_arm64_fdt_fn
 */
KVMHOST_API int kvmhost_arm64_fdt_build(const struct kvmhost_arm64_fdt_options *opts, void *buf, size_t buf_size,
					size_t *fdt_size);

/**
 * Check a DTB from anywhere (a file, the embedder's own builder) the way the arm64 loader does: a valid
 * flattened device tree (fdt_check_full()) of at most KVMHOST_ARM64_FDT_MAX_SIZE bytes that fits in @p size.
 * @param fdt the blob
 * @param size bytes at @p fdt
 * @return 0; -EINVAL for NULL or a blob that is not a valid tree (the message has libfdt's reason); -E2BIG
 *         for a tree over 2 MiB
 */
KVMHOST_API int kvmhost_arm64_fdt_check(const void *fdt, size_t size);

#ifdef __cplusplus
}
#endif

#endif

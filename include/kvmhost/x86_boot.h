/**
 * @file x86_boot.h
 * @brief x86 kernel loaders: Linux bzImage (x86 boot protocol), ELF kernels
 * with a PVH entry note, Multiboot (v1) kernels, and raw binaries.
 *
 * A loader takes a kernel image from a caller buffer (the caller reads the
 * file), writes it and the boot data structures the protocol wants (Linux
 * zero page, PVH start_info, Multiboot information) into a guest memory map,
 * and describes in struct kvmhost_x86_boot_info how the boot vCPU must start:
 * mode, entry point and register values. Loaders never touch vCPUs; they work
 * on any struct kvmhost_memory, so they run on a standalone map
 * (kvmhost_memory_create()) without KVM.
 *
 * Every field of an image is checked before anything is written: a
 * truncated, malformed or lying image fails with -ENOEXEC and a message that
 * names the field and its value. Where everything goes is planned and checked
 * first too (inside guest RAM, no overlaps, the protocol's address limits);
 * only then is guest memory written, through the checked
 * kvmhost_memory_write(). A failed call leaves guest memory as it was (unless
 * another thread removes memory regions during the call).
 *
 * Guest RAM, for placement: the writable regions of the memory map,
 * intersected with the KVMHOST_X86_E820_RAM entries of the e820 map when the
 * caller gives one (kvmhost_x86_boot_options.e820). The same e820 map is
 * what the guest is told (zero page, PVH memmap, Multiboot mmap); without
 * one, the loaders describe the memory map itself: writable regions as RAM,
 * read-only regions as reserved.
 *
 * Errors (besides the usual -EINVAL for NULL or bad options, with a message):
 *  - -ENOEXEC: the image is not of the expected format, is truncated, or a
 *    header field is inconsistent (bad magic, offset + size beyond the file
 *    or wrapping, filesz > memsz, overlapping segments, too many program
 *    headers, unsupported boot protocol version);
 *  - -ENOTSUP: a valid image asks for something these loaders do not offer
 *    (a Multiboot video mode);
 *  - -EFAULT: something at a fixed address (a segment, the kernel's run-time
 *    area, a structure at a configured address) does not lie in guest RAM;
 *  - -ENOSPC: no room left in guest RAM for the initrd or a module;
 *  - -E2BIG: the options struct, or an element of @c modules or @c e820, is
 *    bigger than this library's and sets fields it does not know;
 *  - -EINVAL also for a command line longer than the kernel accepts, a
 *    configured address that overlaps the kernel or another structure, or
 *    that the protocol cannot express (above 4 GiB for a 32-bit field).
 *
 * Thread safety: the loaders may run on any thread; they use the memory
 * map's thread-safe access functions. Do not run the guest during a load.
 */
#ifndef KVMHOST_X86_BOOT_H
#define KVMHOST_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;
struct kvmhost_vcpu;

/** @name e820 memory types (also used for the PVH memmap and the Multiboot mmap) */
/** @{ */
#define KVMHOST_X86_E820_RAM	  1 /**< usable RAM */
#define KVMHOST_X86_E820_RESERVED 2 /**< reserved (firmware, MMIO holes) */
#define KVMHOST_X86_E820_ACPI	  3 /**< ACPI tables, reclaimable after boot */
#define KVMHOST_X86_E820_NVS	  4 /**< ACPI non-volatile storage */
#define KVMHOST_X86_E820_UNUSABLE 5 /**< bad memory */
/** @} */

/** Most e820 entries a loader accepts (the Linux zero page holds 128). */
#define KVMHOST_X86_E820_MAX 128
/** Most modules (kvmhost_x86_boot_options.modules) a loader accepts. */
#define KVMHOST_X86_BOOT_MAX_MODULES 64
/** Longest command line (or module string) any loader accepts, in bytes
 * without the terminating NUL; a bzImage's own cmdline_size limit applies too. */
#define KVMHOST_X86_BOOT_CMDLINE_MAX 65535

/** Default guest-physical placements (used where the option is 0). @{ */
#define KVMHOST_X86_BOOT_DEFAULT_KERNEL_GPA	 0x100000ull /**< bzImage protected-mode kernel */
#define KVMHOST_X86_BOOT_DEFAULT_BOOT_PARAMS_GPA 0x7000ull   /**< Linux zero page (4 KiB) */
#define KVMHOST_X86_BOOT_DEFAULT_START_INFO_GPA	 0x6000ull   /**< PVH hvm_start_info */
#define KVMHOST_X86_BOOT_DEFAULT_MBI_GPA	 0x9000ull   /**< Multiboot information */
#define KVMHOST_X86_BOOT_DEFAULT_CMDLINE_GPA	 0x20000ull  /**< kernel command line */
/** @} */

/**
 * One entry of the memory map handed to the guest. A plain (unpacked)
 * struct: the loaders convert it to each protocol's layout.
 *
 * Arrays of these carry their element size (kvmhost_x86_boot_options.e820_entry_size,
 * kvmhost_x86_e820_options.e820_entry_size), so the struct may grow at its
 * end: set the size to sizeof(struct kvmhost_x86_e820_entry). An older
 * caller's smaller element reads the missing fields as zero; a newer
 * caller's bigger one is accepted when the fields this library does not
 * know are zero (-E2BIG otherwise); arrays the library fills get the fields
 * it knows, the rest of each element zeroed. Rules in docs/architecture.md
 * (ABI rules).
 */
struct kvmhost_x86_e820_entry {
	uint64_t addr; /**< guest-physical start */
	uint64_t size; /**< bytes; non-zero, addr + size must not wrap */
	uint32_t type; /**< KVMHOST_X86_E820_* (any non-zero value is passed through) */
};

/** A boot module (Multiboot module, PVH modlist entry). An element of
 * kvmhost_x86_boot_options.modules, whose element size is
 * kvmhost_x86_boot_options.module_size (rules as struct kvmhost_x86_e820_entry). */
struct kvmhost_x86_boot_module {
	const void *data;    /**< contents; copied into guest memory */
	size_t size;	     /**< bytes; non-zero */
	const char *cmdline; /**< string handed with it (Multiboot "string", PVH cmdline_paddr); may be NULL */
};

/** Which loader handled an image. */
enum kvmhost_x86_boot_format {
	KVMHOST_X86_BOOT_BZIMAGE = 1,	/**< Linux bzImage, x86 boot protocol 2.06 or later */
	KVMHOST_X86_BOOT_PVH_ELF = 2,	/**< ELF32/ELF64 with a Xen PHYS32_ENTRY (PVH) note */
	KVMHOST_X86_BOOT_MULTIBOOT = 3, /**< Multiboot v1 kernel (ELF, or a.out kludge) */
	KVMHOST_X86_BOOT_RAW = 4,	/**< raw binary at a caller-chosen address */
};

/**
 * How the boot vCPU must start. In every case RFLAGS = 0x2 (interrupts off),
 * registers not named here are zero, and segments are flat (base 0, limit
 * 4 GiB). See struct kvmhost_x86_boot_info for the register values.
 */
enum kvmhost_x86_entry_kind {
	/** Linux 64-bit boot protocol: long mode, paging on with an identity
	 * map covering at least [0, identity_map_end), a GDT with __BOOT_CS
	 * (0x10, 64-bit code) and __BOOT_DS (0x18); RSI = boot_params_gpa. */
	KVMHOST_X86_ENTRY_LINUX_64 = 1,
	/** Linux 32-bit boot protocol: protected mode, paging off, a GDT in
	 * guest memory with __BOOT_CS (0x10) and __BOOT_DS (0x18) flat;
	 * ESI = boot_params_gpa. */
	KVMHOST_X86_ENTRY_LINUX_32 = 2,
	/** PVH: 32-bit protected mode, paging off, CR4 = 0, TR a 32-bit TSS
	 * (base 0, limit 0x67); EBX = start_info_gpa. No GDT needed. */
	KVMHOST_X86_ENTRY_PVH_32 = 3,
	/** Multiboot: 32-bit protected mode, paging off; EAX = 0x2BADB002,
	 * EBX = mbi_gpa. No GDT needed (the kernel loads its own). */
	KVMHOST_X86_ENTRY_MULTIBOOT_32 = 4,
	/** Raw binary: RIP = entry; the caller chooses the mode
	 * (kvmhost_x86_vcpu_setup_real_mode(), _long_mode(), _protected_mode()). */
	KVMHOST_X86_ENTRY_RAW = 5,
};

/** EAX value a Multiboot kernel receives. */
#define KVMHOST_X86_MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

/** kvmhost_x86_boot_options.flags: start a bzImage at its 32-bit entry
 * (KVMHOST_X86_ENTRY_LINUX_32) even when it offers the 64-bit one. */
#define KVMHOST_X86_BOOT_LINUX_ENTRY_32 (1u << 0)

/**
 * What to hand the kernel and where to put things. Size rules as every
 * options struct (the size field first; a NULL options pointer means all
 * defaults). Inputs a loader's protocol cannot carry are refused (-EINVAL):
 * modules for a bzImage; command line, initrd or modules for a raw binary.
 * Placement fields a loader does not use are ignored.
 */
struct kvmhost_x86_boot_options {
	size_t size;	     /**< sizeof(struct kvmhost_x86_boot_options) */
	const char *cmdline; /**< kernel command line (copied); NULL for none */
	const void *initrd;  /**< initrd / initramfs contents (copied); NULL for none. PVH: module 0;
				  Multiboot: module 0 (with no string) */
	size_t initrd_size;  /**< bytes; non-zero exactly when initrd is set */
	const struct kvmhost_x86_boot_module *modules; /**< PVH and Multiboot modules, after the initrd;
							    @c module_count elements of @c module_size bytes */
	uint32_t module_count;			       /**< entries in modules; at most KVMHOST_X86_BOOT_MAX_MODULES */
	uint32_t e820_count;			       /**< entries in e820; at most KVMHOST_X86_E820_MAX */
	const struct kvmhost_x86_e820_entry *e820;     /**< the guest's memory map (see the file comment),
							    @c e820_count elements of @c e820_entry_size bytes;
							    entries must not overlap. NULL: derived from the map */
	uint32_t flags;				       /**< KVMHOST_X86_BOOT_* flags */
	uint64_t kernel_gpa;	  /**< bzImage: where the protected-mode kernel goes, 4 KiB aligned (0:
				       KVMHOST_X86_BOOT_DEFAULT_KERNEL_GPA); only a relocatable kernel may move.
				       ELF and Multiboot kernels go where their headers say. */
	uint64_t boot_params_gpa; /**< bzImage: the zero page (0: default 0x7000), 4 KiB aligned */
	uint64_t start_info_gpa;  /**< PVH: hvm_start_info, then the modlist and the module strings
				       (0: default 0x6000), 8-byte aligned */
	uint64_t mbi_gpa;	  /**< Multiboot: the information structure, then the module list and
				       strings (0: default 0x9000), 8-byte aligned. With 0 (and memmap_gpa
				       0) a default place the kernel or another structure covers, as a
				       kernel loaded at 0x8000 does, moves the block and its map to the
				       lowest free RAM from 4 KiB (PVH's start_info likewise) */
	uint64_t memmap_gpa;	  /**< PVH memmap / Multiboot mmap (0: right after the start_info or MBI
				       block), 8-byte aligned */
	uint64_t cmdline_gpa;	  /**< the command line (0: default 0x20000) */
	uint64_t initrd_gpa;	  /**< the initrd, 4 KiB aligned (0: placed automatically: as high as the
				       protocol allows for bzImage and PVH, right after the kernel for Multiboot) */
	uint64_t acpi_rsdp_gpa;	  /**< handed to the kernel (zero page acpi_rsdp_addr, PVH rsdp_paddr) when
				       non-zero */
	/** Bytes per element of @c modules: sizeof(struct kvmhost_x86_boot_module) as the caller knows it; 0
	 * (what callers built before this field pass): the first version's size. Below that or above 65536:
	 * -EINVAL; a bigger element whose bytes past this library's struct are not zero: -E2BIG. Added after
	 * the first version's last field, so callers built before it still work. */
	size_t module_size;
	/** Bytes per element of @c e820: sizeof(struct kvmhost_x86_e820_entry) as the caller knows it; rules
	 * as @c module_size. */
	size_t e820_entry_size;
};

/**
 * Result of a load: where things went and how to start the boot vCPU.
 * Output struct with a size field: set size = sizeof(struct
 * kvmhost_x86_boot_info) before the call; the library writes at most that
 * many bytes (an older caller gets a prefix; bytes a newer caller knows and
 * this library does not are zeroed). Written only on success.
 */
struct kvmhost_x86_boot_info {
	size_t size;			     /**< set by the caller: sizeof(struct kvmhost_x86_boot_info) */
	enum kvmhost_x86_boot_format format; /**< the loader used */
	enum kvmhost_x86_entry_kind kind;    /**< CPU mode and register convention at entry */
	uint64_t entry;			     /**< RIP / EIP */
	uint64_t rax;			     /**< initial RAX (Multiboot: 0x2BADB002), else 0 */
	uint64_t rbx;			     /**< initial RBX (PVH: start_info; Multiboot: MBI), else 0 */
	uint64_t rsi;			     /**< initial RSI (Linux: zero page), else 0 */
	uint64_t boot_params_gpa;	     /**< Linux zero page, 0 otherwise */
	uint64_t start_info_gpa;	     /**< PVH hvm_start_info, 0 otherwise */
	uint64_t mbi_gpa;		     /**< Multiboot information, 0 otherwise */
	uint64_t kernel_start;		     /**< lowest guest-physical address of the kernel: its
						  segments or image */
	uint64_t kernel_end;		     /**< end (exclusive) of the kernel, including memory it claims
						  beyond the image (bss; a bzImage's init_size area) */
	uint64_t initrd_gpa;		     /**< where the initrd went, 0 if none */
	uint64_t initrd_size;		     /**< its size, 0 if none */
	uint64_t cmdline_gpa;		     /**< where the command line went, 0 if none */
	uint64_t cmdline_size;		     /**< its size including the NUL, 0 if none */
	uint64_t identity_map_end;	     /**< end of the highest of: the kernel (with bss or run-time
						  area), the boot structures and the command line - not the
						  initrd or modules. LINUX_64: the page tables must identity-map
						  at least [0, identity_map_end) */
	uint32_t module_count;		     /**< modules handed over (initrd included for PVH/Multiboot) */
};

/**
 * Load a Linux bzImage (boot protocol 2.06 or later, LOADED_HIGH) per the x86
 * boot protocol: the protected-mode kernel at kernel_gpa, a zero page built
 * from the image's setup header (type_of_loader 0xff, vid_mode 0xffff,
 * command line, initrd, e820 table, ACPI RSDP), the command line, and the
 * initrd placed as high as initrd_addr_max allows (anywhere in RAM when the
 * kernel sets XLF_CAN_BE_LOADED_ABOVE_4G and enters at 64 bits), page
 * aligned. The kernel's run-time area (pref_address or kernel_gpa rounded up
 * to kernel_alignment, plus init_size) must lie in RAM and is kept free.
 * Entry: KVMHOST_X86_ENTRY_LINUX_64 at kernel_gpa + 0x200 when the kernel has
 * XLF_KERNEL_64 (protocol 2.12+), else KVMHOST_X86_ENTRY_LINUX_32 at
 * kernel_gpa (also forced by KVMHOST_X86_BOOT_LINUX_ENTRY_32).
 * @param opts may be NULL (defaults, no command line, no initrd)
 * @param info receives the result; its size field must be set
 * @param mem the VM's guest memory (memory.h)
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @return 0 or a negative errno (see the file comment)
 */
KVMHOST_API int kvmhost_x86_boot_load_bzimage(struct kvmhost_memory *mem, const void *image, size_t image_size,
					      const struct kvmhost_x86_boot_options *opts,
					      struct kvmhost_x86_boot_info *info);

/**
 * Load an ELF kernel (ELF64 or ELF32, little-endian x86, ET_EXEC) through its
 * PVH entry: every PT_LOAD segment at its p_paddr (below 4 GiB; bytes past
 * p_filesz zeroed), and an hvm_start_info (magic 0x336ec578, version 1) with
 * the command line, a modlist (the initrd first, then the modules, each page
 * aligned as high as possible below 4 GiB) and a memmap made from the e820
 * map. The entry is the value of the Xen PHYS32_ENTRY note (type 18, name
 * "Xen") in a PT_NOTE segment; it must lie in a loaded segment.
 * Entry: KVMHOST_X86_ENTRY_PVH_32, EBX = start_info_gpa.
 * @param mem the VM's guest memory (memory.h)
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @param opts the options (struct kvmhost_x86_boot_options; size rules as every options struct)
 * @param info receives where things were put and the entry state (struct kvmhost_x86_boot_info)
 * @return 0 or a negative errno (see the file comment); -ENOEXEC for an ELF
 *         without the note
 */
KVMHOST_API int kvmhost_x86_boot_load_pvh(struct kvmhost_memory *mem, const void *image, size_t image_size,
					  const struct kvmhost_x86_boot_options *opts,
					  struct kvmhost_x86_boot_info *info);

/**
 * Load a Multiboot (0.6.96) kernel. Its header must lie 4-byte aligned in the
 * first 8192 bytes with magic 0x1BADB002 and a valid checksum. With flag 16
 * (a.out kludge) the header's addresses say what to load where (file from
 * the header's position minus header_addr - load_addr, up to load_end_addr
 * or the end of the file; zeroes up to bss_end_addr; entry_addr inside the
 * loaded part); otherwise the image must be an ELF whose PT_LOAD segments go
 * to their p_paddr, entering at e_entry. Requirement flags 0 (page-aligned
 * modules) and 1 (memory information) are honoured; any other requirement
 * bit (such as 2, video mode) gives -ENOTSUP.
 * The information structure has flags MEMORY, CMDLINE (when a command line
 * is given), MODS, MMAP and BOOT_LOADER_NAME; mem_lower/mem_upper come from
 * the e820 map; modules (the initrd first, then opts->modules) go page
 * aligned right after the kernel, below 4 GiB.
 * Entry: KVMHOST_X86_ENTRY_MULTIBOOT_32, EAX = 0x2BADB002, EBX = mbi_gpa.
 * @param mem the VM's guest memory (memory.h)
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @param opts the options (struct kvmhost_x86_boot_options; size rules as every options struct)
 * @param info receives where things were put and the entry state (struct kvmhost_x86_boot_info)
 * @return 0 or a negative errno (see the file comment)
 */
KVMHOST_API int kvmhost_x86_boot_load_multiboot(struct kvmhost_memory *mem, const void *image, size_t image_size,
						const struct kvmhost_x86_boot_options *opts,
						struct kvmhost_x86_boot_info *info);

/**
 * Copy a raw binary to @p gpa, which must lie with the whole image in guest
 * RAM, and report entry = @p gpa, kind KVMHOST_X86_ENTRY_RAW. A command line,
 * initrd or modules in @p opts give -EINVAL (a raw binary has no protocol to
 * receive them); the e820 map only limits where RAM is.
 * @param image_size non-zero
 * @param mem the VM's guest memory (memory.h)
 * @param image the image in memory
 * @param gpa a guest physical address
 * @param opts the options (struct kvmhost_x86_boot_options; size rules as every options struct)
 * @param info receives where things were put and the entry state (struct kvmhost_x86_boot_info)
 * @return 0, -EINVAL, -EFAULT (outside RAM)
 */
KVMHOST_API int kvmhost_x86_boot_load_raw(struct kvmhost_memory *mem, const void *image, size_t image_size,
					  uint64_t gpa, const struct kvmhost_x86_boot_options *opts,
					  struct kvmhost_x86_boot_info *info);

/**
 * Tell which loader fits an image: a bzImage (boot flag 0xAA55 and "HdrS"),
 * an ELF with a PVH note (preferred when an ELF also has a Multiboot
 * header), or a Multiboot kernel. Checks only what choosing needs: the
 * loader may still refuse the image.
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @return a positive enum kvmhost_x86_boot_format; -ENOEXEC when no loader
 *         fits (raw binaries are never detected); -EINVAL for NULL
 */
KVMHOST_API int kvmhost_x86_boot_detect(const void *image, size_t image_size);

/**
 * Detect the format (kvmhost_x86_boot_detect()) and call its loader.
 * @param mem the VM's guest memory (memory.h)
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @param opts the options (struct kvmhost_x86_boot_options; size rules as every options struct)
 * @param info receives where things were put and the entry state (struct kvmhost_x86_boot_info)
 * @return as the loader; -ENOEXEC when no loader fits
 */
KVMHOST_API int kvmhost_x86_boot_load(struct kvmhost_memory *mem, const void *image, size_t image_size,
				      const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info);

/**
 * Check, without guest memory or a VM, that a loader takes an image with
 * these options: the same parsing of every header field, the same placement
 * of the kernel, initrd, modules, command line and boot information, and the
 * same errors and messages as the load itself, in RAM laid out as
 * @p opts->e820 says (its RAM entries are the guest's RAM; build the map with
 * kvmhost_x86_e820_from_ranges() from the ranges kvmhost_x86_plan_ram()
 * gives, as the VM will have them). Nothing is written anywhere. A VMM calls
 * it before it opens KVM, so that a bad image is a usage error on any host,
 * with or without /dev/kvm. A load into memory laid out the same way then
 * places everything where @p info says.
 * @param format 0 to detect it (kvmhost_x86_boot_detect()), else
 *               KVMHOST_X86_BOOT_BZIMAGE, _PVH_ELF or _MULTIBOOT (raw binaries
 *               have no header to check: -EINVAL)
 * @param opts   as for the loaders, with a non-empty e820 map (-EINVAL without)
 * @param info   NULL, or filled as the load would fill it (size rules as there)
 * @param image the image in memory
 * @param image_size bytes at @p image
 * @return 0; otherwise what the load would return (-ENOEXEC, -EINVAL,
 *         -EFAULT, -ENOSPC, ...) with the load's message
 */
KVMHOST_API int kvmhost_x86_boot_check(int format, const void *image, size_t image_size,
				       const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info);

/**
 * Put a vCPU in 32-bit protected mode with paging off, the way the PVH and
 * Multiboot entries want it: CR0 = PE|ET, CR4 = 0, EFER = 0; CS a flat 32-bit
 * code segment (selector 0x10), DS/ES/FS/GS/SS flat 32-bit data (0x18), TR a
 * busy 32-bit TSS with base 0 and limit 0x67, no GDT or IDT in memory (the
 * guest must load its own before reloading a segment or taking a fault);
 * RFLAGS = 0x2, EIP = @p entry, EAX = @p eax, EBX = @p ebx, other registers
 * zero. A minimal boot helper for PVH_32 and MULTIBOOT_32 (not LINUX_32,
 * which needs a GDT in memory).
 * @param vcpu the vCPU
 * @param entry the 32-bit entry point (EIP)
 * @param eax the value EAX starts with (the boot protocol's magic)
 * @param ebx the value EBX starts with (the boot protocol's information pointer)
 * @return 0, -EINVAL for NULL, or the register ioctls' errors
 */
KVMHOST_API int kvmhost_x86_vcpu_setup_protected_mode(struct kvmhost_vcpu *vcpu, uint32_t entry, uint32_t eax,
						      uint32_t ebx);

#ifdef __cplusplus
}
#endif

#endif

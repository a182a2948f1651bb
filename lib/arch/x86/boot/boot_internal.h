/*
 * Shared machinery of the x86 kernel loaders (lib/arch/x86/boot): a load
 * "plan" that collects guest RAM, claimed ranges and pending writes, so a
 * loader can check every header field and every placement before it writes
 * a single byte of guest memory; little-endian field readers that never read
 * past the image; and the ELF program-header parser used by the PVH and
 * Multiboot loaders.
 */
#ifndef KVMHOST_X86_BOOT_INTERNAL_H
#define KVMHOST_X86_BOOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../../core/internal.h"
#include <kvmhost/memory.h>
#include <kvmhost/x86_boot.h>

#define KH_BOOT_4G   (1ull << 32)
#define KH_BOOT_PAGE 4096ull

/* Failure with the public function's name in the message. */
#define KH_BOOT_FAIL(b, err, ...) kh_fail((err), (b)->func, __VA_ARGS__)

static inline uint16_t kh_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t kh_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t kh_le64(const uint8_t *p)
{
	return (uint64_t)kh_le32(p) | ((uint64_t)kh_le32(p + 4) << 32);
}

static inline void kh_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void kh_put32(uint8_t *p, uint32_t v)
{
	kh_put16(p, (uint16_t)v);
	kh_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void kh_put64(uint8_t *p, uint64_t v)
{
	kh_put32(p, (uint32_t)v);
	kh_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t kh_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint64_t kh_align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

/* [start, end): end may be 2^64 only as "no limit" in allocations. */
struct kh_range {
	uint64_t start, end;
};

struct kh_claim {
	uint64_t start, end;
	char what[48];
};

/* One pending write: len bytes of src (NULL: zeroes) to gpa. */
struct kh_write {
	uint64_t gpa;
	const void *src;
	uint64_t len;
};

/* A load in progress. Nothing touches guest memory before kh_boot_commit(). */
struct kh_boot {
	const char *func; /* public function named in messages */
	struct kvmhost_memory *mem;
	struct kvmhost_x86_boot_options o; /* caller's options, zero-extended */
	size_t cmdline_len;		   /* strlen(o.cmdline) when set */
	struct kh_range *ram;		   /* usable RAM: sorted, adjacent ranges merged */
	size_t ram_count;
	struct kvmhost_x86_e820_entry *e820; /* the map the guest is told, sorted by address */
	uint32_t e820_count;
	struct kh_claim *claims;
	size_t claim_count, claim_cap;
	struct kh_write *writes;
	size_t write_count, write_cap;
	struct kvmhost_x86_boot_module *modules; /* the caller's modules and e820 map in this library's layout */
	struct kvmhost_x86_e820_entry *e820_in;	 /* (o.modules and o.e820 point here); freed by kh_boot_end() */
	void **owned;				 /* host buffers freed by kh_boot_end() */
	size_t owned_count, owned_cap;
};

/*
 * Start a load: check the common arguments (mem, image, info and its size
 * field), copy and check the options (command line and module strings within
 * KVMHOST_X86_BOOT_CMDLINE_MAX, initrd pairing, modules, e820 entries), and
 * collect guest RAM. On failure everything is released already.
 */
int kh_boot_begin(struct kh_boot *b, const char *func, struct kvmhost_memory *mem, const void *image,
		  const struct kvmhost_x86_boot_options *opts, const struct kvmhost_x86_boot_info *info);
void kh_boot_end(struct kh_boot *b);

/*
 * Claim [start, start + len) for @what: it must lie inside guest RAM
 * (-EFAULT) and not overlap an earlier claim (@overlap_err, which is
 * -ENOEXEC-style for overlaps inside an image and EINVAL for placements the
 * caller chose). len 0 claims nothing.
 */
int kh_boot_claim(struct kh_boot *b, uint64_t start, uint64_t len, const char *what, int overlap_err);

/*
 * Find and claim @size bytes, @align aligned, inside RAM and
 * [@lo, @hi) (hi exclusive; 0 means no limit), avoiding every claim:
 * the highest such place when @high, else the lowest. -ENOSPC if none.
 */
int kh_boot_alloc(struct kh_boot *b, uint64_t size, uint64_t align, uint64_t lo, uint64_t hi, int high,
		  const char *what, uint64_t *gpa);

/* Queue a write (src NULL: zero fill). The source must stay valid until commit. */
int kh_boot_write(struct kh_boot *b, uint64_t gpa, const void *src, uint64_t len);
/* A zeroed host buffer freed by kh_boot_end(); NULL (with the message set) on failure. */
void *kh_boot_zalloc(struct kh_boot *b, size_t size);
/* Perform the queued writes in order. */
int kh_boot_commit(struct kh_boot *b);

/* A loader's planning step: validate the image and stage every write. */
typedef int (*kh_boot_plan_fn)(struct kh_boot *b, const uint8_t *img, size_t size, struct kvmhost_x86_boot_info *res);

/* The whole load for a loader whose plan needs nothing but the image:
 * begin, plan, commit (only if the plan succeeded), report, end. With
 * func == kh_boot_check_func, mem is NULL and RAM is opts->e820's RAM
 * entries: begin and plan only (kvmhost_x86_boot_check()), nothing written. */
extern const char kh_boot_check_func[];
int kh_boot_run(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info, kh_boot_plan_fn plan);

/*
 * Claim and queue the command line at o.cmdline_gpa (default 0x20000) when
 * one was given; @max_end is the exclusive limit its end must stay below
 * (0: none). Sets *gpa and *size (with the NUL), both 0 without a command line.
 */
int kh_boot_place_cmdline(struct kh_boot *b, uint64_t max_end, uint64_t *gpa, uint64_t *size);

/*
 * The information block of PVH and Multiboot (a fixed header, then the module
 * list and the module strings) and the memory map after it: @gpa (the
 * caller's option, or @default_gpa when 0) and o.memmap_gpa (or right after
 * the block) must be 8-byte aligned and lie below 4 GiB; both are claimed.
 * @names: the option's name for messages ("start_info_gpa"), then what the
 * block and the map are ("the PVH start_info", "the PVH memmap").
 * Sets the areas' addresses and sizes and zeroed host buffers to fill (the
 * map with @map_entry_size bytes per e820 entry); 0 or KH_BOOT_FAIL's error.
 */
struct kh_boot_info_area {
	uint64_t gpa, size, map_gpa, map_size;
	uint8_t *block, *map;
};
int kh_boot_place_info(struct kh_boot *b, uint64_t gpa, uint64_t default_gpa, uint64_t size, uint64_t map_entry_size,
		       const char *const names[3], struct kh_boot_info_area *a);

/* Claim + queue the initrd and modules as modules 0..n-1 (PVH, Multiboot). */
struct kh_boot_mod {
	uint64_t gpa, size;
	const char *cmdline; /* NULL for none */
};
int kh_boot_place_modules(struct kh_boot *b, int high, uint64_t lo, uint64_t hi, struct kh_boot_mod *mods,
			  uint32_t *count);

/* Copy a finished result into the caller's size-tagged info struct. */
void kh_boot_info_out(const struct kvmhost_x86_boot_info *full, struct kvmhost_x86_boot_info *info);

/* Log a one-line summary of a successful load at INFO level. */
void kh_boot_log_success(const struct kh_boot *b, const struct kvmhost_x86_boot_info *r);

/* ELF */

#define KH_ELF_MAX_PHDRS 64
#define KH_PT_LOAD	 1
#define KH_PT_NOTE	 4

struct kh_elf_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct kh_elf {
	int class64;
	uint16_t machine;
	uint64_t entry;
	uint32_t phnum;
	struct kh_elf_phdr ph[KH_ELF_MAX_PHDRS];
	uint64_t load_start, load_end; /* span of the PT_LOAD segments (p_paddr .. + p_memsz) */
};

/* Does the image start with the ELF magic? */
int kh_elf_is_elf(const uint8_t *img, size_t size);

/*
 * Parse and check an ELF header and its program headers: identification
 * (ELF32/ELF64, little-endian, version 1), ET_EXEC, x86 or x86-64, phentsize,
 * phnum within KH_ELF_MAX_PHDRS, the table and every PT_LOAD/PT_NOTE segment
 * inside the image without wrapping, filesz <= memsz, at least one PT_LOAD,
 * no two PT_LOAD segments overlapping in physical memory. -ENOEXEC with the
 * field named otherwise.
 */
int kh_elf_parse(const char *func, const uint8_t *img, size_t size, struct kh_elf *e);

/*
 * Look for a note (@name, @type) in the PT_NOTE segments, checking every note
 * header on the way. 1 (with *desc and *descsz set) when found, 0 when absent,
 * -ENOEXEC for a malformed note.
 */
int kh_elf_find_note(const char *func, const uint8_t *img, const struct kh_elf *e, const char *name, uint32_t type,
		     const uint8_t **desc, uint32_t *descsz);

/* Claim and queue every PT_LOAD segment (file bytes, then zeroes to memsz). */
int kh_elf_load(struct kh_boot *b, const uint8_t *img, const struct kh_elf *e);

/* Is @addr inside the file-backed part of some PT_LOAD segment? */
int kh_elf_addr_loaded(const struct kh_elf *e, uint64_t addr);

/* Multiboot header search (for the loader and for detection) */

#define KH_MB_MAGIC  0x1BADB002u
#define KH_MB_SEARCH 8192u

/*
 * Find the first 4-byte aligned Multiboot header with a valid checksum in
 * the first 8192 bytes. 1 and *off set when found; 0 when not, with
 * *bad_off set to the first magic whose checksum failed (or SIZE_MAX).
 */
int kh_mb_find_header(const uint8_t *img, size_t size, size_t *off, size_t *bad_off);

/* The loaders proper, shared by the public entry points and kvmhost_x86_boot_load(). */
int kh_boot_bzimage(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		    const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info);
int kh_boot_pvh(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info);
int kh_boot_multiboot(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		      const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info);

#endif

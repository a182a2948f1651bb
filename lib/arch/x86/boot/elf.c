/*
 * ELF program headers for the PVH and Multiboot loaders: a strict parser of
 * ELF32/ELF64 little-endian x86 executables that refuses any field pointing
 * outside the image or wrapping around, a note walker (for the Xen
 * PHYS32_ENTRY note), and the queueing of PT_LOAD segments at p_paddr.
 * Section headers are never needed and never read.
 */
#include <stdio.h>
#include <string.h>

#include "boot_internal.h"

#define ELF_ET_EXEC   2
#define ELF_EM_386    3
#define ELF_EM_X86_64 62
#define PN_XNUM	      0xffff

int kh_elf_is_elf(const uint8_t *img, size_t size)
{
	return size >= 4 && img[0] == 0x7f && img[1] == 'E' && img[2] == 'L' && img[3] == 'F';
}

static int kh_elf_read_phdr(const char *func, size_t size, int class64, uint32_t i, const uint8_t *p,
			    struct kh_elf_phdr *ph)
{
	uint64_t end;

	if (class64) {
		ph->type = kh_le32(p);
		ph->offset = kh_le64(p + 8);
		ph->vaddr = kh_le64(p + 16);
		ph->paddr = kh_le64(p + 24);
		ph->filesz = kh_le64(p + 32);
		ph->memsz = kh_le64(p + 40);
		ph->align = kh_le64(p + 48);
	} else {
		ph->type = kh_le32(p);
		ph->offset = kh_le32(p + 4);
		ph->vaddr = kh_le32(p + 8);
		ph->paddr = kh_le32(p + 12);
		ph->filesz = kh_le32(p + 16);
		ph->memsz = kh_le32(p + 20);
		ph->align = kh_le32(p + 28);
	}
	if (ph->type != KH_PT_LOAD && ph->type != KH_PT_NOTE)
		return 0;
	if (kh_add_overflows(ph->offset, ph->filesz, &end) || end > size)
		return kh_fail(
		    ENOEXEC, func,
		    "program header %u: p_offset 0x%llx + p_filesz 0x%llx lies beyond the image of %zu bytes", i,
		    (unsigned long long)ph->offset, (unsigned long long)ph->filesz, size);
	if (ph->type == KH_PT_LOAD) {
		if (ph->filesz > ph->memsz)
			return kh_fail(ENOEXEC, func,
				       "program header %u: p_filesz 0x%llx is larger than p_memsz 0x%llx", i,
				       (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
		if (kh_add_overflows(ph->paddr, ph->memsz, &end))
			return kh_fail(ENOEXEC, func, "program header %u: p_paddr 0x%llx + p_memsz 0x%llx wraps around",
				       i, (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
	}
	return 0;
}

int kh_elf_parse(const char *func, const uint8_t *img, size_t size, struct kh_elf *e)
{
	uint32_t ehsize, phentsize, phnum, nload = 0;
	uint64_t phoff, table, end;
	uint16_t type;
	int r;

	memset(e, 0, sizeof(*e));
	if (size < 16)
		return kh_fail(ENOEXEC, func, "image of %zu bytes is too small for an ELF identification (16 bytes)",
			       size);
	if (!kh_elf_is_elf(img, size))
		return kh_fail(ENOEXEC, func, "not an ELF: magic %02x %02x %02x %02x, expected 7f 45 4c 46", img[0],
			       img[1], img[2], img[3]);
	if (img[4] != 1 && img[4] != 2)
		return kh_fail(ENOEXEC, func, "EI_CLASS %u is neither ELFCLASS32 (1) nor ELFCLASS64 (2)", img[4]);
	if (img[5] != 1)
		return kh_fail(ENOEXEC, func, "EI_DATA %u: only little-endian (1) ELF is supported", img[5]);
	if (img[6] != 1)
		return kh_fail(ENOEXEC, func, "EI_VERSION %u, expected 1", img[6]);
	e->class64 = img[4] == 2;
	ehsize = e->class64 ? 64 : 52;
	if (size < ehsize)
		return kh_fail(ENOEXEC, func, "ELF header truncated: the image has %zu bytes, an ELF%d header %u", size,
			       e->class64 ? 64 : 32, ehsize);
	type = kh_le16(img + 16);
	e->machine = kh_le16(img + 18);
	if (type != ELF_ET_EXEC)
		return kh_fail(ENOEXEC, func, "e_type %u is not ET_EXEC (2)", type);
	if (e->machine != ELF_EM_386 && e->machine != ELF_EM_X86_64)
		return kh_fail(ENOEXEC, func, "e_machine %u is neither EM_386 (3) nor EM_X86_64 (62)", e->machine);
	if (kh_le32(img + 20) != 1)
		return kh_fail(ENOEXEC, func, "e_version %u, expected 1", kh_le32(img + 20));
	if (e->class64) {
		e->entry = kh_le64(img + 24);
		phoff = kh_le64(img + 32);
		phentsize = kh_le16(img + 54);
		phnum = kh_le16(img + 56);
	} else {
		e->entry = kh_le32(img + 24);
		phoff = kh_le32(img + 28);
		phentsize = kh_le16(img + 42);
		phnum = kh_le16(img + 44);
	}
	if (phentsize != (e->class64 ? 56u : 32u))
		return kh_fail(ENOEXEC, func, "e_phentsize %u, expected %u", phentsize, e->class64 ? 56u : 32u);
	if (!phnum)
		return kh_fail(ENOEXEC, func, "no program headers (e_phnum 0)");
	if (phnum == PN_XNUM || phnum > KH_ELF_MAX_PHDRS)
		return kh_fail(ENOEXEC, func, "e_phnum %u exceeds the limit of %u program headers", phnum,
			       KH_ELF_MAX_PHDRS);
	table = (uint64_t)phnum * phentsize;
	if (kh_add_overflows(phoff, table, &end) || end > size)
		return kh_fail(ENOEXEC, func,
			       "program headers at e_phoff 0x%llx (%u x %u bytes) lie beyond the image of %zu bytes",
			       (unsigned long long)phoff, phnum, phentsize, size);
	e->phnum = phnum;
	e->load_start = UINT64_MAX;
	for (uint32_t i = 0; i < phnum; i++) {
		struct kh_elf_phdr *ph = &e->ph[i];

		r = kh_elf_read_phdr(func, size, e->class64, i, img + phoff + (uint64_t)i * phentsize, ph);
		if (r < 0)
			return r;
		if (ph->type != KH_PT_LOAD || !ph->memsz)
			continue;
		for (uint32_t j = 0; j < i; j++) {
			const struct kh_elf_phdr *q = &e->ph[j];

			if (q->type == KH_PT_LOAD && q->memsz && ph->paddr < q->paddr + q->memsz &&
			    q->paddr < ph->paddr + ph->memsz)
				return kh_fail(
				    ENOEXEC, func,
				    "PT_LOAD segments %u [0x%llx, 0x%llx) and %u [0x%llx, 0x%llx) overlap", j,
				    (unsigned long long)q->paddr, (unsigned long long)(q->paddr + q->memsz), i,
				    (unsigned long long)ph->paddr, (unsigned long long)(ph->paddr + ph->memsz));
		}
		if (ph->paddr < e->load_start)
			e->load_start = ph->paddr;
		if (ph->paddr + ph->memsz > e->load_end)
			e->load_end = ph->paddr + ph->memsz;
		nload++;
	}
	if (!nload)
		return kh_fail(ENOEXEC, func, "no PT_LOAD segment with a non-zero p_memsz");
	return 0;
}

int kh_elf_find_note(const char *func, const uint8_t *img, const struct kh_elf *e, const char *name, uint32_t type,
		     const uint8_t **desc, uint32_t *descsz)
{
	size_t name_len = strlen(name) + 1;

	for (uint32_t i = 0; i < e->phnum; i++) {
		const struct kh_elf_phdr *ph = &e->ph[i];
		const uint8_t *p;
		uint64_t left = ph->filesz, align = ph->align == 8 ? 8 : 4;

		if (ph->type != KH_PT_NOTE)
			continue;
		p = img + ph->offset; /* the parser checked p_offset only for PT_NOTE and PT_LOAD */
		while (left) {
			uint32_t nsz, dsz, ntype;
			uint64_t name_pad, need, step;

			if (left < 12)
				return kh_fail(ENOEXEC, func,
					       "PT_NOTE %u: %llu bytes left at offset 0x%llx, a note header needs 12",
					       i, (unsigned long long)left, (unsigned long long)(p - img));
			nsz = kh_le32(p);
			dsz = kh_le32(p + 4);
			ntype = kh_le32(p + 8);
			name_pad = kh_align_up(nsz, align);
			need = 12 + name_pad + dsz;
			if (need > left)
				return kh_fail(ENOEXEC, func,
					       "PT_NOTE %u: note at offset 0x%llx (namesz %u, descsz %u) runs past the "
					       "segment's %llu remaining bytes",
					       i, (unsigned long long)(p - img), nsz, dsz, (unsigned long long)left);
			if (ntype == type && nsz == name_len && memcmp(p + 12, name, name_len) == 0) {
				*desc = p + 12 + name_pad;
				*descsz = dsz;
				return 1;
			}
			/* The last note's descriptor padding may be missing. */
			step = need + (kh_align_up(dsz, align) - dsz);
			if (step > left)
				step = left;
			p += step;
			left -= step;
		}
	}
	return 0;
}

int kh_elf_load(struct kh_boot *b, const uint8_t *img, const struct kh_elf *e)
{
	for (uint32_t i = 0; i < e->phnum; i++) {
		const struct kh_elf_phdr *ph = &e->ph[i];
		char what[40];
		int r;

		if (ph->type != KH_PT_LOAD || !ph->memsz)
			continue;
		snprintf(what, sizeof(what), "PT_LOAD segment %u", i);
		r = kh_boot_claim(b, ph->paddr, ph->memsz, what, ENOEXEC);
		if (r < 0)
			return r;
		r = kh_boot_write(b, ph->paddr, img + ph->offset, ph->filesz);
		if (r >= 0)
			r = kh_boot_write(b, ph->paddr + ph->filesz, NULL, ph->memsz - ph->filesz);
		if (r < 0)
			return r;
	}
	return 0;
}

int kh_elf_addr_loaded(const struct kh_elf *e, uint64_t addr)
{
	for (uint32_t i = 0; i < e->phnum; i++) {
		const struct kh_elf_phdr *ph = &e->ph[i];

		if (ph->type == KH_PT_LOAD && addr >= ph->paddr && addr - ph->paddr < ph->filesz)
			return 1;
	}
	return 0;
}

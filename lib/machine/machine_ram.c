/*
 * A machine's RAM backing as its options name it, for the architecture's half to place in regions
 * (machine_internal.h): anonymous (memfd when shared), memfd, hugetlbfs, or a RAM file, which is opened or
 * made here, grown to ram_size, and removed again when create fails after making it. The regions hold their
 * own duplicates of the file's fd: ours is closed once they are added.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kvmhost/memory.h>

#include "../core/internal.h"
#include "machine_internal.h"

static int open_ram_file(struct kvmhost_machine *m)
{
	struct stat st;
	int fd = open(m->cfg.ram_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0)
		m->ram_file_created = 1;
	else if (errno == EEXIST)
		fd = open(m->cfg.ram_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return KH_FAIL_ERRNO("ram_path %s", m->cfg.ram_path);
	m->ram_fd = fd;
	if (fstat(fd, &st) < 0)
		return KH_FAIL_ERRNO("ram_path %s: fstat", m->cfg.ram_path);
	if (!S_ISREG(st.st_mode))
		return KH_FAIL(EINVAL, "ram_path %s is not a regular file", m->cfg.ram_path);
	if ((uint64_t)st.st_size < m->cfg.ram_size && ftruncate(fd, (off_t)m->cfg.ram_size) < 0)
		return KH_FAIL_ERRNO("ram_path %s: cannot grow it to %llu bytes", m->cfg.ram_path,
				     (unsigned long long)m->cfg.ram_size);
	return 0;
}

int kh_machine_ram_options(struct kvmhost_machine *m, struct kvmhost_memory_options *mo)
{
	const struct kh_machine_config *c = &m->cfg;
	int r;

	*mo = (struct kvmhost_memory_options){.size = sizeof(*mo), .name = c->name, .fd = 0};
	switch (c->ram_backing) {
	case KVMHOST_MACHINE_RAM_ANONYMOUS:
		mo->backing =
		    c->ram_flags & KVMHOST_MACHINE_RAM_SHARED ? KVMHOST_MEMORY_MEMFD : KVMHOST_MEMORY_ANONYMOUS;
		break;
	case KVMHOST_MACHINE_RAM_MEMFD:
		mo->backing = KVMHOST_MEMORY_MEMFD;
		break;
	case KVMHOST_MACHINE_RAM_HUGETLB:
		mo->backing = KVMHOST_MEMORY_HUGETLB;
		mo->hugepage_size = c->hugepage_size;
		break;
	default:
		mo->backing = KVMHOST_MEMORY_FILE;
		if ((r = open_ram_file(m)) < 0)
			return r;
		mo->fd = m->ram_fd;
	}
	/* THP is dropped for a RAM file (the memory layer takes it for anonymous and memfd memory only). */
	mo->flags =
	    (c->ram_flags & KVMHOST_MACHINE_RAM_THP && mo->backing != KVMHOST_MEMORY_FILE ? KVMHOST_MEMORY_THP : 0) |
	    (c->ram_flags & KVMHOST_MACHINE_RAM_PREFAULT ? KVMHOST_MEMORY_PREFAULT : 0) |
	    (c->ram_flags & KVMHOST_MACHINE_RAM_LOG_DIRTY ? KVMHOST_MEMORY_LOG_DIRTY : 0);
	return 0;
}

void kh_machine_ram_added(struct kvmhost_machine *m)
{
	if (m->ram_fd >= 0) { /* the regions hold their own duplicates */
		close(m->ram_fd);
		m->ram_fd = -1;
	}
}

void kh_machine_ram_destroy(struct kvmhost_machine *m)
{
	kh_machine_ram_added(m);
	if (m->ram_file_created && !m->built) /* nothing half-built stays behind */
		unlink(m->cfg.ram_path);
}

/*
 * The files a machine's options name, checked before anything is made (by
 * kvmhost_machine_create() and kvmhost_machine_check()): a block image must
 * exist with the access the device needs, a console file or socket and a new
 * RAM file must be creatable where they are named, and a socket path must
 * fit and must not name something that is not a socket. This needs no KVM,
 * so that a bad path is found as such on any host. The kernel and initrd are
 * checked where they are mapped (machine.c), the image by the architecture.
 * The checks are as good as the moment they run: create still reports what
 * changes after them.
 */
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/internal.h"
#include "machine_internal.h"

/* A new entry can be made in the directory of @path. */
static int check_dir_of(const char *path, const char *func, const char *what)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	if (access(dir, W_OK | X_OK) < 0)
		return kh_fail(errno, func, "%s %s: directory %s", what, path, dir);
	return 0;
}

static int check_blk(const struct kh_mdevice *d, uint32_t i, const char *func)
{
	int mode = d->flags & KVMHOST_MACHINE_DEVICE_READONLY ? R_OK : R_OK | W_OK;
	struct stat st;

	if (access(d->path, mode) < 0 || stat(d->path, &st) < 0)
		return kh_fail(errno, func, "devices[%u] (%s): %s", i, d->id, d->path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return kh_fail(EINVAL, func, "devices[%u] (%s): %s: not a regular file or a block device", i, d->id,
			       d->path);
	if (S_ISREG(st.st_mode) && st.st_size < 512) /* virtio-blk's unit; a block device's size needs opening it */
		return kh_fail(EINVAL, func, "devices[%u] (%s): %s is smaller than one 512-byte sector", i, d->id,
			       d->path);
	return 0;
}

static int check_console(const struct kh_mdevice *d, uint32_t i, const char *func)
{
	char what[64];
	struct stat st;
	int exists = lstat(d->path, &st) == 0;

	snprintf(what, sizeof(what), "devices[%u] (%s):", i, d->id);

	if (d->flags & KVMHOST_MACHINE_DEVICE_SOCKET) {
		if (strlen(d->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return kh_fail(ENAMETOOLONG, func, "devices[%u] (%s): socket path %s: at most %zu bytes", i,
				       d->id, d->path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		if (exists && !S_ISSOCK(st.st_mode))
			return kh_fail(EEXIST, func, "devices[%u] (%s): %s is there and is not a socket", i, d->id,
				       d->path);
		return check_dir_of(d->path, func, what);
	}
	if (exists && S_ISDIR(st.st_mode))
		return kh_fail(EISDIR, func, "devices[%u] (%s): %s", i, d->id, d->path);
	if (exists && access(d->path, W_OK) < 0)
		return kh_fail(errno, func, "devices[%u] (%s): %s", i, d->id, d->path);
	return exists ? 0 : check_dir_of(d->path, func, what);
}

int kh_machine_check_files(struct kvmhost_machine *m)
{
	const struct kh_machine_config *c = &m->cfg;
	const char *func = c->func;
	struct stat st;
	int r;

	for (uint32_t i = 0; i < c->device_count; i++) {
		const struct kh_mdevice *d = &c->devices[i];

		if (d->type == KVMHOST_MACHINE_DEVICE_BLK && (r = check_blk(d, i, func)) < 0)
			return r;
		if (d->type == KVMHOST_MACHINE_DEVICE_CONSOLE && d->path && (r = check_console(d, i, func)) < 0)
			return r;
	}
	if (c->ram_backing != KVMHOST_MACHINE_RAM_FILE)
		return 0;
	if (stat(c->ram_path, &st) < 0)
		return check_dir_of(c->ram_path, func, "ram_path");
	if (!S_ISREG(st.st_mode))
		return kh_fail(EINVAL, func, "ram_path %s is not a regular file", c->ram_path);
	if (access(c->ram_path, R_OK | W_OK) < 0)
		return kh_fail(errno, func, "ram_path %s", c->ram_path);
	return 0;
}

/*
 * fw_cfg (fw_cfg.h): the traditional selector/data interface of QEMU's
 * firmware configuration device, with the few fixed items a firmware or a
 * Linux guest looks for and files added by the embedder.
 *
 * The fixed items are built once; the file directory grows by one entry per
 * file added (it may move then, so reads hold the lock). Files are never
 * removed, and their keys are assigned in the order they were added. The
 * guest's state is only where it is reading (selector and offset); the
 * items are the embedder's configuration and are not saved.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/bus.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/fw_cfg.h>

#include "../core/internal.h"
#include "../core/state_io.h"

#define FW_CFG_ID_TRADITIONAL 0x1
#define FW_CFG_WRITE_CHANNEL  0x4000
#define FW_CFG_ARCH_LOCAL     0x8000
#define FW_CFG_KEY_MASK	      0x3fff
#define FW_CFG_DIR_ENTRY      64 /* be32 size, be16 select, be16 reserved, name[56] */

struct kh_fw_cfg_item {
	uint8_t *data;
	uint32_t len;
};

struct kh_fw_cfg_file {
	char name[KVMHOST_FW_CFG_MAX_NAME + 1];
	uint32_t hash; /* of the name: the duplicate check compares these first */
	struct kh_fw_cfg_item item;
};

/* Guest-visible state: plain data (the items are the embedder's config). */
struct kh_fw_cfg_regs {
	uint16_t selector;
	uint32_t offset;
};

struct kvmhost_fw_cfg {
	pthread_mutex_t lock;
	struct kh_fw_cfg_regs r;
	uint8_t signature[4], id[4], ram_size[8], nb_cpus[2];
	struct kh_fw_cfg_item dir;
	struct kh_fw_cfg_file *files;
	size_t nfiles, cap;
	struct kvmhost_bus *bus;
};

static void kh_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void kh_put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t kh_fw_cfg_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The item behind a key, or an empty one. Lock held. */
static struct kh_fw_cfg_item kh_fw_cfg_item(struct kvmhost_fw_cfg *f, uint16_t key)
{
	struct kh_fw_cfg_item none = {NULL, 0};

	if (key & FW_CFG_ARCH_LOCAL)
		return none;
	key &= FW_CFG_KEY_MASK;
	switch (key) {
	case KVMHOST_FW_CFG_SIGNATURE:
		return (struct kh_fw_cfg_item){f->signature, sizeof(f->signature)};
	case KVMHOST_FW_CFG_ID:
		return (struct kh_fw_cfg_item){f->id, sizeof(f->id)};
	case KVMHOST_FW_CFG_RAM_SIZE:
		return (struct kh_fw_cfg_item){f->ram_size, sizeof(f->ram_size)};
	case KVMHOST_FW_CFG_NB_CPUS:
		return (struct kh_fw_cfg_item){f->nb_cpus, sizeof(f->nb_cpus)};
	case KVMHOST_FW_CFG_FILE_DIR:
		return f->dir;
	default:
		if (key >= KVMHOST_FW_CFG_FILE_FIRST && (size_t)(key - KVMHOST_FW_CFG_FILE_FIRST) < f->nfiles)
			return f->files[key - KVMHOST_FW_CFG_FILE_FIRST].item;
		return none;
	}
}

static int kh_fw_cfg_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_fw_cfg *f = opaque;
	uint8_t *p = data;

	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < len; i++) {
		p[i] = 0;
		if (offset + i == 1) { /* data port; the selector is write-only */
			struct kh_fw_cfg_item it = kh_fw_cfg_item(f, f->r.selector);

			if (f->r.offset < it.len)
				p[i] = it.data[f->r.offset];
			if (f->r.offset < UINT32_MAX)
				f->r.offset++;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int kh_fw_cfg_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_fw_cfg *f = opaque;
	const uint8_t *p = data;

	/* The selector is 16 bits wide; data-port writes are ignored (as QEMU
	 * has done since 2.4 for the traditional interface). */
	if (offset != 0 || len != 2)
		return 0;
	pthread_mutex_lock(&f->lock);
	f->r.selector = (uint16_t)(p[0] | p[1] << 8);
	f->r.offset = 0;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

KVMHOST_API int kvmhost_fw_cfg_create(const struct kvmhost_fw_cfg_options *opts, struct kvmhost_fw_cfg **out)
{
	struct kvmhost_fw_cfg_options o;
	struct kvmhost_fw_cfg *f;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	f = calloc(1, sizeof(*f));
	if (!f)
		return KH_FAIL(ENOMEM, "out of memory");
	f->dir.data = calloc(1, 4); /* count 0 */
	if (!f->dir.data) {
		free(f);
		return KH_FAIL(ENOMEM, "out of memory");
	}
	f->dir.len = 4;
	pthread_mutex_init(&f->lock, NULL);
	memcpy(f->signature, "QEMU", 4);
	kh_put_le(f->id, FW_CFG_ID_TRADITIONAL, sizeof(f->id));
	kh_put_le(f->ram_size, o.ram_size, sizeof(f->ram_size));
	kh_put_le(f->nb_cpus, o.nb_cpus ? o.nb_cpus : 1, sizeof(f->nb_cpus));
	*out = f;
	return 0;
}

KVMHOST_API void kvmhost_fw_cfg_destroy(struct kvmhost_fw_cfg *fw_cfg)
{
	if (!fw_cfg)
		return;
	if (fw_cfg->bus)
		kvmhost_bus_unregister(fw_cfg->bus, KVMHOST_FW_CFG_PORT);
	for (size_t i = 0; i < fw_cfg->nfiles; i++)
		free(fw_cfg->files[i].item.data);
	free(fw_cfg->files);
	free(fw_cfg->dir.data);
	pthread_mutex_destroy(&fw_cfg->lock);
	free(fw_cfg);
}

KVMHOST_API int kvmhost_fw_cfg_attach(struct kvmhost_fw_cfg *fw_cfg, struct kvmhost_bus *bus)
{
	struct kvmhost_bus_range range = {.size = sizeof(range)};
	int r;

	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (fw_cfg->bus)
		return KH_FAIL(EBUSY, "fw_cfg is already attached");
	range.base = KVMHOST_FW_CFG_PORT;
	range.length = 2;
	range.read = kh_fw_cfg_bus_read;
	range.write = kh_fw_cfg_bus_write;
	range.opaque = fw_cfg;
	range.name = "fw_cfg";
	r = kvmhost_bus_register(bus, &range);
	if (r < 0)
		return r;
	fw_cfg->bus = bus;
	return 0;
}

/* Append a directory entry for the file about to get key @key; lock held,
 * room made by the caller. */
static void kh_fw_cfg_dir_append(struct kvmhost_fw_cfg *f, const struct kh_fw_cfg_file *file, uint16_t key)
{
	uint8_t *e = f->dir.data + f->dir.len;

	memset(e, 0, FW_CFG_DIR_ENTRY);
	kh_put_be32(e, file->item.len);
	e[4] = (uint8_t)(key >> 8);
	e[5] = (uint8_t)key;
	memcpy(e + 8, file->name, strlen(file->name)); /* NUL-padded to 56 bytes */
	f->dir.len += FW_CFG_DIR_ENTRY;
	kh_put_be32(f->dir.data, (uint32_t)(f->nfiles + 1));
}

KVMHOST_API int kvmhost_fw_cfg_add_file(struct kvmhost_fw_cfg *fw_cfg, const char *name, const void *data, size_t len)
{
	struct kh_fw_cfg_file file = {0};
	size_t name_len;
	int key;

	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	if (!name)
		return KH_FAIL(EINVAL, "name is NULL");
	name_len = strnlen(name, KVMHOST_FW_CFG_MAX_NAME + 1);
	if (name_len == 0 || name_len > KVMHOST_FW_CFG_MAX_NAME)
		return KH_FAIL(EINVAL, "file name \"%.60s%s\" must have 1 to %d characters", name,
			       name_len > 60 ? "..." : "", KVMHOST_FW_CFG_MAX_NAME);
	if (!data && len)
		return KH_FAIL(EINVAL, "%s: data is NULL with len %zu", name, len);
	if (len > UINT32_MAX)
		return KH_FAIL(EINVAL, "%s: %zu bytes do not fit the directory's 32-bit size", name, len);
	memcpy(file.name, name, name_len);
	file.hash = kh_fw_cfg_hash(file.name);
	file.item.len = (uint32_t)len;
	file.item.data = malloc(len ? len : 1);
	if (!file.item.data)
		return KH_FAIL(ENOMEM, "%s: out of memory for %zu bytes", name, len);
	if (len)
		memcpy(file.item.data, data, len);

	pthread_mutex_lock(&fw_cfg->lock);
	for (size_t i = 0; i < fw_cfg->nfiles; i++) {
		if (fw_cfg->files[i].hash == file.hash && strcmp(fw_cfg->files[i].name, file.name) == 0) {
			pthread_mutex_unlock(&fw_cfg->lock);
			free(file.item.data);
			return KH_FAIL(EEXIST, "a file named \"%s\" exists (key 0x%zx)", name,
				       KVMHOST_FW_CFG_FILE_FIRST + i);
		}
	}
	if (fw_cfg->nfiles >= KVMHOST_FW_CFG_MAX_FILES) {
		pthread_mutex_unlock(&fw_cfg->lock);
		free(file.item.data);
		return KH_FAIL(ENOSPC, "%s: all %d file keys are used", name, KVMHOST_FW_CFG_MAX_FILES);
	}
	if (fw_cfg->nfiles == fw_cfg->cap) {
		/* Files and directory grow together, so adding stays O(1). */
		size_t cap = fw_cfg->cap ? fw_cfg->cap * 2 : 8;
		struct kh_fw_cfg_file *files = realloc(fw_cfg->files, cap * sizeof(*files));
		uint8_t *dir = files ? realloc(fw_cfg->dir.data, 4 + cap * FW_CFG_DIR_ENTRY) : NULL;

		if (files)
			fw_cfg->files = files;
		if (!dir) {
			pthread_mutex_unlock(&fw_cfg->lock);
			free(file.item.data);
			return KH_FAIL(ENOMEM, "%s: out of memory", name);
		}
		fw_cfg->dir.data = dir;
		fw_cfg->cap = cap;
	}
	key = (int)(KVMHOST_FW_CFG_FILE_FIRST + fw_cfg->nfiles);
	kh_fw_cfg_dir_append(fw_cfg, &file, (uint16_t)key);
	fw_cfg->files[fw_cfg->nfiles++] = file;
	pthread_mutex_unlock(&fw_cfg->lock);
	return key;
}

/* ---- reset and state ---- */

KVMHOST_API int kvmhost_fw_cfg_reset(struct kvmhost_fw_cfg *fw_cfg)
{
	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	pthread_mutex_lock(&fw_cfg->lock);
	fw_cfg->r.selector = 0;
	fw_cfg->r.offset = 0;
	pthread_mutex_unlock(&fw_cfg->lock);
	return 0;
}

/* State blob, version 1, little-endian, 20 bytes:
 *   u32 magic "KHFW", u32 version,
 *   u16 selector (as the guest wrote it), u16 reserved (0),
 *   u32 offset   (into the selected item, at most its length: reads past
 *                 the end all return 0, so further is the same as the end),
 *   u32 item_len (of the selected item when saved: restore checks it). */
#define KH_FW_CFG_MAGIC	     0x5746484bu /* "KHFW" */
#define KH_FW_CFG_STATE_SIZE (KH_STATE_HEADER_SIZE + 12)

KVMHOST_API int kvmhost_fw_cfg_state_size(struct kvmhost_fw_cfg *fw_cfg)
{
	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	return KH_FW_CFG_STATE_SIZE;
}

KVMHOST_API int kvmhost_fw_cfg_save(struct kvmhost_fw_cfg *fw_cfg, void *buf, size_t len)
{
	struct kh_fw_cfg_item it;
	uint8_t *p = buf;

	if (!fw_cfg || !buf)
		return KH_FAIL(EINVAL, "fw_cfg or buf is NULL");
	if (len < KH_FW_CFG_STATE_SIZE)
		return KH_FAIL(ENOSPC, "fw_cfg: state needs %d bytes, the buffer has %zu", KH_FW_CFG_STATE_SIZE, len);
	pthread_mutex_lock(&fw_cfg->lock);
	it = kh_fw_cfg_item(fw_cfg, fw_cfg->r.selector);
	kh_le_put(&p, KH_FW_CFG_MAGIC, 4);
	kh_le_put(&p, KVMHOST_FW_CFG_STATE_VERSION, 4);
	kh_le_put(&p, fw_cfg->r.selector, 2);
	kh_le_put(&p, 0, 2);
	kh_le_put(&p, KH_MIN(fw_cfg->r.offset, it.len), 4);
	kh_le_put(&p, it.len, 4);
	pthread_mutex_unlock(&fw_cfg->lock);
	return KH_FW_CFG_STATE_SIZE;
}

KVMHOST_API int kvmhost_fw_cfg_restore(struct kvmhost_fw_cfg *fw_cfg, const void *buf, size_t len)
{
	struct kh_fw_cfg_item it;
	const uint8_t *p = buf;
	uint32_t offset, item_len;
	uint16_t selector, reserved;
	int err;

	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	err = kh_state_check_header(buf, len, KH_FW_CFG_MAGIC, KVMHOST_FW_CFG_STATE_VERSION, KH_FW_CFG_STATE_SIZE,
				    "fw_cfg", __func__);
	if (err < 0)
		return err;
	p += KH_STATE_HEADER_SIZE;
	selector = (uint16_t)kh_le_get(&p, 2);
	reserved = (uint16_t)kh_le_get(&p, 2);
	offset = (uint32_t)kh_le_get(&p, 4);
	item_len = (uint32_t)kh_le_get(&p, 4);
	if (reserved)
		return KH_FAIL(EINVAL, "fw_cfg: state has reserved bytes 0x%04x", reserved);
	if (offset > item_len)
		return KH_FAIL(EINVAL, "fw_cfg: state has offset %u past its item's %u bytes", offset, item_len);
	pthread_mutex_lock(&fw_cfg->lock);
	it = kh_fw_cfg_item(fw_cfg, selector);
	/* A guest halfway through an item must go on reading the same one: an
	 * item of another size here means another configuration. */
	if (it.len != item_len) {
		pthread_mutex_unlock(&fw_cfg->lock);
		return KH_FAIL(EINVAL, "fw_cfg: the selected item 0x%04x has %u bytes here but %u in the state",
			       selector, it.len, item_len);
	}
	fw_cfg->r.selector = selector;
	fw_cfg->r.offset = offset;
	pthread_mutex_unlock(&fw_cfg->lock);
	return 0;
}

static int kh_fw_cfg_op_reset(void *opaque)
{
	return kvmhost_fw_cfg_reset(opaque);
}

static int kh_fw_cfg_op_state_size(void *opaque)
{
	return kvmhost_fw_cfg_state_size(opaque);
}

static int kh_fw_cfg_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_fw_cfg_save(opaque, buf, len);
}

static int kh_fw_cfg_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_fw_cfg_restore(opaque, buf, len);
}

/* No pause: traditional fw_cfg has no DMA and no interrupt. */
static const struct kvmhost_device_ops kh_fw_cfg_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_fw_cfg_op_reset,
    .state_size = kh_fw_cfg_op_state_size,
    .save = kh_fw_cfg_op_save,
    .restore = kh_fw_cfg_op_restore,
};

KVMHOST_API int kvmhost_fw_cfg_register(struct kvmhost_fw_cfg *fw_cfg, struct kvmhost_device_registry *registry,
					const char *id)
{
	if (!fw_cfg)
		return KH_FAIL(EINVAL, "fw_cfg is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_FW_CFG_STATE_VERSION, &kh_fw_cfg_ops, fw_cfg);
}

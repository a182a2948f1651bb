/*
 * The device registry (device_registry.h): an ordered list of devices with
 * their ops, the calls that walk it (reset, pause with unwinding, resume),
 * and the saved-state container: writing it, and checking every byte of it
 * before any device sees its part.
 *
 * Layering: uses only lib/core. It lives with the machine layer, which owns
 * one, but knows nothing of machines, VMs or KVM, so device models can
 * offer registration adapters without depending on the machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/device_registry.h>

#include "../core/crc32.h"
#include "../core/internal.h"
#include "../core/state_io.h"

#define HDR_SIZE KVMHOST_DEVICE_STATE_HEADER_SIZE
#define REC_HEAD 12 /* u16 id_len, u16 reserved, u32 state_version, u32 data_len */
#define REC_CRC	 4

struct kh_reg_entry {
	char id[KVMHOST_DEVICE_ID_MAX + 1];
	uint32_t version;
	struct kvmhost_device_ops ops;
	void *opaque;
	/* Restore's scratch: where this device's record is. */
	int seen;
	size_t rec_off;
};

struct kvmhost_device_registry {
	struct kh_reg_entry *dev;
	size_t n, cap;
	int paused;
};

/* Bytes kept of an op's own message, quoted in the registry's. */
#define KH_REG_CAUSE 320

/*
 * Run one op (NULL is success) and return what it returned. On failure
 * @cause receives the op's own last-error message, or "" when it left none
 * (told apart by the message from before the call). The copy costs a few
 * hundred bytes per device per call, nothing next to what the ops do.
 */
#define KH_REG_CALL(e, op, cause, ...)                                                                                 \
	({                                                                                                             \
		int rc_ = 0;                                                                                           \
		(cause)[0] = '\0';                                                                                     \
		if ((e)->ops.op) {                                                                                     \
			char before_[512];                                                                             \
			snprintf(before_, sizeof(before_), "%s", kvmhost_last_error());                                \
			rc_ = (e)->ops.op((e)->opaque, ##__VA_ARGS__);                                                 \
			if (rc_ < 0 && strcmp(before_, kvmhost_last_error()) != 0)                                     \
				snprintf((cause), KH_REG_CAUSE, "%s", kvmhost_last_error());                           \
		}                                                                                                      \
		rc_;                                                                                                   \
	})

/* Fail with an op's error @err: "device "id": op failed (cause)tail". */
static int kh_reg_fail(int err, const char *func, const struct kh_reg_entry *e, const char *op, const char *cause,
		       const char *tail)
{
	if (err >= 0 || err < -4095) /* not an errno: do not negate INT_MIN */
		err = -EIO;
	return kh_fail(-err, func, "device \"%s\": %s failed%s%s%s%s", e->id, op, cause[0] ? " (" : "", cause,
		       cause[0] ? ")" : "", tail ? tail : "");
}

/* 1 to KVMHOST_DEVICE_ID_MAX bytes of 0x21-0x7e. */
static int kh_reg_id_ok(const char *id, size_t len)
{
	if (len == 0 || len > KVMHOST_DEVICE_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
			return 0;
	return 1;
}

static struct kh_reg_entry *kh_reg_find(struct kvmhost_device_registry *r, const char *id, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->dev[i].id) == len && memcmp(r->dev[i].id, id, len) == 0)
			return &r->dev[i];
	return NULL;
}

KVMHOST_API int kvmhost_device_registry_create(struct kvmhost_device_registry **out)
{
	struct kvmhost_device_registry *r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	r = calloc(1, sizeof(*r));
	if (!r) {
		*out = NULL;
		return KH_FAIL(ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

KVMHOST_API void kvmhost_device_registry_destroy(struct kvmhost_device_registry *r)
{
	if (!r)
		return;
	free(r->dev);
	free(r);
}

KVMHOST_API int kvmhost_device_registry_add(struct kvmhost_device_registry *r, const char *id, uint32_t state_version,
					    const struct kvmhost_device_ops *ops, void *opaque)
{
	struct kh_reg_entry e = {0};
	size_t len;
	int err;

	if (!r || !id || !ops)
		return KH_FAIL(EINVAL, "registry, id or ops is NULL");
	len = strnlen(id, KVMHOST_DEVICE_ID_MAX + 1);
	if (!kh_reg_id_ok(id, len))
		return KH_FAIL(EINVAL, "device id \"%.*s%s\" must be 1 to %d printable characters without spaces",
			       (int)KH_MIN(len, (size_t)KVMHOST_DEVICE_ID_MAX), id,
			       len > KVMHOST_DEVICE_ID_MAX ? "..." : "", KVMHOST_DEVICE_ID_MAX);
	err = KH_COPY_OPTIONS(&e.ops, ops);
	if (err < 0)
		return err;
	if (kh_reg_find(r, id, len))
		return KH_FAIL(EEXIST, "a device with id \"%s\" is registered", id);
	if (r->paused)
		return KH_FAIL(EBUSY, "device \"%s\": the registry is paused (resume it first)", id);
	if (r->n >= KVMHOST_DEVICE_REGISTRY_MAX)
		return KH_FAIL(ENOSPC, "device \"%s\": the registry holds %d devices already", id,
			       KVMHOST_DEVICE_REGISTRY_MAX);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct kh_reg_entry *dev = realloc(r->dev, cap * sizeof(*dev));

		if (!dev)
			return KH_FAIL(ENOMEM, "device \"%s\": out of memory", id);
		r->dev = dev;
		r->cap = cap;
	}
	memcpy(e.id, id, len);
	e.version = state_version;
	e.opaque = opaque;
	r->dev[r->n++] = e;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_remove(struct kvmhost_device_registry *r, const char *id)
{
	struct kh_reg_entry *e;

	if (!r || !id)
		return KH_FAIL(EINVAL, "registry or id is NULL");
	e = kh_reg_find(r, id, strnlen(id, KVMHOST_DEVICE_ID_MAX + 1));
	if (!e)
		return KH_FAIL(ENOENT, "no device has id \"%.*s\"", KVMHOST_DEVICE_ID_MAX, id);
	memmove(e, e + 1, (size_t)(r->dev + r->n - (e + 1)) * sizeof(*e));
	r->n--;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_count(struct kvmhost_device_registry *r)
{
	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	return (int)r->n;
}

KVMHOST_API int kvmhost_device_registry_get(struct kvmhost_device_registry *r, unsigned index, char *id, size_t id_len,
					    uint32_t *state_version)
{
	const struct kh_reg_entry *e;

	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	if (index >= r->n)
		return KH_FAIL(ENOENT, "index %u is past the last of %zu devices", index, r->n);
	e = &r->dev[index];
	if (id) {
		if (strlen(e->id) >= id_len)
			return KH_FAIL(ERANGE, "device \"%s\": its id needs %zu bytes, the buffer has %zu", e->id,
				       strlen(e->id) + 1, id_len);
		memcpy(id, e->id, strlen(e->id) + 1);
	}
	if (state_version)
		*state_version = e->version;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_reset(struct kvmhost_device_registry *r)
{
	char cause[KH_REG_CAUSE], first_cause[KH_REG_CAUSE] = "";
	size_t first_i = 0;
	int first = 0;

	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	for (size_t i = 0; i < r->n; i++) {
		int err = KH_REG_CALL(&r->dev[i], reset, cause);

		if (err < 0 && first == 0) {
			first = err;
			first_i = i;
			memcpy(first_cause, cause, sizeof(cause));
		}
	}
	if (first < 0)
		return kh_reg_fail(first, __func__, &r->dev[first_i], "reset", first_cause,
				   " (the other devices were reset)");
	return 0;
}

KVMHOST_API int kvmhost_device_registry_pause(struct kvmhost_device_registry *r)
{
	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	if (r->paused)
		return KH_FAIL(EBUSY, "the registry is already paused");
	for (size_t i = 0; i < r->n; i++) {
		char cause[KH_REG_CAUSE], ignored[KH_REG_CAUSE];
		int err = KH_REG_CALL(&r->dev[i], pause, cause);

		if (err < 0) {
			const struct kh_reg_entry *failed = &r->dev[i];

			/* Unwind, newest first. A resume that fails here is only
			 * logged: the pause failure is what the caller must see. */
			for (size_t j = i; j-- > 0;)
				if (KH_REG_CALL(&r->dev[j], resume, ignored) < 0 && kh_log_enabled(KVMHOST_LOG_WARN))
					kh_log(KVMHOST_LOG_WARN,
					       "%s: device \"%s\": resume after a failed pause failed: %s", __func__,
					       r->dev[j].id, ignored);
			return kh_reg_fail(err, __func__, failed, "pause", cause,
					   i ? " (the devices before it were resumed)" : "");
		}
	}
	r->paused = 1;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_resume(struct kvmhost_device_registry *r)
{
	char cause[KH_REG_CAUSE], first_cause[KH_REG_CAUSE] = "";
	size_t first_i = 0;
	int first = 0;

	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	if (!r->paused)
		return KH_FAIL(EINVAL, "the registry is not paused");
	for (size_t i = r->n; i-- > 0;) {
		int err = KH_REG_CALL(&r->dev[i], resume, cause);

		if (err < 0 && first == 0) {
			first = err;
			first_i = i;
			memcpy(first_cause, cause, sizeof(cause));
		}
	}
	r->paused = 0;
	if (first < 0)
		return kh_reg_fail(first, __func__, &r->dev[first_i], "resume", first_cause,
				   " (the other devices were resumed)");
	return 0;
}

KVMHOST_API int kvmhost_device_registry_is_paused(struct kvmhost_device_registry *r)
{
	if (!r)
		return KH_FAIL(EINVAL, "registry is NULL");
	return r->paused;
}

/* ---- the container ---- */

/* A device's state size now: 0 for a stateless one. */
static int kh_reg_state_size(const struct kh_reg_entry *e, const char *func, size_t *size)
{
	char cause[KH_REG_CAUSE];
	int n = KH_REG_CALL(e, state_size, cause);

	if (n < 0)
		return kh_reg_fail(n, func, e, "state_size", cause, NULL);
	*size = (size_t)n;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_save_size(struct kvmhost_device_registry *r, size_t *size)
{
	size_t total = HDR_SIZE;

	if (!r || !size)
		return KH_FAIL(EINVAL, "registry or size is NULL");
	for (size_t i = 0; i < r->n; i++) {
		size_t n;
		int err = kh_reg_state_size(&r->dev[i], __func__, &n);

		if (err < 0)
			return err;
		n += KVMHOST_DEVICE_STATE_RECORD_OVERHEAD + strlen(r->dev[i].id);
		if (__builtin_add_overflow(total, n, &total))
			return KH_FAIL(EOVERFLOW, "the devices' state passes SIZE_MAX bytes");
	}
	*size = total;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_save(struct kvmhost_device_registry *r, void *buf, size_t len, size_t *used)
{
	uint8_t *base = buf, *p = buf;
	size_t off = HDR_SIZE;
	int err;

	if (used)
		*used = 0;
	if (!r || !buf)
		return KH_FAIL(EINVAL, "registry or buf is NULL");
	if (len < HDR_SIZE)
		return KH_FAIL(ENOSPC, "a container needs at least %d bytes, the buffer has %zu", HDR_SIZE, len);
	for (size_t i = 0; i < r->n; i++) {
		const struct kh_reg_entry *e = &r->dev[i];
		size_t id_len = strlen(e->id), want, need;
		uint8_t *rec = base + off, *q;
		char cause[KH_REG_CAUSE];
		int wrote = 0;

		err = kh_reg_state_size(e, __func__, &want);
		if (err < 0)
			goto fail;
		need = KVMHOST_DEVICE_STATE_RECORD_OVERHEAD + id_len + want;
		if (len - off < need) {
			size_t total;

			/* Say how much the whole container needs. */
			err = kvmhost_device_registry_save_size(r, &total);
			if (err == 0)
				err =
				    KH_FAIL(ENOSPC, "device \"%s\": the buffer of %zu bytes is too small (%zu needed)",
					    e->id, len, total);
			goto fail;
		}
		if (want) {
			if (!e->ops.save) {
				err = KH_FAIL(EINVAL, "device \"%s\": has state_size but no save op", e->id);
				goto fail;
			}
			wrote = KH_REG_CALL(e, save, cause, rec + REC_HEAD + id_len, want);
			if (wrote < 0) {
				err = kh_reg_fail(wrote, __func__, e, "save", cause, NULL);
				goto fail;
			}
			if ((size_t)wrote > want) {
				err = KH_FAIL(EINVAL, "device \"%s\": save says it wrote %d bytes of %zu", e->id, wrote,
					      want);
				goto fail;
			}
		}
		q = rec;
		kh_le_put(&q, id_len, 2);
		kh_le_put(&q, 0, 2);
		kh_le_put(&q, e->version, 4);
		kh_le_put(&q, (uint64_t)wrote, 4);
		memcpy(q, e->id, id_len);
		q += id_len + (size_t)wrote;
		kh_le_put(&q, kh_crc32(0, rec, REC_HEAD + id_len + (size_t)wrote), 4);
		off += REC_HEAD + id_len + (size_t)wrote + REC_CRC;
	}
	kh_le_put(&p, KVMHOST_DEVICE_STATE_MAGIC, 4);
	kh_le_put(&p, KVMHOST_DEVICE_STATE_FORMAT, 2);
	kh_le_put(&p, 0, 2);
	kh_le_put(&p, r->n, 4);
	kh_le_put(&p, off, 8);
	kh_le_put(&p, kh_crc32(0, base, HDR_SIZE - 4), 4);
	if (used)
		*used = off;
	return 0;
fail:
	memset(base, 0, HDR_SIZE); /* no valid magic: never mistaken for a container */
	return err;
}

/* One record as found in a container. */
struct kh_reg_record {
	char id[KVMHOST_DEVICE_ID_MAX + 1];
	uint32_t version;
	const uint8_t *data;
	size_t len;
	size_t off; /* of the record in the container */
};

/*
 * Check the header and walk the records, calling @fn for each as it is
 * checked (NULL: check only). Everything is bounds-checked against @len
 * before it is read. Returns the record count, and then the whole container
 * is well formed; or -errno (or what @fn returned), with the message saying
 * where.
 */
static int kh_reg_walk(const void *buf, size_t len, const char *func,
		       int (*fn)(void *opaque, const struct kh_reg_record *rec, unsigned index), void *opaque)
{
	const uint8_t *base = buf, *p = buf;
	uint32_t magic, count, hcrc;
	uint16_t format, flags;
	uint64_t total;
	size_t off = HDR_SIZE;

	if (!buf)
		return kh_fail(EINVAL, func, "buf is NULL");
	if (len < HDR_SIZE)
		return kh_fail(EINVAL, func, "container of %zu bytes is shorter than its %d-byte header", len,
			       HDR_SIZE);
	magic = (uint32_t)kh_le_get(&p, 4);
	format = (uint16_t)kh_le_get(&p, 2);
	flags = (uint16_t)kh_le_get(&p, 2);
	count = (uint32_t)kh_le_get(&p, 4);
	total = kh_le_get(&p, 8);
	hcrc = (uint32_t)kh_le_get(&p, 4);
	if (magic != KVMHOST_DEVICE_STATE_MAGIC)
		return kh_fail(EINVAL, func, "not a device state container (magic 0x%08x, expected 0x%08x)", magic,
			       KVMHOST_DEVICE_STATE_MAGIC);
	if (hcrc != kh_crc32(0, base, HDR_SIZE - 4))
		return kh_fail(EINVAL, func, "container header is damaged (CRC mismatch)");
	if (format != KVMHOST_DEVICE_STATE_FORMAT)
		return kh_fail(EINVAL, func, "container format %u is not the supported format %d", format,
			       KVMHOST_DEVICE_STATE_FORMAT);
	if (flags)
		return kh_fail(EINVAL, func, "container has unknown flags 0x%04x", flags);
	if (total != len)
		return kh_fail(EINVAL, func, "container says it has %llu bytes, the buffer has %zu%s",
			       (unsigned long long)total, len, total > len ? " (truncated?)" : " (trailing bytes?)");
	if (count > KVMHOST_DEVICE_REGISTRY_MAX)
		return kh_fail(EINVAL, func, "container has %u records, more than the %d a registry holds", count,
			       KVMHOST_DEVICE_REGISTRY_MAX);
	for (uint32_t i = 0; i < count; i++) {
		struct kh_reg_record rec = {.off = off};
		uint16_t id_len, reserved;
		uint32_t data_len, crc;
		const uint8_t *q;

		if (len - off < REC_HEAD + REC_CRC)
			return kh_fail(EINVAL, func, "record %u at offset %zu: truncated (%zu bytes left)", i, off,
				       len - off);
		q = base + off;
		id_len = (uint16_t)kh_le_get(&q, 2);
		reserved = (uint16_t)kh_le_get(&q, 2);
		rec.version = (uint32_t)kh_le_get(&q, 4);
		data_len = (uint32_t)kh_le_get(&q, 4);
		if (id_len == 0 || id_len > KVMHOST_DEVICE_ID_MAX || reserved)
			return kh_fail(EINVAL, func, "record %u at offset %zu: bad id length %u or reserved field 0x%x",
				       i, off, id_len, reserved);
		if (data_len > INT32_MAX || (uint64_t)REC_HEAD + id_len + data_len + REC_CRC > (uint64_t)(len - off))
			return kh_fail(EINVAL, func,
				       "record %u at offset %zu: %u id bytes and %u data bytes pass the end", i, off,
				       id_len, data_len);
		if (!kh_reg_id_ok((const char *)q, id_len))
			return kh_fail(EINVAL, func, "record %u at offset %zu: the id is not printable ASCII", i, off);
		memcpy(rec.id, q, id_len);
		rec.data = q + id_len;
		rec.len = data_len;
		q += id_len + data_len;
		crc = (uint32_t)kh_le_get(&q, 4);
		if (crc != kh_crc32(0, base + off, REC_HEAD + id_len + data_len))
			return kh_fail(EINVAL, func,
				       "record %u (device \"%s\") at offset %zu is damaged (CRC mismatch)", i, rec.id,
				       off);
		if (fn) {
			int err = fn(opaque, &rec, i);

			if (err)
				return err;
		}
		off += REC_HEAD + id_len + data_len + REC_CRC;
	}
	if (off != len)
		return kh_fail(EINVAL, func, "%zu bytes after the last record", len - off);
	return (int)count;
}

struct kh_reg_inspect {
	kvmhost_device_record_fn fn;
	void *opaque;
	char (*ids)[KVMHOST_DEVICE_ID_MAX + 1];
};

/* First pass of inspect: ids are unique. */
static int kh_reg_dup_check(void *opaque, const struct kh_reg_record *rec, unsigned index)
{
	struct kh_reg_inspect *in = opaque;

	for (unsigned j = 0; j < index; j++)
		if (strcmp(in->ids[j], rec->id) == 0)
			return KH_FAIL(EINVAL,
				       "record %u at offset %zu: device \"%s\" appears twice (first as record %u)",
				       index, rec->off, rec->id, j);
	memcpy(in->ids[index], rec->id, sizeof(rec->id));
	return 0;
}

static int kh_reg_inspect_call(void *opaque, const struct kh_reg_record *rec, unsigned index)
{
	struct kh_reg_inspect *in = opaque;

	(void)index;
	return in->fn(in->opaque, rec->id, rec->version, rec->data, rec->len);
}

KVMHOST_API int kvmhost_device_registry_inspect(const void *buf, size_t len, kvmhost_device_record_fn fn, void *opaque)
{
	struct kh_reg_inspect in = {.fn = fn, .opaque = opaque};
	int n;

	/* Format first, so the id table is sized by a count known to be sane. */
	n = kh_reg_walk(buf, len, "kvmhost_device_registry_inspect", NULL, NULL);
	if (n <= 0)
		return n;
	in.ids = calloc((size_t)n, sizeof(*in.ids));
	if (!in.ids)
		return KH_FAIL(ENOMEM, "out of memory");
	n = kh_reg_walk(buf, len, __func__, kh_reg_dup_check, &in);
	free(in.ids);
	if (n < 0 || !fn)
		return n;
	return kh_reg_walk(buf, len, __func__, kh_reg_inspect_call, &in);
}

/* Restore's checking pass: match each record to a registered device. */
static int kh_reg_match(void *opaque, const struct kh_reg_record *rec, unsigned index)
{
	struct kvmhost_device_registry *r = opaque;
	struct kh_reg_entry *e = kh_reg_find(r, rec->id, strlen(rec->id));

	if (!e)
		return kh_fail(ENOENT, "kvmhost_device_registry_restore",
			       "record %u: the container has device \"%s\", which is not registered here", index,
			       rec->id);
	if (e->seen)
		return kh_fail(EINVAL, "kvmhost_device_registry_restore",
			       "record %u at offset %zu: device \"%s\" appears twice", index, rec->off, rec->id);
	if (rec->version > e->version)
		return kh_fail(EOPNOTSUPP, "kvmhost_device_registry_restore",
			       "device \"%s\": saved state version %u is newer than this device's %u", rec->id,
			       rec->version, e->version);
	if (rec->len && !e->ops.restore)
		return kh_fail(EINVAL, "kvmhost_device_registry_restore",
			       "device \"%s\": the container has %zu bytes of its state but it has no restore op",
			       rec->id, rec->len);
	e->seen = 1;
	e->rec_off = rec->off;
	return 0;
}

KVMHOST_API int kvmhost_device_registry_restore(struct kvmhost_device_registry *r, const void *buf, size_t len)
{
	const uint8_t *base = buf;
	char cause[KH_REG_CAUSE];
	int err;

	if (!r || !buf)
		return KH_FAIL(EINVAL, "registry or buf is NULL");
	for (size_t i = 0; i < r->n; i++)
		r->dev[i].seen = 0;
	err = kh_reg_walk(buf, len, __func__, kh_reg_match, r);
	if (err < 0)
		return err;
	for (size_t i = 0; i < r->n; i++)
		if (!r->dev[i].seen)
			return KH_FAIL(ENOENT, "device \"%s\" is registered but missing from the container",
				       r->dev[i].id);
	/* All checked: now the devices. The records were validated above, so
	 * reading their fields again needs no checks. */
	for (size_t i = 0; i < r->n; i++) {
		const struct kh_reg_entry *e = &r->dev[i];
		const uint8_t *q = base + e->rec_off;
		size_t id_len = (size_t)kh_le_get(&q, 2), data_len;

		q += 2 + 4;
		data_len = (size_t)kh_le_get(&q, 4);
		err = KH_REG_CALL(e, restore, cause, q + id_len, data_len);
		if (err < 0) {
			char tail[160];

			snprintf(tail, sizeof(tail),
				 "; the %zu devices before it were restored, the %zu after it were not: reset the "
				 "devices or destroy the machine",
				 i, r->n - i - 1);
			return kh_reg_fail(err, __func__, e, "restore", cause, tail);
		}
	}
	return 0;
}

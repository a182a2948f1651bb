/*
 * Little-endian put/get for saved device state (plain data, no structs
 * copied), and the header check the legacy devices' blobs share. Private to
 * the library. The cursor functions never check bounds: callers check a
 * blob's whole length first, which is simpler to get right than a check per
 * field.
 */
#ifndef KVMHOST_CORE_STATE_IO_H
#define KVMHOST_CORE_STATE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Write the low @n bytes of @v at *@p, little-endian, and advance *@p. */
static inline void kh_le_put(uint8_t **p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		(*p)[i] = (uint8_t)(v >> (8 * i));
	*p += n;
}

/* Read @n bytes at *@p as a little-endian number and advance *@p. */
static inline uint64_t kh_le_get(const uint8_t **p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)(*p)[i] << (8 * i);
	*p += n;
	return v;
}

/* The first 8 bytes of a legacy device's blob: u32 magic, u32 version. */
#define KH_STATE_HEADER_SIZE 8

/*
 * Check a fixed-size blob of @size bytes with this @magic and @version;
 * the message names @func and @name. Returns 0 or -EINVAL.
 */
static inline int kh_state_check_header(const void *buf, size_t len, uint32_t magic, uint32_t version, size_t size,
					const char *name, const char *func)
{
	const uint8_t *p = buf;
	uint32_t m, v;

	if (!buf)
		return kh_fail(EINVAL, func, "%s: state buffer is NULL", name);
	if (len < KH_STATE_HEADER_SIZE)
		return kh_fail(EINVAL, func, "%s: state of %zu bytes is shorter than its header", name, len);
	m = (uint32_t)kh_le_get(&p, 4);
	v = (uint32_t)kh_le_get(&p, 4);
	if (m != magic)
		return kh_fail(EINVAL, func, "%s: not its state (magic 0x%08x, expected 0x%08x)", name, m, magic);
	if (v != version)
		return kh_fail(EINVAL, func, "%s: state version %u is not the supported version %u", name, v, version);
	if (len != size)
		return kh_fail(EINVAL, func, "%s: state of %zu bytes, version %u has %zu", name, len, version, size);
	return 0;
}

#endif

/*
 * The items of an architecture's state payloads (mig_items.h): writing their headers, reading them back with
 * every byte checked.
 */
#include <errno.h>

#include "../core/internal.h"
#include "../core/state_io.h"
#include "mig_items.h"

void kh_mig_item_head(struct kh_buf *b, uint32_t tag, size_t len)
{
	kh_buf_le(b, tag, 2);
	kh_buf_le(b, 0, 2);
	kh_buf_le(b, len, 4);
}

void kh_mig_item_put(struct kh_buf *b, uint32_t tag, const void *data, size_t len)
{
	kh_mig_item_head(b, tag, len);
	kh_buf_put(b, data, len);
}

int kh_mig_items_next(struct kh_mig_items *it, uint32_t *tag, const uint8_t **data, size_t *len, uint32_t max_tag)
{
	const uint8_t *p = it->p;
	uint32_t t, reserved;
	uint64_t l;

	if (p == it->end)
		return 0;
	if ((size_t)(it->end - p) < KH_MIG_ITEM_HEADER)
		return KH_FAIL(EINVAL, "%s: an item header is cut short", it->what);
	t = (uint32_t)kh_le_get(&p, 2);
	reserved = (uint32_t)kh_le_get(&p, 2);
	l = kh_le_get(&p, 4);
	if (reserved || t == 0 || t > max_tag)
		return KH_FAIL(EINVAL, "%s: unknown item %u", it->what, t);
	if (t <= it->last)
		return KH_FAIL(EINVAL, "%s: item %u after item %u (out of order or twice)", it->what, t, it->last);
	if (l > (uint64_t)(it->end - p))
		return KH_FAIL(EINVAL, "%s: item %u claims %llu bytes, %zu are left", it->what, t,
			       (unsigned long long)l, (size_t)(it->end - p));
	*tag = t;
	*data = p;
	*len = (size_t)l;
	it->p = p + l;
	it->last = t;
	return 1;
}

/*
 * Size-tagged option structs: how a struct that grows stays ABI-compatible.
 * Every public options struct begins with a size_t holding the caller's
 * sizeof. Older callers pass a smaller struct (missing fields read as zero);
 * newer callers may pass a larger one as long as the fields this library does
 * not know are zero, so a request for a feature we lack is refused, not
 * silently ignored (the rule of the kernel's copy_struct_from_user()).
 */
#include <string.h>

#include "internal.h"

int kh_copy_options(void *dst, size_t dst_size, const void *src, const char *func)
{
	size_t src_size;

	memset(dst, 0, dst_size);
	if (!src)
		return 0;
	memcpy(&src_size, src, sizeof(src_size));
	if (src_size < sizeof(size_t))
		return kh_fail(EINVAL, func, "options size %zu is smaller than its size field", src_size);
	if (src_size > 65536)
		return kh_fail(EINVAL, func, "options size %zu is absurd", src_size);
	if (src_size > dst_size) {
		const unsigned char *tail = (const unsigned char *)src + dst_size;
		for (size_t i = 0; i < src_size - dst_size; i++)
			if (tail[i])
				return kh_fail(E2BIG, func,
					       "options struct of %zu bytes sets fields (byte %zu) this library "
					       "(%zu bytes) does not know",
					       src_size, dst_size + i, dst_size);
	}
	memcpy(dst, src, KH_MIN(src_size, dst_size));
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

/* XXH64 through xxHash's own implementation, inlined from Debian's libxxhash-dev header (see xxh64.h). */
#include "xxh64.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

_Static_assert(sizeof(XXH64_state_t) <= sizeof(((struct kh_xxh64 *)0)->state), "kh_xxh64 too small");
_Static_assert(_Alignof(XXH64_state_t) <= _Alignof(uint64_t), "kh_xxh64 alignment");

void kh_xxh64_init(struct kh_xxh64 *s, uint64_t seed)
{
	XXH64_reset((XXH64_state_t *)s->state, seed);
}

void kh_xxh64_update(struct kh_xxh64 *s, const void *data, size_t len)
{
	XXH64_update((XXH64_state_t *)s->state, data, len);
}

uint64_t kh_xxh64_digest(const struct kh_xxh64 *s)
{
	return XXH64_digest((const XXH64_state_t *)s->state);
}

uint64_t kh_xxh64(const void *data, size_t len, uint64_t seed)
{
	return XXH64(data, len, seed);
}

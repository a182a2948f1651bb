/*
 * XXH64 (xxHash, 64-bit), the migration stream's checksum of memory sections from format 1.2 on
 * (docs/migration.md): four multiply-rotate lanes over 8-byte words cost a few instructions per 8 bytes, where a
 * table-driven CRC-32 costs eight table loads, the dominant cost of copying guest pages under an emulated CPU
 * (docs/benchmarks.md "Live migration"). The implementation is xxHash's own (Debian: libxxhash-dev), inlined
 * into xxh64.c from its header (XXH_INLINE_ALL), so the library has no run-time dependency on libxxhash and
 * static programs need no libxxhash.a; these functions only keep the library's names. (Out of line on purpose:
 * inlined into a caller that hashes a small array, GCC -O3 warns -Warray-bounds inside xxhash.h.)
 */
#ifndef KVMHOST_CORE_XXH64_H
#define KVMHOST_CORE_XXH64_H

#include <stddef.h>
#include <stdint.h>

/* Incremental: init, update any number of times, digest. Holds an XXH64_state_t (checked in xxh64.c). */
struct kh_xxh64 {
	uint64_t state[12];
};

void kh_xxh64_init(struct kh_xxh64 *s, uint64_t seed);
void kh_xxh64_update(struct kh_xxh64 *s, const void *data, size_t len);
uint64_t kh_xxh64_digest(const struct kh_xxh64 *s);
/* One call: XXH64(data, len, seed). */
uint64_t kh_xxh64(const void *data, size_t len, uint64_t seed);

#endif

/*
 * CRC-32 (crc32.h), slicing by 8: eight 256-entry tables (8 KiB, built once)
 * let the loop take 8 bytes per step, so a migration's guest pages cost
 * about a tenth of what a byte- or nibble-at-a-time CRC does. The values are
 * zlib's crc32(): the stream format does not change.
 */
#include <pthread.h>

#include "crc32.h"

static uint32_t kh_crc32_table[8][256];
static pthread_once_t kh_crc32_once = PTHREAD_ONCE_INIT;

static void kh_crc32_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
		kh_crc32_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			kh_crc32_table[t][i] =
			    (kh_crc32_table[t - 1][i] >> 8) ^ kh_crc32_table[0][kh_crc32_table[t - 1][i] & 0xff];
}

uint32_t kh_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	const uint32_t(*t)[256] = (const uint32_t(*)[256])kh_crc32_table;

	(void)pthread_once(&kh_crc32_once, kh_crc32_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;

		/* Little-endian loads, byte by byte: no alignment or aliasing assumption, any host byte order
		 * (the compiler makes one load of each word on a little-endian host). */
		lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		lo ^= crc;
		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

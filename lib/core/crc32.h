/*
 * CRC-32 (IEEE 802.3 / zlib: reflected polynomial 0xedb88320, initial and
 * final value 0xffffffff) for the checksums of saved device state. Private
 * to the library.
 */
#ifndef KVMHOST_CORE_CRC32_H
#define KVMHOST_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over @len more bytes: start with crc 0, feed the result
 * back in for the next piece; kh_crc32(0, "123456789", 9) == 0xcbf43926. */
uint32_t kh_crc32(uint32_t crc, const void *buf, size_t len);

#endif

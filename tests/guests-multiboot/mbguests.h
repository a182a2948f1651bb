/*
 * Tiny Multiboot kernels built from tests/guests-multiboot/<name>.S (see
 * cmake/KvmhostMultibootGuest.cmake): flat images with an a.out-kludge
 * Multiboot header, linked to run at KVMHOST_MBGUEST_LOAD_ADDR. Load them
 * with kvmhost_x86_boot_load_multiboot().
 */
#ifndef KVMHOST_TEST_MBGUESTS_H
#define KVMHOST_TEST_MBGUESTS_H

#include <stddef.h>

#define KVMHOST_MBGUEST_LOAD_ADDR 0x100000u

#define MBGUEST_DECLARE(name) extern const unsigned char mbguest_##name[], mbguest_##name##_end[]
#define MBGUEST_BYTES(name)   (mbguest_##name)
#define MBGUEST_SIZE(name)    ((size_t)(mbguest_##name##_end - mbguest_##name))

#endif

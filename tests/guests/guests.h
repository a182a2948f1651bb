/*
 * Tiny guests built from tests/guests/<name>.S (see cmake/KvmhostGuest.cmake).
 * Each is a flat binary linked to run at KVMHOST_GUEST_LOAD_ADDR.
 */
#ifndef KVMHOST_TEST_GUESTS_H
#define KVMHOST_TEST_GUESTS_H

#include <stddef.h>

#define KVMHOST_GUEST_LOAD_ADDR 0x1000u

#define GUEST_DECLARE(name) extern const unsigned char guest_##name[], guest_##name##_end[]
#define GUEST_BYTES(name)   (guest_##name)
#define GUEST_SIZE(name)    ((size_t)(guest_##name##_end - guest_##name))

#endif

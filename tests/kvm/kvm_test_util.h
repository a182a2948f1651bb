/*
 * Shared scaffolding of the kvm tier: open KVM or skip (exit 77 with a
 * one-line reason), build a VM with low memory holding a tiny guest, and
 * check macros that print where a test failed.
 */
#ifndef KVMHOST_KVM_TEST_UTIL_H
#define KVMHOST_KVM_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <kvmhost/kvmhost.h>

#include "guests/guests.h"

#define TEST_PASS 0
#define TEST_FAIL 1
#define TEST_SKIP 77

/* Fail the test (exit 1) with file:line, the expression and the library's last error. */
#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond,                \
				kvmhost_last_error());                                                                 \
			exit(TEST_FAIL);                                                                               \
		}                                                                                                      \
	} while (0)
/* CHECK that a libkvmhost call returned 0. */
#define CHECK_OK(call) CHECK((call) == 0)

/* Skip the whole test with a reason. */
#define SKIP(...)                                                                                                      \
	do {                                                                                                           \
		fprintf(stderr, "SKIP: ");                                                                             \
		fprintf(stderr, __VA_ARGS__);                                                                          \
		fprintf(stderr, "\n");                                                                                 \
		exit(TEST_SKIP);                                                                                       \
	} while (0)

/* Open /dev/kvm (or $KVMHOST_TEST_KVM_DEVICE) or skip the test if it is missing or unusable. */
struct kvmhost_system *test_open_system(void);

/* One VM with one region of guest memory at GPA 0 holding a guest image at
 * KVMHOST_GUEST_LOAD_ADDR. */
struct test_vm {
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_memory_region *ram;
	struct kvmhost_vcpu *vcpu;
	uint8_t *ram_host;
	uint64_t ram_size;
};

/* Create the VM, 2 MiB of RAM (anonymous), load @image, create vCPU 0 in real
 * mode at 0:KVMHOST_GUEST_LOAD_ADDR. @sys may be shared by several VMs. */
void test_vm_create_real(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size);
/* Same, but vCPU 0 is put in 64-bit long mode at the load address (CPL0), page
 * tables at 0x100000, stack top at 0x80000. */
void test_vm_create_long(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size);
void test_vm_destroy(struct test_vm *t);

/* Run until an exit other than KICKED-by-nobody; returns the decoded exit. */
const struct kvmhost_exit *test_run(struct test_vm *t);

/* True when running on the nested PVM /dev/kvm described in HOST-NOTES.md
 * (used only to word skip messages for its documented quirks). */
int test_kvm_is_pvm(void);

#endif

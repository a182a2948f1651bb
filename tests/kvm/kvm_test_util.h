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
#include "guests-arm64/ports.h"

/* The architecture the tier is built for. An arch-neutral test runs on x86 and arm64 alike (its guests have arm64
 * twins of the same name in tests/guests-arm64/) and keeps only its x86-only sub-cases under #if TEST_X86. */
#if defined(__x86_64__)
#define TEST_X86 1
#else
#define TEST_X86 0
#endif

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
 * mode at 0:KVMHOST_GUEST_LOAD_ADDR. @sys may be shared by several VMs.
 * On arm64 (here and in test_vm_create_long()) vCPU 0 is in the one mode the
 * twins use: KVM_ARM_VCPU_INIT's EL1h, MMU off, PC at the load address. */
void test_vm_create_real(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size);
/* Same, but vCPU 0 is put in 64-bit long mode at the load address (CPL0), page
 * tables at 0x100000, stack top at 0x80000. */
void test_vm_create_long(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size);
void test_vm_destroy(struct test_vm *t);
/* The VM of test_vm_create_real() and _long() with @ram_size bytes of RAM at
 * @ram_gpa (anonymous), @image at @load_gpa inside it, and vCPU 0 created but
 * not set up (its mode and entry are the caller's). */
void test_vm_create_at(struct test_vm *t, struct kvmhost_system *sys, uint64_t ram_gpa, uint64_t ram_size,
		       uint64_t load_gpa, const void *image, size_t image_size);

/* Put @vcpu at KVMHOST_GUEST_LOAD_ADDR: x86 64-bit long mode at CPL0 with the
 * first @map_size bytes identity-mapped (stack top 0x80000, page tables at
 * 0x100000, GDT at 0x104000); arm64 KVM_ARM_VCPU_INIT (EL1h, MMU off: every
 * address is physical, @map_size unused) and PC. */
void test_vcpu_enter_long(struct kvmhost_vcpu *vcpu, uint64_t map_size);
/* The vCPU's program counter (x86 RIP, arm64 PC). */
uint64_t test_vcpu_pc(struct kvmhost_vcpu *vcpu);
/* Start a register-driven guest (ioevt) again at the load address with its
 * arguments: x86 (long mode) RSP 0x80000, args in RSI, RDX, R8, RCX, RAX, R10,
 * R11 (what ioevt.S reads: OUT wants DX and AX); arm64 x0-x6. (KVM arm64 may
 * move PC past the last MMIO store at the next run: the twin starts with a nop.) */
void test_vcpu_restart(struct kvmhost_vcpu *vcpu, const uint64_t args[7]);

/* A guest's "port" @port: the I/O port on x86; on arm64 (no port I/O) the MMIO
 * address KVMHOST_GUEST_ARM64_PORT(@port) (tests/guests-arm64/ports.h). */
uint64_t test_port_addr(uint16_t port);
/* The space test_port_addr() is in (for ioeventfds and buses). */
enum kvmhost_io_space test_port_space(void);
/* If @e is a guest's write to a port (x86 OUT of one item; arm64 a store in the
 * port window), return 1 with the port, the access size and the value. */
int test_exit_port_write(const struct kvmhost_exit *e, uint16_t *port, uint32_t *size, uint64_t *value);
/* Whether @e is the guest halting: x86 HLT, arm64 its store to
 * KVMHOST_GUEST_ARM64_HALT (WFI never exits to userspace). */
int test_exit_is_halt(const struct kvmhost_exit *e);

/* Run until an exit other than KICKED-by-nobody; returns the decoded exit. */
const struct kvmhost_exit *test_run(struct test_vm *t);

/* True when running on the nested PVM /dev/kvm described in HOST-NOTES.md
 * (used only to word skip messages for its documented quirks). */
int test_kvm_is_pvm(void);

#if defined(__aarch64__)
/* The arm64 tier's own tests (arm64_*_test.c): RAM where QEMU virt has it,
 * and their position-independent guests at its start. */
#define TEST_ARM64_RAM_BASE 0x40000000ull
#define TEST_ARM64_RAM_SIZE (64u << 10)
/* test_vm_create_at() there: @image (not empty) at TEST_ARM64_RAM_BASE,
 * vCPU 0 created, not initialised (kvmhost_arm64_vcpu_init() is the test's). */
void test_vm_create_arm64(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size);

/* The arm64 tier's machine tests (kvmhost_machine_*, on the Image guests of tests/guests-arm64). */
struct kvmhost_machine;
struct kvmhost_machine_options;
struct kvmhost_machine_serial;
/* @o and @s zeroed, then: machine @name booting the Image @image with "console=ttyS0", 64 MiB of RAM, one vCPU,
 * no devices, the serial port's output to @out_fd and no input. The test sets what differs. */
void test_machine_options_arm64(struct kvmhost_machine_options *o, struct kvmhost_machine_serial *s, const char *name,
				const void *image, size_t image_size, int out_fd);
/* kvmhost_machine_create(@o), or SKIP when KVM is unusable (an error naming /dev/kvm). */
struct kvmhost_machine *test_machine_create(const struct kvmhost_machine_options *o);
/* What was written to @fd (a memfd: read from offset 0), NUL-terminated in @buf of @size bytes. */
void test_read_fd(int fd, char *buf, size_t size);
#endif

#endif

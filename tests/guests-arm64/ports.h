/*
 * The arm64 twins of the x86 tiny guests (tests/guests/<name>.S -> tests/guests-arm64/<name>.S, same name, same
 * behaviour) have no port I/O: an x86 guest's OUT to port P is here a store to KVMHOST_GUEST_ARM64_PORT(P), an
 * MMIO address outside every test's RAM and devices; its HLT (WFI never exits to userspace) is a store to
 * KVMHOST_GUEST_ARM64_HALT. Ports are 8 bytes apart so that every store to one is aligned: with the MMU off
 * (KVM_ARM_VCPU_INIT's reset state) data accesses are Device memory, where an unaligned one is an alignment
 * fault. Included by the guests (through guest.inc, which adds their assembler macros) and by
 * tests/kvm/kvm_test_util.h.
 */
#ifndef KVMHOST_GUEST_ARM64_PORTS_H
#define KVMHOST_GUEST_ARM64_PORTS_H

#define KVMHOST_GUEST_ARM64_PORT_BASE 0x30000000
#define KVMHOST_GUEST_ARM64_PORT(p)   (KVMHOST_GUEST_ARM64_PORT_BASE + 8 * (p))
#define KVMHOST_GUEST_ARM64_HALT      KVMHOST_GUEST_ARM64_PORT(0x10000)

#endif

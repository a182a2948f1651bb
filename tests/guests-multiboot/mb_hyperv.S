/*
 * A tiny Multiboot kernel that asks KVM's Hyper-V emulation what a Windows guest would, then writes what it
 * found to the debug-exit port (0xf4): 0 when every check passed, else the number of the first that failed:
 *   1  CPUID 0x40000000 is "Microsoft Hv" with a maximum leaf of at least 0x40000005
 *   2  CPUID 0x40000001 is the "Hv#1" interface
 *   3  CPUID 0x40000003 offers the hypercall, VP index and reference-time MSRs
 *   4  KVM's own leaves moved to 0x40000100 ("KVMKVMKVM")
 *   5  HV_X64_MSR_VP_INDEX (0x40000002) reads 0 on the boot vCPU (after the guest OS id is set)
 *   6  HV_X64_MSR_TIME_REF_COUNT (0x40000020) moves on (100 ns units) across a busy loop
 * tests/kvm/machine_hyperv_test.c boots it with and without the enlightenments.
 */
#include "mb_header.h"
#define DEBUG_EXIT 0xf4
#define HV_X64_MSR_GUEST_OS_ID 0x40000000
#define HV_X64_MSR_VP_INDEX 0x40000002
#define HV_X64_MSR_TIME_REF_COUNT 0x40000020
#define PRIVILEGES 0x262 /* TIME_REF_COUNT (1) | HYPERCALL (5) | VP_INDEX (6) | REFERENCE_TSC (9) */

	MULTIBOOT_START

entry:
	mov $1, %edi
	mov $0x40000000, %eax
	cpuid
	cmp $0x7263694d, %ebx /* "Micr" */
	jne fail
	cmp $0x666f736f, %ecx /* "osof" */
	jne fail
	cmp $0x76482074, %edx /* "t Hv" */
	jne fail
	cmp $0x40000005, %eax
	jb fail

	mov $2, %edi
	mov $0x40000001, %eax
	cpuid
	cmp $0x31237648, %eax /* "Hv#1" */
	jne fail

	mov $3, %edi
	mov $0x40000003, %eax
	cpuid
	and $PRIVILEGES, %eax
	cmp $PRIVILEGES, %eax
	jne fail

	mov $4, %edi
	mov $0x40000100, %eax
	cpuid
	cmp $0x4b4d564b, %ebx /* "KVMK" */
	jne fail

	mov $5, %edi
	mov $HV_X64_MSR_GUEST_OS_ID, %ecx
	mov $0x00010000, %edx /* an open-source OS id (TLFS: bit 63 set) with a made-up vendor */
	or $0x80000000, %edx
	xor %eax, %eax
	wrmsr
	mov $HV_X64_MSR_VP_INDEX, %ecx
	rdmsr
	test %eax, %eax
	jnz fail

	mov $6, %edi
	mov $HV_X64_MSR_TIME_REF_COUNT, %ecx
	rdmsr
	mov %eax, %esi
	mov $2000000, %ebx
1:	dec %ebx
	jnz 1b
	mov $HV_X64_MSR_TIME_REF_COUNT, %ecx
	rdmsr
	cmp %esi, %eax
	je fail

	xor %edi, %edi
fail:
	mov %edi, %eax
	mov $DEBUG_EXIT, %dx
	outl %eax, %dx
2:	hlt
	jmp 2b

	.balign 4
load_end:

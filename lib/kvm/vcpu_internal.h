/*
 * Private layout of the vCPU object, shared by the vCPU files of lib/kvm
 * (vcpu.c, vcpu_run.c, exit_decode.c) and the arch register-state code in
 * lib/arch/<arch>/.
 */
#ifndef KVMHOST_VCPU_INTERNAL_H
#define KVMHOST_VCPU_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <kvmhost/vcpu.h>

#include "kvm_internal.h"

struct kvmhost_vcpu {
	struct kh_vm_child child; /* on vm->children; kvmhost_vm_destroy() frees us */
	struct kvmhost_vm *vm;
	int fd;
	uint32_t id;
	int kick_signal;     /* copied from the system at creation */
	struct kvm_run *run; /* shared with KVM, vm->sys->vcpu_mmap_size bytes */
	size_t run_size;
	/*
	 * The thread inside kvmhost_vcpu_run(), for kvmhost_vcpu_kick(). Both
	 * fields are read by kick from any thread (or a signal handler), so they
	 * are only touched with __atomic builtins; @thread is valid while
	 * @in_run is 1. See vcpu_run.c for the ordering argument.
	 */
	pthread_t thread;
	int in_run;
	struct kvmhost_exit exit; /* the last decoded exit, handed out by run */
};

#define KH_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Install the library's no-op handler for @sys's kick signal, once per
 * process and signal, unless the embedder opted out or already handles that
 * signal (vcpu_run.c). Called when a vCPU is created. */
void kh_kick_handler_install(const struct kvmhost_system *sys);

/* Fill vcpu->exit from vcpu->run after KVM_RUN returned 0 (exit_decode.c). */
void kh_vcpu_decode_exit(struct kvmhost_vcpu *vcpu);

/* Fill vcpu->exit for a KVM_RUN interrupted by a kick or a signal (exit_decode.c). */
void kh_vcpu_set_kicked_exit(struct kvmhost_vcpu *vcpu);

#endif

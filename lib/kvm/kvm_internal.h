/*
 * Private layout of the system and VM objects, shared with the layers above
 * (memory slots, vCPUs, events). The layers above attach their objects to a
 * VM as "children" so that kvmhost_vm_destroy() can tear them down without
 * the VM code depending on them.
 */
#ifndef KVMHOST_KVM_INTERNAL_H
#define KVMHOST_KVM_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <kvmhost/system.h>
#include <kvmhost/vm.h>

struct kvmhost_system {
	int fd;
	int kick_signal;
	uint32_t flags;
	int vcpu_mmap_size;
	int max_vcpus;
	int max_memslots;
};

/* An object owned by a VM, destroyed (in reverse order of attachment) when
 * the VM is destroyed unless its owner detached it first. */
struct kh_vm_child {
	struct kh_vm_child *next, *prev;
	void (*destroy)(struct kh_vm_child *child);
};

struct kvmhost_memory;

struct kvmhost_vm {
	struct kvmhost_system *sys;
	int fd;
	char name[32];
	struct kvmhost_memory *mem;  /* guest physical map; KVM slots on top */
	pthread_mutex_t lock;	     /* children, slots, irqchip state */
	struct kh_vm_child children; /* list head */
	int irqchip;		     /* 0, or enum kvmhost_x86_irqchip */
	void *arch_irqchip;	     /* arm64: its vGIC (lib/arch/arm64/gic_arm64.c), or NULL */
	int vcpu_count;
	int manual_dirty_protect; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
};

void kh_vm_attach_child(struct kvmhost_vm *vm, struct kh_vm_child *child);
void kh_vm_detach_child(struct kvmhost_vm *vm, struct kh_vm_child *child);

/* Memory map lifetime, provided by lib/memory (a leaf data structure that
 * knows nothing of KVM: it gets the owner's name, for its messages, and the
 * number of KVM slots, for the VM side's slot allocator) for the VM that
 * embeds one. */
int kh_memory_new(struct kvmhost_memory **out, const char *owner_name, int max_slots);
void kh_memory_free(struct kvmhost_memory *mem);

#endif

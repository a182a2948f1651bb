/**
 * @file vm.h
 * @brief Virtual machines: creation, capabilities and interrupt delivery.
 *
 * Any number of VMs may exist per process and per system handle; they share
 * nothing. Memory is in memory.h, vCPUs in vcpu.h, ioeventfd/irqfd in
 * events.h, x86-only VM calls (irqchip, PIT, TSS, clock) in x86.h.
 *
 * Thread safety: kvmhost_vm_set_irq_line(), kvmhost_vm_signal_msi(), and the
 * getters are safe from any thread. kvmhost_vm_set_gsi_routing() is
 * serialised internally. kvmhost_vm_destroy() must run after every vCPU
 * thread stopped using the VM.
 */
#ifndef KVMHOST_VM_H
#define KVMHOST_VM_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_system;
struct kvm_irq_routing_entry;

/** Opaque handle on a VM. */
struct kvmhost_vm;

/** Options for kvmhost_vm_create(); same size rules as kvmhost_system_options. */
struct kvmhost_vm_options {
	size_t size;	    /**< sizeof(struct kvmhost_vm_options) */
	unsigned long type; /**< machine type passed to KVM_CREATE_VM; 0 is the default */
	const char *name;   /**< name used in log and error messages; copied; may be NULL */
};

/**
 * Create a VM.
 * @param sys  an open system handle
 * @param opts options, or NULL for defaults
 * @param out  receives the VM
 * @return 0 or a negative errno (-EINVAL, -E2BIG, -ENOMEM, or KVM_CREATE_VM's error).
 */
KVMHOST_API int kvmhost_vm_create(struct kvmhost_system *sys, const struct kvmhost_vm_options *opts,
				  struct kvmhost_vm **out);

/**
 * Destroy a VM with its vCPUs and memory regions. Handles derived from it
 * become invalid. NULL is ignored. No vCPU of this VM may be running.
 * @param vm the VM
 */
KVMHOST_API void kvmhost_vm_destroy(struct kvmhost_vm *vm);

/**
 * Return the VM's file descriptor, or -EINVAL for NULL.
 * @param vm the VM
 * @return the VM's file descriptor, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_vm_fd(const struct kvmhost_vm *vm);

/**
 * Return the system handle the VM was created from (NULL for NULL).
 * @param vm the VM
 * @return the system handle the VM was created from (NULL for NULL).
 */
KVMHOST_API struct kvmhost_system *kvmhost_vm_system(const struct kvmhost_vm *vm);

/**
 * Return the VM's name ("vm<N>" when none was given); never NULL.
 * @param vm the VM
 * @return the VM's name ("vm<N>" when none was given); never NULL.
 */
KVMHOST_API const char *kvmhost_vm_name(const struct kvmhost_vm *vm);

/**
 * KVM_CHECK_EXTENSION on the VM fd: per-VM capability values.
 * @param vm the VM
 * @param cap the KVM_CAP_* number
 * @return KVM's value for the capability (0: not supported); a negative errno.
 */
KVMHOST_API int kvmhost_vm_check_extension(struct kvmhost_vm *vm, long cap);

/**
 * Enable a VM capability (KVM_ENABLE_CAP on the VM fd).
 * @param args four arguments, or NULL for all zero
 * @param vm the VM
 * @param cap the KVM_CAP_* number
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_vm_enable_cap(struct kvmhost_vm *vm, uint32_t cap, const uint64_t *args);

/**
 * Set the level of an interrupt line (KVM_IRQ_LINE). Needs an in-kernel
 * irqchip. For edge-triggered lines pulse 1 then 0.
 * @param gsi   global system interrupt number
 * @param level 0 or 1
 * @param vm the VM
 * @return 0; -EINVAL for NULL or a level other than 0 or 1; KVM's error.
 */
KVMHOST_API int kvmhost_vm_set_irq_line(struct kvmhost_vm *vm, uint32_t gsi, int level);

/**
 * Inject one MSI (KVM_SIGNAL_MSI).
 * @param vm the VM
 * @param address the MSI address
 * @param data the MSI data
 * @param devid the requester id (with KVM_MSI_VALID_DEVID)
 * @param flags KVM_MSI_* flags, e.g. KVM_MSI_VALID_DEVID; 0 usually
 * @return 0 if delivered; -ECANCELED if the guest blocked it; other negative errno.
 */
KVMHOST_API int kvmhost_vm_signal_msi(struct kvmhost_vm *vm, uint64_t address, uint32_t data, uint32_t devid,
				      uint32_t flags);

/**
 * Replace the VM's GSI routing table (KVM_SET_GSI_ROUTING).
 * @param entries routing entries (may be NULL when @p count is 0)
 * @param count   number of entries; at most KVM_CAP_IRQ_ROUTING's value
 * @param vm the VM
 * @return 0; -EINVAL for NULL or too many entries; KVM's error.
 */
KVMHOST_API int kvmhost_vm_set_gsi_routing(struct kvmhost_vm *vm, const struct kvm_irq_routing_entry *entries,
					   uint32_t count);

/**
 * Create an in-kernel device (KVM_CREATE_DEVICE), e.g. a VFIO device or an
 * arm64 vGIC.
 * @param type  KVM_DEV_TYPE_*
 * @param fd    receives the device fd; the caller owns and closes it
 * @param vm the VM
 * @param flags KVM_CREATE_DEVICE_* flags (KVM_CREATE_DEVICE_TEST: only check)
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_vm_create_device(struct kvmhost_vm *vm, uint32_t type, uint32_t flags, int *fd);

#ifdef __cplusplus
}
#endif

#endif

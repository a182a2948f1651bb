/**
 * @file system.h
 * @brief The KVM system handle: /dev/kvm, its API version and capabilities.
 *
 * A kvmhost_system is the root object. VMs are created from it
 * (see vm.h). Architecture-specific queries (supported CPUID, MSR lists)
 * live in arch headers such as x86.h.
 *
 * Thread safety: a system handle may be used from any thread once opened;
 * all query functions are thread-safe. kvmhost_system_close() must not run
 * concurrently with any other use, and only after every VM made from it is
 * destroyed.
 */
#ifndef KVMHOST_SYSTEM_H
#define KVMHOST_SYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque handle on an open KVM device. */
struct kvmhost_system;

/** Do not install the library's no-op handler for the kick signal; the
 * embedder installs its own (it must not use SA_RESETHAND). */
#define KVMHOST_SYSTEM_NO_KICK_HANDLER (1u << 0)

/**
 * Options for kvmhost_system_open(). Zero-initialise, set @c size to
 * sizeof(struct kvmhost_system_options), then set what you need. Fields added
 * in later versions go at the end; the library accepts older (smaller)
 * structs, and newer (larger) ones if the bytes it does not know are zero.
 */
struct kvmhost_system_options {
	size_t size;		 /**< sizeof(struct kvmhost_system_options) */
	const char *device_path; /**< KVM device node; NULL means "/dev/kvm" */
	int kick_signal;	 /**< signal used by kvmhost_vcpu_kick(); 0 means SIGRTMIN + 1 */
	uint32_t flags;		 /**< KVMHOST_SYSTEM_* flags */
};

/**
 * Open the KVM device and check its API version (must be 12).
 * @param opts options, or NULL for defaults
 * @param out  receives the new handle
 * @return 0; -ENOENT/-EACCES/... from open(); -EINVAL for bad arguments or
 *         options; -E2BIG if @p opts is newer than the library and its unknown
 *         tail is not zero; -ENOTSUP if the API version is not 12.
 */
KVMHOST_API int kvmhost_system_open(const struct kvmhost_system_options *opts, struct kvmhost_system **out);

/**
 * Close the handle. NULL is ignored.
 * @param sys the system handle (system.h)
 */
KVMHOST_API void kvmhost_system_close(struct kvmhost_system *sys);

/**
 * Return the file descriptor of the KVM device, or -EINVAL for NULL.
 * @param sys the system handle (system.h)
 * @return the file descriptor of the KVM device, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_system_fd(const struct kvmhost_system *sys);

/**
 * Ask KVM about a capability (KVM_CHECK_EXTENSION on the system fd).
 * @param cap a KVM_CAP_* value from <linux/kvm.h>
 * @param sys the system handle (system.h)
 * @return the capability's value (0 when absent, often 1 when present),
 *         or a negative errno.
 */
KVMHOST_API int kvmhost_system_check_extension(struct kvmhost_system *sys, long cap);

/**
 * Return the size of each vCPU's shared kvm_run mapping, or a negative errno.
 * @param sys the system handle (system.h)
 * @return the size of each vCPU's shared kvm_run mapping, or a negative errno.
 */
KVMHOST_API int kvmhost_system_vcpu_mmap_size(struct kvmhost_system *sys);

/** Return the most vCPUs KVM allows in one VM (KVM_CAP_MAX_VCPUS, falling back
 * to KVM_CAP_NR_VCPUS, then to 4 as api.rst says), or a negative errno.
 * @param sys the system handle (system.h)
 * @return the most vCPUs KVM allows in one VM (KVM_CAP_MAX_VCPUS, falling back to KVM_CAP_NR_VCPUS, then to 4 as
 * api.rst says), or a negative errno.
 */
KVMHOST_API int kvmhost_system_max_vcpus(struct kvmhost_system *sys);

/** Return the number of memory slots a VM may use (KVM_CAP_NR_MEMSLOTS), or a
 * negative errno.
 * @param sys the system handle (system.h)
 * @return the number of memory slots a VM may use (KVM_CAP_NR_MEMSLOTS), or a negative errno.
 */
KVMHOST_API int kvmhost_system_max_memslots(struct kvmhost_system *sys);

/**
 * Return the signal number kvmhost_vcpu_kick() uses with this system.
 * @param sys the system handle (system.h)
 * @return the signal number kvmhost_vcpu_kick() uses with this system.
 */
KVMHOST_API int kvmhost_system_kick_signal(const struct kvmhost_system *sys);

#ifdef __cplusplus
}
#endif

#endif

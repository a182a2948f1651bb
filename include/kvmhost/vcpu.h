/**
 * @file vcpu.h
 * @brief vCPUs: creation, the run call with its decoded exit, and the kick.
 *
 * The normal model is one thread per vCPU calling kvmhost_vcpu_run() in a
 * loop and handing I/O exits to a bus (bus.h). Register state common to all
 * architectures is reached through ONE_REG and MP state here; x86 register
 * sets are in x86.h.
 *
 * Thread safety: kvmhost_vcpu_kick() is safe from any thread at any time
 * while the vCPU exists. Every other call on a vCPU must come from one thread
 * at a time (normally the vCPU's own thread); state get/set calls must not
 * overlap a running kvmhost_vcpu_run() on that vCPU.
 */
#ifndef KVMHOST_VCPU_H
#define KVMHOST_VCPU_H

#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;
struct kvm_run;
struct kvm_mp_state;

/** Opaque handle on a vCPU. */
struct kvmhost_vcpu;

/** Why kvmhost_vcpu_run() returned. */
enum kvmhost_exit_reason {
	KVMHOST_EXIT_UNKNOWN = 0,	   /**< a KVM exit the library does not decode: see kvm_exit_reason */
	KVMHOST_EXIT_IO = 1,		   /**< port I/O: see io */
	KVMHOST_EXIT_MMIO = 2,		   /**< MMIO outside memory slots: see mmio */
	KVMHOST_EXIT_HLT = 3,		   /**< HLT with no in-kernel LAPIC */
	KVMHOST_EXIT_SHUTDOWN = 4,	   /**< triple fault or similar: the VM must reset */
	KVMHOST_EXIT_SYSTEM_EVENT = 5,	   /**< reset/shutdown/crash requested: see system_event */
	KVMHOST_EXIT_INTERNAL_ERROR = 6,   /**< KVM could not continue: see internal */
	KVMHOST_EXIT_FAIL_ENTRY = 7,	   /**< VM entry failed: see fail_entry */
	KVMHOST_EXIT_KICKED = 8,	   /**< interrupted by kvmhost_vcpu_kick() or a signal */
	KVMHOST_EXIT_DEBUG = 9,		   /**< debug exception with guest debugging on */
	KVMHOST_EXIT_IRQ_WINDOW_OPEN = 10, /**< the guest can take an interrupt (userspace irqchip) */
	KVMHOST_EXIT_HYPERCALL = 11,	   /**< see hypercall */
	KVMHOST_EXIT_X86_RDMSR = 12,	   /**< MSR read to be handled by userspace: see msr */
	KVMHOST_EXIT_X86_WRMSR = 13,	   /**< MSR write to be handled by userspace: see msr */
	KVMHOST_EXIT_IOAPIC_EOI = 14,	   /**< split irqchip: EOI of a level-triggered vector */
};

/**
 * A decoded vCPU exit. The library owns it; it stays valid until the next
 * kvmhost_vcpu_run() on the same vCPU. Later versions only append fields.
 */
struct kvmhost_exit {
	enum kvmhost_exit_reason reason; /**< decoded reason */
	uint32_t kvm_exit_reason;	 /**< raw KVM_EXIT_* value */
	union {
		/** KVMHOST_EXIT_IO. For reads, fill data before the next run. */
		struct {
			uint16_t port;	  /**< first port */
			uint8_t size;	  /**< access size: 1, 2 or 4 */
			uint8_t is_write; /**< 1 for OUT, 0 for IN */
			uint32_t count;	  /**< number of accesses (REP string I/O) */
			uint8_t *data;	  /**< size * count bytes, inside the vCPU's kvm_run page */
		} io;
		/** KVMHOST_EXIT_MMIO. For reads, fill data before the next run. */
		struct {
			uint64_t addr;	  /**< guest physical address */
			uint32_t len;	  /**< 1 to 8 bytes */
			uint8_t is_write; /**< 1 for a store */
			uint8_t *data;	  /**< len bytes */
		} mmio;
		/** KVMHOST_EXIT_SYSTEM_EVENT. */
		struct {
			uint32_t type;	      /**< KVM_SYSTEM_EVENT_* */
			uint32_t ndata;	      /**< entries in data */
			const uint64_t *data; /**< event data */
		} system_event;
		/** KVMHOST_EXIT_INTERNAL_ERROR. */
		struct {
			uint32_t suberror;    /**< KVM_INTERNAL_ERROR_* */
			uint32_t ndata;	      /**< entries in data */
			const uint64_t *data; /**< extra data KVM gave */
			uint8_t insn_len;     /**< bytes in insn, 0 when KVM gave none */
			uint8_t insn[15];     /**< the instruction KVM failed to emulate */
		} internal;
		/** KVMHOST_EXIT_FAIL_ENTRY. */
		struct {
			uint64_t hardware_reason; /**< VMX/SVM specific code */
			uint32_t cpu;		  /**< host CPU */
		} fail_entry;
		/** KVMHOST_EXIT_HYPERCALL. Set *ret before the next run. */
		struct {
			uint64_t nr;	      /**< hypercall number */
			const uint64_t *args; /**< six arguments */
			uint64_t *ret;	      /**< return value to the guest */
		} hypercall;
		/** KVMHOST_EXIT_X86_RDMSR / KVMHOST_EXIT_X86_WRMSR. */
		struct {
			uint32_t index; /**< MSR number */
			uint8_t *error; /**< set to 1 to inject \#GP */
			uint64_t *data; /**< value written, or to fill for a read */
		} msr;
		/** KVMHOST_EXIT_IOAPIC_EOI. */
		struct {
			uint8_t vector; /**< EOI'd vector */
		} eoi;
	};
};

/**
 * Create vCPU @p id in @p vm and map its kvm_run page. The first vCPU made
 * from a system handle also installs the kick signal handler (see
 * kvmhost_vcpu_kick()).
 * @param vm the VM
 * @param id the vCPU id (x86: its APIC ID)
 * @param out receives the new vCPU
 * @return 0; -EINVAL for NULL or an id at or above the system's max vCPUs;
 *         -EEXIST if the id exists, or existed: KVM keeps a vCPU until its VM
 *         is destroyed, so a destroyed vCPU's id cannot be reused;
 *         KVM_CREATE_VCPU's error.
 */
KVMHOST_API int kvmhost_vcpu_create(struct kvmhost_vm *vm, uint32_t id, struct kvmhost_vcpu **out);

/** Destroy a vCPU: unmap kvm_run, close its fd, free the handle. It must not
 * be running. NULL is ignored. kvmhost_vm_destroy() destroys the vCPUs left.
 * KVM itself keeps the vCPU (and its id) until the VM is destroyed.
 * @param vcpu the vCPU
 */
KVMHOST_API void kvmhost_vcpu_destroy(struct kvmhost_vcpu *vcpu);

/**
 * Return the vCPU's file descriptor, or -EINVAL.
 * @param vcpu the vCPU
 * @return the vCPU's file descriptor, or -EINVAL.
 */
KVMHOST_API int kvmhost_vcpu_fd(const struct kvmhost_vcpu *vcpu);
/**
 * Return the vCPU id given at creation (0 for NULL).
 * @param vcpu the vCPU
 * @return the vCPU id given at creation (0 for NULL).
 */
KVMHOST_API uint32_t kvmhost_vcpu_id(const struct kvmhost_vcpu *vcpu);
/**
 * Return the VM a vCPU belongs to.
 * @param vcpu the vCPU
 * @return the VM a vCPU belongs to.
 */
KVMHOST_API struct kvmhost_vm *kvmhost_vcpu_vm(const struct kvmhost_vcpu *vcpu);
/**
 * Return the raw kvm_run page, for exits the library does not decode.
 * @param vcpu the vCPU
 * @return the raw kvm_run page, for exits the library does not decode.
 */
KVMHOST_API struct kvm_run *kvmhost_vcpu_kvm_run(struct kvmhost_vcpu *vcpu);

/**
 * Run the vCPU until it exits to userspace, and decode the exit. One KVM_RUN
 * per call: the library never loops, so every exit reaches the caller.
 * Consumes a pending kick: if kvmhost_vcpu_kick() was called since the last
 * return, this returns KVMHOST_EXIT_KICKED at once without entering the guest.
 * KVMHOST_EXIT_KICKED is also returned when another signal interrupted
 * KVM_RUN (EINTR) or KVM asked to be called again (EAGAIN, e.g. an AP still
 * waiting for INIT/SIPI); in every case just run again when ready.
 * For IN, MMIO reads, RDMSR and hypercalls, write the answer through the
 * exit's data pointer before the next run (KVM completes the access then).
 * @param exit receives the decoded exit (valid until the next run); NULL on
 *             failure
 * @param vcpu the vCPU
 * @return 0 with *exit set (KVMHOST_EXIT_KICKED included); a negative errno
 *         if KVM_RUN failed for another reason (the error message says why).
 */
KVMHOST_API int kvmhost_vcpu_run(struct kvmhost_vcpu *vcpu, const struct kvmhost_exit **exit);

/**
 * Make the vCPU's current or next kvmhost_vcpu_run() return
 * KVMHOST_EXIT_KICKED promptly, even if the guest spins with interrupts off.
 * Race-free: a kick that arrives just before the vCPU thread enters the guest
 * is not lost (it uses kvm_run.immediate_exit plus a signal to the thread).
 * Kicks are not counted: several before one run give one KICKED exit.
 * Safe from any thread, including signal handlers (on success it only
 * stores to memory and calls pthread_kill()).
 *
 * The signal is the system's kick signal (kvmhost_system_kick_signal()).
 * Unless the system was opened with KVMHOST_SYSTEM_NO_KICK_HANDLER, the
 * library installs a no-op handler for it (without SA_RESTART) when the
 * first vCPU is created, but only if the signal is at SIG_DFL; an ignored
 * signal or an embedder's handler is left alone with a warning in the log
 * (ignored: a kick then only stops the vCPU at its next entry). Rules for
 * the embedder: the vCPU thread must not block the kick signal while it runs
 * the vCPU, and a thread that ran the vCPU must not be joined while another
 * thread may still be inside kvmhost_vcpu_kick() for it (kicking and then
 * joining from the same thread is fine).
 * @param vcpu the vCPU
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_vcpu_kick(struct kvmhost_vcpu *vcpu);

/**
 * Get the vCPU's multiprocessing state (KVM_GET_MP_STATE).
 * @param vcpu the vCPU
 * @param state receives the state
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_vcpu_get_mp_state(struct kvmhost_vcpu *vcpu, struct kvm_mp_state *state);
/**
 * Set the vCPU's multiprocessing state (KVM_SET_MP_STATE).
 * @param vcpu the vCPU
 * @param state the new state
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_vcpu_set_mp_state(struct kvmhost_vcpu *vcpu, const struct kvm_mp_state *state);

/**
 * Read one register by its KVM ONE_REG id into @p value (sized by the id).
 * @param vcpu the vCPU
 * @param id the register's KVM_REG_* id
 * @param value receives the value; as many bytes as the id's size field says
 * @return 0; -EINVAL for NULL; KVM's error (-ENOENT for an unknown register).
 */
KVMHOST_API int kvmhost_vcpu_get_one_reg(struct kvmhost_vcpu *vcpu, uint64_t id, void *value);
/**
 * Write one register by its KVM ONE_REG id.
 * @param vcpu the vCPU
 * @param id the register's KVM_REG_* id
 * @param value the new value; as many bytes as the id's size field says
 * @return 0; -EINVAL for NULL; KVM's error.
 */
KVMHOST_API int kvmhost_vcpu_set_one_reg(struct kvmhost_vcpu *vcpu, uint64_t id, const void *value);

/**
 * Enable a per-vCPU capability (KVM_ENABLE_CAP on the vCPU, e.g.
 * KVM_CAP_HYPERV_SYNIC2); the VM-wide ones are kvmhost_vm_enable_cap()'s.
 * @param args the capability's four arguments, or NULL for zeros
 * @param vcpu the vCPU
 * @param cap the KVM_CAP_* number
 * @return 0; -EINVAL for NULL; KVM's error (-EINVAL for a capability it does
 *         not have per vCPU)
 */
KVMHOST_API int kvmhost_vcpu_enable_cap(struct kvmhost_vcpu *vcpu, uint32_t cap, const uint64_t *args);

/**
 * Return a static name for an exit reason ("io", "mmio", ...).
 * @param reason an exit reason
 * @return a static name for an exit reason ("io", "mmio", ...).
 */
KVMHOST_API const char *kvmhost_exit_reason_name(enum kvmhost_exit_reason reason);

#ifdef __cplusplus
}
#endif

#endif

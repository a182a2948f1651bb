/**
 * @file machine.h
 * @brief A whole virtual machine in one object: what the primitives (vm.h,
 * vcpu.h, memory.h, the devices, virtio, the boot loaders and platform
 * tables) assemble, with its threads, lifecycle, events and statistics.
 *
 * One options struct names the machine (kernel, RAM, vCPUs, serial console,
 * virtio devices, transport, name); kvmhost_machine_create() validates all
 * of it and builds everything, or nothing. The primitives stay public, and
 * kvmhost_machine_vm(), kvmhost_machine_memory() and kvmhost_machine_vcpu()
 * hand them out for what this layer does not cover. Architecture specifics
 * (x86: CPUID, the debug-exit port, the ACPI and MP tables) come through
 * @c arch_options, a struct of the architecture's own header
 * (kvmhost/machine_x86.h); this header is the same for every architecture.
 * Any number of machines may live in one process: nothing is global.
 *
 * **Lifecycle.**
 * ```
 *  create -> CREATED --start--> RUNNING <--pause/resume--> PAUSED
 *                |                 |                         |
 *                +------stop-------+---------stop / guest----+--> STOPPED --destroy
 * ```
 * A machine stops once, for one reason (enum kvmhost_machine_stop_reason,
 * kvmhost_machine_get_stop_info()): the guest powered off, reset (when
 * @c on_reset is KVMHOST_MACHINE_RESET_STOP), wrote the debug-exit port,
 * failed (a KVM internal error, a failed entry, a crash: the exit's details
 * are kept), a host-side failure, or kvmhost_machine_stop(). With
 * KVMHOST_MACHINE_RESET_REBOOT a guest reset (a triple fault, the ACPI reset
 * register, the i8042 reset line, KVM's reset event, or
 * kvmhost_machine_request_reset()) reboots the machine instead: the vCPUs
 * park, the devices are reset, the kernel is loaded again and the boot vCPU
 * starts it, and a KVMHOST_MACHINE_EVENT_REBOOTED event says so.
 *
 * **Pause means quiet.** When kvmhost_machine_pause() returns 0, every vCPU
 * is out of KVM_RUN and parked, and no device writes guest memory or raises
 * an interrupt: the I/O side serves no queue notification, reads no network
 * packet and no console or serial input, block requests in flight have
 * completed (their data is in the image file, their used entries and
 * interrupts delivered), and the embedder's own devices were asked to stop
 * (struct kvmhost_machine_device_ops.pause). Kicks the guest made before
 * the pause wait in their eventfds and are served after
 * kvmhost_machine_resume(), which undoes the pause exactly. Guest memory,
 * both dirty logs (kvmhost_vm_get_dirty_log(),
 * kvmhost_memory_fetch_vmm_dirty()) and the device state stay unchanged
 * while paused, which is what a snapshot or the last pass of a migration
 * needs. The in-kernel timers (PIT, LAPIC timer) keep counting: their
 * interrupts are only delivered when the vCPUs run again.
 *
 * **Threads.** By default the machine runs one thread per vCPU and one I/O
 * thread running a kvmhost_loop that serves the devices (virtio
 * notifications, block completions' follow-ups, network, console and serial
 * input). With KVMHOST_MACHINE_EXTERNAL_IO there is no I/O thread: the
 * embedder watches kvmhost_machine_io_fd() in its own event loop and calls
 * kvmhost_machine_dispatch() when it is readable (from one thread at a
 * time). The machine's threads start with every signal blocked except the
 * kick signal (vcpu.h). virtio-blk has I/O threads of its own
 * (virtio/block.h).
 *
 * | call | safe from |
 * |------|-----------|
 * | kvmhost_machine_create() | any thread |
 * | start, pause, resume, wait | any thread but the machine's own (its vCPU and I/O threads, the dispatch call, the
 * event callback): there they fail with -EDEADLK. Calls are serialised per machine | | stop, request_reset,
 * request_poweroff | any thread, the event callback included (they only ask; not from signal handlers) | | get_state,
 * get_stop_info, get_vcpu_stats, get_device_stats, next_event, event_fd, io_fd, the accessors | any thread, any time
 * while the machine exists | | dispatch | one thread at a time, never the event callback | | destroy | one thread, once
 * nothing else uses the machine; not from its own threads |
 *
 * **Events.** Each event (struct kvmhost_machine_event) goes to the
 * @c on_event callback, called in the thread that saw it (a vCPU thread, the
 * I/O thread, or the thread calling start/pause/resume) with no machine lock
 * held, and into a queue of KVMHOST_MACHINE_EVENT_QUEUE entries read with
 * kvmhost_machine_next_event(); kvmhost_machine_event_fd() is readable while
 * the queue holds events. A full queue drops its oldest event (the sequence
 * numbers show the gap).
 *
 * Every value from the guest is treated as hostile: a guest can stop its own
 * machine (that is what power-off, reset and errors do), never another, and
 * never the process.
 */
#ifndef KVMHOST_MACHINE_H
#define KVMHOST_MACHINE_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vm;
struct kvmhost_vcpu;
struct kvmhost_memory;
struct kvmhost_system;
struct kvmhost_virtio_device;
struct kvmhost_device_registry;

/** Opaque handle on a machine. */
struct kvmhost_machine;

/** Most vCPUs a machine may have (the x86 tables' limit). */
#define KVMHOST_MACHINE_MAX_VCPUS 254u
/** Most virtio devices a machine may have. */
#define KVMHOST_MACHINE_MAX_DEVICES 8u
/** Events kept for kvmhost_machine_next_event(). */
#define KVMHOST_MACHINE_EVENT_QUEUE 64u
/** Longest machine name or device id, without the NUL. */
#define KVMHOST_MACHINE_NAME_MAX 31u

/** Where guest RAM comes from (memory.h has the details of each). */
enum kvmhost_machine_ram_backing {
	KVMHOST_MACHINE_RAM_ANONYMOUS = 0, /**< anonymous memory; private unless RAM_SHARED (then a memfd) */
	KVMHOST_MACHINE_RAM_MEMFD = 1,	   /**< a memfd per RAM range, mapped shared (vhost-user can map it) */
	KVMHOST_MACHINE_RAM_HUGETLB = 2,   /**< a hugetlbfs memfd, page size @c hugepage_size */
	KVMHOST_MACHINE_RAM_FILE = 3,	   /**< the file @c ram_path (created if missing, grown to the RAM
					    *   size), mapped shared: RAM_SHARED must be set */
};

/** @name RAM flags (kvmhost_machine_options.ram_flags) */
/** @{ */
#define KVMHOST_MACHINE_RAM_SHARED    (1u << 0) /**< map RAM shared (another process may map it too) */
#define KVMHOST_MACHINE_RAM_THP	      (1u << 1) /**< ask for transparent huge pages */
#define KVMHOST_MACHINE_RAM_PREFAULT  (1u << 2) /**< populate RAM at creation */
#define KVMHOST_MACHINE_RAM_LOG_DIRTY (1u << 3) /**< KVM dirty logging on from the start (for migration) */
/** @} */

/** @name Machine flags (kvmhost_machine_options.flags) */
/** @{ */
/** No I/O thread: the embedder serves kvmhost_machine_io_fd() with kvmhost_machine_dispatch(). */
#define KVMHOST_MACHINE_EXTERNAL_IO (1u << 0)
/** Incoming: the machine is the destination of kvmhost_machine_restore() (migration.h). create builds it as
 * usual but loads no kernel, writes no firmware tables and leaves every vCPU waiting (not at the kernel's
 * entry): restore brings the memory and state. The kernel options are still checked (a reboot of the restored
 * machine loads that kernel). */
#define KVMHOST_MACHINE_INCOMING (1u << 1)
/** @} */

/** What a guest reset does (kvmhost_machine_options.on_reset). */
enum kvmhost_machine_reset_policy {
	KVMHOST_MACHINE_RESET_STOP = 0,	  /**< stop with KVMHOST_MACHINE_STOP_RESET */
	KVMHOST_MACHINE_RESET_REBOOT = 1, /**< reboot: devices reset, kernel reloaded, boot vCPU restarted */
};

/** The virtio transport of every device of a machine. */
enum kvmhost_machine_transport {
	KVMHOST_MACHINE_TRANSPORT_MMIO = 0, /**< virtio-mmio, described to the guest by the platform (x86: the DSDT) */
	KVMHOST_MACHINE_TRANSPORT_PCI = 1,  /**< virtio-pci behind a PCI host bridge, MSI-X (and INTx) */
	/** virtio-mmio described on the kernel command line instead (virtio_mmio.device= words appended to
	 * @c cmdline, legacy interrupts; x86: ISA IRQs), for guests without ACPI (Linux with acpi=off and
	 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) */
	KVMHOST_MACHINE_TRANSPORT_MMIO_CMDLINE = 2,
};

/**
 * One vCPU's settings; an array of these is kvmhost_machine_options.vcpus.
 * The array's element size is kvmhost_machine_options.vcpu_size, so a later,
 * bigger element stays compatible: an older caller's smaller element reads
 * the missing fields as zero, a newer caller's bigger one is accepted when
 * the fields this library does not know are zero.
 */
struct kvmhost_machine_vcpu {
	/** Host CPUs the vCPU's thread may run on: a CPU mask as
	 * sched_setaffinity() takes it (a cpu_set_t or a CPU_ALLOC() set); NULL:
	 * no affinity (the thread inherits the creator's). Copied at create. */
	const void *affinity;
	size_t affinity_size; /**< bytes at @c affinity; at most 8192 (65536 CPUs) */
};

/** Kinds of device (kvmhost_machine_device.type). */
enum kvmhost_machine_device_type {
	KVMHOST_MACHINE_DEVICE_BLK = 1,	    /**< virtio-blk on the image @c path */
	KVMHOST_MACHINE_DEVICE_NET = 2,	    /**< virtio-net on the TAP device @c path, or the TAP fd @c in_fd */
	KVMHOST_MACHINE_DEVICE_CONSOLE = 3, /**< virtio-console on @c in_fd / @c out_fd */
	KVMHOST_MACHINE_DEVICE_RNG = 4,	    /**< virtio-rng, fed by getrandom() */
	KVMHOST_MACHINE_DEVICE_CUSTOM = 5,  /**< the embedder's own device on the framework: see @c ops */
};

/** Device flag: virtio-blk is read-only. */
#define KVMHOST_MACHINE_DEVICE_READONLY (1u << 0)
/** Device flag: virtio-console on the Unix socket @c path, which the machine listens on (one client at a
 * time; a stale socket there is replaced, any other file refused; removed at destroy). */
#define KVMHOST_MACHINE_DEVICE_SOCKET (1u << 1)

/**
 * The embedder's own virtio device (KVMHOST_MACHINE_DEVICE_CUSTOM). Size rules
 * as every options struct. The device is made on the machine's guest memory,
 * so the machine asks for it during kvmhost_machine_create().
 */
struct kvmhost_machine_device_ops {
	size_t size; /**< sizeof(struct kvmhost_machine_device_ops) */
	/** Create the device (virtio/device.h) on @p mem, which outlives it.
	 * Required. A negative errno fails the machine's creation. */
	int (*create)(void *opaque, struct kvmhost_memory *mem, struct kvmhost_virtio_device **out);
	/** Destroy it, after the machine disconnected its transport. Required. */
	void (*destroy)(void *opaque, struct kvmhost_virtio_device *dev);
	/** Stop work done outside the device's queue_notify op (its own threads,
	 * timers): after it returns, no guest memory write and no interrupt until
	 * @c resume. NULL: the device works only in queue_notify. */
	int (*pause)(void *opaque);
	/** Undo @c pause. NULL when @c pause is. */
	int (*resume)(void *opaque);
};

/**
 * One virtio device; an array of these is kvmhost_machine_options.devices,
 * whose element size is kvmhost_machine_options.device_size (rules as
 * struct kvmhost_machine_vcpu). The guest finds the devices in array order
 * (virtio-mmio: windows and interrupts in order; pci: slots 1, 2, ...).
 * Note fd 0 is a valid fd: set -1 where no fd is meant.
 */
struct kvmhost_machine_device {
	uint32_t type;	/**< enum kvmhost_machine_device_type */
	uint32_t flags; /**< KVMHOST_MACHINE_DEVICE_* */
	/** Unique id for messages, events and statistics (up to
	 * KVMHOST_MACHINE_NAME_MAX printable characters); NULL: the type and
	 * index, e.g. "blk0". Copied. */
	const char *id;
	/** BLK: the image file (required). NET: the TAP interface name (an
	 * existing one or a new one), or NULL to use @c in_fd. CONSOLE: NULL
	 * for @c in_fd / @c out_fd; else a file the guest's output goes to
	 * (created or truncated; no input), or with KVMHOST_MACHINE_DEVICE_SOCKET
	 * a Unix socket to listen on (input and output). Copied. */
	const char *path;
	/** CONSOLE without @c path: the host side's input (-1: none; read while
	 * the guest has buffers posted). NET without @c path: an open TAP fd.
	 * Not owned; it must stay open until destroy. */
	int in_fd;
	/** CONSOLE without @c path: where the guest's output goes (-1:
	 * discarded). Not owned. */
	int out_fd;
	uint8_t mac[6];	     /**< NET: the MAC address; all zero: 52:54:00:12:34:56 + the device index */
	uint16_t num_queues; /**< BLK: request queues; 0: one per vCPU, at most the device's maximum */
	const struct kvmhost_machine_device_ops *ops; /**< CUSTOM: required; the table must outlive the machine */
	void *opaque;				      /**< CUSTOM: passed to every op */
};

/**
 * The serial console (the platform's first UART: COM1 on x86). Size rules
 * as every options struct. -1 means none (fd 0 is valid).
 */
struct kvmhost_machine_serial {
	size_t size; /**< sizeof(struct kvmhost_machine_serial) */
	int in_fd;   /**< read into the UART while its FIFO has room; -1: no input. Not owned */
	int out_fd;  /**< what the guest transmits is written here; -1: discarded. Not owned */
};

struct kvmhost_machine_event;

/** Event callback; see the file comment for where it runs. */
typedef void (*kvmhost_machine_event_fn)(void *opaque, struct kvmhost_machine *machine,
					 const struct kvmhost_machine_event *event);

/**
 * What a machine is. Size rules as every options struct: set @c size to
 * sizeof; an older caller's smaller struct reads missing fields as zero, a
 * newer caller's bigger one must leave the fields this library does not know
 * zero (-E2BIG otherwise). Strings and arrays are read during
 * kvmhost_machine_create() only, except the kernel and initrd buffers.
 */
struct kvmhost_machine_options {
	size_t size;	  /**< sizeof(struct kvmhost_machine_options) */
	const char *name; /**< for messages and the VM's name (up to KVMHOST_MACHINE_NAME_MAX); NULL: "machine" */

	/** The kernel: a file (read with mmap, private) ... */
	const char *kernel_path;
	/** ... or a buffer (exactly one of the two), which must stay valid and
	 * unchanged until destroy: a reboot loads it again. */
	const void *kernel;
	size_t kernel_size;	 /**< bytes at @c kernel */
	uint32_t kernel_format;	 /**< 0: detect; else the architecture's format (x86: enum
				    kvmhost_x86_boot_format; RAW needs kvmhost_machine_x86_options) */
	const char *initrd_path; /**< initrd / initramfs file (Multiboot: module 0); NULL: none */
	const void *initrd;	 /**< or a buffer (rules as @c kernel) */
	size_t initrd_size;	 /**< bytes at @c initrd */
	const char *cmdline;	 /**< kernel command line; NULL: none. Copied */

	uint64_t ram_size;	/**< bytes of RAM; 4 KiB aligned, at least 2 MiB */
	uint32_t ram_backing;	/**< enum kvmhost_machine_ram_backing */
	uint32_t ram_flags;	/**< KVMHOST_MACHINE_RAM_* */
	const char *ram_path;	/**< RAM_FILE: the file; else NULL */
	uint64_t hugepage_size; /**< RAM_HUGETLB: 0 (the default size), 2 MiB or 1 GiB; else 0 */

	uint32_t vcpu_count; /**< 1 to KVMHOST_MACHINE_MAX_VCPUS (and what KVM allows) */
	uint32_t flags;	     /**< KVMHOST_MACHINE_* flags */
	/** Per-vCPU settings, @c vcpu_count elements of @c vcpu_size bytes;
	 * NULL: defaults for all. */
	const struct kvmhost_machine_vcpu *vcpus;
	size_t vcpu_size; /**< sizeof(struct kvmhost_machine_vcpu) as the caller knows it; 0 with vcpus NULL */

	/** The serial console; NULL: the UART exists, its output is discarded. */
	const struct kvmhost_machine_serial *serial;

	/** virtio devices, @c device_count elements of @c device_size bytes. */
	const struct kvmhost_machine_device *devices;
	uint32_t device_count; /**< at most KVMHOST_MACHINE_MAX_DEVICES */
	uint32_t transport;    /**< enum kvmhost_machine_transport */
	size_t device_size;    /**< sizeof(struct kvmhost_machine_device) as the caller knows it */

	uint32_t on_reset;		   /**< enum kvmhost_machine_reset_policy */
	kvmhost_machine_event_fn on_event; /**< NULL: events only go to the queue */
	void *event_opaque;		   /**< passed to @c on_event */

	/** The architecture's options (x86: struct kvmhost_machine_x86_options,
	 * whose size field is checked); NULL: its defaults. */
	const void *arch_options;
};

/** Where a machine is in its life. */
enum kvmhost_machine_state {
	KVMHOST_MACHINE_CREATED = 1, /**< built, not started */
	KVMHOST_MACHINE_RUNNING = 2, /**< its threads run the guest (a reboot in progress included) */
	KVMHOST_MACHINE_PAUSED = 3,  /**< quiet: see the file comment */
	KVMHOST_MACHINE_STOPPED = 4, /**< for good; see kvmhost_machine_get_stop_info() */
};

/** Why a machine stopped. */
enum kvmhost_machine_stop_reason {
	KVMHOST_MACHINE_STOP_NONE = 0,	      /**< not stopped */
	KVMHOST_MACHINE_STOP_POWEROFF = 1,    /**< the guest powered off (x86: ACPI S5; KVM's shutdown event) */
	KVMHOST_MACHINE_STOP_RESET = 2,	      /**< the guest reset (a triple fault included) and on_reset is STOP */
	KVMHOST_MACHINE_STOP_DEBUG_EXIT = 3,  /**< the guest wrote the debug-exit port: see debug_exit_status */
	KVMHOST_MACHINE_STOP_GUEST_ERROR = 4, /**< KVM cannot go on with the guest: internal error, failed
					       *   entry, a crash event, an exit nobody handles */
	KVMHOST_MACHINE_STOP_HOST_ERROR = 5,  /**< a host-side failure: KVM_RUN failed, a device failed, a
					       *   thread could not start; see error */
	KVMHOST_MACHINE_STOP_REQUESTED = 6,   /**< kvmhost_machine_stop() (or destroy of a running machine) */
	KVMHOST_MACHINE_STOP_MIGRATED = 7,    /**< migrated away: the destination confirmed it runs (migration.h) */
};

/**
 * Why and how a machine stopped: filled by kvmhost_machine_get_stop_info().
 * Output struct: set @c size to sizeof before the call; the library writes
 * at most that many bytes.
 */
struct kvmhost_machine_stop_info {
	size_t size;		    /**< set by the caller: sizeof(struct kvmhost_machine_stop_info) */
	uint32_t reason;	    /**< enum kvmhost_machine_stop_reason */
	uint32_t vcpu;		    /**< the vCPU whose exit or device access stopped it; UINT32_MAX: none */
	int32_t error;		    /**< HOST_ERROR: the negative errno; else 0 */
	uint32_t exit_reason;	    /**< the enum kvmhost_exit_reason of the exit that stopped it (0: none) */
	uint32_t kvm_exit_reason;   /**< its raw KVM_EXIT_* value */
	uint32_t suberror;	    /**< KVMHOST_EXIT_INTERNAL_ERROR: KVM's suberror */
	uint32_t system_event;	    /**< KVMHOST_EXIT_SYSTEM_EVENT: KVM_SYSTEM_EVENT_* */
	uint32_t fail_entry_cpu;    /**< KVMHOST_EXIT_FAIL_ENTRY: the host CPU */
	uint64_t hardware_reason;   /**< KVMHOST_EXIT_FAIL_ENTRY: the VMX/SVM reason */
	uint64_t pc;		    /**< guest instruction pointer at that exit (x86: RIP); 0 if unknown */
	uint64_t debug_exit_status; /**< DEBUG_EXIT: the value the guest wrote */
	uint8_t insn_len;	    /**< INTERNAL_ERROR: bytes in @c insn */
	uint8_t insn[15];	    /**< the instruction bytes KVM gave */
	char message[160];	    /**< one line saying why, e.g. "vCPU 0: triple fault" */
};

/** Kinds of event. */
enum kvmhost_machine_event_type {
	KVMHOST_MACHINE_EVENT_STARTED = 1,	 /**< kvmhost_machine_start() started the threads */
	KVMHOST_MACHINE_EVENT_PAUSED = 2,	 /**< the machine is quiet */
	KVMHOST_MACHINE_EVENT_RESUMED = 3,	 /**< it runs again */
	KVMHOST_MACHINE_EVENT_REBOOTED = 4,	 /**< the guest reset and the machine rebooted it (RESET_REBOOT) */
	KVMHOST_MACHINE_EVENT_DEVICE_BROKEN = 5, /**< a virtio device set DEVICE_NEEDS_RESET: see @c device */
	KVMHOST_MACHINE_EVENT_STOPPED = 6, /**< the machine stopped: @c reason, and kvmhost_machine_get_stop_info() */
};

/** One event. Output struct for kvmhost_machine_next_event() (size rules as stop_info). */
struct kvmhost_machine_event {
	size_t size;	   /**< set by the caller of next_event: sizeof(struct kvmhost_machine_event) */
	uint32_t type;	   /**< enum kvmhost_machine_event_type */
	uint32_t reason;   /**< STOPPED: enum kvmhost_machine_stop_reason; else 0 */
	uint32_t vcpu;	   /**< the vCPU that saw it; UINT32_MAX: none */
	uint32_t index;	   /**< DEVICE_BROKEN: the device's index in the options' devices */
	uint64_t sequence; /**< 1, 2, 3, ... per machine: a gap means events were dropped */
	char device[KVMHOST_MACHINE_NAME_MAX + 1]; /**< DEVICE_BROKEN: the device's id */
};

/** Entries of kvmhost_machine_vcpu_stats.exits: one per enum kvmhost_exit_reason value below it. */
#define KVMHOST_MACHINE_EXIT_REASONS 32u
/** Counters of one vCPU. Output struct (size rules as stop_info). */
struct kvmhost_machine_vcpu_stats {
	size_t size;   /**< set by the caller: sizeof(struct kvmhost_machine_vcpu_stats) */
	uint64_t runs; /**< kvmhost_vcpu_run() calls */
	uint64_t exits[KVMHOST_MACHINE_EXIT_REASONS]; /**< exits by enum kvmhost_exit_reason (KICKED included) */
};

/** Counters of one virtio device. Output struct (size rules as stop_info). */
struct kvmhost_machine_device_stats {
	size_t size;	       /**< set by the caller: sizeof(struct kvmhost_machine_device_stats) */
	uint64_t notifies;     /**< guest kicks the I/O side passed to the device */
	uint64_t bad_accesses; /**< transport register accesses refused (malformed) */
	uint32_t broken;       /**< 1 once the device set DEVICE_NEEDS_RESET */
};

/**
 * Validate @p opts and build the machine: KVM VM, RAM, the platform
 * (interrupt controllers, legacy devices, firmware tables), the virtio
 * devices on their transport, the kernel loaded and the vCPUs set up to
 * enter it. No thread runs yet. On failure nothing is left (no fd, thread,
 * allocation or file) and the message names the option or step.
 * @param opts the options (struct kvmhost_machine_options; size rules as every options struct)
 * @param out receives the new machine
 * @return 0 and *out set; -EINVAL for NULL or a bad option (the message names
 *         it); -E2BIG for unknown non-zero fields in the options, an array
 *         element or the arch options; -ENOEXEC and the loaders' errors for a
 *         kernel they refuse; -ENOENT/-EACCES for a file; KVM's errors;
 *         -ENOMEM.
 */
KVMHOST_API int kvmhost_machine_create(const struct kvmhost_machine_options *opts, struct kvmhost_machine **out);

/**
 * Run every check kvmhost_machine_create() makes before it opens /dev/kvm,
 * and nothing else: the options (as create checks them), the files (the
 * kernel and initrd are opened and mapped, a block image must be a regular
 * file or block device with the access it needs, the directory of a console
 * file or socket and of a new RAM file must take a new entry, a socket path
 * must fit and must not name a file that is not a socket), and the kernel
 * image through its loader's dry run (x86: kvmhost_x86_boot_check() in the
 * RAM layout and with the command line the machine will have). Nothing is
 * created, written or kept. create runs the same checks first, so a VMM
 * that calls this before create can tell a bad configuration (this fails)
 * from a host that cannot run it (create fails).
 * @param opts the options (struct kvmhost_machine_options; size rules as every options struct)
 * @return 0; the errors kvmhost_machine_create() gives for the same options
 *         and files (-EINVAL, -E2BIG, -ENOENT, -EACCES, -ENOEXEC, the
 *         loaders' errors, ...), with a message naming the option or file.
 */
KVMHOST_API int kvmhost_machine_check(const struct kvmhost_machine_options *opts);

/**
 * Stop the machine if it runs (reason REQUESTED), join its threads and free
 * everything it made. NULL is ignored. Not from the machine's own threads.
 * @param machine the machine
 */
KVMHOST_API void kvmhost_machine_destroy(struct kvmhost_machine *machine);

/**
 * Start the vCPU threads (and the I/O thread): CREATED -> RUNNING.
 * @param machine the machine
 * @return 0; -EINVAL (NULL, not CREATED); -EDEADLK (a machine thread);
 *         pthread_create's error (the machine is then STOPPED, HOST_ERROR).
 */
KVMHOST_API int kvmhost_machine_start(struct kvmhost_machine *machine);

/**
 * Pause: RUNNING -> PAUSED; returns once the machine is quiet (file comment).
 * Pausing a PAUSED machine does nothing.
 * @param machine the machine
 * @return 0; -EINVAL (NULL, CREATED or STOPPED); -EDEADLK; -ECANCELED when
 *         the machine stopped meanwhile; a device's pause error (the machine
 *         then runs on, as before the call).
 */
KVMHOST_API int kvmhost_machine_pause(struct kvmhost_machine *machine);

/**
 * Resume: PAUSED -> RUNNING. Resuming a RUNNING machine does nothing.
 * @param machine the machine
 * @return 0; -EINVAL (NULL, CREATED or STOPPED); -EDEADLK; a device's resume
 *         error (the machine stays PAUSED).
 */
KVMHOST_API int kvmhost_machine_resume(struct kvmhost_machine *machine);

/**
 * Ask the guest to power off, as a power button would (x86: the ACPI power
 * button, a Generic Event Device in the DSDT; the guest's OS decides what to
 * do, and a guest without ACPI ignores it). The machine stops when the guest
 * powers off; use kvmhost_machine_stop() to stop it regardless.
 * @param machine the machine
 * @return 0; -EINVAL (NULL, not RUNNING or PAUSED: a paused guest sees it
 *         on resume); -ENOTSUP when the platform has no power button (x86:
 *         ACPI off); the interrupt's error.
 */
KVMHOST_API int kvmhost_machine_request_poweroff(struct kvmhost_machine *machine);

/**
 * Reset the machine as if the guest had asked: on_reset decides (stop with
 * RESET, or reboot). Asynchronous.
 * @param machine the machine
 * @return 0; -EINVAL (NULL, not RUNNING or PAUSED; a paused machine reboots
 *         on resume).
 */
KVMHOST_API int kvmhost_machine_request_reset(struct kvmhost_machine *machine);

/**
 * Stop the machine (reason REQUESTED unless it stopped already) and return
 * at once: the vCPUs are kicked out of the guest and the threads end;
 * kvmhost_machine_wait() waits for that. A CREATED machine becomes STOPPED.
 * @param machine the machine
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_machine_stop(struct kvmhost_machine *machine);

/**
 * Wait until the machine is STOPPED and its threads have ended (then block
 * requests in flight are complete and the devices quiet).
 * @param timeout_ms -1: forever; 0: just check
 * @param machine the machine
 * @return 0 once stopped; -ETIMEDOUT; -EINVAL (NULL, or CREATED: it cannot
 *         stop by itself); -EDEADLK (a machine thread).
 */
KVMHOST_API int kvmhost_machine_wait(struct kvmhost_machine *machine, int timeout_ms);

/**
 * Return the enum kvmhost_machine_state, or -EINVAL for NULL.
 * @param machine the machine
 * @return the enum kvmhost_machine_state, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_machine_get_state(struct kvmhost_machine *machine);

/**
 * Fill @p info with why the machine stopped (reason NONE while it has not).
 * @param machine the machine
 * @param info receives the stop information; set its size field first
 * @return 0; -EINVAL for NULL or a size below sizeof(size_t).
 */
KVMHOST_API int kvmhost_machine_get_stop_info(struct kvmhost_machine *machine, struct kvmhost_machine_stop_info *info);

/**
 * Return an eventfd (non-blocking, owned by the machine) that is readable
 * while kvmhost_machine_next_event() has events; -EINVAL for NULL.
 * @param machine the machine
 * @return an eventfd (non-blocking, owned by the machine) that is readable while kvmhost_machine_next_event() has
 * events; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_machine_event_fd(struct kvmhost_machine *machine);

/**
 * Take the oldest queued event.
 * @param machine the machine
 * @param event receives the event; set its size field first
 * @return 1 and *event filled; 0 when the queue is empty; -EINVAL.
 */
KVMHOST_API int kvmhost_machine_next_event(struct kvmhost_machine *machine, struct kvmhost_machine_event *event);

/**
 * Read one vCPU's counters (consistent enough for monitoring: each counter
 * is read atomically, not all at one instant).
 * @param machine the machine
 * @param vcpu the vCPU's index, 0 to vcpu_count - 1
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL (NULL, bad size); -ERANGE for a vCPU index out of range.
 */
KVMHOST_API int kvmhost_machine_get_vcpu_stats(struct kvmhost_machine *machine, uint32_t vcpu,
					       struct kvmhost_machine_vcpu_stats *stats);

/**
 * Read the counters of device @p index (its place in the options' devices).
 * @param machine the machine
 * @param index the device's index in kvmhost_machine_options.devices
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL; -ERANGE for an index out of range.
 */
KVMHOST_API int kvmhost_machine_get_device_stats(struct kvmhost_machine *machine, uint32_t index,
						 struct kvmhost_machine_device_stats *stats);

/**
 * KVMHOST_MACHINE_EXTERNAL_IO: the fd to watch for readability (an epoll fd;
 * the machine's own thread watches it otherwise). -EINVAL for NULL.
 * @param machine the machine
 * @return the epoll fd to watch (owned by the machine); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_machine_io_fd(struct kvmhost_machine *machine);

/**
 * KVMHOST_MACHINE_EXTERNAL_IO: serve what is ready, waiting up to
 * @p timeout_ms (0: do not wait, -1: forever) for something to be.
 * @param machine the machine
 * @param timeout_ms milliseconds to wait; -1: forever, 0: just check
 * @return the number of handlers run (0 when nothing was ready); -EINVAL
 *         (NULL, or the machine has its own I/O thread); -EDEADLK from the
 *         event callback; the loop's error.
 */
KVMHOST_API int kvmhost_machine_dispatch(struct kvmhost_machine *machine, int timeout_ms);

/**
 * The machine's name (never NULL for a machine; NULL for NULL).
 * @param machine the machine
 * @return the machine's name; NULL for NULL.
 */
KVMHOST_API const char *kvmhost_machine_name(const struct kvmhost_machine *machine);
/**
 * The machine's KVM VM, for the primitives (vm.h, memory.h); NULL for NULL.
 * @param machine the machine
 * @return the VM, owned by the machine; NULL for NULL.
 */
KVMHOST_API struct kvmhost_vm *kvmhost_machine_vm(struct kvmhost_machine *machine);
/**
 * The machine's guest memory map (memory.h: dirty bitmaps, checked access); NULL for NULL.
 * @param machine the machine
 * @return the guest memory map, owned by the machine; NULL for NULL.
 */
KVMHOST_API struct kvmhost_memory *kvmhost_machine_memory(struct kvmhost_machine *machine);
/**
 * Number of vCPUs; 0 for NULL.
 * @param machine the machine
 * @return the number of vCPUs; 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_machine_vcpu_count(const struct kvmhost_machine *machine);
/**
 * The host thread id (gettid()) of vCPU @p index's thread, for monitoring
 * (QMP's query-cpus-fast, CPU pinning tools). Any thread, any time.
 * @param machine the machine
 * @param index the vCPU's index, 0 to vcpu_count - 1
 * @return the id once the thread has started; 0 before; -EINVAL for NULL;
 *         -ERANGE for an index out of range.
 */
KVMHOST_API long kvmhost_machine_vcpu_thread_id(struct kvmhost_machine *machine, uint32_t index);
/**
 * vCPU @p index (its state calls only while the machine is CREATED, PAUSED or STOPPED); NULL if out of range.
 * @param machine the machine
 * @param index the vCPU's index, 0 to vcpu_count - 1
 * @return the vCPU, owned by the machine; NULL for NULL or an index out of range.
 */
KVMHOST_API struct kvmhost_vcpu *kvmhost_machine_vcpu(struct kvmhost_machine *machine, uint32_t index);
/**
 * The framework device of virtio device @p index (its own calls, e.g. state save while paused); NULL if none.
 * @param machine the machine
 * @param index the device's index in kvmhost_machine_options.devices
 * @return the framework device, owned by the machine; NULL if there is none at @p index.
 */
KVMHOST_API struct kvmhost_virtio_device *kvmhost_machine_virtio_device(struct kvmhost_machine *machine,
									uint32_t index);
/** The machine's device registry (device_registry.h), where its platform devices are registered (x86:
 * machine_x86.h) and then its virtio devices, each under its id (virtio-blk with a pause that drains it): save
 * and restore their state through it while the machine is PAUSED (or CREATED). NULL for NULL.
 * @param machine the machine
 * @return the registry, owned by the machine; NULL for NULL.
 */
KVMHOST_API struct kvmhost_device_registry *kvmhost_machine_registry(struct kvmhost_machine *machine);
/**
 * A static name for an enum kvmhost_machine_stop_reason ("poweroff", "reset", ...).
 * @param reason an enum kvmhost_machine_stop_reason value
 * @return a static string; an unknown reason has a name too (never NULL).
 */
KVMHOST_API const char *kvmhost_machine_stop_reason_name(uint32_t reason);

#ifdef __cplusplus
}
#endif

#endif

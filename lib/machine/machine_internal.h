/*
 * Private layout of a machine (include/kvmhost/machine.h) and the interfaces
 * between its files:
 *   machine.c           create / destroy, the accessors
 *   machine_options.c   copying and checking the options, their arrays (element sizes)
 *   machine_check.c     checking the files the options name (before KVM, for create and kvmhost_machine_check)
 *   machine_lifecycle.c start, pause, resume, stop, wait, reset requests, the state
 *   machine_vcpu.c      the vCPU threads: run, exits, parking, reboot
 *   machine_io.c        the I/O side: watched fds, the I/O thread, dispatch, quiesce
 *   machine_events.c    the event queue, its eventfd, the callback, stop info
 *   machine_virtio.c    virtio devices on their transport; machine_virtio_host.c their host side
 *   machine_registry.c  the device registry the machine owns
 *   machine_ram.c       the RAM backing the options name (a RAM file opened or made), for the arch's regions
 *   machine_uart.c      the console UART's host side (input pumped while its FIFO has room, output flushed)
 * and the architecture's half, lib/arch/<arch>/machine_<arch>*.c, behind the
 * kh_machine_arch_* calls at the end.
 */
#ifndef KVMHOST_MACHINE_INTERNAL_H
#define KVMHOST_MACHINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <kvmhost/machine.h>

struct kvmhost_bus;
struct kvmhost_irq_line;
struct kvmhost_loop;
struct kvmhost_memory_options;
struct kvmhost_uart;
struct kvmhost_exit;
struct kh_machine_arch;
struct kh_mvdev;

/* The options as the library keeps them: copied, checked, strings owned. */
struct kh_mdevice {
	uint32_t type, flags;
	char id[KVMHOST_MACHINE_NAME_MAX + 1];
	char *path;
	int in_fd, out_fd;
	uint8_t mac[6];
	uint16_t num_queues;
	struct kvmhost_machine_device_ops ops;
	void *opaque;
};

struct kh_mvcpu_opts {
	void *affinity; /* owned copy, or NULL */
	size_t affinity_size;
};

struct kh_machine_config {
	const char *func; /* the public call for messages: kvmhost_machine_create or kvmhost_machine_check */
	char name[KVMHOST_MACHINE_NAME_MAX + 1];
	char *kernel_path, *initrd_path, *cmdline, *ram_path;
	const void *kernel, *initrd;
	size_t kernel_size, initrd_size;
	uint32_t kernel_format;
	uint64_t ram_size, hugepage_size;
	uint32_t ram_backing, ram_flags;
	uint32_t vcpu_count, flags;
	struct kh_mvcpu_opts *vcpus; /* vcpu_count entries */
	int has_serial;
	int serial_in_fd, serial_out_fd;
	struct kh_mdevice *devices;
	uint32_t device_count, transport, on_reset;
	kvmhost_machine_event_fn on_event;
	void *event_opaque;
	const void *arch_options; /* checked by the arch half, read during create only */
};

int kh_machine_config_load(struct kh_machine_config *c, const struct kvmhost_machine_options *opts, const char *func);
/* machine_check.c: the files the options name (devices, RAM file), checked without creating anything. */
int kh_machine_check_files(struct kvmhost_machine *m);
void kh_machine_config_free(struct kh_machine_config *c);
/* Copy one element of a caller's array under the options' zero-tail rule: @src_size is the caller's element
 * size, @dst_size ours. -EINVAL (too small to be an element: below @min_size), -E2BIG (unknown bytes set). */
int kh_copy_element(void *dst, size_t dst_size, const void *src, size_t src_size, size_t min_size, const char *what,
		    uint32_t index, const char *func);

/* Control of the threads (machine_lifecycle.c / machine_vcpu.c). */
enum kh_ctl { KH_CTL_RUN = 0, KH_CTL_PAUSE = 1, KH_CTL_STOP = 2 };

struct kh_mvcpu {
	struct kvmhost_machine *m;
	struct kvmhost_vcpu *vcpu;
	uint32_t index;
	pthread_t thread;
	int started;
	_Atomic long tid; /* gettid() of its thread once it runs; 0 before */
	_Atomic uint64_t runs;
	_Atomic uint64_t exits[KVMHOST_MACHINE_EXIT_REASONS];
};

/* One fd the I/O side watches (machine_io.c). */
typedef void (*kh_watch_fn)(int fd, uint32_t events, void *opaque);
struct kh_watch {
	int fd;
	uint32_t want;	  /* events wanted (0: none) */
	uint32_t in_loop; /* events it is registered with now (0: not in the loop) */
	kh_watch_fn fn;
	void *opaque;
};

/* The console UART and its host side (machine_uart.c). */
struct kh_machine_uart {
	struct kvmhost_uart *dev;
	struct kvmhost_irq_line *irq;
	int rx_fd;	/* eventfd the UART's rx_space callback signals; -1 */
	int in_regular; /* in_fd is a regular file: read on rx_space, not watched */
	int in_done;	/* end of file or a read error: no more input */
	int has_in_watch;
	uint32_t in_watch;
};

struct kh_event_queue {
	pthread_mutex_t lock;
	struct kvmhost_machine_event ev[KVMHOST_MACHINE_EVENT_QUEUE];
	uint32_t head, count;
	uint64_t sequence;
	int fd;
};

struct kvmhost_machine {
	struct kh_machine_config cfg;
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_bus *pio, *mmio;
	struct kvmhost_loop *loop;
	struct kh_machine_arch *arch;
	void *kernel_map, *initrd_map; /* files mmap'ed by create */
	size_t kernel_map_size, initrd_map_size;
	void *registry;	      /* struct kvmhost_device_registry *, once that layer exists (machine_registry.c) */
	int ram_fd;	      /* RAM_FILE: our fd while the arch adds the regions; -1 (machine_ram.c) */
	int ram_file_created; /* RAM_FILE: create made the file (removed if create fails) */
	struct kh_machine_uart uart;

	struct kh_mvcpu *cpu;
	uint32_t ncpus;

	/* virtio devices (machine_virtio.c) */
	struct kh_mvdev **vdev;
	uint32_t nvdev;
	void *virtio_shared; /* the transport's shared parts (PCI host, MSI router, INTx pins) */

	/* I/O side */
	pthread_mutex_t watch_lock;
	struct kh_watch *watch;
	uint32_t nwatch, watch_cap;
	int io_quiet;	     /* watches are out of the loop (paused or stopped) */
	pthread_t io_thread; /* without EXTERNAL_IO */
	int io_started;
	atomic_int io_stop;

	/* Control: lock guards state, ctl, parked, alive, reboot flags and stop info; cond signals changes.
	 * ctl_lock serialises start/pause/resume/wait/destroy. */
	pthread_mutex_t lock, ctl_lock;
	pthread_cond_t cond;
	int state; /* enum kvmhost_machine_state */
	atomic_int ctl;
	atomic_int reboot_pending;
	int rebooting;
	uint32_t parked; /* vCPU threads parked */
	uint32_t alive;	 /* machine threads not yet ended (vCPUs + I/O) */
	uint32_t vcpu_alive;
	int joined;
	int finished;
	int built; /* create succeeded */
	struct kvmhost_machine_stop_info stop;

	struct kh_event_queue events;

	void *mig_diff; /* struct kh_mig_diff *: diff-snapshot tracking (lib/migration/snapshot_diff.c); NULL: off */
};

/* lib/migration/snapshot_diff.c: free the diff tracking's memory (destroy: no ioctl, the VM goes next). */
void kh_mig_diff_free(struct kvmhost_machine *m);

/* The thread-local "this thread is machine @m's own" marker, for -EDEADLK. */
extern _Thread_local const struct kvmhost_machine *kh_machine_self;
int kh_machine_is_self(const struct kvmhost_machine *m);
/* In a vCPU thread, its index (for device callbacks that stop the machine); UINT32_MAX elsewhere. */
extern _Thread_local uint32_t kh_machine_vcpu_index;

/* machine_lifecycle.c: the first stop wins; @info may be NULL (then only the reason and @fmt). Any thread. */
void kh_machine_stop_with(struct kvmhost_machine *m, uint32_t reason, uint32_t vcpu, const struct kvmhost_exit *exit,
			  int error, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A guest (or request_reset) asked for a reset: stop or reboot as on_reset says. Any thread. */
void kh_machine_guest_reset(struct kvmhost_machine *m, uint32_t vcpu, const struct kvmhost_exit *exit, const char *why);
/* A machine thread ends; the last one finishes the machine (quiet, STOPPED, event). */
void kh_machine_thread_exit(struct kvmhost_machine *m);
void kh_machine_kick_all(struct kvmhost_machine *m);
/* destroy's first step: stop what runs, join the threads. */
void kh_machine_shutdown(struct kvmhost_machine *m);

/* machine_park.c: park every vCPU of a RUNNING machine (no state change, no event; ctl_lock held until the
 * unpark); 0, -EINVAL (not running), -ECANCELED (it stopped meanwhile: nothing to unpark). */
int kh_machine_park_vcpus(struct kvmhost_machine *m);
void kh_machine_unpark_vcpus(struct kvmhost_machine *m);

/* machine_vcpu.c */
void *kh_machine_vcpu_thread(void *arg);
int kh_machine_start_thread(pthread_t *t, void *(*fn)(void *), void *arg, const struct kh_mvcpu_opts *affinity);

/* machine_io.c */
int kh_watch_add(struct kvmhost_machine *m, int fd, uint32_t events, kh_watch_fn fn, void *opaque, uint32_t *handle);
void kh_watch_set(struct kvmhost_machine *m, uint32_t handle, uint32_t events);
/* The same, watching another fd from now on (a console's input moving between its listening socket and a client).
 * From the I/O side's own handlers only, like kh_watch_set(). */
void kh_watch_set_fd(struct kvmhost_machine *m, uint32_t handle, int fd, uint32_t events);
int kh_io_quiesce(struct kvmhost_machine *m);	/* every watch out of the loop; waits for running handlers */
int kh_io_unquiesce(struct kvmhost_machine *m); /* back as they want */
void *kh_machine_io_thread(void *arg);
void kh_io_destroy(struct kvmhost_machine *m);

/* machine_events.c */
int kh_events_init(struct kh_event_queue *q);
void kh_events_destroy(struct kh_event_queue *q);
/* Queue the event and call the callback (no machine lock may be held). */
void kh_machine_emit(struct kvmhost_machine *m, uint32_t type, uint32_t reason, uint32_t vcpu, uint32_t index,
		     const char *device);

/* machine_virtio.c: create and wire the devices (before the platform tables), quiet them, tear down. */
int kh_machine_virtio_create(struct kvmhost_machine *m);
void kh_machine_virtio_destroy(struct kvmhost_machine *m);
int kh_machine_virtio_pause(struct kvmhost_machine *m); /* after kh_io_quiesce: block drained, custom paused */
int kh_machine_virtio_resume(struct kvmhost_machine *m);
/* After a resume or a restore (devices as saved, the I/O side not yet serving): every active queue of a live
 * device re-armed, its interrupt raised once and its notify eventfd signalled, so what the driver made available
 * before is served once the I/O side runs (a kick or an interrupt that was on its way is not state). */
void kh_machine_virtio_kick(struct kvmhost_machine *m);
void kh_machine_virtio_reset(struct kvmhost_machine *m); /* reboot: every device back to reset state */
void kh_machine_virtio_check_broken(struct kvmhost_machine *m, uint32_t vcpu);
int kh_machine_virtio_stats(struct kvmhost_machine *m, uint32_t index, struct kvmhost_machine_device_stats *s);
struct kvmhost_virtio_device *kh_machine_virtio_device(struct kvmhost_machine *m, uint32_t index);
/* What the platform must describe to the guest for virtio device @index: its MMIO window and GSI (mmio),
 * nothing (pci: the host bridge is described through kh_machine_virtio_pci). */
struct kh_virtio_desc {
	uint64_t mmio_base, mmio_length;
	uint32_t gsi;
};
int kh_machine_virtio_describe(struct kvmhost_machine *m, uint32_t index, struct kh_virtio_desc *d);
/* The PCI host bridge, if the transport is PCI (NULL otherwise). */
struct kvmhost_pci_host *kh_machine_virtio_pci_host(struct kvmhost_machine *m);

/* machine_registry.c */
int kh_machine_registry_create(struct kvmhost_machine *m);
void kh_machine_registry_destroy(struct kvmhost_machine *m);
int kh_machine_registry_pause(struct kvmhost_machine *m);
int kh_machine_registry_resume(struct kvmhost_machine *m);
int kh_machine_registry_reset(struct kvmhost_machine *m);

/* machine_ram.c: @mo as the options' RAM backing says (size, name, backing, hugepage size, fd, flags; the caller
 * places each region: guest_phys_addr, length, fd_offset). RAM_FILE: the file is opened, made if it is not there
 * (then removed again if create fails) and grown to ram_size; its fd stays in m->ram_fd until
 * kh_machine_ram_added(), which the arch calls once its regions (holding their own duplicates) are added. */
int kh_machine_ram_options(struct kvmhost_machine *m, struct kvmhost_memory_options *mo);
void kh_machine_ram_added(struct kvmhost_machine *m);
void kh_machine_ram_destroy(struct kvmhost_machine *m); /* destroy: after the arch's */

/* machine_uart.c: the console UART: created on @irq (the machine's from here, also when this fails), put on @bus
 * at @base by @attach (kvmhost_uart_attach for port I/O, kvmhost_uart_attach_mmio), registered as @id; with a
 * serial in_fd its input is pumped by the I/O side while the FIFO has room (a regular file is read at each
 * rx_space signal, anything else watched). Destroy lets the buffered output out first (a stuck reader gets a
 * second); the arch calls it while @irq's chip still exists. */
typedef int (*kh_machine_uart_attach_fn)(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base);
int kh_machine_uart_create(struct kvmhost_machine *m, const char *id, struct kvmhost_irq_line *irq,
			   kh_machine_uart_attach_fn attach, struct kvmhost_bus *bus, uint64_t base);
void kh_machine_uart_destroy(struct kvmhost_machine *m);

/*
 * The architecture's half (lib/arch/<arch>/machine_<arch>*.c).
 *  check:       validate arch_options (and the config as the arch sees it) before any KVM call
 *  check_boot:  the kernel through the loader's dry run, in the RAM layout and with the command line the
 *               machine will have (after check, with the kernel and initrd mapped); no KVM
 *  create:      VM-level setup (irqchip, RAM, legacy devices on m->pio/m->mmio) - before virtio
 *  boot:        tables, kernel load, vCPU creation and entry state - after virtio (the tables list it)
 *  reboot:      reload the kernel and reset the vCPUs (the vCPUs parked, the devices reset)
 *  power_button: raise the platform's power button event
 *  exit_pc:     the vCPU's instruction pointer (for stop info)
 *  handle_exit: an exit the generic code does not know; 1 handled, 0 not, < 0 error
 *  destroy:     free what create/boot made (the VM is destroyed after it)
 */
int kh_machine_arch_check(struct kvmhost_machine *m);
int kh_machine_arch_check_boot(struct kvmhost_machine *m);
int kh_machine_arch_create(struct kvmhost_machine *m);
int kh_machine_arch_boot(struct kvmhost_machine *m);
int kh_machine_arch_reboot(struct kvmhost_machine *m);
int kh_machine_arch_power_button(struct kvmhost_machine *m);
uint64_t kh_machine_arch_exit_pc(struct kvmhost_machine *m, uint32_t vcpu);
void kh_machine_arch_destroy(struct kvmhost_machine *m);
/* virtio-mmio device @index: its window base and interrupt (GSI; with TRANSPORT_MMIO_CMDLINE a legacy IRQ). */
void kh_machine_arch_virtio_slot(struct kvmhost_machine *m, uint32_t index, uint64_t *base, uint32_t *gsi);

#endif

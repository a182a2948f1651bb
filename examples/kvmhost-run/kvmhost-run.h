/*
 * kvmhost-run's shared state: the machine (struct vmm), the exit statuses and the message helpers, used by
 * kvmhost-run.c (the machine, the vCPU threads, the console and the main loop) and virtio.c (the virtio
 * devices: --disk, --net, --console, --rng on virtio-mmio or virtio-pci).
 */
#ifndef KVMHOST_RUN_H
#define KVMHOST_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <termios.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/x86_platform.h>

enum { EXIT_POWEROFF = 0, EXIT_USAGE = 2, EXIT_REBOOT = 4, EXIT_GUEST = 6, EXIT_HOST = 8 };

#define PROG "kvmhost-run"

/* The virtio devices one machine may have (each virtio-mmio device takes one of the IOAPIC's GSIs 16-23). */
#define MAX_VIRTIO 8

struct vmm;
struct vdev; /* one virtio device (virtio.c) */

struct vcpu_slot {
	struct vmm *vmm;
	struct kvmhost_vcpu *vcpu;
	pthread_t thread;
};

/* mmio: virtio-mmio in the DSDT; mmio-cmdline: on the kernel command line (guests without ACPI); pci */
enum transport { TRANSPORT_MMIO, TRANSPORT_MMIO_CMDLINE, TRANSPORT_PCI };

/* What the virtio flags asked for (filled while parsing), and the devices made from it. */
struct virtio_config {
	enum transport transport;
	struct {
		const char *path;
		bool readonly;
	} disk[MAX_VIRTIO];
	uint32_t ndisks;
	const char *tap;	       /* --net tap=NAME */
	uint8_t mac[6];		       /* --net ...,mac=; all zero: the default */
	const char *console;	       /* --console: "stdio", "file:PATH" or "socket:PATH"; NULL: none */
	bool rng;		       /* --rng */
	char cmdline[MAX_VIRTIO * 48]; /* mmio-cmdline: the virtio_mmio.device= words to add */
	struct vdev *dev[MAX_VIRTIO];  /* the devices, in the order the guest sees them */
	uint32_t ndev;
	struct kvmhost_pci_host *pci_host;	   /* --transport pci */
	struct kvmhost_msi_router *router;	   /* --transport pci: MSI-X vectors as KVM MSI routes + irqfds */
	struct kvmhost_x86_acpi_pci_host acpi_pci; /* --transport pci: the host bridge as the DSDT shows it */
	struct intx_pin { /* --transport pci: INTA-D, a wired OR of the functions sharing one */
		struct kvmhost_vm *vm;
		uint32_t gsi;
		int asserted; /* functions asserting it now */
		pthread_mutex_t lock;
	} intx[4];
};

struct vmm {
	const char *kernel_path, *cmdline, *serial;
	void *kernel, *initrd;
	size_t kernel_size, initrd_size;
	uint64_t mem;
	uint32_t ncpus;
	bool multiboot, serial_given, device_on[8];
	uint16_t debug_exit_port;
	struct kvmhost_system *sys;
	struct kvmhost_vm *vm;
	struct kvmhost_bus *pio, *mmio;
	struct kvmhost_x86_cpuid *cpuid;
	struct kvmhost_x86_ram_range ram[2];
	uint32_t ram_count;
	struct vcpu_slot cpu[KVMHOST_X86_PLATFORM_MAX_CPUS];
	uint32_t nstarted; /* vCPU threads started */
	struct kvmhost_irq_line *com1_irq;
	struct kvmhost_uart *com1;
	struct kvmhost_i8042 *i8042;
	struct kvmhost_cmos_rtc *rtc;
	struct kvmhost_fw_cfg *fw_cfg;
	struct kvmhost_debug_exit *debug_exit;
	struct virtio_config virtio;
	/* Devices the DSDT describes: COM1, then each virtio-mmio device. */
	struct kvmhost_x86_acpi_device acpi_dev[1 + MAX_VIRTIO];
	uint32_t acpi_count;
	struct kvmhost_loop *loop;
	int out_fd, in_fd, rx_fd; /* COM1's output and input (stdin when --serial stdio), its refill eventfd */
	bool in_pollable, in_watched, tty_raw;
	struct termios tty_saved;
	atomic_int status; /* -1 while the VM runs; the first stop_vm() sets it, and the vCPUs stop */
};

/* Print one line, "kvmhost-run: ...", on stderr; return @status. */
int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define usage_error(...)   say(EXIT_USAGE, __VA_ARGS__)
#define fail(status, what) say(status, "%s: %s", what, kvmhost_last_error()) /* a library call failed */

/* End the VM with @status. Any thread; only the first call counts, and it returns true (to say why, once). */
bool stop_vm(struct vmm *v, int status);

/* virtio.c. The parse functions print one line and return EXIT_USAGE on a bad value, else 0. */
int virtio_parse_transport(struct vmm *v, const char *arg);
int virtio_parse_disk(struct vmm *v, const char *arg);
int virtio_parse_net(struct vmm *v, const char *arg);
int virtio_parse_console(struct vmm *v, const char *arg);
int virtio_parse_rng(struct vmm *v, const char *arg);
/* After all flags: settle what the flags decide together (who has stdio). 0 or EXIT_USAGE. */
int virtio_check_args(struct vmm *v);
/* Create the devices on their transport, wire them into KVM and the main loop, and add the virtio-mmio
 * ones to v->acpi_dev. Before the ACPI tables are written. 0, or EXIT_HOST after one line naming the device. */
int virtio_add(struct vmm *v);
/* Flush what the devices still hold for the host (console output, block requests in flight). */
void virtio_quiesce(struct vmm *v);
void virtio_teardown(struct vmm *v);

#endif

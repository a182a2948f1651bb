/*
 * kvmhost-run: a small VMM on libkvmhost's public API. It boots a Linux bzImage, an ELF vmlinux by its PVH entry
 * or a Multiboot kernel on a PC-like machine: RAM around the 32-bit MMIO hole, in-kernel irqchip and PIT, ACPI and
 * MP tables, COM1 (16550A, IRQ 4), an i8042 for reboot, the CMOS RTC and fw_cfg, plus the virtio devices its flags
 * ask for (virtio.c). A thread per vCPU runs it and hands its I/O exits to the buses; the main thread's event loop
 * moves stdin into COM1 and serves the virtio devices' notifications and backends. What ends the VM (a device,
 * an exit, SIGINT/SIGTERM) sets the exit status once and stops the loop; then the main thread kicks the vCPUs,
 * joins them and tears down.
 *
 * Exit status: 0 the guest powered off (ACPI S5, KVM_SYSTEM_EVENT_SHUTDOWN); 2 usage error: a bad flag or value,
 * a missing file, an image no loader takes (one line names it); 4 the guest rebooted (i8042 reset, ACPI reset
 * register, triple fault, KVM_SYSTEM_EVENT_RESET); 6 the guest cannot go on (KVM internal error, with suberror
 * and instruction bytes; failed entry; crash); 8 host-side failure (no usable /dev/kvm, KVM refusing a step, a
 * device error); 128+N stopped by signal N (130: SIGINT); odd: (v << 1) | 1, low 8 bits, after the guest wrote v
 * to --debug-exit. The VMM's own statuses are all even, so none is ever mistaken for a debug-exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/x86_platform.h>
#include <kvmhost/devices/cmos_rtc.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/fw_cfg.h>
#include <kvmhost/devices/i8042.h>
#include <kvmhost/devices/uart16550.h>
#include "kvmhost-run.h"

enum { DEVICE_FLAG = 0x100 }; /* getopt values of the device flags */

#define DEFAULT_CMDLINE "console=ttyS0"

/* Optional devices, one row per flag. */
struct device_flag {
	struct option opt; /* for getopt_long; val is DEVICE_FLAG + the row's index */
	const char *usage, *help;
	int (*parse)(struct vmm *v, const char *arg); /* 0, or prints one line and returns EXIT_USAGE */
	int (*add)(struct vmm *v); /* adds the device to the machine; 0 or a negative errno; NULL: virtio_add() */
};

int say(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	return status;
}

bool stop_vm(struct vmm *v, int status)
{
	int running = -1;

	if (!atomic_compare_exchange_strong(&v->status, &running, status))
		return false;
	kvmhost_loop_stop(v->loop);
	return true;
}

/* Device callbacks: they run in vCPU threads, inside the bus dispatch. */

static void on_i8042_reset(void *opaque)
{
	stop_vm(opaque, EXIT_REBOOT);
}

static void on_debug_exit(void *opaque, uint64_t status)
{
	stop_vm(opaque, (int)(status & 0xff));
}

static void on_rx_space(void *opaque)
{
	kvmhost_eventfd_signal(((struct vmm *)opaque)->rx_fd, 1); /* the main thread refills COM1 */
}

/* The ACPI sleep control and reset registers (x86_platform.h): S5 is power off, the reset value a reboot.
 * Reads return all ones: a guest that reads the sleep status after S5 sees "woken" and stops waiting. */
static int pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	uint8_t b = *(const uint8_t *)data;

	(void)len;
	if (offset == KVMHOST_X86_ACPI_SLEEP_CONTROL && (b & 0x3c) == KVMHOST_X86_ACPI_SLEEP_S5)
		stop_vm(opaque, EXIT_POWEROFF);
	else if (offset == KVMHOST_X86_ACPI_RESET && b == KVMHOST_X86_ACPI_RESET_VALUE)
		stop_vm(opaque, EXIT_REBOOT);
	return 0;
}

static int parse_debug_exit(struct vmm *v, const char *arg)
{
	char *end;
	unsigned long port = arg ? strtoul(arg, &end, 0) : KVMHOST_DEBUG_EXIT_DEFAULT_PORT;

	if (arg && (end == arg || *end || *arg == '-' || port > 0xfffc))
		return usage_error("--debug-exit=%s: want a port number from 0 to 0xfffc", arg);
	v->debug_exit_port = (uint16_t)port;
	return 0;
}

static int add_debug_exit(struct vmm *v)
{
	struct kvmhost_debug_exit_options o = {.size = sizeof(o), .width = 4, .on_exit = on_debug_exit, .opaque = v};
	int r = kvmhost_debug_exit_create(&o, &v->debug_exit);

	return r < 0 ? r : kvmhost_debug_exit_attach(v->debug_exit, v->pio, v->debug_exit_port);
}

static const struct device_flag devices[] = {
    {{"debug-exit", optional_argument, NULL, DEVICE_FLAG + 0},
     "--debug-exit[=PORT]",
     "a 4-port test exit (default 0xf4): the guest writes v, " PROG " exits (v << 1) | 1",
     parse_debug_exit,
     add_debug_exit},
    {{"disk", required_argument, NULL, DEVICE_FLAG + 1},
     "--disk PATH[,ro]",
     "virtio-blk on a raw image (ro: read-only); repeatable: the guest\n"
     "                        sees vda, vdb, ... in the order given",
     virtio_parse_disk,
     NULL},
    {{"net", required_argument, NULL, DEVICE_FLAG + 2},
     "--net tap=NAME[,mac=M]",
     "virtio-net on TAP device NAME (an existing one, e.g. made by\n"
     "                        `ip tuntap`, or a new one; its host-side addresses are yours to set),\n"
     "                        MAC M (default 52:54:00:12:34:56)",
     virtio_parse_net,
     NULL},
    {{"console", optional_argument, NULL, DEVICE_FLAG + 3},
     "--console[=BACKEND]",
     "virtio-console (hvc0) on stdio (the default), file:PATH or\n"
     "                        socket:PATH (a Unix socket it listens on); when it has stdio,\n"
     "                        COM1's output goes where --serial says, else nowhere",
     virtio_parse_console,
     NULL},
    {{"rng", no_argument, NULL, DEVICE_FLAG + 4}, "--rng", "virtio-rng, fed by getrandom()", virtio_parse_rng, NULL},
    {{"transport", required_argument, NULL, DEVICE_FLAG + 5},
     "--transport T",
     "the virtio transport: mmio (default), virtio-mmio described in the\n"
     "                        ACPI DSDT; mmio-cmdline, virtio-mmio on the kernel command line\n"
     "                        with ISA IRQs, for guests without ACPI (acpi=off); pci, virtio-pci\n"
     "                        behind a PCI host bridge in the DSDT, with MSI-X or INTx",
     virtio_parse_transport,
     NULL},
};
#define NDEVICES (sizeof(devices) / sizeof(devices[0]))
_Static_assert(NDEVICES <= sizeof(((struct vmm *)0)->device_on), "device_on is too small");

static int print_help(void) /* returns -1: exit with status 0 */
{
	printf("Usage: " PROG " --kernel PATH [options]: boot a kernel in a KVM VM whose console is COM1\n"
	       "  --kernel PATH         bzImage, ELF vmlinux with a PVH note, or Multiboot kernel (detected; with\n"
	       "  --multiboot           a Multiboot kernel whatever it looks like)\n"
	       "  --initrd PATH         initrd or initramfs (Multiboot: module 0)\n"
	       "  --cmdline STR         kernel command line (default \"" DEFAULT_CMDLINE "\")\n"
	       "  --mem SIZE            RAM with a K, M, G or T suffix; a plain number is MiB (default 256M)\n"
	       "  --cpus N              vCPUs (default 1)\n"
	       "  --serial stdio|file:PATH|none   COM1's output (default stdio: then stdin is its input, a terminal\n"
	       "                        in raw mode except that Ctrl-C still stops the VM)\n");
	for (size_t i = 0; i < NDEVICES; i++)
		printf("  %-21s %s\n", devices[i].usage, devices[i].help);
	printf("Exit status: 0 power off, 4 reboot, 2 usage error, 6 guest failure, 8 host failure, 128+N signal N\n");
	return -1;
}

static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *unit;
	char *end;
	uint64_t n;
	unsigned shift;

	errno = 0;
	n = strtoull(s, &end, 10);
	unit = *end ? strchr(units, *end & ~0x20) : NULL;
	shift = unit ? 10 * (unsigned)(unit - units + 1) : 20;
	if (end == s || *s == '-' || errno == ERANGE || (*end && (!unit || end[1])) || n == 0 ||
	    n > (UINT64_MAX >> shift))
		return -1;
	*out = n << shift;
	return 0;
}

static int map_file(const char *flag, const char *path, void **data, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return usage_error("%s %s: %s", flag, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return usage_error("%s %s: not a regular file with something in it", flag, path);
	}
	*data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*data == MAP_FAILED)
		return usage_error("%s %s: %s", flag, path, strerror(errno));
	*size = (size_t)st.st_size;
	return 0;
}

/* Everything the loader will check, checked now, before KVM is opened: on a host without /dev/kvm a bad image is
 * still a usage error. The RAM is laid out as setup_memory() will lay it out, and the map is the one setup_boot()
 * will build from it; only the virtio command-line words (mmio-cmdline) are not known yet. */
static int check_kernel(struct vmm *v)
{
	struct kvmhost_x86_e820_entry e820[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_boot_options bo = {.size = sizeof(bo),
					      .cmdline = v->cmdline,
					      .initrd = v->initrd,
					      .initrd_size = v->initrd_size,
					      .e820 = e820};

	if (kvmhost_x86_plan_ram(v->mem, 0, v->ram, 2, &v->ram_count) < 0 ||
	    kvmhost_x86_e820_from_ranges(v->ram, v->ram_count, NULL, e820, KVMHOST_X86_E820_MAX, &bo.e820_count) < 0)
		return fail(EXIT_USAGE, "--mem");
	if (!v->multiboot && kvmhost_x86_boot_detect(v->kernel, v->kernel_size) < 0)
		return usage_error("--kernel %s: not a bzImage, an ELF kernel with a PVH note or a Multiboot kernel",
				   v->kernel_path);
	if (kvmhost_x86_boot_check(v->multiboot ? KVMHOST_X86_BOOT_MULTIBOOT : 0, v->kernel, v->kernel_size, &bo,
				   NULL) < 0)
		return usage_error("--kernel %s: %s", v->kernel_path, kvmhost_last_error());
	return 0;
}

static int parse_args(struct vmm *v, int argc, char **argv)
{
	enum { KERNEL = 1, INITRD, CMDLINE, MEM, CPUS, SERIAL, MULTIBOOT, HELP, NCORE };
	static const struct option core[] = {
	    {"kernel", required_argument, NULL, KERNEL},   {"initrd", required_argument, NULL, INITRD},
	    {"cmdline", required_argument, NULL, CMDLINE}, {"mem", required_argument, NULL, MEM},
	    {"cpus", required_argument, NULL, CPUS},	   {"serial", required_argument, NULL, SERIAL},
	    {"multiboot", no_argument, NULL, MULTIBOOT},   {"help", no_argument, NULL, HELP},
	};
	struct option opts[NCORE - 1 + NDEVICES + 1] = {{0}};
	const char *arg[NCORE] = {0};
	unsigned long n = 1;
	char *end;
	int c, r;

	memcpy(opts, core, sizeof(core));
	for (size_t i = 0; i < NDEVICES; i++)
		opts[NCORE - 1 + i] = devices[i].opt;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		if (c == 'h' || c == HELP)
			return print_help();
		else if (c == ':')
			return usage_error("%s needs a value (see --help)", argv[optind - 1]);
		else if (c == '?')
			return usage_error("unknown or malformed flag %s (see --help)", argv[optind - 1]);
		else if (c < DEVICE_FLAG)
			arg[c] = optarg ? optarg : "";
		else if ((r = devices[c - DEVICE_FLAG].parse(v, optarg)))
			return r;
		else
			v->device_on[c - DEVICE_FLAG] = true;
	if (optind < argc)
		return usage_error("unexpected argument %s (see --help)", argv[optind]);
	if (arg[MEM] && (parse_size(arg[MEM], &v->mem) < 0 || v->mem % 4096 || v->mem < (2u << 20)))
		return usage_error("--mem %s: want 2M or more, in whole 4 KiB pages (e.g. 256M, 2G)", arg[MEM]);
	if (arg[CPUS] &&
	    ((n = strtoul(arg[CPUS], &end, 10)) < 1 || n > KVMHOST_X86_PLATFORM_MAX_CPUS || *end || *arg[CPUS] == '-'))
		return usage_error("--cpus %s: want a number from 1 to %u", arg[CPUS], KVMHOST_X86_PLATFORM_MAX_CPUS);
	v->ncpus = (uint32_t)n;
	v->serial_given = arg[SERIAL] != NULL;
	v->serial = arg[SERIAL] ? arg[SERIAL] : "stdio";
	if (strcmp(v->serial, "stdio") && strcmp(v->serial, "none") &&
	    (strncmp(v->serial, "file:", 5) || !v->serial[5]))
		return usage_error("--serial %s: want stdio, file:PATH or none", v->serial);
	if ((r = virtio_check_args(v))) /* may take stdio from COM1 */
		return r;
	v->cmdline = arg[CMDLINE] ? arg[CMDLINE] : DEFAULT_CMDLINE;
	v->multiboot = arg[MULTIBOOT] != NULL;
	if (!(v->kernel_path = arg[KERNEL]))
		return usage_error("--kernel is required (see --help)");
	if ((r = map_file("--kernel", arg[KERNEL], &v->kernel, &v->kernel_size)) ||
	    (arg[INITRD] && (r = map_file("--initrd", arg[INITRD], &v->initrd, &v->initrd_size))))
		return r;
	if ((r = check_kernel(v)))
		return r;
	if (!strncmp(v->serial, "file:", 5)) {
		v->out_fd = open(v->serial + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (v->out_fd < 0)
			return usage_error("--serial %s: %s", v->serial, strerror(errno));
	} else if (!strcmp(v->serial, "stdio")) {
		v->out_fd = STDOUT_FILENO;
		v->in_fd = STDIN_FILENO;
	}
	return 0;
}

static int setup_memory(struct vmm *v)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo), .backing = KVMHOST_MEMORY_ANONYMOUS, .name = "ram"};

	mo.flags = KVMHOST_MEMORY_THP; /* transparent huge pages, as QEMU asks for: fewer faults while booting */
	for (uint32_t i = 0; i < v->ram_count; i++) {
		mo.guest_phys_addr = v->ram[i].gpa;
		mo.length = v->ram[i].length;
		if (kvmhost_vm_add_memory(v->vm, &mo, NULL) < 0)
			return fail(EXIT_HOST, "guest RAM");
	}
	return 0;
}

/* The platform tables (after the devices: the DSDT lists them), the kernel, the vCPUs. */
static int setup_boot(struct vmm *v)
{
	/* The MP table goes to 0xf0000, where 64 KiB hold one for every vCPU count the MADT allows. */
	const uint32_t irq0 = KVMHOST_X86_PLATFORM_IRQ0_PIN0; /* the PIT on pin 0, as KVM's default routing has it */
	struct kvmhost_x86_acpi_options acpi = {.size = sizeof(acpi),
						.ncpus = v->ncpus,
						.flags = irq0,
						.devices = v->acpi_dev,
						.device_count = v->acpi_count,
						.pci_host = v->virtio.pci_host ? &v->virtio.acpi_pci : NULL};
	struct kvmhost_x86_mptable_options mpt = {
	    .size = sizeof(mpt), .ncpus = v->ncpus, .flags = irq0, .gpa = 0xf0000};
	struct kvmhost_x86_e820_entry e820[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_boot_options bo = {.size = sizeof(bo), .e820 = e820};
	char *cmdline = NULL; /* the command line plus what the devices add to it */
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem = kvmhost_vm_memory(v->vm);
	int r;

	/* No firmware here, yet Linux reboots a hardware-reduced ACPI machine without EFI by jumping to the BIOS
	 * reset vector (F000:FFF0): put there "mov al, 0xfe; out 0x64, al; hlt", an i8042 reset pulse. */
	if (kvmhost_memory_write(mem, 0xffff0, "\xb0\xfe\xe6\x64\xf4", 5) < 0 ||
	    kvmhost_x86_acpi_write(mem, &acpi, &bo.acpi_rsdp_gpa, NULL) < 0 ||
	    kvmhost_x86_mptable_write(mem, &mpt, NULL) < 0 ||
	    kvmhost_x86_e820_from_memory(mem, NULL, e820, KVMHOST_X86_E820_MAX, &bo.e820_count) < 0)
		return fail(EXIT_HOST, "platform tables");
	bo.initrd = v->initrd;
	bo.initrd_size = v->initrd_size;
	if (asprintf(&cmdline, "%s%s", v->cmdline, v->virtio.cmdline) < 0)
		return say(EXIT_HOST, "kernel command line: out of memory");
	bo.cmdline = cmdline;
	r = (v->multiboot ? kvmhost_x86_boot_load_multiboot : kvmhost_x86_boot_load)(mem, v->kernel, v->kernel_size,
										     &bo, &info);
	free(cmdline);
	if (r < 0)
		return usage_error("--kernel %s: %s", v->kernel_path, kvmhost_last_error());

	/* The boot vCPU enters the kernel as the loader says; the others wait for the guest's INIT and SIPI. */
	if (kvmhost_x86_cpuid_create_from_system(v->sys, &v->cpuid) < 0 ||
	    kvmhost_x86_cpuid_set_topology(v->cpuid, v->ncpus, 1) < 0)
		return fail(EXIT_HOST, "CPUID");
	for (uint32_t i = 0; i < v->ncpus; i++) {
		v->cpu[i].vmm = v;
		if (kvmhost_vcpu_create(v->vm, i, &v->cpu[i].vcpu) < 0)
			return fail(EXIT_HOST, "vCPU");
		r = i ? kvmhost_x86_vcpu_prepare_ap(v->cpu[i].vcpu, v->cpuid)
		      : kvmhost_x86_vcpu_setup_boot(v->cpu[i].vcpu, v->cpuid, &info, NULL);
		if (r < 0)
			return fail(EXIT_HOST, i ? "AP setup" : "boot vCPU setup");
	}
	return 0;
}

static int setup_devices(struct vmm *v)
{
	struct kvmhost_uart_options uo = {
	    .size = sizeof(uo), .out_fd = v->out_fd, .rx_space = on_rx_space, .rx_space_opaque = v, .name = "com1"};
	struct kvmhost_i8042_options io = {.size = sizeof(io), .reset = on_i8042_reset, .opaque = v};
	struct kvmhost_fw_cfg_options fo = {.size = sizeof(fo), .nb_cpus = (uint16_t)v->ncpus, .ram_size = v->mem};
	struct kvmhost_bus_range pm = {sizeof(pm), KVMHOST_X86_ACPI_PM_PORT_DEFAULT, 3, NULL, pm_write, v, "acpi-pm"};

	if (kvmhost_bus_create("pio", &v->pio) < 0 || kvmhost_bus_create("mmio", &v->mmio) < 0 ||
	    kvmhost_irq_line_create_gsi(v->vm, KVMHOST_UART_COM1_IRQ, &v->com1_irq) < 0)
		return fail(EXIT_HOST, "buses and COM1's interrupt line");
	uo.irq = v->com1_irq;
	if (kvmhost_uart_create(&uo, &v->com1) < 0 || kvmhost_uart_attach(v->com1, v->pio, KVMHOST_UART_COM1_BASE) < 0)
		return fail(EXIT_HOST, "COM1");
	if (kvmhost_i8042_create(&io, &v->i8042) < 0 || kvmhost_i8042_attach(v->i8042, v->pio) < 0)
		return fail(EXIT_HOST, "i8042");
	if (kvmhost_cmos_rtc_create(NULL, &v->rtc) < 0 || kvmhost_cmos_rtc_attach(v->rtc, v->pio) < 0 ||
	    kvmhost_cmos_rtc_set_memory_size(v->rtc, v->ram[0].length, v->ram_count > 1 ? v->ram[1].length : 0) < 0)
		return fail(EXIT_HOST, "CMOS RTC");
	if (kvmhost_fw_cfg_create(&fo, &v->fw_cfg) < 0 || kvmhost_fw_cfg_attach(v->fw_cfg, v->pio) < 0 ||
	    kvmhost_bus_register(v->pio, &pm) < 0)
		return fail(EXIT_HOST, "fw_cfg and ACPI PM ports");
	/* On a hardware-reduced ACPI platform Linux maps no ISA IRQ by itself: COM1 must be in the DSDT. */
	v->acpi_dev[v->acpi_count++] = (struct kvmhost_x86_acpi_device){
	    .hid = "PNP0501", .io_base = KVMHOST_UART_COM1_BASE, .io_length = 8, .irq = KVMHOST_UART_COM1_IRQ};
	for (size_t i = 0; i < NDEVICES; i++)
		if (v->device_on[i] && devices[i].add && devices[i].add(v) < 0)
			return fail(EXIT_HOST, devices[i].usage);
	return virtio_add(v);
}

static int setup(struct vmm *v)
{
	int r;

	if (kvmhost_system_open(NULL, &v->sys) < 0)
		return fail(EXIT_HOST, "cannot open KVM");
	if ((r = kvmhost_system_max_vcpus(v->sys)) > 0 && v->ncpus > (uint32_t)r)
		return usage_error("--cpus %u: this KVM allows at most %d", v->ncpus, r);
	if (kvmhost_vm_create(v->sys, NULL, &v->vm) < 0)
		return fail(EXIT_HOST, "cannot create the VM");
	if (kvmhost_x86_vm_create_irqchip(v->vm, KVMHOST_X86_IRQCHIP_FULL, 0) < 0 ||
	    kvmhost_x86_vm_create_pit(v->vm, KVM_PIT_SPEAKER_DUMMY) < 0)
		return fail(EXIT_HOST, "in-kernel irqchip and PIT");
	kvmhost_x86_vm_set_tss_addr(v->vm, 0xfffbd000); /* Intel's real-mode TSS, in the MMIO hole as in kvmtool */
	if ((r = setup_memory(v)) || (r = setup_devices(v)))
		return r;
	return setup_boot(v);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_slot *s = arg;
	struct vmm *v = s->vmm;
	uint32_t id = kvmhost_vcpu_id(s->vcpu);
	const struct kvmhost_exit *e;
	struct kvm_regs regs = {0};
	char insn[48] = " (none)";

	while (atomic_load(&v->status) < 0) {
		if (kvmhost_vcpu_run(s->vcpu, &e) < 0) {
			if (stop_vm(v, EXIT_HOST))
				say(0, "vCPU %u: %s", id, kvmhost_last_error());
			break;
		}
		switch (e->reason) {
		case KVMHOST_EXIT_IO:
		case KVMHOST_EXIT_MMIO: /* unclaimed accesses read all ones and write nowhere, as on a PC */
			if (kvmhost_bus_dispatch_exit(v->pio, v->mmio, e) < 0 && stop_vm(v, EXIT_HOST))
				say(0, "vCPU %u: device error: %s", id, kvmhost_last_error());
			break;
		case KVMHOST_EXIT_KICKED:
		case KVMHOST_EXIT_HLT:
			break;
		case KVMHOST_EXIT_SHUTDOWN: /* a triple fault, which resets a PC */
			stop_vm(v, EXIT_REBOOT);
			break;
		case KVMHOST_EXIT_SYSTEM_EVENT:
			if (e->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
			    e->system_event.type == KVM_SYSTEM_EVENT_RESET)
				stop_vm(v,
					e->system_event.type == KVM_SYSTEM_EVENT_RESET ? EXIT_REBOOT : EXIT_POWEROFF);
			else if (stop_vm(v, EXIT_GUEST))
				say(0, "vCPU %u: guest system event %u (crash)", id, e->system_event.type);
			break;
		case KVMHOST_EXIT_INTERNAL_ERROR:
			for (unsigned i = 0; i < e->internal.insn_len && i < 15; i++)
				snprintf(insn + 3 * i, sizeof(insn) - 3 * i, " %02x", e->internal.insn[i]);
			kvmhost_x86_vcpu_get_regs(s->vcpu, &regs);
			if (stop_vm(v, EXIT_GUEST))
				say(0, "vCPU %u: KVM internal error, suberror %u, rip 0x%llx, instruction bytes:%s", id,
				    e->internal.suberror, (unsigned long long)regs.rip, insn);
			break;
		case KVMHOST_EXIT_FAIL_ENTRY:
			if (stop_vm(v, EXIT_GUEST))
				say(0, "vCPU %u: VM entry failed, hardware reason 0x%llx, host CPU %u", id,
				    (unsigned long long)e->fail_entry.hardware_reason, e->fail_entry.cpu);
			break;
		default:
			if (stop_vm(v, EXIT_GUEST))
				say(0, "vCPU %u: unhandled %s exit (KVM exit %u)", id,
				    kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
		}
	}
	return NULL;
}

/* stdin -> COM1. While COM1's receive FIFO is full, stdin leaves the loop; when the guest has emptied the FIFO,
 * on_rx_space() signals rx_fd and stdin comes back. A regular file cannot be polled: it is read at each signal. */
static void on_input(int fd, uint32_t events, void *opaque)
{
	struct vmm *v = opaque;
	int r = kvmhost_uart_pump(v->com1, fd);

	(void)events;
	if ((r < 0 && r != -EAGAIN && r != -EINTR) || (r == 0 && kvmhost_uart_rx_room(v->com1) == 0)) {
		kvmhost_loop_remove(v->loop, fd); /* -ENOENT when it was not watched */
		v->in_watched = false;
		if (r < 0) /* end of file (-EPIPE) or a read error: no more input */
			v->in_fd = -1;
	}
}

static void on_rx_space_event(int fd, uint32_t events, void *opaque)
{
	struct vmm *v = opaque;
	uint64_t n;

	(void)events;
	kvmhost_eventfd_consume(fd, &n);
	if (v->in_fd >= 0 && !v->in_pollable)
		on_input(v->in_fd, 0, v);
	else if (v->in_fd >= 0 && !v->in_watched)
		v->in_watched = kvmhost_loop_add(v->loop, v->in_fd, KVMHOST_LOOP_IN, on_input, v) == 0;
}

static struct vmm *signal_target; /* the VM that SIGINT, SIGTERM and SIGHUP stop */

/* A handler, not a blocked signal read from a signalfd: then it does not matter which thread the signal hits
 * (a sanitizer's own thread included). Async-signal-safe: an atomic exchange and kvmhost_loop_stop(). */
static void on_signal(int sig)
{
	int saved_errno = errno;

	stop_vm(signal_target, 128 + sig);
	errno = saved_errno;
}

static int setup_host_side(struct vmm *v)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct termios raw;
	int r;

	if (kvmhost_loop_create(&v->loop) < 0 || kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &v->rx_fd) < 0 ||
	    kvmhost_loop_add(v->loop, v->rx_fd, KVMHOST_LOOP_IN, on_rx_space_event, v) < 0)
		return fail(EXIT_HOST, "event loop");
	signal_target = v;
	for (int i = 0, sig[] = {SIGINT, SIGTERM, SIGHUP}; i < 3; i++)
		sigaction(sig[i], &sa, NULL); /* interrupted calls: epoll_wait is retried, KVM_RUN returns KICKED */
	signal(SIGPIPE, SIG_IGN);	      /* a reader of COM1's output going away is no reason to die */
	if (v->in_fd >= 0) {
		r = kvmhost_loop_add(v->loop, v->in_fd, KVMHOST_LOOP_IN, on_input, v);
		v->in_pollable = v->in_watched = r == 0;
		if (r == -EPERM) /* a regular file: read it when the guest has room */
			kvmhost_eventfd_signal(v->rx_fd, 1);
		else if (r < 0)
			return fail(EXIT_HOST, "stdin");
	} else if (!v->virtio.console || strcmp(v->virtio.console, "stdio")) {
		return 0; /* stdin is nobody's input */
	}
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &v->tty_saved) == 0) {
		raw = v->tty_saved;
		cfmakeraw(&raw);
		raw.c_oflag = v->tty_saved.c_oflag; /* our own messages still start on a new line */
		raw.c_lflag |= ISIG;		    /* Ctrl-C stops the VM (status 130) */
		raw.c_cc[VSUSP] = _POSIX_VDISABLE;  /* but Ctrl-Z must not leave the terminal raw */
		v->tty_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	return 0;
}

static int run(struct vmm *v)
{
	for (int r = 0; v->nstarted < v->ncpus; v->nstarted++)
		if ((r = pthread_create(&v->cpu[v->nstarted].thread, NULL, vcpu_thread, &v->cpu[v->nstarted]))) {
			if (stop_vm(v, EXIT_HOST))
				say(0, "vCPU thread: %s", strerror(r));
			break;
		}
	while (atomic_load(&v->status) < 0)
		if (kvmhost_loop_run(v->loop) < 0 && stop_vm(v, EXIT_HOST))
			fail(0, "event loop");
	/* The kick is race-free: a vCPU about to enter the guest sees it too. */
	for (uint32_t i = 0; i < v->nstarted; i++)
		kvmhost_vcpu_kick(v->cpu[i].vcpu);
	for (uint32_t i = 0; i < v->nstarted; i++)
		pthread_join(v->cpu[i].thread, NULL);
	return atomic_load(&v->status);
}

static void teardown(struct vmm *v)
{
	/* Let the buffered console output out (giving a stuck reader a second), then restore the terminal. */
	for (int i = 0; v->com1 && i < 10 && kvmhost_uart_flush(v->com1) > 0; i++)
		usleep(100 * 1000);
	virtio_quiesce(v);
	if (v->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &v->tty_saved);
	virtio_teardown(v); /* before the buses, the loop and the VM it is wired into */
	kvmhost_debug_exit_destroy(v->debug_exit);
	kvmhost_fw_cfg_destroy(v->fw_cfg);
	kvmhost_cmos_rtc_destroy(v->rtc);
	kvmhost_i8042_destroy(v->i8042);
	kvmhost_uart_destroy(v->com1);
	kvmhost_irq_line_destroy(v->com1_irq);
	kvmhost_bus_destroy(v->pio);
	kvmhost_bus_destroy(v->mmio);
	kvmhost_x86_cpuid_destroy(v->cpuid);
	kvmhost_vm_destroy(v->vm); /* with its vCPUs and RAM */
	kvmhost_system_close(v->sys);
	kvmhost_loop_destroy(v->loop);
	if (v->rx_fd >= 0)
		close(v->rx_fd);
	if (v->out_fd > STDERR_FILENO)
		close(v->out_fd);
}

static void log_to_stderr(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	fprintf(stderr, PROG ": libkvmhost %s: %s\n", level == KVMHOST_LOG_ERROR ? "error" : "warning", msg);
}

int main(int argc, char **argv)
{
	static struct vmm v = {.mem = 256u << 20, .ncpus = 1, .out_fd = -1, .in_fd = -1, .rx_fd = -1, .status = -1};
	int r;

	kvmhost_set_log_callback(log_to_stderr, NULL, KVMHOST_LOG_WARN);
	if ((r = parse_args(&v, argc, argv)))
		return r < 0 ? 0 : r;
	if (!(r = setup_host_side(&v)) && !(r = setup(&v)))
		r = run(&v);
	teardown(&v);
	return r;
}

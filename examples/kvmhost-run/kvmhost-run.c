/*
 * kvmhost-run: a small VMM on libkvmhost's machine layer (kvmhost/machine.h). It boots a Linux bzImage, an ELF
 * vmlinux by its PVH entry or a Multiboot kernel on the library's PC-like machine: RAM around the 32-bit MMIO
 * hole, in-kernel irqchip and PIT, ACPI and MP tables, COM1 (16550A, IRQ 4), an i8042 for reboot, the CMOS RTC
 * and fw_cfg, plus the virtio devices its flags ask for (virtio.c). This file is the command line: flags ->
 * options -> kvmhost_machine_check() (a failure is a usage error, found before KVM is opened) -> create -> start
 * -> wait for the machine to stop, or a signal to stop it -> the exit status from why it stopped.
 *
 * Exit status: 0 the guest powered off (ACPI S5, KVM_SYSTEM_EVENT_SHUTDOWN), or migrated away (below); 2 usage error: a
 * bad flag or value, a missing file, an image no loader takes (one line names it); 4 the guest rebooted (i8042 reset,
 * ACPI reset register, triple fault, KVM_SYSTEM_EVENT_RESET); 6 the guest cannot go on (KVM internal error, with
 * suberror and instruction bytes; failed entry; crash); 8 host-side failure (no usable /dev/kvm, KVM refusing a step, a
 * device error); 128+N stopped by signal N (130: SIGINT); odd: (v << 1) | 1, low 8 bits, after the guest wrote v
 * to --debug-exit; 10 --incoming brought no guest: the stream or snapshot file was damaged, truncated or refused
 * (another machine's shape, CPU features this host lacks, another format), or the source went away or cancelled
 * (one line says why; the guest never ran here). The VMM's own statuses are all even, so none is ever mistaken for
 * a debug-exit status.
 *
 * Migration (migrate.c): --incoming URI builds the same machine (the other flags must describe the same devices,
 * as with QEMU) without booting its kernel and waits for the guest: file:PATH (a snapshot: restored, then run),
 * fd:N (a stream on an inherited fd), unix:PATH or tcp:HOST:PORT (it listens and takes one connection: a live
 * migration). --control's migrate sends the guest to unix:, tcp: (live) or file: (a snapshot: the guest goes on
 * here as it was). After a migration to a socket completes (the destination confirmed the guest runs there),
 * kvmhost-run exits 0 at once, its last word on --control the MIGRATION event "completed" (QEMU's source instead
 * stays in "postmigrate" until `quit`); a migration that fails or is cancelled before its commit point leaves the
 * guest running here, and kvmhost-run goes on. With --memory-backend memfd and the capability x-ignore-shared on,
 * migrate unix: is a same-host hand-over: the RAM is passed, not copied (migrate.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/devices/debug_exit.h>
#include "kvmhost-run.h"

#define DEFAULT_CMDLINE "console=ttyS0"

static const char usage_text[] =
    "Usage: " PROG " --kernel PATH [options]: boot a kernel in a KVM VM whose console is COM1\n"
    "  --kernel PATH         bzImage, ELF vmlinux with a PVH note, or Multiboot kernel (detected; with\n"
    "  --multiboot           a Multiboot kernel whatever it looks like)\n"
    "  --initrd PATH         initrd or initramfs (Multiboot: module 0)\n"
    "  --cmdline STR         kernel command line (default \"" DEFAULT_CMDLINE "\")\n"
    "  --mem SIZE            RAM with a K, M, G or T suffix; a plain number is MiB (default 256M)\n"
    "  --cpus N              vCPUs (default 1)\n"
    "  --memory-backend B    guest RAM: anonymous (default: private memory) or memfd (shared memory,\n"
    "                        as QEMU's memory-backend-memfd,share=on: what --control's migrate with\n"
    "                        the capability x-ignore-shared needs to hand the guest over on this host)\n"
    "  --serial stdio|file:PATH|none   COM1's output (default stdio: then stdin is its input, a terminal\n"
    "                        in raw mode except that Ctrl-C still stops the VM)\n"
    "  --debug-exit[=PORT]   a 4-port test exit (default 0xf4): the guest writes v, " PROG " exits (v << 1) | 1\n"
    "  --disk PATH[,ro]      virtio-blk on a raw image (ro: read-only); repeatable: the guest\n"
    "                        sees vda, vdb, ... in the order given\n"
    "  --net tap=NAME[,mac=M] virtio-net on TAP device NAME (an existing one, e.g. made by\n"
    "                        `ip tuntap`, or a new one; its host-side addresses are yours to set),\n"
    "                        MAC M (default 52:54:00:12:34:56)\n"
    "  --console[=BACKEND]   virtio-console (hvc0) on stdio (the default), file:PATH or\n"
    "                        socket:PATH (a Unix socket it listens on); when it has stdio,\n"
    "                        COM1's output goes where --serial says, else nowhere\n"
    "  --rng                 virtio-rng, fed by getrandom()\n"
    "  --transport T         the virtio transport: mmio (default), virtio-mmio described in the\n"
    "                        ACPI DSDT; mmio-cmdline, virtio-mmio on the kernel command line\n"
    "                        with ISA IRQs, for guests without ACPI (acpi=off); pci, virtio-pci\n"
    "                        behind a PCI host bridge in the DSDT, with MSI-X or INTx\n"
    "  --control PATH        a QMP control socket (QEMU's machine protocol) listening at PATH\n"
    "  --paused              build the VM but start it only at --control's cont (QEMU's -S)\n"
    "  --reboot              a guest reset reboots the VM in place instead of ending " PROG " with 4\n"
    "  --incoming URI        wait for the guest instead of booting the kernel: file:PATH (a snapshot),\n"
    "                        unix:PATH or tcp:HOST:PORT (listen for one migration), fd:N (a stream on\n"
    "                        fd N); the other flags must describe the same machine as the source's\n"
    "Exit status: 0 power off or migrated away, 4 reboot, 2 usage error, 6 guest failure, 8 host\n"
    "failure, 10 --incoming brought no guest, 128+N signal N\n";

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

/* The library's last message, less the prefix every message of kvmhost_machine_check() has. */
static const char *why(void)
{
	static const char prefix[] = "kvmhost_machine_check: machine " PROG ": ";
	const char *e = kvmhost_last_error();

	return strncmp(e, prefix, sizeof(prefix) - 1) ? e : e + sizeof(prefix) - 1;
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

/* The kernel and initrd are mapped here, so that what the machine's checks say about them is about the image. */
static int map_file(const char *flag, const char *path, const void **data, size_t *size)
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

static int parse_serial(struct vmm *v, const char *arg, bool console_stdio)
{
	v->serial = (struct kvmhost_machine_serial){.size = sizeof(v->serial), .in_fd = -1, .out_fd = -1};
	if (console_stdio && arg && !strcmp(arg, "stdio"))
		return usage_error("--console takes stdio: give --serial file:PATH or none");
	if (!arg)
		arg = console_stdio ? "none" : "stdio";
	if (!strcmp(arg, "stdio")) {
		v->serial.in_fd = STDIN_FILENO;
		v->serial.out_fd = STDOUT_FILENO;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		v->serial.out_fd = open(arg + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (v->serial.out_fd < 0)
			return usage_error("--serial %s: %s", arg, strerror(errno));
	} else if (strcmp(arg, "none")) {
		return usage_error("--serial %s: want stdio, file:PATH or none", arg);
	}
	v->opts.serial = &v->serial;
	return 0;
}

static int parse_args(struct vmm *v, int argc, char **argv)
{
	enum {
		KERNEL = 1,
		INITRD,
		CMDLINE,
		MEM,
		CPUS,
		SERIAL,
		MULTIBOOT,
		HELP,
		DEBUG_EXIT,
		CONTROL,
		PAUSED,
		REBOOT,
		INCOMING,
		MEM_BACKEND,
		N
	};
	enum { DISK = N, NET };
	enum { CONSOLE = NET + 1, RNG, TRANSPORT };
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, KERNEL},
	    {"initrd", required_argument, NULL, INITRD},
	    {"cmdline", required_argument, NULL, CMDLINE},
	    {"mem", required_argument, NULL, MEM},
	    {"cpus", required_argument, NULL, CPUS},
	    {"serial", required_argument, NULL, SERIAL},
	    {"multiboot", no_argument, NULL, MULTIBOOT},
	    {"help", no_argument, NULL, HELP},
	    {"debug-exit", optional_argument, NULL, DEBUG_EXIT},
	    {"control", required_argument, NULL, CONTROL},
	    {"paused", no_argument, NULL, PAUSED},
	    {"reboot", no_argument, NULL, REBOOT},
	    {"incoming", required_argument, NULL, INCOMING},
	    {"memory-backend", required_argument, NULL, MEM_BACKEND},
	    {"disk", required_argument, NULL, DISK},
	    {"net", required_argument, NULL, NET},
	    {"console", optional_argument, NULL, CONSOLE},
	    {"rng", no_argument, NULL, RNG},
	    {"transport", required_argument, NULL, TRANSPORT},
	    {0},
	};
	static int (*const device_flag[])(struct vmm *, const char *) = {
	    virtio_parse_disk, virtio_parse_net, virtio_parse_console, virtio_parse_rng, virtio_parse_transport};
	static char given[] = ""; /* a flag given without a value */
	const char *arg[N] = {0};
	unsigned long n = 1, port = KVMHOST_DEBUG_EXIT_DEFAULT_PORT;
	char *end;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		if (c == 'h' || c == HELP)
			return fputs(usage_text, stdout), -1;
		else if (c == ':')
			return usage_error("%s needs a value (see --help)", argv[optind - 1]);
		else if (c == '?')
			return usage_error("unknown or malformed flag %s (see --help)", argv[optind - 1]);
		else if (c < N)
			arg[c] = optarg ? optarg : given;
		else if ((r = device_flag[c - N](v, optarg)))
			return r;
	if (optind < argc)
		return usage_error("unexpected argument %s (see --help)", argv[optind]);
	if (arg[MEM] &&
	    (parse_size(arg[MEM], &v->opts.ram_size) < 0 || v->opts.ram_size % 4096 || v->opts.ram_size < (2u << 20)))
		return usage_error("--mem %s: want 2M or more, in whole 4 KiB pages (e.g. 256M, 2G)", arg[MEM]);
	if (arg[MEM_BACKEND] && !strcmp(arg[MEM_BACKEND], "memfd"))
		v->opts.ram_backing = KVMHOST_MACHINE_RAM_MEMFD;
	else if (arg[MEM_BACKEND] && strcmp(arg[MEM_BACKEND], "anonymous"))
		return usage_error("--memory-backend %s: want anonymous or memfd", arg[MEM_BACKEND]);
	if (arg[CPUS] &&
	    ((n = strtoul(arg[CPUS], &end, 10)) < 1 || n > KVMHOST_MACHINE_MAX_VCPUS || *end || *arg[CPUS] == '-'))
		return usage_error("--cpus %s: want a number from 1 to %u", arg[CPUS], KVMHOST_MACHINE_MAX_VCPUS);
	v->opts.vcpu_count = (uint32_t)n;
	if (arg[DEBUG_EXIT] && arg[DEBUG_EXIT] != given &&
	    ((port = strtoul(arg[DEBUG_EXIT], &end, 0)) > 0xfffc || *end || *arg[DEBUG_EXIT] == '-'))
		return usage_error("--debug-exit=%s: want a port number from 0 to 0xfffc", arg[DEBUG_EXIT]);
	v->x86.debug_exit_port = arg[DEBUG_EXIT] ? (uint16_t)port : 0;
	if ((r = parse_serial(v, arg[SERIAL], v->console.type && v->console.in_fd == STDIN_FILENO)))
		return r;
	v->opts.cmdline = arg[CMDLINE] ? arg[CMDLINE] : DEFAULT_CMDLINE;
	v->opts.kernel_format = arg[MULTIBOOT] ? KVMHOST_X86_BOOT_MULTIBOOT : 0;
#if !defined(__x86_64__)
	/* arm64 (docs/arm64.md): the machine boots an Image and has no debug-exit port. */
	if (arg[MULTIBOOT] || arg[DEBUG_EXIT])
		return usage_error("%s is for x86 machines", arg[MULTIBOOT] ? "--multiboot" : "--debug-exit");
#endif
	v->control = arg[CONTROL];
	v->paused = arg[PAUSED] != NULL;
	v->opts.on_reset = arg[REBOOT] ? KVMHOST_MACHINE_RESET_REBOOT : KVMHOST_MACHINE_RESET_STOP;
	if (arg[INCOMING] && (r = migration_incoming_open(v, arg[INCOMING])))
		return r;
	if (!arg[KERNEL])
		return usage_error("--kernel is required (see --help)");
	v->opts.kernel_path = arg[KERNEL]; /* for messages: the machine gets the mapped buffer */
	if ((r = map_file("--kernel", arg[KERNEL], &v->opts.kernel, &v->opts.kernel_size)) ||
	    (arg[INITRD] && (r = map_file("--initrd", arg[INITRD], &v->opts.initrd, &v->opts.initrd_size))))
		return r;
	return virtio_devices(v);
}

/* Everything the machine will check, checked before KVM is opened: the kernel alone, then each device alone, so
 * that the message names the flag; then all of it (a command line with every device's words). */
static int check(struct vmm *v)
{
	struct kvmhost_machine_options o = v->opts;
	const char *kernel = v->opts.kernel_path;

	o.kernel_path = NULL;
	o.device_count = 0;
	if (kvmhost_machine_check(&o) < 0)
		return usage_error("--kernel %s: %s", kernel, why());
	for (uint32_t i = 0; i < v->opts.device_count; i++) {
		o.devices = &v->dev[i];
		o.device_count = 1;
		if (kvmhost_machine_check(&o) < 0)
			return usage_error("%s: %s", v->dev_what[i], why());
	}
	v->opts.kernel_path = NULL;
	if (kvmhost_machine_check(&v->opts) < 0)
		return usage_error("%s", why());
	return 0;
}

static int signal_fd = -1; /* the eventfd on_signal() writes: the main loop stops the machine */
static volatile sig_atomic_t signal_seen;

/* A handler, not a blocked signal read from a signalfd: then it does not matter which thread the signal hits
 * (a sanitizer's own thread included). Async-signal-safe: a store and a write(2). */
static void on_signal(int sig)
{
	int saved_errno = errno;
	uint64_t one = 1;

	signal_seen = sig;
	if (write(signal_fd, &one, sizeof(one)) < 0) {
		/* the eventfd's counter is full: the main loop will see it anyway */
	}
	errno = saved_errno;
}

void vmm_stop(struct vmm *v, int status)
{
	if (v->status < 0)
		v->status = status;
	if (migration_incoming_pending()) {
		migration_cancel(v); /* the loop ends once its thread has: the machine never ran */
		return;
	}
	migration_fini(v, true); /* a migration from here is cancelled first: it pauses and resumes the guest */
	kvmhost_machine_stop(v->m);
}

/* Wait for the machine to stop (its STOPPED event), stopping it on a signal; serve --control and the migration's
 * thread meanwhile. */
static void wait_for_stop(struct vmm *v)
{
	struct pollfd p[4] = {{.fd = signal_fd, .events = POLLIN},
			      {.fd = kvmhost_machine_event_fd(v->m), .events = POLLIN},
			      {.fd = control_fd(v), .events = POLLIN},
			      {.fd = migration_fd(), .events = POLLIN}};
	struct kvmhost_machine_event e = {.size = sizeof(e)};
	uint64_t n;

	for (bool stopped = false; !stopped && !v->loop_done;) {
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents && read(signal_fd, &n, sizeof(n)) > 0 && v->status < 0)
			vmm_stop(v, 128 + signal_seen);
		/* An incoming machine stops when its restore fails: the migration's thread says why. */
		while (kvmhost_machine_next_event(v->m, &e) == 1)
			stopped |= e.type == KVMHOST_MACHINE_EVENT_STOPPED && !migration_incoming_pending();
		if (p[2].revents)
			control_dispatch(v);
		if (p[3].revents)
			migration_dispatch(v);
	}
	if (kvmhost_machine_get_state(v->m) != KVMHOST_MACHINE_CREATED)
		kvmhost_machine_wait(v->m, -1);
}

static int exit_status(struct vmm *v)
{
	struct kvmhost_machine_stop_info s = {.size = sizeof(s)};

	if (v->incoming_failed && v->status < 0)
		return say(EXIT_INCOMING, "--incoming %s: %s", migration_incoming_text(), migration_error());
	if (v->loop_done || kvmhost_machine_get_state(v->m) == KVMHOST_MACHINE_CREATED)
		return v->status >= 0 ? v->status : EXIT_HOST; /* stopped before the guest arrived */

	kvmhost_machine_get_stop_info(v->m, &s);
	switch (s.reason) {
	case KVMHOST_MACHINE_STOP_POWEROFF:
		return EXIT_POWEROFF;
	case KVMHOST_MACHINE_STOP_RESET:
		return EXIT_REBOOT;
	case KVMHOST_MACHINE_STOP_DEBUG_EXIT:
		return (int)(((s.debug_exit_status << 1) | 1) & 0xff);
	case KVMHOST_MACHINE_STOP_MIGRATED:
		return EXIT_POWEROFF; /* the guest runs on the destination now */
	case KVMHOST_MACHINE_STOP_GUEST_ERROR:
		return say(EXIT_GUEST, "%s, rip 0x%llx", s.message, (unsigned long long)s.pc);
	default:
		if (s.reason == KVMHOST_MACHINE_STOP_REQUESTED && v->status >= 0)
			return v->status; /* a signal, or --control's quit */
		return say(EXIT_HOST, "%s", s.message);
	}
}

static void log_to_stderr(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	fprintf(stderr, PROG ": libkvmhost %s: %s\n", level == KVMHOST_LOG_ERROR ? "error" : "warning", msg);
}

int main(int argc, char **argv)
{
	static struct vmm v = {.opts = {.size = sizeof(v.opts), .name = PROG, .ram_size = 256u << 20},
			       .x86 = {.size = sizeof(v.x86)},
			       .status = -1};
	struct sigaction sa = {.sa_handler = on_signal};
	struct termios saved, raw;
	bool tty_raw = false;
	int r;

	kvmhost_set_log_callback(log_to_stderr, NULL, KVMHOST_LOG_WARN);
#if defined(__x86_64__)
	v.opts.arch_options = &v.x86; /* the arm64 machine has no options yet */
#endif
	v.opts.ram_flags = KVMHOST_MACHINE_RAM_THP; /* transparent huge pages, as QEMU asks: fewer faults booting */
	if ((r = parse_args(&v, argc, argv)))
		return r < 0 ? 0 : r;
	if ((r = check(&v)) || (r = migration_prepare(&v)) || (r = control_open(&v))) {
		migration_fini(&v, true); /* --incoming's socket goes */
		return r;
	}
	if ((signal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return say(EXIT_HOST, "eventfd: %s", strerror(errno));
	for (int i = 0, sig[] = {SIGINT, SIGTERM, SIGHUP}; i < 3; i++)
		sigaction(sig[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a reader of the guest's output going away is no reason to die */
	if ((v.serial.in_fd == STDIN_FILENO || v.console.in_fd == STDIN_FILENO) && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag = saved.c_oflag;	   /* our own messages still start on a new line */
		raw.c_lflag |= ISIG;		   /* Ctrl-C stops the VM (status 130) */
		raw.c_cc[VSUSP] = _POSIX_VDISABLE; /* but Ctrl-Z must not leave the terminal raw */
		tty_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (kvmhost_machine_create(&v.opts, &v.m) < 0)
		r = say(EXIT_HOST, "cannot create the VM on KVM: %s", kvmhost_last_error());
	else if (v.opts.flags & KVMHOST_MACHINE_INCOMING)
		r = migration_incoming_start(&v); /* the guest starts once it has arrived (migrate.c) */
	else if (!v.paused && kvmhost_machine_start(v.m) < 0)
		r = say(EXIT_HOST, "cannot start the VM: %s", kvmhost_last_error());
	if (v.m && !r) {
		wait_for_stop(&v);
		r = exit_status(&v);
	}
	migration_fini(&v, true); /* a live migration past its commit point finishes */
	control_close(&v, r);
	kvmhost_machine_destroy(v.m); /* lets the buffered console output out first */
	if (tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return r;
}

/*
 * Shared by platform_linux_poweroff_test.c and platform_linux_reboot_test.c
 * (one boot each, so that each fits the lab's per-test time): a real Linux
 * guest on the whole x86 platform layer, ended by ACPI. The lab's L2 kernel
 * (an ELF vmlinux with a PVH entry) and its initramfs (tools/kvmhost-mkguest:
 * runs kvmhost.test=, prints KVMHOST-GUEST-RESULT, then powers off or
 * reboots as kvmhost.exit= says) boot on 1 or 2 vCPUs with: RAM from
 * kvmhost_x86_plan_ram(), the e820 map from the memory map, the MP table and
 * the ACPI tables, the PVH loader, the CPUID builder, default MSRs, the BSP's
 * entry state and an AP left to the guest's INIT/SIPI, a 16550 on COM1 (IRQ
 * 4 through the in-kernel IOAPIC, described in the DSDT).
 *  - poweroff: the kernel must bring up both CPUs and find ACPI S5, the
 *    guest report rc=0, then write KVMHOST_X86_ACPI_SLEEP_S5 to the ACPI
 *    sleep control port;
 *  - reboot (with reboot=acpi, see boot()): it must write
 *    KVMHOST_X86_ACPI_RESET_VALUE to the reset port.
 * Kernel and initramfs come from $KVMHOST_TEST_LINUX_KERNEL and
 * $KVMHOST_TEST_LINUX_INITRD, else /lab/l2/vmlinux and
 * /lab/l2/initramfs.cpio.gz (inside the lab's L1); without them, or on the
 * PVM host (where a stock kernel cannot boot), the test skips.
 */
#ifndef KVMHOST_TEST_PLATFORM_LINUX_H
#define KVMHOST_TEST_PLATFORM_LINUX_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <kvmhost/devices/uart16550.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/x86_platform.h>
#include "kvm_test_util.h"

#define MAX_CPUS  2
#define RAM_SIZE  (128ull << 20)
#define TIMEOUT_S 100

enum outcome { RUNNING = 0, POWER_OFF, RESET, GUEST_FAILED };

struct machine {
	struct kvmhost_vm *vm;
	struct kvmhost_bus *pio;
	struct kvmhost_vcpu *vcpu[MAX_CPUS];
	pthread_t thread[MAX_CPUS];
	atomic_int outcome;
	atomic_int stop;
	char why[200];
	pthread_mutex_t why_lock;
	atomic_uint port_exits[0x10000]; /* for the failure report: where the guest was talking */
	atomic_uint acpi_writes[3];	 /* last value written to each ACPI port, | 0x100 */
};

static void set_outcome(struct machine *m, enum outcome o, const char *why)
{
	int expected = RUNNING;

	if (atomic_compare_exchange_strong(&m->outcome, &expected, (int)o) && why) {
		pthread_mutex_lock(&m->why_lock);
		snprintf(m->why, sizeof(m->why), "%s", why);
		pthread_mutex_unlock(&m->why_lock);
	}
}

/* The ACPI ports: sleep control, sleep status, reset. */
static int acpi_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct machine *m = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)len;
	if (offset < 3)
		atomic_store(&m->acpi_writes[offset], 0x100u | v);
	if (offset == KVMHOST_X86_ACPI_SLEEP_CONTROL && v == KVMHOST_X86_ACPI_SLEEP_S5)
		set_outcome(m, POWER_OFF, NULL);
	else if (offset == KVMHOST_X86_ACPI_RESET && v == KVMHOST_X86_ACPI_RESET_VALUE)
		set_outcome(m, RESET, NULL);
	return 0;
}

static int acpi_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct machine *m = ((void **)arg)[0];
	struct kvmhost_vcpu *vcpu = ((void **)arg)[1];
	char why[200];

	while (!atomic_load(&m->stop)) {
		const struct kvmhost_exit *e;
		int r = kvmhost_vcpu_run(vcpu, &e);

		if (r < 0) {
			snprintf(why, sizeof(why), "vCPU %u: run failed: %s", kvmhost_vcpu_id(vcpu),
				 kvmhost_last_error());
			set_outcome(m, GUEST_FAILED, why);
			break;
		}
		switch (e->reason) {
		case KVMHOST_EXIT_KICKED:
			continue;
		case KVMHOST_EXIT_IO:
			atomic_fetch_add(&m->port_exits[e->io.port], 1);
			r = kvmhost_bus_dispatch_exit(m->pio, NULL, e);
			if (r < 0) {
				snprintf(why, sizeof(why), "vCPU %u: port 0x%x: %s", kvmhost_vcpu_id(vcpu), e->io.port,
					 kvmhost_last_error());
				set_outcome(m, GUEST_FAILED, why);
			}
			continue;
		case KVMHOST_EXIT_MMIO:
			/* Nothing is mapped there: reads see all ones, writes vanish. */
			if (!e->mmio.is_write)
				memset(e->mmio.data, 0xff, e->mmio.len);
			continue;
		default:
			snprintf(why, sizeof(why), "vCPU %u: exit %s (KVM reason %u)", kvmhost_vcpu_id(vcpu),
				 kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
			set_outcome(m, GUEST_FAILED, why);
			break;
		}
		break;
	}
	return NULL;
}

static void *read_file(const char *path, size_t *size)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	CHECK(fstat(fd, &st) == 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(p != MAP_FAILED);
	*size = (size_t)st.st_size;
	return p;
}

/* Console text, for the verdict and for failure messages. */
static char *console_text(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *s = calloc(1, (size_t)end + 1);

	CHECK(s != NULL);
	CHECK(pread(fd, s, (size_t)end, 0) == end);
	*len = (size_t)end;
	return s;
}

/* The console lines that show what the kernel made of the platform, and
 * anything alarming, for the log of a passing run. */
static void show_summary(char *text)
{
	static const char *const keep[] = {
	    "e820:",  "ACPI:", "IOAPIC",       "smpboot:", "ttyS0",   "x86/PAT", "x86/fpu", "XSAVE",
	    "xstate", "tsc:",  "clocksource:", "traps:",   "WARNING", "BUG",	 "Oops",    "KVMHOST-GUEST",
	};
	int shown = 0;

	for (char *line = strtok(text, "\n"); line && shown < 80; line = strtok(NULL, "\n")) {
		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			if (strstr(line, keep[k])) {
				printf("  | %s\n", line);
				shown++;
				break;
			}
	}
}

static void show_tail(const char *text, size_t len)
{
	size_t from = len > 3000 ? len - 3000 : 0;

	fprintf(stderr, "---- guest console (last %zu bytes) ----\n%s\n----\n", len - from, text + from);
}

static int boot(struct kvmhost_system *sys, uint32_t ncpus, const void *kernel, size_t kernel_size, const void *initrd,
		size_t initrd_size, const char *exit_how, enum outcome want)
{
	struct kvmhost_x86_boot_options bo = {.size = sizeof(bo)};
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	struct kvmhost_x86_mptable_options mpo = {.size = sizeof(mpo), .ncpus = ncpus};
	struct kvmhost_x86_acpi_options ao = {.size = sizeof(ao), .ncpus = ncpus};
	struct kvmhost_x86_e820_entry e820[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_ram_range ram[2];
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_uart_options uo = {.size = sizeof(uo)};
	struct kvmhost_bus_range acpi = {.size = sizeof(acpi)};
	/* Without it Linux maps no IRQ 4 on a hardware-reduced platform: no user-space console. */
	struct kvmhost_x86_acpi_device com1_acpi = {.hid = "PNP0501",
						    .uid = 1,
						    .io_base = KVMHOST_UART_COM1_BASE,
						    .io_length = KVMHOST_UART_PORTS,
						    .irq = KVMHOST_UART_COM1_IRQ};
	struct kvmhost_x86_cpuid *cpuid;
	struct kvmhost_irq_line *irq4;
	struct kvmhost_uart *uart;
	static struct machine m; /* large (port counters): not on the stack */
	void *args[MAX_CPUS][2];
	char smp_line[64];
	char cmdline[160], *text;
	uint64_t rsdp;
	uint32_t n, e820_count;
	size_t text_len;
	int console, r, waited_ms = 0, ok;

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.why_lock, NULL);
	CHECK_OK(kvmhost_vm_create(sys, NULL, &m.vm));
	r = kvmhost_x86_vm_create_irqchip(m.vm, KVMHOST_X86_IRQCHIP_FULL, 0);
	if (r < 0 && kvmhost_vm_check_extension(m.vm, KVM_CAP_IRQCHIP) <= 0)
		SKIP("KVM has no in-kernel irqchip: %s", kvmhost_last_error());
	CHECK(r == 0);
	CHECK_OK(kvmhost_x86_vm_create_pit(m.vm, KVM_PIT_SPEAKER_DUMMY));

	CHECK_OK(kvmhost_x86_plan_ram(RAM_SIZE, 0, ram, 2, &n));
	for (uint32_t i = 0; i < n; i++) {
		mo.guest_phys_addr = ram[i].gpa;
		mo.length = ram[i].length;
		mo.backing = KVMHOST_MEMORY_ANONYMOUS;
		mo.name = "linux-ram";
		CHECK_OK(kvmhost_vm_add_memory(m.vm, &mo, NULL));
	}
	CHECK_OK(kvmhost_x86_mptable_write(kvmhost_vm_memory(m.vm), &mpo, NULL));
	ao.iapc_boot_arch = KVMHOST_X86_ACPI_BOOT_NO_VGA | KVMHOST_X86_ACPI_BOOT_NO_CMOS_RTC;
	ao.devices = &com1_acpi;
	ao.device_count = 1;
	CHECK_OK(kvmhost_x86_acpi_write(kvmhost_vm_memory(m.vm), &ao, &rsdp, NULL));
	CHECK_OK(kvmhost_x86_e820_from_memory(kvmhost_vm_memory(m.vm), NULL, e820, KVMHOST_X86_E820_MAX, &e820_count));

	/* reboot=acpi: on a hardware-reduced platform Linux otherwise picks an
	 * EFI reboot, falls back to jumping to the BIOS at 0xffff0 and, with no
	 * firmware there, never comes back (docs/x86-platform.md). The reboot
	 * run is quiet: the poweroff run checks the kernel's messages. */
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 panic=0 reboot=acpi %s kvmhost.test=ready kvmhost.exit=%s",
		 want == RESET ? "quiet" : "", exit_how);
	bo.cmdline = cmdline;
	bo.initrd = initrd;
	bo.initrd_size = initrd_size;
	bo.e820 = e820;
	bo.e820_count = e820_count;
	bo.acpi_rsdp_gpa = rsdp;
	CHECK_OK(kvmhost_x86_boot_load_pvh(kvmhost_vm_memory(m.vm), kernel, kernel_size, &bo, &info));

	/* Devices: COM1 on IRQ 4, the ACPI ports. */
	console = memfd_create("console", MFD_CLOEXEC);
	CHECK(console >= 0);
	CHECK_OK(kvmhost_bus_create("pio", &m.pio));
	CHECK_OK(kvmhost_irq_line_create_gsi(m.vm, KVMHOST_UART_COM1_IRQ, &irq4));
	uo.out_fd = console;
	uo.irq = irq4;
	uo.name = "com1";
	CHECK_OK(kvmhost_uart_create(&uo, &uart));
	CHECK_OK(kvmhost_uart_attach(uart, m.pio, KVMHOST_UART_COM1_BASE));
	acpi.base = KVMHOST_X86_ACPI_PM_PORT_DEFAULT;
	acpi.length = 3;
	acpi.read = acpi_read;
	acpi.write = acpi_write;
	acpi.opaque = &m;
	acpi.name = "acpi-pm";
	CHECK_OK(kvmhost_bus_register(m.pio, &acpi));

	CHECK_OK(kvmhost_x86_cpuid_create_from_system(sys, &cpuid));
	CHECK_OK(kvmhost_x86_cpuid_set_topology(cpuid, ncpus, 1));
	if (want == POWER_OFF) { /* the XSAVE leaves the guest sees, for the log (TCG-nested KVM quirks) */
		struct kvm_cpuid_entry2 e[KVMHOST_X86_CPUID_MAX_ENTRIES];
		uint32_t ne;

		CHECK_OK(kvmhost_x86_cpuid_build(cpuid, 0, e, KVMHOST_X86_CPUID_MAX_ENTRIES, &ne));
		for (uint32_t k = 0; k < ne; k++)
			if (e[k].function == 0xd || e[k].function == 1 || e[k].function == 7)
				printf("  cpuid %x.%u: %08x %08x %08x %08x\n", e[k].function, e[k].index, e[k].eax,
				       e[k].ebx, e[k].ecx, e[k].edx);
	}
	for (uint32_t i = 0; i < ncpus; i++)
		CHECK_OK(kvmhost_vcpu_create(m.vm, i, &m.vcpu[i]));
	CHECK_OK(kvmhost_x86_vcpu_setup_boot(m.vcpu[0], cpuid, &info, NULL));
	for (uint32_t i = 1; i < ncpus; i++)
		CHECK_OK(kvmhost_x86_vcpu_prepare_ap(m.vcpu[i], cpuid));
	kvmhost_x86_cpuid_destroy(cpuid);

	for (uint32_t i = 0; i < ncpus; i++) {
		args[i][0] = &m;
		args[i][1] = m.vcpu[i];
		CHECK(pthread_create(&m.thread[i], NULL, vcpu_thread, args[i]) == 0);
	}
	while (atomic_load(&m.outcome) == RUNNING && waited_ms < TIMEOUT_S * 1000) {
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
		waited_ms += 20;
	}
	atomic_store(&m.stop, 1);
	for (uint32_t i = 0; i < ncpus; i++)
		CHECK_OK(kvmhost_vcpu_kick(m.vcpu[i]));
	for (uint32_t i = 0; i < ncpus; i++)
		CHECK(pthread_join(m.thread[i], NULL) == 0);
	kvmhost_uart_flush(uart);

	text = console_text(console, &text_len);
	ok = atomic_load(&m.outcome) == (int)want && strstr(text, "KVMHOST-GUEST-RESULT test=ready rc=0") != NULL;
	/* The kernel saw both CPUs (MADT, INIT/SIPI) and ACPI's S5 (FADT, DSDT). */
	snprintf(smp_line, sizeof(smp_line), "Total of %u processors activated", ncpus);
	if (ok && want == POWER_OFF && !strstr(text, smp_line)) {
		fprintf(stderr, "FAIL: kvmhost.exit=%s: the kernel did not bring up %u CPUs\n", exit_how, ncpus);
		ok = 0;
	}
	if (ok && want == POWER_OFF && !strstr(text, "(supports S0 S5)")) {
		fprintf(stderr, "FAIL: kvmhost.exit=%s: the kernel did not find ACPI S5\n", exit_how);
		ok = 0;
	}
	if (!ok) {
		int o = atomic_load(&m.outcome);

		fprintf(stderr, "FAIL: kvmhost.exit=%s: %s after %d ms%s%s\n", exit_how,
			o == RUNNING	 ? "no ACPI power-off or reset write before the timeout"
			: o == POWER_OFF ? "powered off"
			: o == RESET	 ? "reset"
					 : "the guest failed",
			waited_ms, m.why[0] ? ": " : "", m.why);
		for (uint32_t i = 0; i < ncpus; i++) {
			struct kvm_regs regs;
			struct kvm_mp_state mp;

			if (kvmhost_x86_vcpu_get_regs(m.vcpu[i], &regs) == 0 &&
			    kvmhost_vcpu_get_mp_state(m.vcpu[i], &mp) == 0)
				fprintf(stderr, "vCPU %u: RIP 0x%llx RFLAGS 0x%llx mp_state %u\n", i,
					(unsigned long long)regs.rip, (unsigned long long)regs.rflags, mp.mp_state);
		}
		fprintf(stderr, "ACPI port writes (0x100 | last value): %#x %#x %#x; busiest ports:",
			atomic_load(&m.acpi_writes[0]), atomic_load(&m.acpi_writes[1]), atomic_load(&m.acpi_writes[2]));
		for (int k = 0; k < 8; k++) {
			unsigned best = 0, port = 0;

			for (unsigned p = 0; p < 0x10000; p++)
				if (atomic_load(&m.port_exits[p]) > best) {
					best = atomic_load(&m.port_exits[p]);
					port = p;
				}
			if (!best)
				break;
			fprintf(stderr, " 0x%x:%u", port, best);
			atomic_store(&m.port_exits[port], 0);
		}
		fprintf(stderr, "\n");
		if (!strstr(text, "KVMHOST-GUEST-RESULT test=ready rc=0"))
			fprintf(stderr, "FAIL: the guest never reported test=ready rc=0\n");
		show_tail(text, text_len);
	} else {
		printf(
		    "platform_linux: kvmhost.exit=%s: guest reported ready on %u vCPU(s) and %s through ACPI after %d "
		    "ms\n",
		    exit_how, ncpus, want == POWER_OFF ? "powered off" : "reset", waited_ms);
		show_summary(text);
	}
	free(text);
	kvmhost_vm_destroy(m.vm);
	kvmhost_uart_destroy(uart);
	kvmhost_irq_line_destroy(irq4);
	kvmhost_bus_destroy(m.pio);
	close(console);
	pthread_mutex_destroy(&m.why_lock);
	return ok;
}

/* Find the guest (or skip), boot it once on @ncpus vCPUs (1 to MAX_CPUS)
 * with kvmhost.exit=@exit_how and expect @want. The test's exit status. */
static int platform_linux_main(const char *exit_how, enum outcome want, uint32_t ncpus)
{
	const char *kpath = getenv("KVMHOST_TEST_LINUX_KERNEL"), *ipath = getenv("KVMHOST_TEST_LINUX_INITRD");
	struct kvmhost_system *sys;
	size_t ksize = 0, isize = 0;
	void *kernel, *initrd;
	int ok;

	if (!kpath)
		kpath = "/lab/l2/vmlinux";
	if (!ipath)
		ipath = "/lab/l2/initramfs.cpio.gz";
	sys = test_open_system(); /* first: with no KVM at all, that is the reason to give */
	if (test_kvm_is_pvm())
		SKIP("a stock Linux kernel does not boot on the PVM /dev/kvm (HOST-NOTES.md); runs in the lab");
	kernel = read_file(kpath, &ksize);
	initrd = read_file(ipath, &isize);
	if (!kernel || !initrd)
		SKIP("no Linux guest: set KVMHOST_TEST_LINUX_KERNEL (PVH vmlinux) and KVMHOST_TEST_LINUX_INITRD "
		     "(the lab's L1 has %s)",
		     kpath);
	ok = boot(sys, ncpus, kernel, ksize, initrd, isize, exit_how, want);
	kvmhost_system_close(sys);
	return ok ? TEST_PASS : TEST_FAIL;
}

#endif

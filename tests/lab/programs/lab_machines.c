/*
 * Lab program: the machine layer (kvmhost/machine.h) with Linux guests, on
 * L1's real kvm_amd. Two modes, each a lab test (tests/lab/cases.list):
 *
 * heterogeneous DISK TAP (machine/heterogeneous, tests/lab/l1/machines.sh)
 *   In one process at once: machine A, the L2 bzImage, 2 vCPUs, 256 MiB,
 *   virtio-blk on DISK over virtio-mmio; machine B, the PVH vmlinux, 1 vCPU,
 *   384 MiB, virtio-net on the TAP over virtio-pci; machine C, a tiny
 *   Multiboot kernel that counts (mb_count). A and B run guest test
 *   "machines" (tests/lab/l2/machines.sh), which waits for a "go" on COM1's
 *   input. Once both wait there, machine D (mb_triple) starts and
 *   triple-faults: it must stop with RESET while A, B and C run on; then the
 *   Linux guests get their "go" and do their work (the disk read and
 *   written, a ping over the TAP) and power off, and E (mb_poweroff) is made,
 *   does its work and powers off; C still counts after all that and is
 *   stopped.
 *
 * pause_linux [SECONDS] (machine/pause_linux)
 *   The bzImage, 2 vCPUs, 256 MiB, KVM dirty logging on, runs guest test
 *   "pause_ticks" (tests/lab/l2/pause_ticks.sh: a counter and the guest's
 *   uptime every 100 ms). Once ticks come, the machine is paused for
 *   SECONDS (5): no serial byte, no dirty page in KVM's log or the VMM's
 *   bitmap, no vCPU run while paused. After resume the counter goes on from
 *   where it was, the guest's clock moved on sensibly (measured and printed:
 *   with kvmclock, the guest's uptime includes the paused time, as the host's
 *   clocks do), and kvmhost_machine_request_poweroff() (the ACPI power button)
 *   makes the guest power off.
 *
 * Every machine's COM1 goes to a pipe that this program reads and echoes as
 * "NAME| line". Exit status: 0 when every check passed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/error.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
#include <kvmhost/vm.h>
#include <kvmhost/x86_boot.h>

#include "guests-multiboot/mbguests.h"

MBGUEST_DECLARE(mb_count);
MBGUEST_DECLARE(mb_triple);
MBGUEST_DECLARE(mb_poweroff);

#define L2_BZIMAGE "/lab/l2/bzImage"
#define L2_VMLINUX "/lab/l2/vmlinux"
#define L2_INITRD  "/lab/l2/initramfs.cpio.gz"
#define MIB	   (1024ull * 1024)
#define COUNT_ADDR 0x200000ull /* mb_count's counter */
#define OUT_MAX	   (1u << 20)

static int fails;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("lab_machines: %s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		fails++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_log(enum kvmhost_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	if (level <= KVMHOST_LOG_INFO)
		printf("libkvmhost[%d]: %s\n", (int)level, msg);
}

/* One machine and its serial console. */
struct vm {
	const char *name;
	struct kvmhost_machine_options o;
	struct kvmhost_machine_x86_options x86;
	struct kvmhost_machine_serial serial;
	struct kvmhost_machine_device dev;
	int out[2];
	int in[2]; /* COM1's input: in[1] is written by this program */
	char *buf; /* everything COM1 wrote, NUL-terminated */
	size_t len, echoed;
	struct kvmhost_machine *m;
	double stopped_at;
};

static void vm_init(struct vm *v, const char *name)
{
	memset(v, 0, sizeof(*v));
	v->name = name;
	if (pipe2(v->out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(v->in, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    !(v->buf = calloc(1, OUT_MAX + 1))) {
		perror("lab_machines: pipe2/calloc");
		exit(1);
	}
	v->serial = (struct kvmhost_machine_serial){.size = sizeof(v->serial), .in_fd = v->in[0], .out_fd = v->out[1]};
	v->x86 = (struct kvmhost_machine_x86_options){.size = sizeof(v->x86)};
	v->o = (struct kvmhost_machine_options){.size = sizeof(v->o),
						.name = name,
						.serial = &v->serial,
						.arch_options = &v->x86,
						.device_size = sizeof(v->dev)};
}

static void vm_linux(struct vm *v, const char *name, const char *kernel, uint32_t cpus, uint64_t ram,
		     const char *cmdline)
{
	vm_init(v, name);
	v->o.kernel_path = kernel;
	v->o.initrd_path = L2_INITRD;
	v->o.cmdline = cmdline;
	v->o.vcpu_count = cpus;
	v->o.ram_size = ram;
}

static void vm_tiny(struct vm *v, const char *name, const void *kernel, size_t size)
{
	vm_init(v, name);
	v->o.kernel = kernel;
	v->o.kernel_size = size;
	v->o.kernel_format = KVMHOST_X86_BOOT_MULTIBOOT;
	v->o.ram_size = 4 * MIB;
	v->o.vcpu_count = 1;
}

static int vm_create(struct vm *v)
{
	int r = kvmhost_machine_create(&v->o, &v->m);

	check(r == 0, "machine %s created (%s)", v->name, r == 0 ? "ok" : kvmhost_last_error());
	return r;
}

static int vm_start(struct vm *v)
{
	int r = kvmhost_machine_start(v->m);

	check(r == 0, "machine %s started (%s)", v->name, r == 0 ? "ok" : kvmhost_last_error());
	return r;
}

/* Read what COM1 wrote; echo whole lines as "NAME| line". */
static void vm_drain(struct vm *v)
{
	ssize_t r;

	while (v->len < OUT_MAX && (r = read(v->out[0], v->buf + v->len, OUT_MAX - v->len)) > 0) {
		v->len += (size_t)r;
		v->buf[v->len] = 0;
	}
	for (;;) {
		char *nl = memchr(v->buf + v->echoed, '\n', v->len - v->echoed);
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - (v->buf + v->echoed));
		if (n && v->buf[v->echoed + n - 1] == '\r')
			n--;
		printf("%s| %.*s\n", v->name, (int)n, v->buf + v->echoed);
		v->echoed = (size_t)(nl - v->buf) + 1;
	}
	fflush(stdout);
}

/* Wait up to @ms for output on any of @vms (NULL entries skipped), then drain all. */
static void pump(struct vm **vms, int n, int ms)
{
	struct pollfd p[8];
	int k = 0;

	for (int i = 0; i < n && k < 8; i++)
		if (vms[i] && vms[i]->m)
			p[k++] = (struct pollfd){.fd = vms[i]->out[0], .events = POLLIN};
	poll(p, (nfds_t)k, ms);
	for (int i = 0; i < n; i++)
		if (vms[i] && vms[i]->m)
			vm_drain(vms[i]);
}

static int vm_state(struct vm *v)
{
	return kvmhost_machine_get_state(v->m);
}

static struct kvmhost_machine_stop_info vm_stop_info(struct vm *v)
{
	struct kvmhost_machine_stop_info s = {.size = sizeof(s)};

	kvmhost_machine_get_stop_info(v->m, &s);
	return s;
}

static int has(struct vm *v, const char *what)
{
	return strstr(v->buf, what) != NULL;
}

static void vm_destroy(struct vm *v)
{
	if (v->m)
		kvmhost_machine_destroy(v->m);
	v->m = NULL;
	close(v->out[0]);
	close(v->out[1]);
	close(v->in[0]);
	close(v->in[1]);
	free(v->buf);
}

static uint32_t counter(struct vm *v)
{
	uint32_t c = 0;

	kvmhost_memory_read(kvmhost_machine_memory(v->m), COUNT_ADDR, &c, sizeof(c));
	return c;
}

/* "KVMHOST-SYSINFO mem_kb=N cpus=N" of a Linux guest. */
static void check_sysinfo(struct vm *v)
{
	const char *s = strstr(v->buf, "KVMHOST-SYSINFO mem_kb=");
	unsigned long mem_kb = 0, cpus = 0;
	uint64_t want_kb = v->o.ram_size / 1024;

	if (s)
		sscanf(s, "KVMHOST-SYSINFO mem_kb=%lu cpus=%lu", &mem_kb, &cpus);
	check(cpus == v->o.vcpu_count, "%s: the guest saw %lu CPUs, it has %u", v->name, cpus, v->o.vcpu_count);
	/* MemTotal is the RAM minus what the kernel keeps for itself: within 25% below. */
	check(mem_kb <= want_kb && mem_kb >= want_kb * 3 / 4, "%s: MemTotal %lu kB for %llu kB of RAM", v->name, mem_kb,
	      (unsigned long long)want_kb);
}

static int heterogeneous(const char *disk, const char *tap)
{
	static struct vm a, b, c, d, e;
	struct vm *all[] = {&a, &b, &c, &d, &e};
	struct kvmhost_machine_stop_info s;
	double t0 = now_s(), deadline = t0 + 100, t_init = 0, t_d;
	uint32_t c_at_d, c_at_end;

	vm_linux(&a, "A", L2_BZIMAGE, 2, 256 * MIB,
		 "console=ttyS0 panic=0 quiet kvmhost.test=machines kvmhost.want=disk");
	a.dev = (struct kvmhost_machine_device){
	    .type = KVMHOST_MACHINE_DEVICE_BLK, .id = "disk", .path = disk, .in_fd = -1, .out_fd = -1};
	a.o.devices = &a.dev;
	a.o.device_count = 1;
	a.o.transport = KVMHOST_MACHINE_TRANSPORT_MMIO;
	vm_linux(&b, "B", L2_VMLINUX, 1, 384 * MIB,
		 "console=ttyS0 panic=0 quiet kvmhost.test=machines kvmhost.want=net");
	b.o.kernel_format = KVMHOST_X86_BOOT_PVH_ELF;
	b.dev = (struct kvmhost_machine_device){
	    .type = KVMHOST_MACHINE_DEVICE_NET, .id = "net", .path = tap, .in_fd = -1, .out_fd = -1};
	b.o.devices = &b.dev;
	b.o.device_count = 1;
	b.o.transport = KVMHOST_MACHINE_TRANSPORT_PCI;
	vm_tiny(&c, "C", MBGUEST_BYTES(mb_count), MBGUEST_SIZE(mb_count));
	vm_tiny(&d, "D", MBGUEST_BYTES(mb_triple), MBGUEST_SIZE(mb_triple));
	vm_tiny(&e, "E", MBGUEST_BYTES(mb_poweroff), MBGUEST_SIZE(mb_poweroff));
	printf("lab_machines: A = %s, 2 vCPUs, 256 MiB, virtio-blk %s on virtio-mmio; B = %s (PVH), 1 vCPU, 384 MiB, "
	       "virtio-net on %s over virtio-pci; C = mb_count; D = mb_triple (started once A and B are up); "
	       "E = mb_poweroff (made after D stopped)\n",
	       L2_BZIMAGE, disk, L2_VMLINUX, tap);
	if (vm_create(&a) || vm_create(&b) || vm_create(&c) || vm_create(&d))
		goto out;
	if (vm_start(&a) || vm_start(&b) || vm_start(&c))
		goto out;

	/* Both Linux guests in their test, waiting for the word: then D misbehaves, in the middle of their work. */
	while (now_s() < deadline && !(has(&a, "KVMHOST-MACHINES-WAITING") && has(&b, "KVMHOST-MACHINES-WAITING")) &&
	       vm_state(&a) == KVMHOST_MACHINE_RUNNING && vm_state(&b) == KVMHOST_MACHINE_RUNNING)
		pump(all, 5, 100);
	t_init = now_s();
	check(has(&a, "KVMHOST-MACHINES-WAITING") && has(&b, "KVMHOST-MACHINES-WAITING"),
	      "A and B booted and wait in their guest test (%.1f s after the start, L1 clock)", t_init - t0);
	check(counter(&c) > 0, "C counts (%u)", counter(&c));
	if (vm_start(&d))
		goto out;
	check(kvmhost_machine_wait(d.m, 10000) == 0, "D stopped by itself");
	t_d = now_s();
	s = vm_stop_info(&d);
	c_at_d = counter(&c);
	check(s.reason == KVMHOST_MACHINE_STOP_RESET && s.exit_reason == KVMHOST_EXIT_SHUTDOWN,
	      "D stopped with reason %s (%s), want reset after a triple fault (SHUTDOWN exit)",
	      kvmhost_machine_stop_reason_name(s.reason), s.message);
	check(vm_state(&a) == KVMHOST_MACHINE_RUNNING && vm_state(&b) == KVMHOST_MACHINE_RUNNING &&
		  vm_state(&c) == KVMHOST_MACHINE_RUNNING,
	      "A, B and C run on after D's triple fault (states %d %d %d)", vm_state(&a), vm_state(&b), vm_state(&c));
	kvmhost_machine_destroy(d.m); /* its neighbours keep running through that too */
	d.m = NULL;
	check(write(a.in[1], "go\n", 3) == 3 && write(b.in[1], "go\n", 3) == 3, "A and B told to go on");

	/* A new machine next to them after that: E works and powers off. */
	if (vm_create(&e) || vm_start(&e))
		goto out;
	check(kvmhost_machine_wait(e.m, 10000) == 0, "E stopped by itself");
	vm_drain(&e);
	s = vm_stop_info(&e);
	check(s.reason == KVMHOST_MACHINE_STOP_POWEROFF && !strcmp(e.buf, "done\n"),
	      "E did its work and powered off (%s, COM1 \"%.4s\")", kvmhost_machine_stop_reason_name(s.reason), e.buf);

	/* A and B finish their guest tests and power off. */
	while (now_s() < deadline &&
	       (vm_state(&a) != KVMHOST_MACHINE_STOPPED || vm_state(&b) != KVMHOST_MACHINE_STOPPED)) {
		pump(all, 5, 100);
		if (!a.stopped_at && vm_state(&a) == KVMHOST_MACHINE_STOPPED)
			a.stopped_at = now_s();
		if (!b.stopped_at && vm_state(&b) == KVMHOST_MACHINE_STOPPED)
			b.stopped_at = now_s();
	}
	pump(all, 5, 0);
	for (int i = 0; i < 2; i++) {
		struct vm *v = i ? &b : &a;

		s = vm_stop_info(v);
		check(s.reason == KVMHOST_MACHINE_STOP_POWEROFF,
		      "%s powered off (state %d, reason %s: %s), %.1f s after the start", v->name, vm_state(v),
		      kvmhost_machine_stop_reason_name(s.reason), s.message,
		      (v->stopped_at ? v->stopped_at : now_s()) - t0);
		check(has(v, "KVMHOST-GUEST-RESULT test=machines rc=0"), "%s: its guest test passed", v->name);
		check_sysinfo(v);
	}
	for (int i = 0; i < 2; i++) {
		struct kvmhost_machine_device_stats ds = {.size = sizeof(ds)};

		kvmhost_machine_get_device_stats(i ? b.m : a.m, 0, &ds);
		printf("lab_machines: %s: its device served %llu kicks, refused %llu accesses, broken %u\n",
		       i ? "B" : "A", (unsigned long long)ds.notifies, (unsigned long long)ds.bad_accesses, ds.broken);
	}
	check(has(&a, "KVMHOST-MACHINES-DISK-OK"), "A: the ext4 disk on virtio-blk was read and written");
	check(has(&a, "id=0x0002 driver=virtio_blk transport=virtio-mmio"), "A: its disk is virtio-blk on virtio-mmio");
	check(has(&b, "KVMHOST-MACHINES-NET-OK"), "B: it pinged 10.0.2.1 over virtio-net and got replies");
	check(has(&b, "id=0x0001 driver=virtio_net transport=virtio-pci"), "B: its NIC is virtio-net on virtio-pci");
	check(!has(&a, "driver=virtio_net") && !has(&b, "driver=virtio_blk"), "neither guest saw the other's device");
	check(a.stopped_at > t_d && b.stopped_at > t_d,
	      "A and B finished after D had stopped (%.1f s and %.1f s later)", a.stopped_at - t_d, b.stopped_at - t_d);

	/* C counted through all of it. */
	c_at_end = counter(&c);
	nanosleep(&(struct timespec){0, 50000000}, NULL);
	check(vm_state(&c) == KVMHOST_MACHINE_RUNNING && counter(&c) != c_at_end && c_at_end != c_at_d,
	      "C still counts (%u at D's stop, %u when A and B were done, %u now)", c_at_d, c_at_end, counter(&c));
	kvmhost_machine_stop(c.m);
	check(kvmhost_machine_wait(c.m, 5000) == 0 && vm_stop_info(&c).reason == KVMHOST_MACHINE_STOP_REQUESTED,
	      "C stopped on request");
	check(has(&c, "C"), "C wrote its 'C' on COM1");
	printf("LAB-TIME machines mode=heterogeneous to_init=%.1f total=%.1f\n", t_init - t0, now_s() - t0);
out:
	for (int i = 0; i < 5; i++)
		vm_destroy(all[i]);
	return fails ? 1 : 0;
}

/* ---- pause_linux ---- */

struct dirty {
	struct kvmhost_machine *m;
	uint64_t kvm, vmm;
	int err;
};

static int fetch_one(struct kvmhost_memory_region *region, void *opaque)
{
	struct dirty *d = opaque;
	size_t size = kvmhost_memory_region_bitmap_size(region);
	uint64_t *kvm = calloc(1, size), *vmm = calloc(1, size);

	if (!kvm || !vmm || kvmhost_vm_get_dirty_log(kvmhost_machine_vm(d->m), region, kvm, size) < 0 ||
	    kvmhost_memory_fetch_vmm_dirty(region, vmm, size) < 0) {
		printf("lab_machines: dirty log: %s\n", kvmhost_last_error());
		d->err = 1;
	} else {
		for (size_t i = 0; i < size / 8; i++) {
			d->kvm += (uint64_t)__builtin_popcountll(kvm[i]);
			d->vmm += (uint64_t)__builtin_popcountll(vmm[i]);
		}
	}
	free(kvm);
	free(vmm);
	return 0;
}

/* Fetch (and clear) KVM's dirty log and the VMM's bitmap of every RAM region. */
static struct dirty fetch_dirty(struct kvmhost_machine *m)
{
	struct dirty d = {.m = m};

	kvmhost_memory_for_each_region(kvmhost_machine_memory(m), fetch_one, &d);
	return d;
}

struct tick {
	long n;
	double up;   /* the guest's /proc/uptime */
	long date;   /* date +%s, every 10th tick; else -1 */
	double host; /* when this program read it (L1 CLOCK_MONOTONIC) */
};

/* Parse the ticks after @from; return how many went into @t. */
static int parse_ticks(struct vm *v, size_t *from, struct tick *t, int max, double host)
{
	int k = 0;

	for (;;) {
		char *p = strstr(v->buf + *from, "KVMHOST-TICK n="), *nl;

		if (!p || !(nl = strchr(p, '\n')) || k == max)
			break;
		t[k] = (struct tick){.date = -1, .host = host};
		if (sscanf(p, "KVMHOST-TICK n=%ld up=%lf date=%ld", &t[k].n, &t[k].up, &t[k].date) >= 2)
			k++;
		*from = (size_t)(nl - v->buf) + 1;
	}
	return k;
}

#define MAX_TICKS 4096

static int pause_linux(int pause_s)
{
	static struct vm p;
	static struct tick t[MAX_TICKS];
	struct vm *all[] = {&p};
	struct kvmhost_machine_vcpu_stats st0[2], st1[2];
	struct kvmhost_machine_stop_info s;
	struct dirty dd;
	size_t from = 0, len_at_pause;
	int nt = 0, before, bad_seq = 0, r;
	double t0 = now_s(), deadline = t0 + 120, t_pause, t_paused, t_resume;
	double guest_gap, host_gap, rate;
	int db = -1, da = -1; /* the last tick with a date before the pause, the first after */

	vm_linux(&p, "P", L2_BZIMAGE, 2, 256 * MIB, "console=ttyS0 panic=0 quiet kvmhost.test=pause_ticks");
	p.o.ram_flags = KVMHOST_MACHINE_RAM_LOG_DIRTY;
	if (vm_create(&p) || vm_start(&p))
		goto out;
	/* 20 ticks first: the loop runs steadily. */
	while (now_s() < deadline && nt < 20 && vm_state(&p) == KVMHOST_MACHINE_RUNNING) {
		pump(all, 1, 100);
		nt += parse_ticks(&p, &from, t + nt, MAX_TICKS - nt, now_s());
	}
	check(nt >= 20, "the guest's tick loop runs (%d ticks, %.1f s after the start)", nt, now_s() - t0);
	if (nt < 20)
		goto out;

	t_pause = now_s();
	r = kvmhost_machine_pause(p.m);
	t_paused = now_s();
	check(r == 0 && vm_state(&p) == KVMHOST_MACHINE_PAUSED, "pause returned %d in %.1f ms (state %d)", r,
	      (t_paused - t_pause) * 1e3, vm_state(&p));
	vm_drain(&p); /* what the guest wrote before the pause */
	nt += parse_ticks(&p, &from, t + nt, MAX_TICKS - nt, t_paused);
	before = nt;
	len_at_pause = p.len;
	dd = fetch_dirty(p.m); /* clears what was dirtied before the pause */
	printf("lab_machines: dirty before the pause: %llu pages in KVM's log, %llu in the VMM's bitmap\n",
	       (unsigned long long)dd.kvm, (unsigned long long)dd.vmm);
	for (uint32_t i = 0; i < 2; i++) {
		st0[i] = (struct kvmhost_machine_vcpu_stats){.size = sizeof(st0[i])};
		kvmhost_machine_get_vcpu_stats(p.m, i, &st0[i]);
	}
	while (now_s() < t_paused + pause_s) {
		struct pollfd pf = {.fd = p.out[0], .events = POLLIN};

		if (poll(&pf, 1, 100) > 0)
			break; /* output while paused: seen below */
	}
	vm_drain(&p);
	check(p.len == len_at_pause, "no serial output while paused for %d s (%zu bytes came)", pause_s,
	      p.len - len_at_pause);
	dd = fetch_dirty(p.m);
	check(!dd.err && dd.kvm == 0 && dd.vmm == 0,
	      "no page dirtied while paused: %llu in KVM's dirty log, %llu in the VMM's bitmap",
	      (unsigned long long)dd.kvm, (unsigned long long)dd.vmm);
	for (uint32_t i = 0; i < 2; i++) {
		st1[i] = (struct kvmhost_machine_vcpu_stats){.size = sizeof(st1[i])};
		kvmhost_machine_get_vcpu_stats(p.m, i, &st1[i]);
		check(st0[i].runs == st1[i].runs, "vCPU %u did not run while paused (runs %llu -> %llu)", i,
		      (unsigned long long)st0[i].runs, (unsigned long long)st1[i].runs);
	}
	check(vm_state(&p) == KVMHOST_MACHINE_PAUSED, "still paused after %.1f s", now_s() - t_paused);
	t_resume = now_s();
	r = kvmhost_machine_resume(p.m);
	check(r == 0 && vm_state(&p) == KVMHOST_MACHINE_RUNNING, "resume returned %d after a pause of %.2f s", r,
	      t_resume - t_paused);

	/* 30 more ticks (a date among them). */
	while (now_s() < deadline && nt < before + 30 && vm_state(&p) == KVMHOST_MACHINE_RUNNING) {
		pump(all, 1, 100);
		nt += parse_ticks(&p, &from, t + nt, MAX_TICKS - nt, now_s());
	}
	check(nt >= before + 30, "the ticks go on after resume (%d more)", nt - before);
	if (nt < before + 2)
		goto poweroff;
	for (int i = 1; i < nt; i++)
		if (t[i].n != t[i - 1].n + 1 || t[i].up < t[i - 1].up)
			bad_seq++;
	check(bad_seq == 0 && t[0].n == 1,
	      "the counter went 1, 2, ... %ld without a gap or a restart, uptime never back", t[nt - 1].n);
	check(t[before].n == t[before - 1].n + 1, "after resume the counter went on at %ld (the last before: %ld)",
	      t[before].n, t[before - 1].n);
	for (int i = 0; i < before; i++)
		if (t[i].date >= 0)
			db = i;
	for (int i = nt - 1; i >= before; i--)
		if (t[i].date >= 0)
			da = i;
	guest_gap = t[before].up - t[before - 1].up;
	host_gap = t[before].host - t[before - 1].host;
	rate = (t[nt - 1].up - t[before].up) / (double)(t[nt - 1].n - t[before].n);
	printf("LAB-TIME machines mode=pause_linux pause=%.2f guest_uptime_gap=%.2f host_gap=%.2f "
	       "guest_tick_after=%.3f\n",
	       t_resume - t_paused, guest_gap, host_gap, rate);
	/*
	 * Sensibly: the guest's clock went forward, by no more than the host's
	 * (plus the host's read granularity), and after resume it runs at the
	 * tick rate again. kvmclock follows the host's clock, so with a pause that
	 * does not stop the VM's clock (the machine layer does not adjust
	 * KVM_SET_CLOCK) the gap includes the paused time: measured, not assumed.
	 */
	check(guest_gap > 0 && guest_gap <= host_gap + 1.0,
	      "the guest's uptime moved %.2f s across the resume while the host's %.2f s passed (pause %.2f s): %s",
	      guest_gap, host_gap, t_resume - t_paused,
	      guest_gap >= (t_resume - t_paused) - 0.5 ? "the guest's clock includes the paused time"
						       : "the guest's clock left out the paused time");
	check(rate > 0.05 && rate < 1.0, "after resume the guest's uptime moves %.3f s per tick (100 ms sleeps)", rate);
	if (db >= 0 && da >= 0)
		check(t[da].date >= t[db].date && (double)(t[da].date - t[db].date) <= t[da].host - t[db].host + 2.0,
		      "the guest's date went on across the pause: %ld -> %ld (%.1f s apart on the host)", t[db].date,
		      t[da].date, t[da].host - t[db].host);
	else
		check(0, "ticks with a date before and after the pause (%d, %d)", db, da);

poweroff:
	t_pause = now_s();
	r = kvmhost_machine_request_poweroff(p.m);
	check(r == 0, "request_poweroff (the ACPI power button): %d (%s)", r, r == 0 ? "ok" : kvmhost_last_error());
	while (now_s() < deadline + 30 && vm_state(&p) != KVMHOST_MACHINE_STOPPED)
		pump(all, 1, 100);
	pump(all, 1, 0);
	s = vm_stop_info(&p);
	check(has(&p, "KVMHOST-POWER-BUTTON /dev/input/"), "the guest saw the power button's key event");
	check(has(&p, "KVMHOST-GUEST-RESULT test=pause_ticks rc=0"), "the guest test ended with 0");
	check(s.reason == KVMHOST_MACHINE_STOP_POWEROFF,
	      "the guest powered off after the button (%s: %s), %.1f s after it",
	      kvmhost_machine_stop_reason_name(s.reason), s.message, now_s() - t_pause);
	printf("LAB-TIME machines mode=pause_linux total=%.1f\n", now_s() - t0);
out:
	vm_destroy(&p);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kvmhost_set_log_callback(on_log, NULL, KVMHOST_LOG_INFO);
	if (argc == 4 && !strcmp(argv[1], "heterogeneous"))
		r = heterogeneous(argv[2], argv[3]);
	else if (argc >= 2 && !strcmp(argv[1], "pause_linux"))
		r = pause_linux(argc > 2 ? atoi(argv[2]) : 5);
	else {
		fprintf(stderr, "usage: lab_machines heterogeneous DISK TAP | pause_linux [SECONDS]\n");
		return 2;
	}
	printf("lab_machines: %s: %d check(s) failed\n", r ? "FAIL" : "pass", fails);
	return r;
}

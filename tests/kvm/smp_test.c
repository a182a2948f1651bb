/*
 * kvm tier: SMP bring-up with the FULL in-kernel irqchip. Four vCPUs: the
 * BSP is set up by kvmhost_x86_vcpu_setup_boot() (raw image, real mode at
 * 0x1000), the three APs by kvmhost_x86_vcpu_prepare_ap() and left waiting
 * for INIT/SIPI. One host thread per vCPU just runs it. The guest (smp.S)
 * has the BSP send INIT + SIPI + SIPI through its local APIC; every vCPU
 * reports its LAPIC ID, its CPUID.1 initial APIC ID and its CPUID.0xB
 * x2APIC ID, which must all equal its vCPU id (the CPUID builder's
 * topology). All four must report within a generous timeout, or the test
 * fails with what it saw; the threads are stopped with kvmhost_vcpu_kick().
 * The MP table, ACPI tables and e820 map of the same VM are written and
 * checked for sanity on the way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <linux/kvm.h>

#include <kvmhost/x86_platform.h>
#include "kvm_test_util.h"

GUEST_DECLARE(smp);

#define NCPUS	   4
#define BSP_PORT   0xf0
#define AP_PORT	   0xf1
#define SENT_PORT  0xf2
#define TIMEOUT_MS 30000

struct cpu {
	struct kvmhost_vcpu *vcpu;
	uint32_t id;
	pthread_t thread;
	atomic_uint report;	/* the guest's OUT, 0 until it arrives */
	atomic_int reported_on; /* port it came on */
	atomic_int failed;
	char why[160];
	unsigned kicked_runs; /* KICKED exits while waiting (EAGAIN/EINTR), for the log */
};

static struct cpu cpus[NCPUS];
static atomic_int stop;
static atomic_int ipis_sent;

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void *vcpu_thread(void *arg)
{
	struct cpu *c = arg;

	while (!atomic_load(&stop)) {
		const struct kvmhost_exit *e;
		int r = kvmhost_vcpu_run(c->vcpu, &e);

		if (r < 0) {
			snprintf(c->why, sizeof(c->why), "run failed: %s", kvmhost_last_error());
			atomic_store(&c->failed, 1);
			break;
		}
		if (e->reason == KVMHOST_EXIT_KICKED) {
			c->kicked_runs++; /* an AP woken without a SIPI yet, or our stop kick */
			continue;
		}
		if (e->reason == KVMHOST_EXIT_IO && e->io.is_write &&
		    (e->io.port == BSP_PORT || e->io.port == AP_PORT) && e->io.size == 4) {
			uint32_t v;

			memcpy(&v, e->io.data, 4);
			atomic_store(&c->reported_on, e->io.port);
			atomic_store(&c->report, v);
			continue;
		}
		if (e->reason == KVMHOST_EXIT_IO && e->io.is_write && e->io.port == SENT_PORT) {
			atomic_store(&ipis_sent, 1);
			continue;
		}
		snprintf(c->why, sizeof(c->why), "unexpected exit %s (kvm reason %u)%s",
			 kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason,
			 e->reason == KVMHOST_EXIT_IO ? " on an unexpected port" : "");
		if (e->reason == KVMHOST_EXIT_IO)
			snprintf(c->why + strlen(c->why), sizeof(c->why) - strlen(c->why), " 0x%x", e->io.port);
		atomic_store(&c->failed, 1);
		break;
	}
	return NULL;
}

/* Stop every vCPU thread: raise the flag, then kick until each has left. */
static void stop_all(void)
{
	atomic_store(&stop, 1);
	for (int i = 0; i < NCPUS; i++)
		CHECK_OK(kvmhost_vcpu_kick(cpus[i].vcpu));
	for (int i = 0; i < NCPUS; i++)
		CHECK(pthread_join(cpus[i].thread, NULL) == 0);
}

static int all_reported(void)
{
	for (int i = 0; i < NCPUS; i++)
		if (!atomic_load(&cpus[i].report))
			return 0;
	return atomic_load(&ipis_sent);
}

static int any_failed(void)
{
	for (int i = 0; i < NCPUS; i++)
		if (atomic_load(&cpus[i].failed))
			return 1;
	return 0;
}

/* The tables the VMM would give a guest, written into this VM's memory. */
static void write_tables(struct kvmhost_vm *vm)
{
	struct kvmhost_memory *mem = kvmhost_vm_memory(vm);
	struct kvmhost_x86_mptable_options mo = {.size = sizeof(mo), .ncpus = NCPUS};
	struct kvmhost_x86_acpi_options ao = {.size = sizeof(ao), .ncpus = NCPUS};
	struct kvmhost_x86_e820_entry e820[KVMHOST_X86_E820_MAX];
	uint64_t mp_size, acpi_size, rsdp;
	uint32_t n;
	char sig[4];

	CHECK_OK(kvmhost_x86_mptable_write(mem, &mo, &mp_size));
	CHECK_OK(kvmhost_x86_acpi_write(mem, &ao, &rsdp, &acpi_size));
	CHECK_OK(kvmhost_memory_read(mem, KVMHOST_X86_MPTABLE_GPA_DEFAULT, sig, 4));
	CHECK(memcmp(sig, "_MP_", 4) == 0);
	CHECK_OK(kvmhost_memory_read(mem, rsdp, sig, 4));
	CHECK(memcmp(sig, "RSD ", 4) == 0);
	/* 2 MiB at 0: RAM, the legacy hole (holding both tables), RAM. */
	CHECK_OK(kvmhost_x86_e820_from_memory(mem, NULL, e820, KVMHOST_X86_E820_MAX, &n));
	CHECK(n == 3);
	CHECK(e820[1].type == KVMHOST_X86_E820_RESERVED && e820[1].addr <= KVMHOST_X86_MPTABLE_GPA_DEFAULT &&
	      e820[1].addr + e820[1].size >= rsdp + acpi_size);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	struct kvmhost_x86_boot_info bi = {.size = sizeof(bi)};
	struct kvmhost_x86_boot_vcpu_options bo = {.size = sizeof(bo)};
	struct kvmhost_x86_cpuid *cpuid;
	struct kvmhost_vm *vm;
	struct kvm_mp_state mp;
	int r, waited = 0, bad = 0;

	if (kvmhost_system_max_vcpus(sys) < NCPUS)
		SKIP("KVM allows only %d vCPUs", kvmhost_system_max_vcpus(sys));
	r = kvmhost_vm_create(sys, NULL, &vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);
	r = kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0);
	if (r < 0 && kvmhost_vm_check_extension(vm, KVM_CAP_IRQCHIP) <= 0)
		SKIP("KVM has no in-kernel irqchip: %s", kvmhost_last_error());
	CHECK(r == 0);
	mo.length = 2u << 20;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "smp-ram";
	CHECK_OK(kvmhost_vm_add_memory(vm, &mo, NULL));
	CHECK_OK(
	    kvmhost_memory_write(kvmhost_vm_memory(vm), KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(smp), GUEST_SIZE(smp)));
	write_tables(vm);

	CHECK_OK(kvmhost_x86_cpuid_create_from_system(sys, &cpuid));
	CHECK_OK(kvmhost_x86_cpuid_set_topology(cpuid, NCPUS, 1));
	for (uint32_t i = 0; i < NCPUS; i++) {
		cpus[i].id = i;
		CHECK_OK(kvmhost_vcpu_create(vm, i, &cpus[i].vcpu));
	}
	/* The BSP enters the raw image in real mode at 0:0x1000. */
	bi.kind = KVMHOST_X86_ENTRY_RAW;
	bi.format = KVMHOST_X86_BOOT_RAW;
	bi.entry = KVMHOST_GUEST_LOAD_ADDR;
	bi.kernel_start = KVMHOST_GUEST_LOAD_ADDR;
	bi.kernel_end = KVMHOST_GUEST_LOAD_ADDR + GUEST_SIZE(smp);
	bo.raw_mode = KVMHOST_X86_RAW_REAL;
	CHECK_OK(kvmhost_x86_vcpu_setup_boot(cpus[0].vcpu, cpuid, &bi, &bo));
	CHECK_OK(kvmhost_vcpu_get_mp_state(cpus[0].vcpu, &mp));
	CHECK(mp.mp_state == KVM_MP_STATE_RUNNABLE);
	for (int i = 1; i < NCPUS; i++) {
		CHECK_OK(kvmhost_x86_vcpu_prepare_ap(cpus[i].vcpu, cpuid));
		CHECK_OK(kvmhost_vcpu_get_mp_state(cpus[i].vcpu, &mp));
		CHECK(mp.mp_state == KVM_MP_STATE_UNINITIALIZED);
	}
	kvmhost_x86_cpuid_destroy(cpuid);

	for (int i = 0; i < NCPUS; i++)
		CHECK(pthread_create(&cpus[i].thread, NULL, vcpu_thread, &cpus[i]) == 0);
	while (!all_reported() && !any_failed() && waited < TIMEOUT_MS) {
		sleep_ms(10);
		waited += 10;
	}
	stop_all();

	for (int i = 0; i < NCPUS; i++) {
		struct cpu *c = &cpus[i];
		uint32_t v = atomic_load(&c->report), want = 0xa5000000u | i << 16 | i << 8 | i;
		int port = atomic_load(&c->reported_on);

		if (atomic_load(&c->failed)) {
			fprintf(stderr, "FAIL: vCPU %d: %s\n", i, c->why);
			bad = 1;
		} else if (!v) {
			fprintf(stderr, "FAIL: vCPU %d never reported in %d ms (%s; %u kicked runs)%s\n", i, waited,
				i == 0 ? "the BSP" : "an AP: INIT/SIPI not delivered?", c->kicked_runs,
				test_kvm_is_pvm() ? " [PVM host]" : "");
			bad = 1;
		} else if (v != want || port != (i == 0 ? BSP_PORT : AP_PORT)) {
			fprintf(stderr,
				"FAIL: vCPU %d reported 0x%08x on port 0x%x; want 0x%08x on 0x%x "
				"(0xa5 | x2APIC ID | CPUID.1 APIC ID | LAPIC ID)\n",
				i, v, port, want, i == 0 ? BSP_PORT : AP_PORT);
			bad = 1;
		}
	}
	if (!bad && !atomic_load(&ipis_sent)) {
		fprintf(stderr, "FAIL: the BSP never said its IPIs were sent\n");
		bad = 1;
	}
	kvmhost_vm_destroy(vm);
	kvmhost_system_close(sys);
	if (bad)
		return TEST_FAIL;
	printf("smp: BSP + %d APs started by INIT/SIPI and reported matching LAPIC/CPUID APIC IDs in %d ms\n",
	       NCPUS - 1, waited);
	return TEST_PASS;
}

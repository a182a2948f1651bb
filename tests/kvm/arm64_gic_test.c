/*
 * arm64 (built on arm64 only): the in-kernel GICv3 (kvmhost_arm64_gic_*) and interrupts into a guest, with the
 * system and timer registers and KVM_GET_REG_LIST of the vCPU beside. The tiny guest
 * tests/guests-arm64/gic_irqfd.S sets up the distributor and its CPU interface (ICC_* system registers) and,
 * in three rounds, asks for an interrupt (an MMIO store of the round number) and waits for it with WFI; its
 * handler reports the INTID it acknowledged (a second store). Round 1: an irqfd on GSI 5 with KVM's default
 * routing (SPI 5, INTID 37); round 2: SPI 6 by KVM_IRQ_LINE through an irq_line (level: raised, lowered when
 * the guest reports it; INTID 38); round 3: an irqfd on GSI 200, which an explicit routing table
 * (kvmhost_vm_set_gsi_routing) sends to SPI 7 (INTID 39). Then PSCI SYSTEM_OFF. A guest that never gets its
 * interrupt would wait forever: a watchdog thread kicks the vCPU after 60 s and the test fails (a hang guard,
 * not a timing assertion). Without a usable /dev/kvm it exits 77 (SKIP).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <kvmhost/arm64.h>
#include <kvmhost/kvmhost.h>

#include "kvm_test_util.h"

extern const unsigned char guest_arm64_gic_irqfd[], guest_arm64_gic_irqfd_end[];

#define RAM_BASE     TEST_ARM64_RAM_BASE
#define DEV_BASE     0x10000000ull
#define GICD_BASE    0x08000000ull
#define GICR_BASE    0x080a0000ull
#define GITS_BASE    0x08080000ull
#define ROUTED_GSI   200u
#define HANG_GUARD_S 60

static uint64_t mmio_value(const struct kvmhost_exit *e)
{
	uint64_t v = 0;

	memcpy(&v, e->mmio.data, e->mmio.len <= 8 ? e->mmio.len : 8);
	return v;
}

static void *hang_guard(void *arg)
{
	sleep(HANG_GUARD_S);
	kvmhost_vcpu_kick(arg);
	return NULL;
}

static int has_id(const uint64_t *ids, uint64_t n, uint64_t id)
{
	for (uint64_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

/* System and timer registers, and the register list (what a state save will read). */
static void check_registers(struct kvmhost_vcpu *vcpu)
{
	uint64_t sctlr = kvmhost_arm64_vcpu_sys_reg_id(3, 0, 1, 0, 0);
	uint64_t vbar = kvmhost_arm64_vcpu_sys_reg_id(3, 0, 12, 0, 0);
	uint64_t ctl = kvmhost_arm64_vcpu_timer_reg_id(KVMHOST_ARM64_TIMER_CTL);
	uint64_t cnt = kvmhost_arm64_vcpu_timer_reg_id(KVMHOST_ARM64_TIMER_CNT);
	uint64_t cval = kvmhost_arm64_vcpu_timer_reg_id(KVMHOST_ARM64_TIMER_CVAL);
	uint64_t v, c1, c2, n = 0, *ids;

	CHECK(kvmhost_arm64_vcpu_sys_reg_id(4, 0, 0, 0, 0) == 0);
	CHECK(kvmhost_arm64_vcpu_sys_reg_id(3, 8, 0, 0, 0) == 0);
	CHECK(kvmhost_arm64_vcpu_sys_reg_id(3, 0, 16, 0, 0) == 0);
	CHECK(kvmhost_arm64_vcpu_timer_reg_id((enum kvmhost_arm64_timer_reg)9) == 0);
	CHECK(sctlr && vbar && ctl && cnt && cval);
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, sctlr, &v));
	printf("SCTLR_EL1 after init 0x%llx\n", (unsigned long long)v);
	CHECK((v & 1) == 0); /* MMU off */
	v = 0x12345800;
	CHECK_OK(kvmhost_vcpu_set_one_reg(vcpu, vbar, &v));
	v = 0;
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, vbar, &v));
	CHECK(v == 0x12345800);
	/* The virtual counter runs; CVAL round-trips; CTL reads as disabled. */
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, cnt, &c1));
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, ctl, &v));
	CHECK((v & 1) == 0);
	usleep(1000);
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, cnt, &c2));
	printf("virtual counter %llu -> %llu\n", (unsigned long long)c1, (unsigned long long)c2);
	CHECK(c2 > c1);
	v = 0xfedcba987654ull;
	CHECK_OK(kvmhost_vcpu_set_one_reg(vcpu, cval, &v));
	v = 0;
	CHECK_OK(kvmhost_vcpu_get_one_reg(vcpu, cval, &v));
	CHECK(v == 0xfedcba987654ull);

	/* KVM_GET_REG_LIST: count first, too small a buffer, then all of it. */
	CHECK(kvmhost_arm64_vcpu_reg_list(NULL, NULL, 0, &n) == -EINVAL);
	CHECK(kvmhost_arm64_vcpu_reg_list(vcpu, NULL, 4, &n) == -EINVAL);
	CHECK(kvmhost_arm64_vcpu_reg_list(vcpu, NULL, 0, &n) == -E2BIG);
	printf("KVM_GET_REG_LIST: %llu registers\n", (unsigned long long)n);
	CHECK(n > 40);
	ids = calloc(n, sizeof(*ids));
	CHECK(ids);
	CHECK(kvmhost_arm64_vcpu_reg_list(vcpu, ids, n - 1, &v) == -E2BIG && v == n);
	CHECK_OK(kvmhost_arm64_vcpu_reg_list(vcpu, ids, n, &v));
	CHECK(v == n);
	CHECK(has_id(ids, n, kvmhost_arm64_vcpu_core_reg_id(KVMHOST_ARM64_PC)));
	CHECK(has_id(ids, n, kvmhost_arm64_vcpu_core_reg_id(KVMHOST_ARM64_X0 + 30)));
	CHECK(has_id(ids, n, sctlr) && has_id(ids, n, vbar));
	CHECK(has_id(ids, n, ctl) && has_id(ids, n, cnt) && has_id(ids, n, cval));
	free(ids);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct test_vm t;
	struct kvmhost_arm64_gic_options go = {.size = sizeof(go)};
	struct kvm_irq_routing_entry routes[KVMHOST_ARM64_GIC_DEFAULT_SPIS + 1];
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvmhost_arm64_gic *gic, *gic2;
	struct kvmhost_irq_line *line;
	const struct kvmhost_exit *e;
	size_t guest_size = (size_t)(guest_arm64_gic_irqfd_end - guest_arm64_gic_irqfd);
	pthread_t guard;
	uint32_t nroutes = 0, round = 0, taken = 0;
	int r, fd5, fd200, shutdown = 0;
	static const uint32_t want_intid[4] = {0, 37, 38, 39};

	test_vm_create_arm64(&t, sys, guest_arm64_gic_irqfd, guest_size);
	vm = t.vm;
	vcpu = t.vcpu;

	/* Bad options are the library's. */
	CHECK(kvmhost_arm64_gic_create(NULL, &go, &gic) == -EINVAL);
	CHECK(kvmhost_arm64_gic_create(vm, NULL, &gic) == -EINVAL);
	go.dist_base = GICD_BASE + 0x1000; /* not 64 KiB aligned */
	go.redist_base = GICR_BASE;
	CHECK(kvmhost_arm64_gic_create(vm, &go, &gic) == -EINVAL);
	go.dist_base = GICR_BASE + 0x10000; /* inside the redistributors */
	CHECK(kvmhost_arm64_gic_create(vm, &go, &gic) == -EINVAL);
	go.dist_base = GICD_BASE;
	go.nr_spis = KVMHOST_ARM64_GIC_MAX_SPIS + 1;
	CHECK(kvmhost_arm64_gic_create(vm, &go, &gic) == -EINVAL);
	go.nr_spis = 0;
	go.flags = 1;
	CHECK(kvmhost_arm64_gic_create(vm, &go, &gic) == -EINVAL);
	go.flags = 0;
	go.its_base = GITS_BASE;

	CHECK_OK(kvmhost_arm64_vcpu_init(vcpu, 0, NULL));
	CHECK_OK(kvmhost_arm64_gic_create(vm, &go, &gic));
	printf("vGIC: %u SPIs, ITS %d\n", kvmhost_arm64_gic_nr_spis(gic), kvmhost_arm64_gic_has_its(gic));
	CHECK(kvmhost_arm64_gic_nr_spis(gic) == KVMHOST_ARM64_GIC_DEFAULT_SPIS);
	CHECK(kvmhost_arm64_gic_fd(gic) >= 0);
	CHECK(kvmhost_arm64_gic_create(vm, &go, &gic2) == -EEXIST);
	CHECK(kvmhost_arm64_gic_set_spi(gic, KVMHOST_ARM64_GIC_DEFAULT_SPIS, 1) == -EINVAL);
	CHECK(kvmhost_arm64_gic_set_spi(gic, 6, 2) == -EINVAL);
	CHECK(kvmhost_arm64_gic_spi_line_create(gic, KVMHOST_ARM64_GIC_DEFAULT_SPIS, &line) == -EINVAL);
	/* What KVM says to an irqfd before the vGIC init (reported, not asserted: the machine assigns its irqfds
	 * after the init either way). */
	CHECK_OK(kvmhost_eventfd_create(0, &fd5));
	r = kvmhost_vm_add_irqfd(vm, fd5, 5, -1);
	printf("irqfd before the vGIC init: %d (%s)\n", r, r ? kvmhost_last_error() : "accepted");
	if (r == 0)
		CHECK_OK(kvmhost_vm_remove_irqfd(vm, fd5, 5));
	close(fd5);
	CHECK_OK(kvmhost_arm64_gic_init(gic));
	CHECK(kvmhost_arm64_gic_init(gic) == -EBUSY);
	CHECK_OK(kvmhost_arm64_gic_spi_line_create(gic, 6, &line));

	/* Routing: the identity for every SPI (what KVM installs at init) and GSI 200 -> SPI 7. */
	memset(routes, 0, sizeof(routes));
	for (uint32_t i = 0; i < KVMHOST_ARM64_GIC_DEFAULT_SPIS; i++) {
		routes[nroutes].gsi = i;
		routes[nroutes].type = KVM_IRQ_ROUTING_IRQCHIP;
		routes[nroutes].u.irqchip.irqchip = 0;
		routes[nroutes].u.irqchip.pin = i;
		nroutes++;
	}
	routes[nroutes].gsi = ROUTED_GSI;
	routes[nroutes].type = KVM_IRQ_ROUTING_IRQCHIP;
	routes[nroutes].u.irqchip.pin = 7;
	nroutes++;
	CHECK_OK(kvmhost_vm_set_gsi_routing(vm, routes, nroutes));
	CHECK_OK(kvmhost_eventfd_create(0, &fd5));
	CHECK_OK(kvmhost_eventfd_create(0, &fd200));
	CHECK_OK(kvmhost_vm_add_irqfd(vm, fd5, 5, -1));
	CHECK_OK(kvmhost_vm_add_irqfd(vm, fd200, ROUTED_GSI, -1));

	check_registers(vcpu);
	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_PC, RAM_BASE));
	CHECK(pthread_create(&guard, NULL, hang_guard, vcpu) == 0);
	CHECK(pthread_detach(guard) == 0);

	for (int n = 0; n < 64 && !shutdown; n++) {
		CHECK_OK(kvmhost_vcpu_run(vcpu, &e));
		switch (e->reason) {
		case KVMHOST_EXIT_MMIO:
			CHECK(e->mmio.is_write && e->mmio.len == 4);
			printf("exit %d: mmio write 0x%llx value 0x%llx\n", n, (unsigned long long)e->mmio.addr,
			       (unsigned long long)mmio_value(e));
			if (e->mmio.addr == DEV_BASE) {
				CHECK(mmio_value(e) == round + 1 && taken == round);
				round++;
				if (round == 1)
					CHECK_OK(kvmhost_eventfd_signal(fd5, 1));
				else if (round == 2)
					CHECK_OK(kvmhost_irq_line_set(line, 1));
				else
					CHECK_OK(kvmhost_eventfd_signal(fd200, 1));
			} else if (e->mmio.addr == DEV_BASE + 8) {
				CHECK(round >= 1 && round <= 3 && taken == round - 1);
				if (mmio_value(e) != want_intid[round]) {
					fprintf(stderr, "FAIL: round %u: the guest acknowledged INTID %llu, want %u\n",
						round, (unsigned long long)mmio_value(e), want_intid[round]);
					return 1;
				}
				taken++;
				if (round == 2)
					CHECK_OK(kvmhost_irq_line_set(line, 0)); /* before the guest's EOI */
			} else {
				fprintf(stderr, "FAIL: guest exception, ESR_EL1 0x%llx (store at 0x%llx)\n",
					(unsigned long long)mmio_value(e), (unsigned long long)e->mmio.addr);
				return 1;
			}
			break;
		case KVMHOST_EXIT_SYSTEM_EVENT:
			printf("exit %d: system event type %u\n", n, e->system_event.type);
			CHECK(e->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN);
			shutdown = 1;
			break;
		case KVMHOST_EXIT_KICKED:
			fprintf(stderr, "FAIL: no interrupt reached the guest in %d s (round %u, %u taken)\n",
				HANG_GUARD_S, round, taken);
			return 1;
		default:
			fprintf(stderr, "FAIL: unexpected exit %s (KVM exit %u)\n", kvmhost_exit_reason_name(e->reason),
				e->kvm_exit_reason);
			return 1;
		}
	}
	CHECK(shutdown && round == 3 && taken == 3);
	CHECK_OK(kvmhost_vm_remove_irqfd(vm, fd5, 5));
	CHECK_OK(kvmhost_vm_remove_irqfd(vm, fd200, ROUTED_GSI));
	kvmhost_irq_line_destroy(line);
	kvmhost_arm64_gic_destroy(gic);
	close(fd5);
	close(fd200);
	kvmhost_vm_destroy(vm);
	kvmhost_system_close(sys);
	printf("arm64_gic_test: passed\n");
	return 0;
}

/*
 * The arm64 half of the machine layer (lib/machine/machine_internal.h, "The architecture's half"): a machine
 * laid out like QEMU's `virt` (docs/arm64.md has the map), with KVM's GICv3, a 16550 on MMIO (`ns16550a`,
 * lib/devices/uart16550.c) as the console, the virtio-mmio transports of lib/machine at their slots with one
 * SPI each, a device tree from kvmhost_arm64_fdt_build() (checked with fdt_check_full() there) and the kernel
 * through kvmhost_arm64_boot_check() / kvmhost_arm64_boot_load_image(). vCPU 0 enters the Image with x0 = the
 * DTB; the others start powered off and are started by the guest's PSCI CPU_ON, which KVM handles. PSCI
 * SYSTEM_OFF and SYSTEM_RESET come back as KVM system events, which the arch-neutral vCPU loop
 * (machine_vcpu.c) turns into the machine's power-off stop and its reset policy, as on x86.
 * No arch options yet (arch_options must be NULL), virtio-mmio only.
 * Built on arm64 only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kvmhost/arm64.h>
#include <kvmhost/arm64_boot.h>
#include <kvmhost/arm64_fdt.h>
#include <kvmhost/bus.h>
#include <kvmhost/events.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/loop.h>
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
#include <kvmhost/vm.h>
#include <kvmhost/devices/uart16550.h>
#include <kvmhost/virtio/mmio.h>

#include "../../core/internal.h"
#include "../../machine/machine_internal.h"
#include "gic_internal.h"

/* The guest-physical map (QEMU virt's addresses, so that what is known about that machine holds here). */
#define GICD_BASE	0x08000000ull
#define GITS_BASE	0x08080000ull
#define GICR_BASE	0x080a0000ull
#define GICR_END	0x09000000ull /* 123 vCPUs' redistributors */
#define UART_BASE	0x09000000ull
#define UART_SIZE	0x1000ull
#define UART_SPI	1u
#define VIRTIO_BASE	0x0a000000ull
#define VIRTIO_STRIDE	0x1000ull
#define VIRTIO_SPI_BASE 16u
#define RAM_BASE	0x40000000ull
#define RAM_MAX		(255ull << 30) /* RAM ends by 256 GiB: inside KVM's default 40-bit IPA space */
#define MAX_CPUS	((GICR_END - GICR_BASE) / KVMHOST_ARM64_GICR_CPU_SIZE)
#define DTB_BUF_SIZE	(64u << 10)
#define UART_CLOCK_HZ	1843200u

struct kh_machine_arch {
	struct kvmhost_arm64_gic *gic;
	uint32_t vcpu_features; /* what vCPU 0 got: every vCPU of the VM gets the same */
	uint64_t *mpidrs;
	struct kh_gic_state gic_pristine; /* the vGIC as its init left it: loaded on every reboot */
	void *dtb;
	size_t dtb_size;
};

/* KVM's reset MPIDR of vCPU @id (arch/arm64/kvm/sys_regs.c reset_mpidr): Aff0 = id[3:0], Aff1 = id[11:4],
 * Aff2 = id[19:12]. The check's tree uses it; boot reads the real ones back. */
static uint64_t kvm_mpidr(uint32_t id)
{
	return (uint64_t)(id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8 | (uint64_t)((id >> 12) & 0xff) << 16;
}

static int build_dtb(struct kvmhost_machine *m, const uint64_t *mpidrs)
{
	struct kh_machine_arch *a = m->arch;
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_arm64_fdt_memory mem = {RAM_BASE, c->ram_size};
	struct kvmhost_arm64_fdt_virtio virtio[KVMHOST_MACHINE_MAX_DEVICES];
	struct kvmhost_arm64_fdt_options fo = {.size = sizeof(fo),
					       .memory = &mem,
					       .memory_count = 1,
					       .memory_size = sizeof(mem),
					       .mpidrs = mpidrs,
					       .cpu_count = c->vcpu_count,
					       .gicd_base = GICD_BASE,
					       .gicr_base = GICR_BASE,
					       .its_base = a->gic && kvmhost_arm64_gic_has_its(a->gic) ? GITS_BASE : 0,
					       .uart_type = KVMHOST_ARM64_UART_NS16550A,
					       .uart_base = UART_BASE,
					       .uart_size = UART_SIZE,
					       .uart_spi = UART_SPI,
					       .uart_clock_hz = UART_CLOCK_HZ,
					       .virtio = virtio,
					       .virtio_size = sizeof(virtio[0]),
					       .bootargs = c->cmdline};
	int r;

	for (uint32_t i = 0; i < c->device_count && i < KVMHOST_MACHINE_MAX_DEVICES; i++) {
		uint64_t base;
		uint32_t spi;

		kh_machine_arch_virtio_slot(m, i, &base, &spi);
		virtio[fo.virtio_count++] = (struct kvmhost_arm64_fdt_virtio){
		    .base = base, .size = KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT, .spi = spi, .irq_type = 0};
	}
	if (!a->dtb && !(a->dtb = malloc(DTB_BUF_SIZE)))
		return kh_fail(ENOMEM, c->func, "cannot allocate the device tree");
	r = kvmhost_arm64_fdt_build(&fo, a->dtb, DTB_BUF_SIZE, &a->dtb_size);
	if (r < 0)
		return kh_fail(-r, c->func, "device tree: %s", kvmhost_last_error());
	return 0;
}

static void boot_options(struct kvmhost_machine *m, struct kvmhost_arm64_boot_options *bo)
{
	const struct kh_machine_config *c = &m->cfg;

	*bo = (struct kvmhost_arm64_boot_options){.size = sizeof(*bo),
						  .dtb = m->arch->dtb,
						  .dtb_size = m->arch->dtb_size,
						  .initrd = c->initrd,
						  .initrd_size = c->initrd_size,
						  .ram_base = RAM_BASE,
						  .ram_size = c->ram_size};
}

int kh_machine_arch_check(struct kvmhost_machine *m)
{
	const struct kh_machine_config *c = &m->cfg;
	struct kh_machine_arch *a = calloc(1, sizeof(*a));

	if (!a)
		return KH_FAIL(ENOMEM, "cannot allocate the arm64 machine");
	m->arch = a;
	if (c->arch_options)
		return kh_fail(EINVAL, c->func, "arch_options: the arm64 machine has none yet (NULL)");
	if (c->kernel_format)
		return kh_fail(EINVAL, c->func, "kernel_format %u: the arm64 machine boots an Image (0)",
			       c->kernel_format);
	if (c->transport != KVMHOST_MACHINE_TRANSPORT_MMIO)
		return kh_fail(ENOTSUP, c->func, "transport %u: the arm64 machine has virtio-mmio only (%u)",
			       c->transport, KVMHOST_MACHINE_TRANSPORT_MMIO);
	if (c->ram_size > RAM_MAX)
		return kh_fail(EINVAL, c->func, "ram_size %llu: the arm64 machine has at most %llu GiB",
			       (unsigned long long)c->ram_size, (unsigned long long)(RAM_MAX >> 30));
	if (c->vcpu_count > MAX_CPUS)
		return kh_fail(EINVAL, c->func, "vcpu_count %u: the redistributor region holds %llu", c->vcpu_count,
			       (unsigned long long)MAX_CPUS);
	if (c->cmdline && strlen(c->cmdline) > KVMHOST_ARM64_FDT_BOOTARGS_MAX)
		return kh_fail(EINVAL, c->func, "cmdline is longer than %u bytes", KVMHOST_ARM64_FDT_BOOTARGS_MAX);
	return 0;
}

/* The tree with the MPIDRs KVM will give, and the loader's dry run in the machine's RAM. */
int kh_machine_arch_check_boot(struct kvmhost_machine *m)
{
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_arm64_boot_options bo;
	uint64_t *mpidrs = calloc(c->vcpu_count, sizeof(*mpidrs));
	int r;

	if (!mpidrs)
		return kh_fail(ENOMEM, c->func, "cannot allocate the MPIDRs");
	for (uint32_t i = 0; i < c->vcpu_count; i++)
		mpidrs[i] = kvm_mpidr(i);
	r = build_dtb(m, mpidrs);
	free(mpidrs);
	if (r < 0)
		return r;
	boot_options(m, &bo);
	r = kvmhost_arm64_boot_check(c->kernel, c->kernel_size, &bo, NULL);
	if (r < 0)
		return kh_fail(-r, c->func, "kernel%s%s: %s", c->kernel_path ? " " : "",
			       c->kernel_path ? c->kernel_path : "", kvmhost_last_error());
	return 0;
}

/* One RAM region at RAM_BASE in the backing the options name (lib/machine's, as x86's, without the MMIO hole). */
static int add_ram(struct kvmhost_machine *m)
{
	struct kvmhost_memory_options mo;
	int r;

	if ((r = kh_machine_ram_options(m, &mo)) < 0)
		return r;
	mo.guest_phys_addr = RAM_BASE;
	mo.length = m->cfg.ram_size;
	r = kvmhost_vm_add_memory(m->vm, &mo, NULL);
	kh_machine_ram_added(m);
	return r;
}

/* The console: lib/machine's UART (machine_uart.c, as x86's COM1) on MMIO with an SPI line. */
static int add_uart(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	struct kvmhost_irq_line *irq;
	int r;

	if ((r = kvmhost_arm64_gic_spi_line_create(a->gic, UART_SPI, &irq)) < 0)
		return r;
	return kh_machine_uart_create(m, "uart0", irq, kvmhost_uart_attach_mmio, m->mmio, UART_BASE);
}

/* vCPU @i to its reset state: vCPU 0 runs, the others wait for PSCI CPU_ON. KVM_ARM_VCPU_INIT again is the
 * architected reset (the same target and features each time). */
static int init_vcpu(struct kvmhost_machine *m, uint32_t i)
{
	struct kh_machine_arch *a = m->arch;
	uint32_t got;
	int r;

	r = kvmhost_arm64_vcpu_init(m->cpu[i].vcpu, i ? KVMHOST_ARM64_VCPU_POWER_OFF : 0, &got);
	if (r < 0)
		return KH_FAIL(-r, "vCPU %u: %s", i, kvmhost_last_error());
	if (i == 0)
		a->vcpu_features = got;
	return 0;
}

/* RAM, the vGIC, the vCPUs (created and initialised here, so that the vGIC can be initialised before the
 * virtio devices assign their irqfds) and the UART. */
int kh_machine_arch_create(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	struct kvmhost_arm64_gic_options go = {.size = sizeof(go),
					       .dist_base = GICD_BASE,
					       .redist_base = GICR_BASE,
					       .nr_spis = KVMHOST_ARM64_GIC_DEFAULT_SPIS,
					       .its_base = GITS_BASE};
	int r;

	if ((r = add_ram(m)) < 0 || (r = kvmhost_arm64_gic_create(m->vm, &go, &a->gic)) < 0)
		return r;
	if (!(a->mpidrs = calloc(m->ncpus, sizeof(*a->mpidrs))))
		return KH_FAIL(ENOMEM, "cannot allocate the MPIDRs");
	for (uint32_t i = 0; i < m->ncpus; i++) {
		if ((r = kvmhost_vcpu_create(m->vm, i, &m->cpu[i].vcpu)) < 0 || (r = init_vcpu(m, i)) < 0 ||
		    (r = kvmhost_arm64_vcpu_mpidr(m->cpu[i].vcpu, &a->mpidrs[i])) < 0)
			return r;
	}
	/* Every vCPU exists: the vGIC can be initialised, which KVM wants before any irqfd (the virtio devices',
	 * next) is assigned; it then routes GSI n to SPI n. */
	if ((r = kvmhost_arm64_gic_init(a->gic)) < 0)
		return r;
	/* Its power-on state, for reboots (gic_state.c says why a copy rather than reset values). */
	if ((r = kh_gic_state_save(a->gic, a->mpidrs, m->ncpus, 0, &a->gic_pristine)) < 0)
		return r;
	return add_uart(m, a);
}

static int load(struct kvmhost_machine *m)
{
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_arm64_boot_options bo;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_vcpu *v0 = m->cpu[0].vcpu;
	int r;

	boot_options(m, &bo);
	r = kvmhost_arm64_boot_load_image(kvmhost_vm_memory(m->vm), c->kernel, c->kernel_size, &bo, &info);
	if (r < 0)
		return KH_FAIL(-r, "kernel: %s", kvmhost_last_error());
	if ((r = kvmhost_arm64_vcpu_set_core_reg(v0, KVMHOST_ARM64_PC, info.entry)) < 0 ||
	    (r = kvmhost_arm64_vcpu_set_core_reg(v0, KVMHOST_ARM64_X0, info.x0)) < 0)
		return r;
	for (int i = 1; i <= 3; i++)
		if ((r = kvmhost_arm64_vcpu_set_core_reg(v0, (enum kvmhost_arm64_core_reg)(KVMHOST_ARM64_X0 + i), 0)) <
		    0)
			return r;
	kh_log(KVMHOST_LOG_INFO, "machine %s: Image at 0x%llx (entry), DTB at 0x%llx (%llu bytes), initrd %llu bytes",
	       c->name, (unsigned long long)info.entry, (unsigned long long)info.dtb_gpa,
	       (unsigned long long)info.dtb_size, (unsigned long long)info.initrd_size);
	return 0;
}

int kh_machine_arch_boot(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	int r;

	/* The tree again, with the MPIDRs KVM gave, the ITS if KVM has one and the virtio devices made. */
	if ((r = build_dtb(m, a->mpidrs)) < 0)
		return r;
	/* Incoming: the restore writes RAM and every register (lib/arch/arm64/migration_arm64.c); the tree is
	 * kept for a later reboot's reload. */
	return m->cfg.flags & KVMHOST_MACHINE_INCOMING ? 0 : load(m);
}

/* Every vCPU parked (machine_vcpu.c): the vCPUs re-initialised, the vGIC back to its power-on state (LPIs off,
 * ITS reset, the pristine copy: KVM_ARM_VCPU_INIT does not touch it), the Image and DTB reloaded. */
int kh_machine_arch_reboot(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	int r = 0;

	for (uint32_t i = 0; i < m->ncpus && r == 0; i++)
		r = init_vcpu(m, i);
	if (r == 0)
		r = kh_gic_reset(a->gic, a->mpidrs, m->ncpus, &a->gic_pristine);
	return r < 0 ? r : load(m);
}

int kh_machine_arch_power_button(struct kvmhost_machine *m)
{
	return KH_FAIL(ENOTSUP, "machine %s: the arm64 machine has no power button yet", m->cfg.name);
}

uint64_t kh_machine_arch_exit_pc(struct kvmhost_machine *m, uint32_t vcpu)
{
	uint64_t pc;

	if (vcpu >= m->ncpus || !m->cpu[vcpu].vcpu ||
	    kvmhost_arm64_vcpu_get_core_reg(m->cpu[vcpu].vcpu, KVMHOST_ARM64_PC, &pc) < 0)
		return 0;
	return pc;
}

void kh_machine_arch_destroy(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;

	if (!a)
		return;
	kh_machine_uart_destroy(m); /* before the vGIC its line is on */
	kvmhost_arm64_gic_destroy(a->gic);
	kh_gic_state_free(&a->gic_pristine);
	free(a->mpidrs);
	free(a->dtb);
	free(a);
	m->arch = NULL;
}

void kh_machine_arch_virtio_slot(struct kvmhost_machine *m, uint32_t index, uint64_t *base, uint32_t *gsi)
{
	(void)m;
	*base = VIRTIO_BASE + (uint64_t)index * VIRTIO_STRIDE;
	*gsi = VIRTIO_SPI_BASE + index; /* the SPI, which is the GSI of KVM's default vGIC routing */
}

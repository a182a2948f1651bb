/*
 * The arm64 half of the machine layer (lib/machine/machine_internal.h, "The architecture's half"): a machine
 * laid out like QEMU's `virt` (docs/arm64.md has the map), with KVM's GICv3, a 16550 on MMIO (`ns16550a`,
 * lib/devices/uart16550.c) as the console, the virtio-mmio transports of lib/machine at their slots with one
 * SPI each, a device tree from kvmhost_arm64_fdt_build() (checked with fdt_check_full() there) and the kernel
 * through kvmhost_arm64_boot_check() / kvmhost_arm64_boot_load_image(). vCPU 0 enters the Image with x0 = the
 * DTB; the others start powered off and are started by the guest's PSCI CPU_ON, which KVM handles. PSCI
 * SYSTEM_OFF and SYSTEM_RESET come back as KVM system events, which the arch-neutral vCPU loop
 * (machine_vcpu.c) turns into the machine's power-off stop and its reset policy, as on x86.
 * No arch options yet (arch_options must be NULL), virtio-mmio only, no incoming migration.
 * Built on arm64 only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	int ram_fd, ram_file_created;
	struct kvmhost_arm64_gic *gic;
	struct kvmhost_irq_line *uart_irq;
	struct kvmhost_uart *uart;
	uint32_t vcpu_features; /* what vCPU 0 got: every vCPU of the VM gets the same */
	uint64_t *mpidrs;
	void *dtb;
	size_t dtb_size;
	/* the console's host side, as x86's COM1 */
	int serial_rx_fd, serial_in_regular, serial_in_done, has_serial_in_watch;
	uint32_t serial_in_watch;
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
	a->ram_fd = a->serial_rx_fd = -1;
	m->arch = a;
	if (c->arch_options)
		return kh_fail(EINVAL, c->func, "arch_options: the arm64 machine has none yet (NULL)");
	if (c->kernel_format)
		return kh_fail(EINVAL, c->func, "kernel_format %u: the arm64 machine boots an Image (0)",
			       c->kernel_format);
	if (c->transport != KVMHOST_MACHINE_TRANSPORT_MMIO)
		return kh_fail(ENOTSUP, c->func, "transport %u: the arm64 machine has virtio-mmio only (%u)",
			       c->transport, KVMHOST_MACHINE_TRANSPORT_MMIO);
	if (c->flags & KVMHOST_MACHINE_INCOMING)
		return kh_fail(ENOTSUP, c->func, "the arm64 machine cannot take an incoming migration yet");
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

static int open_ram_file(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	struct stat st;
	int fd = open(m->cfg.ram_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0)
		a->ram_file_created = 1;
	else if (errno == EEXIST)
		fd = open(m->cfg.ram_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return KH_FAIL_ERRNO("ram_path %s", m->cfg.ram_path);
	a->ram_fd = fd;
	if (fstat(fd, &st) < 0)
		return KH_FAIL_ERRNO("ram_path %s: fstat", m->cfg.ram_path);
	if (!S_ISREG(st.st_mode))
		return KH_FAIL(EINVAL, "ram_path %s is not a regular file", m->cfg.ram_path);
	if ((uint64_t)st.st_size < m->cfg.ram_size && ftruncate(fd, (off_t)m->cfg.ram_size) < 0)
		return KH_FAIL_ERRNO("ram_path %s: cannot grow it to %llu bytes", m->cfg.ram_path,
				     (unsigned long long)m->cfg.ram_size);
	return 0;
}

/* One RAM region at RAM_BASE in the backing the options name (as x86's add_ram, without the MMIO hole). */
static int add_ram(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_memory_options mo = {
	    .size = sizeof(mo), .name = c->name, .fd = 0, .guest_phys_addr = RAM_BASE, .length = c->ram_size};
	int r;

	switch (c->ram_backing) {
	case KVMHOST_MACHINE_RAM_ANONYMOUS:
		mo.backing =
		    c->ram_flags & KVMHOST_MACHINE_RAM_SHARED ? KVMHOST_MEMORY_MEMFD : KVMHOST_MEMORY_ANONYMOUS;
		break;
	case KVMHOST_MACHINE_RAM_MEMFD:
		mo.backing = KVMHOST_MEMORY_MEMFD;
		break;
	case KVMHOST_MACHINE_RAM_HUGETLB:
		mo.backing = KVMHOST_MEMORY_HUGETLB;
		mo.hugepage_size = c->hugepage_size;
		break;
	default:
		mo.backing = KVMHOST_MEMORY_FILE;
		if ((r = open_ram_file(m, a)) < 0)
			return r;
		mo.fd = a->ram_fd;
	}
	mo.flags =
	    (c->ram_flags & KVMHOST_MACHINE_RAM_THP && mo.backing != KVMHOST_MEMORY_FILE ? KVMHOST_MEMORY_THP : 0) |
	    (c->ram_flags & KVMHOST_MACHINE_RAM_PREFAULT ? KVMHOST_MEMORY_PREFAULT : 0) |
	    (c->ram_flags & KVMHOST_MACHINE_RAM_LOG_DIRTY ? KVMHOST_MEMORY_LOG_DIRTY : 0);
	r = kvmhost_vm_add_memory(m->vm, &mo, NULL);
	if (a->ram_fd >= 0) { /* the region holds its own duplicate */
		close(a->ram_fd);
		a->ram_fd = -1;
	}
	return r;
}

/* The console's input: pumped while the FIFO has room, as x86's COM1 (machine_x86_devices.c). */
static void on_serial_input(int fd, uint32_t events, void *opaque)
{
	struct kvmhost_machine *m = opaque;
	struct kh_machine_arch *a = m->arch;
	int r = kvmhost_uart_pump(a->uart, fd);

	(void)events;
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		a->serial_in_done = 1;
	if (a->has_serial_in_watch)
		kh_watch_set(m, a->serial_in_watch,
			     a->serial_in_done || (r == 0 && kvmhost_uart_rx_room(a->uart) == 0) ? 0 : KVMHOST_LOOP_IN);
}

static void on_serial_rx_space(int fd, uint32_t events, void *opaque)
{
	struct kvmhost_machine *m = opaque;
	struct kh_machine_arch *a = m->arch;
	uint64_t n;

	(void)events;
	kvmhost_eventfd_consume(fd, &n);
	if (a->serial_in_done)
		return;
	if (a->serial_in_regular)
		on_serial_input(m->cfg.serial_in_fd, 0, m);
	else if (a->has_serial_in_watch)
		kh_watch_set(m, a->serial_in_watch, KVMHOST_LOOP_IN);
}

static void uart_rx_space(void *opaque)
{
	kvmhost_eventfd_signal(((struct kvmhost_machine *)opaque)->arch->serial_rx_fd, 1);
}

static int add_uart(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo),
					  .out_fd = m->cfg.serial_out_fd,
					  .rx_space = uart_rx_space,
					  .rx_space_opaque = m,
					  .name = "uart0"};
	struct stat st;
	uint32_t h;
	int r;

	if ((r = kvmhost_arm64_gic_spi_line_create(a->gic, UART_SPI, &a->uart_irq)) < 0)
		return r;
	uo.irq = a->uart_irq;
	if ((r = kvmhost_uart_create(&uo, &a->uart)) < 0 ||
	    (r = kvmhost_uart_attach_mmio(a->uart, m->mmio, UART_BASE)) < 0 ||
	    (r = kvmhost_uart_register(a->uart, m->registry, "uart0")) < 0)
		return r;
	if (m->cfg.serial_in_fd < 0)
		return 0;
	if ((r = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &a->serial_rx_fd)) < 0 ||
	    (r = kh_watch_add(m, a->serial_rx_fd, KVMHOST_LOOP_IN, on_serial_rx_space, m, &h)) < 0)
		return r;
	if (fstat(m->cfg.serial_in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		a->serial_in_regular = 1;
		return kvmhost_eventfd_signal(a->serial_rx_fd, 1);
	}
	if ((r = kh_watch_add(m, m->cfg.serial_in_fd, KVMHOST_LOOP_IN, on_serial_input, m, &a->serial_in_watch)) < 0)
		return r;
	a->has_serial_in_watch = 1;
	return 0;
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

	if ((r = add_ram(m, a)) < 0 || (r = kvmhost_arm64_gic_create(m->vm, &go, &a->gic)) < 0)
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
	return load(m);
}

int kh_machine_arch_reboot(struct kvmhost_machine *m)
{
	int r = 0;

	for (uint32_t i = 0; i < m->ncpus && r == 0; i++)
		r = init_vcpu(m, i);
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
	for (int i = 0; a->uart && i < 10 && kvmhost_uart_flush(a->uart) > 0; i++)
		usleep(100 * 1000);
	kvmhost_uart_destroy(a->uart);
	kvmhost_irq_line_destroy(a->uart_irq);
	kvmhost_arm64_gic_destroy(a->gic);
	if (a->serial_rx_fd >= 0)
		close(a->serial_rx_fd);
	if (a->ram_fd >= 0)
		close(a->ram_fd);
	if (a->ram_file_created && !m->built)
		unlink(m->cfg.ram_path);
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

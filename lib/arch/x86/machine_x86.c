/*
 * The x86 half of a machine: its options (struct kvmhost_machine_x86_options),
 * RAM around the 32-bit MMIO hole in the backing the machine's options name,
 * KVM's in-kernel irqchip and PIT, and the kh_machine_arch_* calls the
 * arch-neutral machine layer makes. The legacy devices are in
 * machine_x86_devices.c, the tables, kernel and vCPUs in machine_x86_boot.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kvmhost/memory.h>
#include <kvmhost/vm.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_boot.h>
#include "platform/platform_internal.h"
#include <kvmhost/virtio/mmio.h>

#include "../../core/internal.h"
#include "machine_x86_internal.h"

#define MAX_CPUID_EDITS 64u
/* Intel's real-mode TSS and identity map page, in the MMIO hole as kvmtool has them. */
#define TSS_ADDR	   0xfffbd000ull
#define VIRTIO_MMIO_STRIDE 0x1000u
#define VIRTIO_GSI_BASE	   16u

/* TRANSPORT_MMIO_CMDLINE: ISA IRQs no device of this platform uses (the PIT has 0, the i8042 1 and 12, COM1 4,
 * the RTC 8, the power button 9, the FPU 13). */
static const uint8_t cmdline_irqs[KVMHOST_MACHINE_MAX_DEVICES] = {5, 6, 7, 10, 11, 14, 15, 3};

/* The command line the kernel gets: the caller's, plus with TRANSPORT_MMIO_CMDLINE a virtio_mmio.device= word per
 * device, as kvmhost_virtio_mmio_cmdline() writes them for the windows the devices will have. */
static int make_cmdline(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	const struct kh_machine_config *c = &m->cfg;
	size_t len = c->cmdline ? strlen(c->cmdline) : 0, used;

	a->cmdline = c->cmdline;
	if (c->transport != KVMHOST_MACHINE_TRANSPORT_MMIO_CMDLINE || !c->device_count)
		return 0;
	if (!(a->own_cmdline = malloc(len + c->device_count * 48 + 1)))
		return kh_fail(ENOMEM, c->func, "cannot allocate the command line");
	used = (size_t)sprintf(a->own_cmdline, "%s", c->cmdline ? c->cmdline : "");
	for (uint32_t i = 0; i < c->device_count; i++) {
		uint64_t base;
		uint32_t irq;

		kh_machine_arch_virtio_slot(m, i, &base, &irq);
		used += (size_t)sprintf(a->own_cmdline + used, "%svirtio_mmio.device=%uK@0x%llx:%u", used ? " " : "",
					KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT >> 10, (unsigned long long)base, irq);
	}
	a->cmdline = a->own_cmdline;
	return 0;
}

static int check_options(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	const struct kh_machine_config *c = &m->cfg;
	const char *func = c->func;
	const uint32_t known =
	    KVMHOST_MACHINE_X86_NO_ACPI | KVMHOST_MACHINE_X86_NO_MPTABLE | KVMHOST_MACHINE_X86_LINUX_ENTRY_32;
	struct kvmhost_x86_ram_range r[2];
	uint32_t n;
	int err;

	if ((err = kh_copy_options(&a->o, sizeof(a->o), c->arch_options, func)) < 0)
		return err;
	if (a->o.flags & ~known)
		return kh_fail(EINVAL, func, "arch_options flags 0x%x has unknown bits", a->o.flags);
	if (a->o.reserved0)
		return kh_fail(EINVAL, func, "arch_options reserved0 must be 0");
	if (a->o.hyperv && (err = kh_hyperv_check(a->o.hyperv, func)) < 0)
		return err;
	if (a->o.debug_exit_port > 0xfffc)
		return kh_fail(EINVAL, func, "debug_exit_port 0x%x: its 4 ports pass 0xffff", a->o.debug_exit_port);
	if (c->kernel_format > KVMHOST_X86_BOOT_RAW)
		return kh_fail(EINVAL, func, "kernel_format %u: 0 (detect) or an enum kvmhost_x86_boot_format",
			       c->kernel_format);
	if (c->kernel_format == KVMHOST_X86_BOOT_RAW) {
		if (!a->o.raw_gpa)
			return kh_fail(EINVAL, func, "a raw kernel needs arch_options raw_gpa");
		if (a->o.raw_mode > KVMHOST_X86_RAW_LONG_64)
			return kh_fail(EINVAL, func, "raw_mode %u is unknown", a->o.raw_mode);
		if (c->cmdline || c->initrd || c->initrd_path)
			return kh_fail(EINVAL, func, "a raw kernel takes no command line and no initrd");
	} else if (a->o.raw_gpa || a->o.raw_mode) {
		return kh_fail(EINVAL, func, "raw_gpa and raw_mode are for kernel_format KVMHOST_X86_BOOT_RAW");
	}
	if ((err = make_cmdline(m, a)) < 0)
		return err;
	if (a->cmdline && strlen(a->cmdline) > KVMHOST_X86_BOOT_CMDLINE_MAX)
		return kh_fail(EINVAL, func, "cmdline is longer than %u bytes%s", KVMHOST_X86_BOOT_CMDLINE_MAX,
			       a->cmdline != c->cmdline ? " with the virtio_mmio.device= words" : "");
	if (a->o.cpuid_edit_count > MAX_CPUID_EDITS)
		return kh_fail(EINVAL, func, "cpuid_edit_count %u: at most %u", a->o.cpuid_edit_count, MAX_CPUID_EDITS);
	if (a->o.cpuid_edit_count && !a->o.cpuid_edits)
		return kh_fail(EINVAL, func, "cpuid_edit_count %u with cpuid_edits NULL", a->o.cpuid_edit_count);
	if (a->o.cpuid_edit_count) {
		a->edits = calloc(a->o.cpuid_edit_count, sizeof(*a->edits));
		if (!a->edits)
			return kh_fail(ENOMEM, func, "cannot copy the CPUID edits");
	}
	for (uint32_t i = 0; i < a->o.cpuid_edit_count; i++) {
		const void *src = (const char *)a->o.cpuid_edits + (size_t)i * a->o.cpuid_edit_size;

		if ((err = kh_copy_element(&a->edits[i], sizeof(a->edits[i]), src, a->o.cpuid_edit_size,
					   offsetof(struct kvmhost_machine_x86_cpuid_edit, set), "cpuid_edits", i,
					   func)) < 0)
			return err;
		if (a->edits[i].reg > KVMHOST_X86_CPUID_EDX)
			return kh_fail(EINVAL, func, "cpuid_edits[%u]: reg %u is not EAX..EDX (0-3)", i,
				       a->edits[i].reg);
	}
	a->o.cpuid_edits = NULL; /* the caller's array is not kept */
	if ((err = kvmhost_x86_plan_ram_sized(c->ram_size, a->o.mmio_hole_start, r, sizeof(r[0]), 2, &n)) < 0)
		return kh_fail(-err, func, "ram_size and mmio_hole_start: %s", kvmhost_last_error());
	if (c->vcpu_count > KVMHOST_X86_PLATFORM_MAX_CPUS)
		return kh_fail(EINVAL, func, "vcpu_count %u: the x86 tables hold %u", c->vcpu_count,
			       KVMHOST_X86_PLATFORM_MAX_CPUS);
	memcpy(a->ram, r, sizeof(r));
	a->ram_count = n;
	return 0;
}

int kh_machine_arch_check(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = calloc(1, sizeof(*a));

	if (!a)
		return KH_FAIL(ENOMEM, "cannot allocate the x86 machine");
	m->arch = a;
	return check_options(m, a);
}

int kh_machine_arch_check_boot(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_x86_boot_options bo = {
	    .size = sizeof(bo),
	    .cmdline = a->cmdline,
	    .initrd = c->initrd,
	    .initrd_size = c->initrd_size,
	    .flags = a->o.flags & KVMHOST_MACHINE_X86_LINUX_ENTRY_32 ? KVMHOST_X86_BOOT_LINUX_ENTRY_32 : 0,
	    .e820_entry_size = sizeof(struct kvmhost_x86_e820_entry)};
	const struct kvmhost_x86_e820_options eo = {.size = sizeof(eo),
						    .e820_entry_size = sizeof(struct kvmhost_x86_e820_entry),
						    .ram_range_size = sizeof(a->ram[0])};
	struct kvmhost_x86_e820_entry *e820;
	int r;

	if (c->kernel_format == KVMHOST_X86_BOOT_RAW) /* no header to check; the load says if it fits */
		return 0;
	if (!(e820 = calloc(KVMHOST_X86_E820_MAX, sizeof(*e820))))
		return kh_fail(ENOMEM, c->func, "cannot allocate the e820 map");
	/* The map kh_x86_load() builds from the same RAM ranges (the tables live in RAM it lists). */
	bo.e820 = e820;
	r = kvmhost_x86_e820_from_ranges(a->ram, a->ram_count, &eo, e820, KVMHOST_X86_E820_MAX, &bo.e820_count);
	if (r == 0)
		r = kvmhost_x86_boot_check((int)c->kernel_format, c->kernel, c->kernel_size, &bo, NULL);
	free(e820);
	if (r < 0)
		return kh_fail(-r, c->func, "kernel%s%s: %s", c->kernel_path ? " " : "",
			       c->kernel_path ? c->kernel_path : "", kvmhost_last_error());
	return 0;
}

/* The RAM ranges around the MMIO hole in the options' backing; in a RAM file one after the other. */
static int add_ram(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	struct kvmhost_memory_options mo;
	uint64_t offset = 0;
	int r;

	if ((r = kh_machine_ram_options(m, &mo)) < 0)
		return r;
	for (uint32_t i = 0; i < a->ram_count; i++) {
		mo.guest_phys_addr = a->ram[i].gpa;
		mo.length = a->ram[i].length;
		mo.fd_offset = mo.backing == KVMHOST_MEMORY_FILE ? offset : 0;
		if ((r = kvmhost_vm_add_memory(m->vm, &mo, NULL)) < 0)
			return r;
		offset += a->ram[i].length;
	}
	kh_machine_ram_added(m);
	return 0;
}

int kh_machine_arch_create(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	int r;

	if ((r = kvmhost_x86_vm_create_irqchip(m->vm, KVMHOST_X86_IRQCHIP_FULL, 0)) < 0 ||
	    (r = kvmhost_x86_vm_create_pit(m->vm, KVM_PIT_SPEAKER_DUMMY)) < 0)
		return r;
	kvmhost_x86_vm_set_tss_addr(m->vm, TSS_ADDR);
	if ((r = add_ram(m, a)) < 0)
		return r;
	return kh_x86_devices_create(m);
}

void kh_machine_arch_destroy(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;

	if (!a)
		return;
	kh_x86_devices_destroy(m);
	kvmhost_x86_cpuid_destroy(a->cpuid);
	free(a->edits);
	free(a->own_cmdline);
	free(a);
	m->arch = NULL;
}

void kh_machine_arch_virtio_slot(struct kvmhost_machine *m, uint32_t index, uint64_t *base, uint32_t *gsi)
{
	*base = KVMHOST_MACHINE_X86_VIRTIO_MMIO_BASE + (uint64_t)index * VIRTIO_MMIO_STRIDE;
	*gsi =
	    m->cfg.transport == KVMHOST_MACHINE_TRANSPORT_MMIO_CMDLINE ? cmdline_irqs[index] : VIRTIO_GSI_BASE + index;
}

uint64_t kh_machine_arch_exit_pc(struct kvmhost_machine *m, uint32_t vcpu)
{
	struct kvm_regs regs;

	if (vcpu >= m->ncpus || kvmhost_x86_vcpu_get_regs(m->cpu[vcpu].vcpu, &regs) < 0)
		return 0;
	return regs.rip;
}

int kh_machine_arch_power_button(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	int r;

	if (a->o.flags & KVMHOST_MACHINE_X86_NO_ACPI)
		return KH_FAIL(ENOTSUP, "machine %s has no ACPI, so no power button", m->cfg.name);
	/* An edge on the GED's GSI: the guest runs _EVT, which notifies the power button. */
	if ((r = kvmhost_vm_set_irq_line(m->vm, KVMHOST_MACHINE_X86_POWER_BUTTON_GSI, 1)) < 0)
		return r;
	return kvmhost_vm_set_irq_line(m->vm, KVMHOST_MACHINE_X86_POWER_BUTTON_GSI, 0);
}

/*
 * Booting an x86 machine: the platform tables (ACPI with COM1, the
 * virtio-mmio devices, the PCI host bridge and the power button in the DSDT;
 * an MP table at 0xf0000), the e820 map, the kernel by its format, CPUID with
 * the topology and the caller's edits, and the vCPUs: vCPU 0 enters the
 * kernel as the loader says, the others wait for the guest's INIT/SIPI.
 * A reboot does the same again on the existing vCPUs.
 */
#include <stdlib.h>
#include <string.h>
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
#include <kvmhost/vm.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/devices/uart16550.h>

#include "../../core/internal.h"
#include "machine_x86_internal.h"

#define MPTABLE_GPA  0xf0000ull /* 64 KiB there hold a table for every vCPU count the MADT allows */
#define RESET_VECTOR 0xffff0ull

static int write_tables(struct kvmhost_machine *m, struct kvmhost_x86_boot_options *bo,
			struct kvmhost_x86_e820_entry *e820)
{
	struct kh_machine_arch *a = m->arch;
	struct kvmhost_memory *mem = kvmhost_vm_memory(m->vm);
	struct kvmhost_x86_acpi_device dev[1 + KVMHOST_MACHINE_MAX_DEVICES];
	struct kvmhost_x86_acpi_pci_host pci = {.size = sizeof(pci), .intx_gsi = {16, 17, 18, 19}};
	const uint32_t irq0 = KVMHOST_X86_PLATFORM_IRQ0_PIN0; /* the PIT on pin 0, as KVM's default routing has it */
	const struct kvmhost_x86_e820_options eo = {.size = sizeof(eo), .e820_entry_size = sizeof(*e820)};
	uint32_t n = 0;
	int r;

	/* No firmware, yet Linux reboots a hardware-reduced ACPI machine without EFI by jumping to the BIOS reset
	 * vector (F000:FFF0): put there "mov al, 0xfe; out 0x64, al; hlt", an i8042 reset pulse. */
	if ((r = kvmhost_memory_write(mem, RESET_VECTOR, "\xb0\xfe\xe6\x64\xf4", 5)) < 0)
		return r;
	/* On a hardware-reduced ACPI platform Linux maps no ISA IRQ by itself: COM1 must be in the DSDT. */
	dev[n++] = (struct kvmhost_x86_acpi_device){
	    .hid = "PNP0501", .io_base = KVMHOST_UART_COM1_BASE, .io_length = 8, .irq = KVMHOST_UART_COM1_IRQ};
	for (uint32_t i = 0; i < m->nvdev; i++) {
		struct kh_virtio_desc d;

		if (kh_machine_virtio_describe(m, i, &d) == 0)
			dev[n++] = (struct kvmhost_x86_acpi_device){.hid = "LNRO0005",
								    .uid = i,
								    .mmio_base = d.mmio_base,
								    .mmio_length = d.mmio_length,
								    .irq = d.gsi};
	}
	if (!(a->o.flags & KVMHOST_MACHINE_X86_NO_ACPI)) {
		struct kvmhost_x86_acpi_options acpi = {.size = sizeof(acpi),
							.ncpus = m->ncpus,
							.flags = irq0,
							.devices = dev,
							.device_count = n,
							.device_size = sizeof(dev[0]),
							.pci_host = kh_machine_virtio_pci_host(m) ? &pci : NULL,
							.power_button_gsi = KVMHOST_MACHINE_X86_POWER_BUTTON_GSI};

		if ((r = kvmhost_x86_acpi_write(mem, &acpi, &bo->acpi_rsdp_gpa, NULL)) < 0)
			return r;
	}
	if (!(a->o.flags & KVMHOST_MACHINE_X86_NO_MPTABLE)) {
		struct kvmhost_x86_mptable_options mpt = {
		    .size = sizeof(mpt), .ncpus = m->ncpus, .flags = irq0, .gpa = MPTABLE_GPA};

		if ((r = kvmhost_x86_mptable_write(mem, &mpt, NULL)) < 0)
			return r;
	}
	bo->e820 = e820;
	bo->e820_entry_size = sizeof(*e820);
	return kvmhost_x86_e820_from_memory(mem, &eo, e820, KVMHOST_X86_E820_MAX, &bo->e820_count);
}

int kh_x86_load(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	const struct kh_machine_config *c = &m->cfg;
	struct kvmhost_memory *mem = kvmhost_vm_memory(m->vm);
	struct kvmhost_x86_e820_entry *e820 = calloc(KVMHOST_X86_E820_MAX, sizeof(*e820));
	struct kvmhost_x86_boot_options bo = {.size = sizeof(bo)};
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	int r;

	if (!e820)
		return KH_FAIL(ENOMEM, "cannot allocate the e820 map");
	r = write_tables(m, &bo, e820);
	if (r == 0) {
		bo.cmdline = a->cmdline;
		bo.initrd = c->initrd;
		bo.initrd_size = c->initrd_size;
		bo.flags = a->o.flags & KVMHOST_MACHINE_X86_LINUX_ENTRY_32 ? KVMHOST_X86_BOOT_LINUX_ENTRY_32 : 0;
		switch (c->kernel_format) {
		case 0:
			r = kvmhost_x86_boot_load(mem, c->kernel, c->kernel_size, &bo, &info);
			break;
		case KVMHOST_X86_BOOT_BZIMAGE:
			r = kvmhost_x86_boot_load_bzimage(mem, c->kernel, c->kernel_size, &bo, &info);
			break;
		case KVMHOST_X86_BOOT_PVH_ELF:
			r = kvmhost_x86_boot_load_pvh(mem, c->kernel, c->kernel_size, &bo, &info);
			break;
		case KVMHOST_X86_BOOT_MULTIBOOT:
			r = kvmhost_x86_boot_load_multiboot(mem, c->kernel, c->kernel_size, &bo, &info);
			break;
		default:
			bo.acpi_rsdp_gpa = 0;
			r = kvmhost_x86_boot_load_raw(mem, c->kernel, c->kernel_size, a->o.raw_gpa, &bo, &info);
		}
		if (r < 0)
			r = KH_FAIL(-r, "kernel: %s", kvmhost_last_error());
	}
	free(e820);
	if (r == 0)
		a->info = info;
	return r;
}

/* @reboot: KVM refuses to change a vCPU's CPUID once it has run, and it stays as create set it. */
static int setup_vcpu(struct kvmhost_machine *m, uint32_t i, int reboot)
{
	const struct kvmhost_x86_cpuid *cpuid;
	struct kh_machine_arch *a = m->arch;
	struct kvmhost_x86_boot_vcpu_options vo = {.size = sizeof(vo), .raw_mode = a->o.raw_mode};
	struct kvm_vcpu_events ev;

	cpuid = reboot ? NULL : m->arch->cpuid;
	/* Nothing pending from before a reboot: no exception, interrupt or NMI on the way in. */
	memset(&ev, 0, sizeof(ev));
	if (kvmhost_x86_vcpu_set_events(m->cpu[i].vcpu, &ev) < 0)
		kh_log(KVMHOST_LOG_DEBUG, "machine %s: vCPU %u: cannot clear its events: %s", m->cfg.name, i,
		       kvmhost_last_error());
	if (i || (!reboot && (m->cfg.flags & KVMHOST_MACHINE_INCOMING))) /* incoming: restore sets the state */
		return kvmhost_x86_vcpu_prepare_ap(m->cpu[i].vcpu, cpuid);
	return kvmhost_x86_vcpu_setup_boot(m->cpu[i].vcpu, cpuid, &a->info, &vo);
}

/* The Hyper-V enlightenments asked for, after the caller's edits: they move KVM's leaves to 0x40000100. */
static int add_hyperv(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	struct kvm_cpuid_entry2 *hv = calloc(KVMHOST_X86_CPUID_MAX_ENTRIES, sizeof(*hv));
	uint32_t n = 0;
	int r;

	if (!hv)
		return KH_FAIL(ENOMEM, "cannot allocate the Hyper-V leaves");
	r = kvmhost_x86_system_get_supported_hv_cpuid(m->sys, hv, KVMHOST_X86_CPUID_MAX_ENTRIES, &n);
	if (r == 0)
		r = kvmhost_x86_cpuid_add_hyperv(a->cpuid, hv, n, a->o.hyperv);
	free(hv);
	return r < 0 ? KH_FAIL(-r, "hyperv: %s", kvmhost_last_error()) : 0;
}

static int make_cpuid(struct kvmhost_machine *m, struct kh_machine_arch *a)
{
	int r;

	if ((r = kvmhost_x86_cpuid_create_from_system(m->sys, &a->cpuid)) < 0 ||
	    (r = kvmhost_x86_cpuid_set_topology(a->cpuid, m->ncpus, 1)) < 0)
		return r;
	for (uint32_t i = 0; i < a->o.cpuid_edit_count; i++) {
		const struct kvmhost_machine_x86_cpuid_edit *e = &a->edits[i];

		if (e->clear && (r = kvmhost_x86_cpuid_clear_bits(a->cpuid, e->function, e->index,
								  (enum kvmhost_x86_cpuid_reg)e->reg, e->clear)) < 0)
			return r;
		if (e->set && (r = kvmhost_x86_cpuid_set_bits(a->cpuid, e->function, e->index,
							      (enum kvmhost_x86_cpuid_reg)e->reg, e->set)) < 0)
			return r;
	}
	return a->o.hyperv ? add_hyperv(m, a) : 0;
}

int kh_machine_arch_boot(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	int r;

	/* An incoming machine's memory comes from the snapshot: no tables, no kernel (a reboot loads them). */
	if ((!(m->cfg.flags & KVMHOST_MACHINE_INCOMING) && (r = kh_x86_load(m)) < 0) || (r = make_cpuid(m, a)) < 0)
		return r;
	for (uint32_t i = 0; i < m->ncpus; i++) {
		if ((r = kvmhost_vcpu_create(m->vm, i, &m->cpu[i].vcpu)) < 0)
			return r;
		if (a->o.hyperv && (r = kvmhost_x86_vcpu_setup_hyperv(m->cpu[i].vcpu, a->o.hyperv)) < 0)
			return KH_FAIL(-r, "vCPU %u: hyperv: %s", i, kvmhost_last_error());
		if ((r = setup_vcpu(m, i, 0)) < 0)
			return KH_FAIL(-r, "vCPU %u: %s", i, kvmhost_last_error());
	}
	return 0;
}

int kh_machine_arch_reboot(struct kvmhost_machine *m)
{
	int r = kh_x86_load(m);

	for (uint32_t i = 0; i < m->ncpus && r == 0; i++)
		if ((r = setup_vcpu(m, i, 1)) < 0)
			r = KH_FAIL(-r, "vCPU %u: %s", i, kvmhost_last_error());
	return r;
}

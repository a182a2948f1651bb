/*
 * kvm tier: VM-level calls on a real /dev/kvm — many VMs per process,
 * IRQ lines, GSI routing, MSIs, in-kernel devices, capabilities, and their
 * error paths. On arm64 all but the interrupts (x86's in-kernel irqchip and
 * MSIs to the LAPIC; arm64's vGIC, SPIs and routing: kvm/arm64_gic_test).
 */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "kvm/kvm_test_util.h"

#define MANY_VMS 16

static void test_many_vms(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vms[MANY_VMS];
	struct kvmhost_vm_options o = {.size = sizeof(o), .name = "named"};

	for (int i = 0; i < MANY_VMS; i++) {
		CHECK_OK(kvmhost_vm_create(sys, i == 0 ? &o : NULL, &vms[i]));
		CHECK(kvmhost_vm_fd(vms[i]) >= 0);
		CHECK(kvmhost_vm_system(vms[i]) == sys);
	}
	CHECK(strcmp(kvmhost_vm_name(vms[0]), "named") == 0);
	CHECK(strcmp(kvmhost_vm_name(vms[1]), kvmhost_vm_name(vms[2])) != 0);
	for (int i = 0; i < MANY_VMS; i++)
		kvmhost_vm_destroy(vms[i]);
}

#if TEST_X86
static void test_interrupts(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvm_irq_routing_entry routes[2];
	int max_routes;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	/* No irqchip yet: KVM refuses IRQ lines, and the library says so. */
	CHECK(kvmhost_vm_set_irq_line(vm, 4, 1) < 0);
	CHECK(strstr(kvmhost_last_error(), "KVM_IRQ_LINE") != NULL);
	CHECK(kvmhost_vm_set_irq_line(vm, 4, 2) == -EINVAL);

	CHECK_OK(kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0));
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK_OK(kvmhost_vm_set_irq_line(vm, 4, 1));
	CHECK_OK(kvmhost_vm_set_irq_line(vm, 4, 0));

	/* GSI routing: an IOAPIC pin and an MSI route. */
	memset(routes, 0, sizeof(routes));
	routes[0].gsi = 4;
	routes[0].type = KVM_IRQ_ROUTING_IRQCHIP;
	routes[0].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
	routes[0].u.irqchip.pin = 4;
	routes[1].gsi = 40;
	routes[1].type = KVM_IRQ_ROUTING_MSI;
	routes[1].u.msi.address_lo = 0xfee00000;
	routes[1].u.msi.data = 0x30;
	CHECK_OK(kvmhost_vm_set_gsi_routing(vm, routes, 2));
	CHECK(kvmhost_vm_set_gsi_routing(vm, NULL, 2) == -EINVAL);
	max_routes = kvmhost_vm_check_extension(vm, KVM_CAP_IRQ_ROUTING);
	CHECK(max_routes > 0);
	CHECK(kvmhost_vm_set_gsi_routing(vm, routes, (uint32_t)max_routes + 1) == -EINVAL);

	/* An MSI to APIC ID 0, vector 0x30, fixed delivery: vCPU 0 exists. */
	int r = kvmhost_vm_signal_msi(vm, 0xfee00000, 0x30, 0, 0);
	CHECK(r == 0 || r == -ECANCELED);
	CHECK(kvmhost_vm_signal_msi(vm, 0xfee00000, 0x30, 0, 0x80) == -EINVAL);
	kvmhost_vm_destroy(vm);
}
#endif

static void test_caps_and_devices(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	int fd = 123;
	int r;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	CHECK(kvmhost_vm_check_extension(vm, KVM_CAP_USER_MEMORY) == 1);
	CHECK(kvmhost_vm_check_extension(vm, -1) == -EINVAL);
	/* Capability 0xfffff does not exist: KVM refuses to enable it. */
	CHECK(kvmhost_vm_enable_cap(vm, 0xfffff, NULL) < 0);
	CHECK(strstr(kvmhost_last_error(), "KVM_ENABLE_CAP") != NULL);

	/* KVM_CREATE_DEVICE_TEST asks whether a device type exists, creating nothing. */
	r = kvmhost_vm_create_device(vm, KVM_DEV_TYPE_VFIO, KVM_CREATE_DEVICE_TEST, &fd);
	CHECK(r == 0 || r == -ENODEV);
	if (r == 0)
		CHECK(fd == -1);
	CHECK(kvmhost_vm_create_device(vm, 0xffff, 0, &fd) < 0);
	CHECK(kvmhost_vm_create_device(vm, KVM_DEV_TYPE_VFIO, 0x10, &fd) == -EINVAL);
	CHECK(kvmhost_vm_create_device(vm, KVM_DEV_TYPE_VFIO, 0, NULL) == -EINVAL);
	kvmhost_vm_destroy(vm);

	/* A machine type KVM does not know. */
	struct kvmhost_vm_options o = {.size = sizeof(o), .type = 0x7fff};
	CHECK(kvmhost_vm_create(sys, &o, &vm) < 0);
	CHECK(vm == NULL);
	CHECK(strstr(kvmhost_last_error(), "KVM_CREATE_VM") != NULL);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();

	CHECK(kvmhost_system_fd(sys) >= 0);
	test_many_vms(sys);
#if TEST_X86
	test_interrupts(sys);
#endif
	test_caps_and_devices(sys);
	kvmhost_system_close(sys);
	return TEST_PASS;
}

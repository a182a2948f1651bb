#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_test_util.h"

struct kvmhost_system *test_open_system(void)
{
	struct kvmhost_system_options o = {.size = sizeof(o)};
	struct kvmhost_system *sys;
	const char *dev = getenv("KVMHOST_TEST_KVM_DEVICE");
	int r;

	o.device_path = dev;
	r = kvmhost_system_open(&o, &sys);
	if (r < 0)
		SKIP("KVM unusable here: %s", kvmhost_last_error());
	return sys;
}

static void test_vm_create_common(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	int r;

	memset(t, 0, sizeof(*t));
	t->sys = sys;
	r = kvmhost_vm_create(sys, NULL, &t->vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);
	t->ram_size = 2u << 20;
	mo.guest_phys_addr = 0;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "test-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	t->ram_host = kvmhost_memory_region_host_addr(t->ram);
	CHECK(t->ram_host != NULL);
	CHECK(image_size <= t->ram_size - KVMHOST_GUEST_LOAD_ADDR);
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), KVMHOST_GUEST_LOAD_ADDR, image, image_size));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
}

void test_vm_create_real(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_common(t, sys, image, image_size);
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t->vcpu, 0, KVMHOST_GUEST_LOAD_ADDR));
}

void test_vm_create_long(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};

	test_vm_create_common(t, sys, image, image_size);
	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = t->ram_size;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t->vcpu, &lo));
}

void test_vm_destroy(struct test_vm *t)
{
	kvmhost_vm_destroy(t->vm);
	memset(t, 0, sizeof(*t));
}

const struct kvmhost_exit *test_run(struct test_vm *t)
{
	const struct kvmhost_exit *e; /* not "exit": CHECK calls exit() */

	CHECK_OK(kvmhost_vcpu_run(t->vcpu, &e));
	return e;
}

int test_kvm_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_test_util.h"
#if !TEST_X86
#include <kvmhost/arm64.h>
#include <kvmhost/machine.h>
#endif

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

void test_vm_create_at(struct test_vm *t, struct kvmhost_system *sys, uint64_t ram_gpa, uint64_t ram_size,
		       uint64_t load_gpa, const void *image, size_t image_size)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	int r;

	memset(t, 0, sizeof(*t));
	t->sys = sys;
	r = kvmhost_vm_create(sys, NULL, &t->vm);
	if (r == -EACCES || r == -EPERM)
		SKIP("cannot create a VM: %s", kvmhost_last_error());
	CHECK(r == 0);
	t->ram_size = ram_size;
	mo.guest_phys_addr = ram_gpa;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "test-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	t->ram_host = kvmhost_memory_region_host_addr(t->ram);
	CHECK(t->ram_host != NULL);
	CHECK(load_gpa >= ram_gpa && load_gpa - ram_gpa <= t->ram_size);
	CHECK(image_size <= t->ram_size - (load_gpa - ram_gpa));
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), load_gpa, image, image_size));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
}

static void test_vm_create_common(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_at(t, sys, 0, 2u << 20, KVMHOST_GUEST_LOAD_ADDR, image, image_size);
}

#if TEST_X86
void test_vm_create_real(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_common(t, sys, image, image_size);
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t->vcpu, 0, KVMHOST_GUEST_LOAD_ADDR));
}

void test_vm_create_long(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_common(t, sys, image, image_size);
	test_vcpu_enter_long(t->vcpu, t->ram_size);
}

void test_vcpu_enter_long(struct kvmhost_vcpu *vcpu, uint64_t map_size)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};

	lo.entry = KVMHOST_GUEST_LOAD_ADDR;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = map_size;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(vcpu, &lo));
}

uint64_t test_vcpu_pc(struct kvmhost_vcpu *vcpu)
{
	struct kvm_regs regs;

	CHECK_OK(kvmhost_x86_vcpu_get_regs(vcpu, &regs));
	return regs.rip;
}

void test_vcpu_restart(struct kvmhost_vcpu *vcpu, const uint64_t args[7])
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = KVMHOST_GUEST_LOAD_ADDR;
	regs.rsp = 0x80000;
	regs.rflags = 2;
	regs.rsi = args[0];
	regs.rdx = args[1];
	regs.r8 = args[2];
	regs.rcx = args[3];
	regs.rax = args[4];
	regs.r10 = args[5];
	regs.r11 = args[6];
	CHECK_OK(kvmhost_x86_vcpu_set_regs(vcpu, &regs));
}

uint64_t test_port_addr(uint16_t port)
{
	return port;
}

enum kvmhost_io_space test_port_space(void)
{
	return KVMHOST_IO_SPACE_PIO;
}

int test_exit_port_write(const struct kvmhost_exit *e, uint16_t *port, uint32_t *size, uint64_t *value)
{
	if (e->reason != KVMHOST_EXIT_IO || !e->io.is_write || e->io.count != 1)
		return 0;
	*port = e->io.port;
	*size = e->io.size;
	*value = 0;
	memcpy(value, e->io.data, e->io.size);
	return 1;
}

int test_exit_is_halt(const struct kvmhost_exit *e)
{
	return e->reason == KVMHOST_EXIT_HLT;
}
#else
/* arm64: the twins run at EL1h with the MMU off (tests/guests-arm64/ports.h); there is only one mode. */
void test_vcpu_enter_long(struct kvmhost_vcpu *vcpu, uint64_t map_size)
{
	uint32_t got;

	(void)map_size;
	CHECK_OK(kvmhost_arm64_vcpu_init(vcpu, 0, &got));
	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_PC, KVMHOST_GUEST_LOAD_ADDR));
}

void test_vm_create_real(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_common(t, sys, image, image_size);
	test_vcpu_enter_long(t->vcpu, t->ram_size);
}

void test_vm_create_long(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	test_vm_create_common(t, sys, image, image_size);
	test_vcpu_enter_long(t->vcpu, t->ram_size);
}

uint64_t test_vcpu_pc(struct kvmhost_vcpu *vcpu)
{
	uint64_t pc;

	CHECK_OK(kvmhost_arm64_vcpu_get_core_reg(vcpu, KVMHOST_ARM64_PC, &pc));
	return pc;
}

void test_vcpu_restart(struct kvmhost_vcpu *vcpu, const uint64_t args[7])
{
	for (int i = 0; i < 7; i++)
		CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, (enum kvmhost_arm64_core_reg)(KVMHOST_ARM64_X0 + i),
							 args[i]));
	CHECK_OK(kvmhost_arm64_vcpu_set_core_reg(vcpu, KVMHOST_ARM64_PC, KVMHOST_GUEST_LOAD_ADDR));
}

uint64_t test_port_addr(uint16_t port)
{
	return KVMHOST_GUEST_ARM64_PORT((uint64_t)port);
}

enum kvmhost_io_space test_port_space(void)
{
	return KVMHOST_IO_SPACE_MMIO;
}

int test_exit_port_write(const struct kvmhost_exit *e, uint16_t *port, uint32_t *size, uint64_t *value)
{
	uint64_t off;

	if (e->reason != KVMHOST_EXIT_MMIO || !e->mmio.is_write || e->mmio.addr < KVMHOST_GUEST_ARM64_PORT_BASE)
		return 0;
	off = e->mmio.addr - KVMHOST_GUEST_ARM64_PORT_BASE;
	if (off % 8 || off / 8 > 0xffff || e->mmio.len > 8)
		return 0;
	*port = (uint16_t)(off / 8);
	*size = e->mmio.len;
	*value = 0;
	memcpy(value, e->mmio.data, e->mmio.len);
	return 1;
}

int test_exit_is_halt(const struct kvmhost_exit *e)
{
	return e->reason == KVMHOST_EXIT_MMIO && e->mmio.is_write && e->mmio.addr == KVMHOST_GUEST_ARM64_HALT;
}
#endif

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

#if defined(__aarch64__)
void test_vm_create_arm64(struct test_vm *t, struct kvmhost_system *sys, const void *image, size_t image_size)
{
	CHECK(image_size > 0);
	test_vm_create_at(t, sys, TEST_ARM64_RAM_BASE, TEST_ARM64_RAM_SIZE, TEST_ARM64_RAM_BASE, image, image_size);
}

void test_machine_options_arm64(struct kvmhost_machine_options *o, struct kvmhost_machine_serial *s, const char *name,
				const void *image, size_t image_size, int out_fd)
{
	memset(o, 0, sizeof(*o));
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	s->in_fd = -1;
	s->out_fd = out_fd;
	o->size = sizeof(*o);
	o->name = name;
	o->kernel = image;
	o->kernel_size = image_size;
	o->cmdline = "console=ttyS0";
	o->ram_size = 64u << 20;
	o->vcpu_count = 1;
	o->serial = s;
	o->device_size = sizeof(struct kvmhost_machine_device);
}

struct kvmhost_machine *test_machine_create(const struct kvmhost_machine_options *o)
{
	struct kvmhost_machine *m;
	int r = kvmhost_machine_create(o, &m);

	if (r < 0 && strstr(kvmhost_last_error(), "/dev/kvm"))
		SKIP("KVM unusable here: %s", kvmhost_last_error());
	CHECK(r == 0);
	return m;
}

void test_read_fd(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = 0;
}
#endif

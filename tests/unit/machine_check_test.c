/*
 * Unit tests of kvmhost_machine_check() (machine.h): what kvmhost_machine_create() checks before it opens
 * /dev/kvm, and nothing more, so no test here needs KVM. A good Multiboot kernel (an a.out-kludge image built
 * here) passes in a file and in a buffer; bad kernels (text, empty, missing, a directory, a header the loader
 * refuses, an initrd that does not fit the RAM) and bad device files (a missing or too small image, a read-only
 * image for a writable disk, a console file or socket where none can be made, a socket path naming a file)
 * fail with the loader's or the file's error and a message naming the file; the mmio-cmdline words count in
 * the command line's length. Nothing is left behind (no file, socket or mapping: run under ASan for leaks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/x86_boot.h>

#include "core/internal.h"
#include "unit_assert.h"

#define MB_LOAD 0x100000u

static char dir[64];
static uint8_t mb[0x1000];

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A Multiboot a.out-kludge kernel of one page loaded at 1 MiB, its header at 0. */
static void make_mb(void)
{
	uint32_t flags = 1u << 16;

	memset(mb, 0x90, sizeof(mb));
	put32(mb, 0x1BADB002);
	put32(mb + 4, flags);
	put32(mb + 8, (uint32_t) - (0x1BADB002u + flags));
	put32(mb + 12, MB_LOAD);	      /* header_addr */
	put32(mb + 16, MB_LOAD);	      /* load_addr */
	put32(mb + 20, MB_LOAD + sizeof(mb)); /* load_end_addr */
	put32(mb + 24, MB_LOAD + sizeof(mb)); /* bss_end_addr */
	put32(mb + 28, MB_LOAD + 32);	      /* entry_addr */
}

static char *path(const char *name)
{
	static char p[64][128]; /* a ring: options keep the pointers for a while */
	static int n;
	char *s = p[n++ % 64];

	snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
	return s;
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(path(name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static int setup(void **state)
{
	static const char text[] = "plain text, no kernel\n";
	char *big = calloc(1, 4u << 20);

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kh-machine-check.XXXXXX");
	if (!mkdtemp(dir) || !big)
		return -1;
	make_mb();
	write_file("mb.bin", mb, sizeof(mb));
	write_file("text", text, sizeof(text) - 1);
	write_file("empty", "", 0);
	write_file("small.img", "x", 1);
	write_file("disk.img", big, 1u << 20);
	write_file("big.initrd", big, 4u << 20);
	free(big);
	return mkdir(path("sub"), 0700);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct kvmhost_machine_options base(void)
{
	return (struct kvmhost_machine_options){.size = sizeof(struct kvmhost_machine_options),
						.kernel_path = path("mb.bin"),
						.ram_size = 16u << 20,
						.vcpu_count = 1};
}

static void test_kernels(void **state)
{
	struct kvmhost_machine_options o = base();

	(void)state;
	ASSERT_OK(kvmhost_machine_check(&o));
	o.kernel_format = KVMHOST_X86_BOOT_MULTIBOOT;
	ASSERT_OK(kvmhost_machine_check(&o));
	o = base(), o.kernel_path = NULL, o.kernel = mb, o.kernel_size = sizeof(mb);
	ASSERT_OK(kvmhost_machine_check(&o));
	o = base(), o.kernel_path = path("text");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOEXEC, "text");
	o.kernel_format = KVMHOST_X86_BOOT_MULTIBOOT;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOEXEC, "Multiboot header");
	o.kernel_format = KVMHOST_X86_BOOT_BZIMAGE;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOEXEC, "text");
	o = base(), o.kernel_path = path("empty");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "not a regular file");
	o = base(), o.kernel_path = dir;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "not a regular file");
	o = base(), o.kernel_path = path("missing");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "missing");
	o = base(), o.initrd_path = path("missing.initrd");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "missing.initrd");
	/* The loader's own refusal, in the RAM the machine will have: a 4 MiB initrd fits 16 MiB, not 4 MiB. */
	o = base(), o.initrd_path = path("big.initrd");
	ASSERT_OK(kvmhost_machine_check(&o));
	o.ram_size = 4u << 20;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOSPC, "initrd");
	/* A header the loader refuses: the checksum broken. */
	{
		uint8_t bad[sizeof(mb)];

		memcpy(bad, mb, sizeof(mb));
		bad[8] ^= 1;
		o = base(), o.kernel_path = NULL, o.kernel = bad, o.kernel_size = sizeof(bad);
		o.kernel_format = KVMHOST_X86_BOOT_MULTIBOOT;
		ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOEXEC, "Multiboot");
	}
	/* Options are checked as create checks them. */
	o = base(), o.vcpu_count = 0;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "vcpu_count");
	ASSERT_FAILS(kvmhost_machine_check(NULL), EINVAL);
}

static void test_files(void **state)
{
	struct kvmhost_machine_device d = {.in_fd = -1, .out_fd = -1};
	struct kvmhost_machine_options o = base();

	(void)state;
	o.devices = &d;
	o.device_count = 1;
	o.device_size = sizeof(d);
	d.type = KVMHOST_MACHINE_DEVICE_BLK;
	d.path = path("disk.img");
	ASSERT_OK(kvmhost_machine_check(&o));
	d.path = path("missing.img");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "missing.img");
	d.path = path("small.img");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "smaller than one 512-byte sector");
	d.path = dir;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "not a regular file or a block device");
	if (geteuid() != 0) { /* root writes read-only files */
		assert_int_equal(chmod(path("disk.img"), 0400), 0);
		d.path = path("disk.img");
		ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EACCES, "disk.img");
		d.flags = KVMHOST_MACHINE_DEVICE_READONLY;
		ASSERT_OK(kvmhost_machine_check(&o));
		assert_int_equal(chmod(path("disk.img"), 0600), 0);
	}
	d = (struct kvmhost_machine_device){.type = KVMHOST_MACHINE_DEVICE_CONSOLE, .in_fd = -1, .out_fd = -1};
	d.path = path("hvc.out");
	ASSERT_OK(kvmhost_machine_check(&o));
	d.path = "/nonexistent/dir/hvc.out";
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "/nonexistent/dir/");
	d.path = path("sub");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EISDIR, "sub");
	d.flags = KVMHOST_MACHINE_DEVICE_SOCKET;
	d.path = path("hvc.sock");
	ASSERT_OK(kvmhost_machine_check(&o));
	d.path = path("text");
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EEXIST, "not a socket");
	d.path = "/nonexistent/dir/hvc.sock";
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "/nonexistent/dir/");
	{
		char longer[200];

		memset(longer, 'a', sizeof(longer) - 1);
		longer[0] = '/';
		longer[sizeof(longer) - 1] = '\0';
		d.path = longer;
		ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENAMETOOLONG, "socket path");
	}
	/* Nothing was made. */
	assert_int_equal(access(path("hvc.out"), F_OK), -1);
	assert_int_equal(access(path("hvc.sock"), F_OK), -1);
	/* A RAM file: its directory must take it. */
	o = base();
	o.ram_backing = KVMHOST_MACHINE_RAM_FILE;
	o.ram_flags = KVMHOST_MACHINE_RAM_SHARED;
	o.ram_path = path("ram");
	ASSERT_OK(kvmhost_machine_check(&o));
	assert_int_equal(access(path("ram"), F_OK), -1);
	o.ram_path = "/nonexistent/dir/ram";
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), ENOENT, "ram_path");
	o.ram_path = dir;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "not a regular file");
}

/* mmio-cmdline: a virtio_mmio.device= word per device joins the command line, and its length counts. */
static void test_mmio_cmdline(void **state)
{
	struct kvmhost_machine_device d[2] = {{.type = KVMHOST_MACHINE_DEVICE_RNG, .in_fd = -1, .out_fd = -1},
					      {.type = KVMHOST_MACHINE_DEVICE_RNG, .in_fd = -1, .out_fd = -1}};
	struct kvmhost_machine_options o = base();
	size_t max = KVMHOST_X86_BOOT_CMDLINE_MAX;
	char *cmdline = malloc(max + 1);

	(void)state;
	assert_non_null(cmdline);
	memset(cmdline, 'x', max);
	cmdline[max] = '\0';
	d[1].id = "rng1";
	o.devices = d;
	o.device_count = 2;
	o.device_size = sizeof(d[0]);
	o.cmdline = cmdline;
	o.transport = KVMHOST_MACHINE_TRANSPORT_MMIO;
	ASSERT_OK(kvmhost_machine_check(&o));
	o.transport = KVMHOST_MACHINE_TRANSPORT_MMIO_CMDLINE;
	ASSERT_FAILS_MENTIONING(kvmhost_machine_check(&o), EINVAL, "virtio_mmio.device=");
	o.cmdline = "console=ttyS0";
	ASSERT_OK(kvmhost_machine_check(&o));
	free(cmdline);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kernels),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_mmio_cmdline),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

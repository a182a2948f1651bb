/*
 * Unit tests of the arm64 device tree builder (include/kvmhost/arm64_fdt.h), on every architecture: a full
 * description built, then parsed back with libfdt and every node and property checked, the node list
 * included; the PL011 and no-UART variants; the embedder's callback; every bad description (each naming its
 * field), every buffer size too small, the options and element size rules; kvmhost_arm64_fdt_check() on
 * truncated, corrupted and oversized blobs; and dtc accepting the tree without a warning, when dtc is
 * installed (KVMHOST_TEST_DTC names another one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libfdt.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/arm64_fdt.h>
#include "core/internal.h"

#define UNIT_ERROR_PREFIX "kvmhost_arm64_fdt_"
#include "unit_assert.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

static uint8_t buf[64 * 1024];

/* The QEMU virt-like layout the tests describe. */
static const struct kvmhost_arm64_fdt_memory test_mem[2] = {{0x40000000ull, 1 * GIB}, {0x100000000ull, 2 * GIB}};
static const uint64_t test_mpidrs[4] = {0x80000000ull, 0x80000001ull, 0x80000100ull, 0x100000000ull};
static const struct kvmhost_arm64_fdt_virtio test_virtio[3] = {
    {0xa000000, 0, 16, 0}, {0xa000200, 0x200, 17, KVMHOST_ARM64_IRQ_LEVEL_HIGH}, {0xa000400, 0x200, 18, 0}};

static void base_options(struct kvmhost_arm64_fdt_options *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->memory = test_mem;
	o->memory_count = 2;
	o->memory_size = sizeof(test_mem[0]);
	o->mpidrs = test_mpidrs;
	o->cpu_count = 4;
	o->gicd_base = 0x8000000;
	o->gicr_base = 0x80a0000;
	o->its_base = 0x8080000;
	o->uart_type = KVMHOST_ARM64_UART_NS16550A;
	o->uart_base = 0x9000000;
	o->uart_spi = 1;
	o->virtio = test_virtio;
	o->virtio_count = 3;
	o->virtio_size = sizeof(test_virtio[0]);
	o->bootargs = "console=ttyS0 earlycon panic=-1";
	o->initrd_start = 0x48000000;
	o->initrd_end = 0x48100000;
}

/* ---------- reading the tree back ---------- */

static int node(const void *fdt, const char *path)
{
	int n = fdt_path_offset(fdt, path);

	if (n < 0) {
		print_error("no node %s (%s)\n", path, fdt_strerror(n));
		fail();
	}
	return n;
}

static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
	const void *p = fdt_getprop(fdt, node(fdt, path), name, len);

	if (!p) {
		print_error("%s has no property %s\n", path, name);
		fail();
	}
	return p;
}

static void assert_str(const void *fdt, const char *path, const char *name, const char *want)
{
	int len;
	const char *p = prop(fdt, path, name, &len);

	assert_int_equal(len, (int)strlen(want) + 1);
	assert_string_equal(p, want);
}

/* A string list property equal to @want (NULs between the strings) of @wlen bytes. */
static void assert_strlist(const void *fdt, const char *path, const char *name, const char *want, int wlen)
{
	int len;
	const char *p = prop(fdt, path, name, &len);

	assert_int_equal(len, wlen);
	assert_memory_equal(p, want, (size_t)wlen);
}

static void assert_u32(const void *fdt, const char *path, const char *name, uint32_t want)
{
	int len;
	const fdt32_t *p = prop(fdt, path, name, &len);

	assert_int_equal(len, 4);
	assert_int_equal(fdt32_ld(p), want);
}

static void assert_cells(const void *fdt, const char *path, const char *name, const uint32_t *want, int n)
{
	int len;
	const fdt32_t *p = prop(fdt, path, name, &len);

	assert_int_equal(len, 4 * n);
	for (int i = 0; i < n; i++)
		assert_int_equal(fdt32_ld(&p[i]), want[i]);
}

static void assert_reg64(const void *fdt, const char *path, const uint64_t *want, int n)
{
	int len;
	const fdt64_t *p = prop(fdt, path, "reg", &len);

	assert_int_equal(len, 8 * n);
	for (int i = 0; i < n; i++)
		assert_int_equal(fdt64_ld(&p[i]), want[i]);
}

static void assert_u64(const void *fdt, const char *path, const char *name, uint64_t want)
{
	int len;
	const fdt64_t *p = prop(fdt, path, name, &len);

	assert_int_equal(len, 8);
	assert_int_equal(fdt64_ld(p), want);
}

static void assert_empty(const void *fdt, const char *path, const char *name)
{
	int len;

	prop(fdt, path, name, &len);
	assert_int_equal(len, 0);
}

static void assert_no_prop(const void *fdt, const char *path, const char *name)
{
	assert_null(fdt_getprop(fdt, node(fdt, path), name, NULL));
}

/* Every node of the tree, in order, as full paths joined with spaces. */
static void node_list(const void *fdt, char *out, size_t size)
{
	char path[256];
	size_t used = 0;

	out[0] = '\0';
	for (int n = 0, depth = 0; n >= 0 && depth >= 0; n = fdt_next_node(fdt, n, &depth)) {
		assert_int_equal(fdt_get_path(fdt, n, path, sizeof(path)), 0);
		used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", path);
		assert_true(used < size);
	}
}

/* The number of properties of a node: each test below checks them all, so an extra one is a failure. */
static int prop_count(const void *fdt, const char *path)
{
	int n = 0, off;

	fdt_for_each_property_offset(off, fdt, node(fdt, path)) n++;
	return n;
}

static size_t build_ok(const struct kvmhost_arm64_fdt_options *o)
{
	size_t size = 0;

	memset(buf, 0xa5, sizeof(buf));
	ASSERT_OK(kvmhost_arm64_fdt_build(o, buf, sizeof(buf), &size));
	assert_int_equal(size, fdt_totalsize(buf));
	assert_int_equal(fdt_check_full(buf, size), 0);
	assert_int_equal(kvmhost_arm64_fdt_check(buf, size), 0);
	return size;
}

static void test_full_tree(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	char list[2048];
	(void)state;

	base_options(&o);
	build_ok(&o);
	node_list(buf, list, sizeof(list));
	assert_string_equal(list, "/ /memory@40000000 /memory@100000000 /cpus /cpus/cpu@0 /cpus/cpu@1 /cpus/cpu@100 "
				  "/cpus/cpu@100000000 /psci /intc@8000000 /intc@8000000/its@8080000 /timer "
				  "/uart@9000000 /virtio_mmio@a000000 /virtio_mmio@a000200 /virtio_mmio@a000400 "
				  "/chosen");

	/* root */
	assert_str(buf, "/", "compatible", "linux,dummy-virt");
	assert_str(buf, "/", "model", "libkvmhost arm64");
	assert_u32(buf, "/", "#address-cells", 2);
	assert_u32(buf, "/", "#size-cells", 2);
	assert_u32(buf, "/", "interrupt-parent", KVMHOST_ARM64_FDT_PHANDLE_GIC);
	assert_int_equal(prop_count(buf, "/"), 5);

	/* memory */
	const uint64_t m0[2] = {0x40000000ull, GIB}, m1[2] = {0x100000000ull, 2 * GIB};
	assert_str(buf, "/memory@40000000", "device_type", "memory");
	assert_reg64(buf, "/memory@40000000", m0, 2);
	assert_str(buf, "/memory@100000000", "device_type", "memory");
	assert_reg64(buf, "/memory@100000000", m1, 2);
	assert_int_equal(prop_count(buf, "/memory@40000000"), 2);

	/* cpus: reg is the affinity (bit 31 dropped), two cells */
	assert_u32(buf, "/cpus", "#address-cells", 2);
	assert_u32(buf, "/cpus", "#size-cells", 0);
	assert_int_equal(prop_count(buf, "/cpus"), 2);
	const char *cpus[4] = {"/cpus/cpu@0", "/cpus/cpu@1", "/cpus/cpu@100", "/cpus/cpu@100000000"};
	const uint64_t aff[4] = {0, 1, 0x100, 0x100000000ull};
	for (int i = 0; i < 4; i++) {
		assert_str(buf, cpus[i], "device_type", "cpu");
		assert_str(buf, cpus[i], "compatible", "arm,arm-v8");
		assert_str(buf, cpus[i], "enable-method", "psci");
		assert_reg64(buf, cpus[i], &aff[i], 1);
		assert_int_equal(prop_count(buf, cpus[i]), 4);
	}
	assert_str(buf, "/psci", "compatible", "arm,psci-0.2");
	assert_str(buf, "/psci", "method", "hvc");
	assert_int_equal(prop_count(buf, "/psci"), 2);

	/* GIC: distributor + 4 redistributors, the ITS as a child */
	const uint64_t gic[4] = {0x8000000, 0x10000, 0x80a0000, 4 * 0x20000};
	assert_str(buf, "/intc@8000000", "compatible", "arm,gic-v3");
	assert_u32(buf, "/intc@8000000", "#interrupt-cells", 3);
	assert_empty(buf, "/intc@8000000", "interrupt-controller");
	assert_reg64(buf, "/intc@8000000", gic, 4);
	assert_u32(buf, "/intc@8000000", "#redistributor-regions", 1);
	assert_u32(buf, "/intc@8000000", "phandle", KVMHOST_ARM64_FDT_PHANDLE_GIC);
	assert_u32(buf, "/intc@8000000", "#address-cells", 2);
	assert_u32(buf, "/intc@8000000", "#size-cells", 2);
	assert_empty(buf, "/intc@8000000", "ranges");
	assert_int_equal(prop_count(buf, "/intc@8000000"), 9);
	const uint64_t its[2] = {0x8080000, 0x20000};
	assert_str(buf, "/intc@8000000/its@8080000", "compatible", "arm,gic-v3-its");
	assert_empty(buf, "/intc@8000000/its@8080000", "msi-controller");
	assert_u32(buf, "/intc@8000000/its@8080000", "#msi-cells", 1);
	assert_reg64(buf, "/intc@8000000/its@8080000", its, 2);
	assert_u32(buf, "/intc@8000000/its@8080000", "phandle", KVMHOST_ARM64_FDT_PHANDLE_ITS);
	assert_int_equal(prop_count(buf, "/intc@8000000/its@8080000"), 5);
	assert_int_equal(fdt_node_offset_by_phandle(buf, KVMHOST_ARM64_FDT_PHANDLE_GIC), node(buf, "/intc@8000000"));

	/* timer: default PPIs 13, 14, 11, 10, level high */
	const uint32_t timer[12] = {1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4};
	assert_str(buf, "/timer", "compatible", "arm,armv8-timer");
	assert_cells(buf, "/timer", "interrupts", timer, 12);
	assert_empty(buf, "/timer", "always-on");
	assert_int_equal(prop_count(buf, "/timer"), 3);

	/* the 16550 */
	const uint64_t uart[2] = {0x9000000, 0x1000};
	const uint32_t uirq[3] = {0, 1, 4};
	assert_str(buf, "/uart@9000000", "compatible", "ns16550a");
	assert_reg64(buf, "/uart@9000000", uart, 2);
	assert_cells(buf, "/uart@9000000", "interrupts", uirq, 3);
	assert_u32(buf, "/uart@9000000", "clock-frequency", 1843200);
	assert_u32(buf, "/uart@9000000", "reg-shift", 0);
	assert_u32(buf, "/uart@9000000", "reg-io-width", 1);
	assert_int_equal(prop_count(buf, "/uart@9000000"), 6);

	/* virtio-mmio, in the caller's order; size 0 means 0x200, irq_type 0 edge rising */
	const char *vpath[3] = {"/virtio_mmio@a000000", "/virtio_mmio@a000200", "/virtio_mmio@a000400"};
	for (int i = 0; i < 3; i++) {
		const uint64_t reg[2] = {test_virtio[i].base, 0x200};
		const uint32_t irq[3] = {0, test_virtio[i].spi, i == 1 ? 4u : 1u};

		assert_str(buf, vpath[i], "compatible", "virtio,mmio");
		assert_reg64(buf, vpath[i], reg, 2);
		assert_cells(buf, vpath[i], "interrupts", irq, 3);
		assert_empty(buf, vpath[i], "dma-coherent");
		assert_int_equal(prop_count(buf, vpath[i]), 4);
	}

	/* chosen */
	assert_str(buf, "/chosen", "bootargs", "console=ttyS0 earlycon panic=-1");
	assert_u64(buf, "/chosen", "linux,initrd-start", 0x48000000);
	assert_u64(buf, "/chosen", "linux,initrd-end", 0x48100000);
	assert_str(buf, "/chosen", "stdout-path", "/uart@9000000");
	assert_int_equal(prop_count(buf, "/chosen"), 4);
	/* nothing reserved */
	assert_int_equal(fdt_num_mem_rsv(buf), 0);
}

static void test_pl011_and_variants(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	char list[2048];
	(void)state;

	base_options(&o);
	o.uart_type = KVMHOST_ARM64_UART_PL011;
	o.uart_clock_hz = 0;
	o.its_base = 0;
	o.virtio_count = 0;
	o.virtio = NULL;
	o.bootargs = NULL;
	o.initrd_start = o.initrd_end = 0;
	o.gicr_size = 8 * 0x20000; /* more frames than vCPUs is fine */
	o.timer_ppis[0] = 13;
	o.timer_ppis[1] = 14;
	o.timer_ppis[2] = 11;
	o.timer_ppis[3] = 0; /* explicitly 0: no default once any is set */
	build_ok(&o);
	node_list(buf, list, sizeof(list));
	assert_string_equal(list, "/ /memory@40000000 /memory@100000000 /cpus /cpus/cpu@0 /cpus/cpu@1 /cpus/cpu@100 "
				  "/cpus/cpu@100000000 /psci /intc@8000000 /timer /apb-pclk /pl011@9000000 /chosen");
	const uint64_t gic[4] = {0x8000000, 0x10000, 0x80a0000, 8 * 0x20000};
	assert_reg64(buf, "/intc@8000000", gic, 4);
	assert_no_prop(buf, "/intc@8000000", "ranges");
	assert_int_equal(prop_count(buf, "/intc@8000000"), 6);
	const uint32_t timer[12] = {1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 0, 4};
	assert_cells(buf, "/timer", "interrupts", timer, 12);

	assert_str(buf, "/apb-pclk", "compatible", "fixed-clock");
	assert_u32(buf, "/apb-pclk", "#clock-cells", 0);
	assert_u32(buf, "/apb-pclk", "clock-frequency", 24000000);
	assert_str(buf, "/apb-pclk", "clock-output-names", "clk24mhz");
	assert_u32(buf, "/apb-pclk", "phandle", KVMHOST_ARM64_FDT_PHANDLE_CLOCK);
	assert_int_equal(prop_count(buf, "/apb-pclk"), 5);
	assert_strlist(buf, "/pl011@9000000", "compatible", "arm,pl011\0arm,primecell", 24);
	assert_strlist(buf, "/pl011@9000000", "clock-names", "uartclk\0apb_pclk", 17);
	const uint32_t clocks[2] = {KVMHOST_ARM64_FDT_PHANDLE_CLOCK, KVMHOST_ARM64_FDT_PHANDLE_CLOCK};
	assert_cells(buf, "/pl011@9000000", "clocks", clocks, 2);
	const uint32_t uirq[3] = {0, 1, 4};
	assert_cells(buf, "/pl011@9000000", "interrupts", uirq, 3);
	assert_int_equal(prop_count(buf, "/pl011@9000000"), 5);
	assert_str(buf, "/chosen", "stdout-path", "/pl011@9000000");
	assert_int_equal(prop_count(buf, "/chosen"), 1);

	/* No UART: no node, no stdout-path; an empty /chosen stays (the loader adds the initrd there). */
	o.uart_type = KVMHOST_ARM64_UART_NONE;
	o.cpu_count = 1;
	o.memory_count = 1;
	build_ok(&o);
	node_list(buf, list, sizeof(list));
	assert_string_equal(list, "/ /memory@40000000 /cpus /cpus/cpu@0 /psci /intc@8000000 /timer /chosen");
	assert_int_equal(prop_count(buf, "/chosen"), 0);

	/* A custom 16550 clock. */
	o.uart_type = KVMHOST_ARM64_UART_NS16550A;
	o.uart_clock_hz = 3686400;
	o.uart_size = 8;
	build_ok(&o);
	assert_u32(buf, "/uart@9000000", "clock-frequency", 3686400);
	const uint64_t ureg[2] = {0x9000000, 8};
	assert_reg64(buf, "/uart@9000000", ureg, 2);
}

/* The embedder's nodes: a fw_cfg device pointing at the GIC by phandle, and a changed root model. */
static int add_fw_cfg(void *fdt, void *opaque)
{
	int *calls = opaque, n;
	fdt64_t reg[2] = {cpu_to_fdt64(0x9020000), cpu_to_fdt64(0x18)};

	(*calls)++;
	n = fdt_add_subnode(fdt, 0, "fw-cfg@9020000");
	if (n < 0)
		return n;
	if ((n = fdt_setprop_string(fdt, fdt_path_offset(fdt, "/fw-cfg@9020000"), "compatible", "qemu,fw-cfg-mmio")))
		return n;
	if ((n = fdt_setprop(fdt, fdt_path_offset(fdt, "/fw-cfg@9020000"), "reg", reg, sizeof(reg))))
		return n;
	return fdt_setprop_string(fdt, 0, "model", "my vmm");
}

static int fail_with(void *fdt, void *opaque)
{
	(void)fdt;
	return *(int *)opaque;
}

/* Fills the buffer until libfdt runs out of room. */
static int fill_up(void *fdt, void *opaque)
{
	static char big[8192];
	char name[32];
	int r = 0;

	(void)opaque;
	for (int i = 0; r >= 0; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		r = fdt_setprop(fdt, 0, name, big, sizeof(big));
	}
	return r;
}

static void test_callback(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	int calls = 0, err;
	(void)state;

	base_options(&o);
	o.add_nodes = add_fw_cfg;
	o.opaque = &calls;
	build_ok(&o);
	assert_int_equal(calls, 1);
	assert_str(buf, "/fw-cfg@9020000", "compatible", "qemu,fw-cfg-mmio");
	assert_str(buf, "/", "model", "my vmm");

	o.add_nodes = fail_with;
	o.opaque = &err;
	err = -FDT_ERR_BADPATH;
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_build(&o, buf, sizeof(buf), &(size_t){0}), EINVAL, "add_nodes");
	err = -FDT_ERR_NOSPACE;
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_build(&o, buf, sizeof(buf), &(size_t){0}), ENOSPC, "too small");
	o.add_nodes = fill_up;
	ASSERT_FAILS(kvmhost_arm64_fdt_build(&o, buf, sizeof(buf), &(size_t){0}), ENOSPC);
}

static void test_buffer_sizes(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	size_t size, got = 0;
	uint8_t *exact;
	(void)state;

	base_options(&o);
	size = build_ok(&o);
	exact = malloc(size);
	assert_non_null(exact);
	memcpy(exact, buf, size);
	/* Building needs some working room above the packed size; every size below the packed one fails. */
	for (size_t n = 0; n < size; n++) {
		reset_error();
		assert_int_equal(kvmhost_arm64_fdt_build(&o, buf, n, &got), -ENOSPC);
		assert_error_mentions(NULL);
	}
	/* Some size a little above works, and gives the same tree (libfdt may lay the blocks out differently). */
	got = 0;
	for (size_t n = size; n < sizeof(buf) && !got; n += 16)
		if (kvmhost_arm64_fdt_build(&o, buf, n, &got) == 0) {
			char a[2048], b[2048];

			assert_true(n < size + 1024);
			assert_int_equal(fdt_check_full(buf, got), 0);
			node_list(buf, a, sizeof(a));
			node_list(exact, b, sizeof(b));
			assert_string_equal(a, b);
			assert_int_equal(fdt_size_dt_struct(buf), fdt_size_dt_struct(exact));
		}
	assert_true(got != 0);
	free(exact);
}

static void test_bad_descriptions(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	struct kvmhost_arm64_fdt_memory mem[3];
	struct kvmhost_arm64_fdt_virtio vio[2];
	uint64_t mp[2];
	size_t got;
	char longargs[KVMHOST_ARM64_FDT_BOOTARGS_MAX + 2];
	(void)state;

#define BUILD() kvmhost_arm64_fdt_build(&o, buf, sizeof(buf), &got)
#define BAD(field_change, err, needle)                                                                                 \
	do {                                                                                                           \
		base_options(&o);                                                                                      \
		field_change;                                                                                          \
		ASSERT_FAILS_MENTIONING(BUILD(), err, needle);                                                         \
	} while (0)

	base_options(&o);
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_build(NULL, buf, sizeof(buf), &got), EINVAL, "opts");
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_build(&o, NULL, sizeof(buf), &got), EINVAL, "buf");
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_build(&o, buf, sizeof(buf), NULL), EINVAL, "fdt_size");

	/* memory */
	BAD(o.memory_count = 0, EINVAL, "memory");
	BAD(o.memory = NULL, EINVAL, "NULL");
	BAD(o.memory_count = KVMHOST_ARM64_FDT_MAX_MEMORY + 1, EINVAL, "memory");
	mem[0] = (struct kvmhost_arm64_fdt_memory){0x40000000, GIB};
	mem[1] = (struct kvmhost_arm64_fdt_memory){0x40000000 + GIB - 4096, 8192};
	BAD((o.memory = mem, o.memory_count = 2), EINVAL, "memory[1] [0x7ffff000, +0x2000) overlaps memory[0]");
	mem[1] = (struct kvmhost_arm64_fdt_memory){UINT64_MAX - 4095, 8192};
	BAD((o.memory = mem, o.memory_count = 2), EINVAL, "wraps");
	mem[1] = (struct kvmhost_arm64_fdt_memory){0x200000000ull, 0};
	BAD((o.memory = mem, o.memory_count = 2), EINVAL, "memory[1] has size 0");
	BAD(o.memory_size = 8, EINVAL, "element size 8");
	BAD(o.memory_size = 0, EINVAL, "element size 0");
	/* a bigger element whose extra bytes are zero is fine; one with bytes set is E2BIG */
	{
		struct {
			struct kvmhost_arm64_fdt_memory m;
			uint64_t future;
		} big[2] = {{{0x40000000, GIB}, 0}, {{0x100000000ull, GIB}, 0}};
		base_options(&o);
		o.memory = (const void *)big;
		o.memory_size = sizeof(big[0]);
		ASSERT_OK(BUILD());
		big[1].future = 1;
		ASSERT_FAILS_MENTIONING(BUILD(), E2BIG, "memory[1]");
	}

	/* cpus */
	BAD(o.cpu_count = 0, EINVAL, "mpidrs");
	BAD(o.mpidrs = NULL, EINVAL, "NULL");
	BAD(o.cpu_count = KVMHOST_ARM64_FDT_MAX_CPUS + 1, EINVAL, "mpidrs");
	mp[0] = 0x80000000;
	mp[1] = 0x80000000 | (1ull << 30); /* the U bit is not affinity: same CPU */
	BAD((o.mpidrs = mp, o.cpu_count = 2), EINVAL, "mpidrs[1] 0xc0000000: the affinity of mpidrs[0]");
	mp[1] = 0x10000000000ull; /* bit 40 */
	BAD((o.mpidrs = mp, o.cpu_count = 2), EINVAL, "mpidrs[1] 0x10000000000 has bits outside");
	mp[1] = 0x2000000; /* bit 25 */
	BAD((o.mpidrs = mp, o.cpu_count = 2), EINVAL, "outside Aff3");

	/* GIC */
	BAD(o.gicr_size = 3 * 0x20000, EINVAL, "fewer than 4 redistributors");
	BAD(o.gicd_base = 0x8001000, EINVAL, "64 KiB");
	BAD(o.its_base = 0x8088000, EINVAL, "64 KiB");
	BAD(o.its_base = 0x8000000, EINVAL, "the GIC ITS [0x8000000, +0x20000) overlaps the GIC distributor");
	BAD(o.gicr_base = 0x40000000, EINVAL, "the GIC redistributors [0x40000000, +0x80000) overlaps memory[0]");
	BAD(o.timer_ppis[2] = 16, EINVAL, "timer_ppis[2] is 16");

	/* devices */
	BAD(o.uart_type = 3, EINVAL, "uart_type 3");
	BAD(o.uart_spi = KVMHOST_ARM64_FDT_MAX_SPI + 1, EINVAL, "uart_spi: SPI 988");
	BAD(o.uart_base = 0x8080000, EINVAL, "the UART [0x8080000, +0x1000) overlaps the GIC ITS");
	BAD(o.virtio_count = KVMHOST_ARM64_FDT_MAX_VIRTIO + 1, EINVAL, "virtio");
	BAD(o.virtio = NULL, EINVAL, "virtio is NULL");
	BAD(o.virtio_size = 4, EINVAL, "virtio[0]: element size 4");
	vio[0] = (struct kvmhost_arm64_fdt_virtio){0xa000000, 0x200, 16, 0};
	vio[1] = (struct kvmhost_arm64_fdt_virtio){0xa000100, 0x200, 17, 0};
	BAD((o.virtio = vio, o.virtio_count = 2), EINVAL, "virtio[1] [0xa000100, +0x200) overlaps virtio[0]");
	vio[1] = (struct kvmhost_arm64_fdt_virtio){0xa000200, 0x200, 988, 0};
	BAD((o.virtio = vio, o.virtio_count = 2), EINVAL, "virtio[1]: SPI 988");
	vio[1] = (struct kvmhost_arm64_fdt_virtio){0xa000200, 0x200, 17, 2};
	BAD((o.virtio = vio, o.virtio_count = 2), EINVAL, "virtio[1]: irq_type 2");
	vio[1] = (struct kvmhost_arm64_fdt_virtio){0x40000000, 0x200, 17, 0};
	BAD((o.virtio = vio, o.virtio_count = 2), EINVAL, "virtio[1] [0x40000000, +0x200) overlaps memory[0]");

	/* chosen */
	memset(longargs, 'a', sizeof(longargs) - 1);
	longargs[sizeof(longargs) - 1] = '\0';
	BAD(o.bootargs = longargs, EINVAL, "bootargs: 2048 bytes");
	longargs[KVMHOST_ARM64_FDT_BOOTARGS_MAX] = '\0';
	base_options(&o);
	o.bootargs = longargs;
	ASSERT_OK(BUILD());
	BAD(o.initrd_end = o.initrd_start, EINVAL, "initrd");
	base_options(&o);
	o.initrd_start = 0; /* [0, end) is a range */
	ASSERT_OK(BUILD());
#undef BAD
#undef BUILD
}

static void test_options_size(void **state)
{
	struct {
		struct kvmhost_arm64_fdt_options o;
		uint64_t future;
	} big;
	size_t got;
	(void)state;

	memset(&big, 0, sizeof(big));
	base_options(&big.o);
	big.o.size = sizeof(big);
	ASSERT_OK(kvmhost_arm64_fdt_build(&big.o, buf, sizeof(buf), &got));
	big.future = 1;
	ASSERT_FAILS(kvmhost_arm64_fdt_build(&big.o, buf, sizeof(buf), &got), E2BIG);
	big.o.size = 4;
	ASSERT_FAILS(kvmhost_arm64_fdt_build(&big.o, buf, sizeof(buf), &got), EINVAL);
	/* An older caller's struct that ends before the callback: no callback, same tree otherwise. */
	base_options(&big.o);
	big.o.size = offsetof(struct kvmhost_arm64_fdt_options, add_nodes);
	ASSERT_OK(kvmhost_arm64_fdt_build(&big.o, buf, sizeof(buf), &got));
}

static void test_check(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	size_t size;
	uint8_t *copy, *huge;
	(void)state;

	base_options(&o);
	size = build_ok(&o);
	copy = malloc(size);
	assert_non_null(copy);
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_check(NULL, size), EINVAL, "NULL");
	/* Every truncation. */
	for (size_t n = 0; n < size; n++) {
		reset_error();
		assert_int_equal(kvmhost_arm64_fdt_check(buf, n), -EINVAL);
		assert_error_mentions(NULL);
	}
	/* Corrupted header fields: magic, totalsize, the structure and strings offsets, last_comp_version. */
	static const size_t header_bytes[] = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 27};
	for (size_t i = 0; i < KH_ARRAY_SIZE(header_bytes); i++) {
		size_t off = header_bytes[i];

		memcpy(copy, buf, size);
		copy[off] ^= 0x80;
		reset_error();
		assert_true(kvmhost_arm64_fdt_check(copy, size) < 0);
		assert_error_mentions(NULL);
	}
	/* A corrupted structure block: every byte of the root's FDT_BEGIN_NODE token. */
	for (size_t off = fdt_off_dt_struct(buf); off < fdt_off_dt_struct(buf) + 4; off++) {
		memcpy(copy, buf, size);
		copy[off] ^= 0xff;
		reset_error();
		assert_true(kvmhost_arm64_fdt_check(copy, size) < 0);
		assert_error_mentions(NULL);
	}
	free(copy);

	/* Over 2 MiB: refused even when it is a valid tree. */
	huge = calloc(1, 3 * MIB);
	assert_non_null(huge);
	assert_int_equal(fdt_create_empty_tree(huge, 3 * MIB), 0);
	assert_int_equal(fdt_setprop_placeholder(huge, 0, "blob", (int)(2 * MIB), (void **)&copy), 0);
	assert_int_equal(fdt_pack(huge), 0);
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_fdt_check(huge, 3 * MIB), E2BIG, "2 MiB");
	free(huge);
}

/* dtc decompiles the tree without a warning (its checks cover node names, unit addresses and reg sizes). */
static void test_dtc(void **state)
{
	struct kvmhost_arm64_fdt_options o;
	const char *dtc = getenv("KVMHOST_TEST_DTC");
	char dtb[] = "/tmp/kvmhost-arm64-fdt-XXXXXX", cmd[1024], log[64];
	size_t size;
	FILE *f;
	long n;
	(void)state;

	if (!dtc)
		dtc = "dtc";
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", dtc);
	if (system(cmd) != 0) {
		print_message("SKIP: no %s (apt-get install device-tree-compiler)\n", dtc);
		skip();
	}
	int fd = mkstemp(dtb);
	assert_true(fd >= 0);
	base_options(&o);
	o.add_nodes = add_fw_cfg;
	o.opaque = &(int){0};
	for (int variant = 0; variant < 2; variant++) {
		if (variant)
			o.uart_type = KVMHOST_ARM64_UART_PL011;
		size = build_ok(&o);
		assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
		assert_int_equal(ftruncate(fd, (off_t)size), 0);
		snprintf(log, sizeof(log), "%s.log", dtb);
		snprintf(cmd, sizeof(cmd), "%s -I dtb -O dts -o %s.dts %s 2>%s", dtc, dtb, dtb, log);
		assert_int_equal(system(cmd), 0);
		f = fopen(log, "r");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		if (n > 0) {
			char text[4096] = "";

			rewind(f);
			text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
			print_error("dtc warned:\n%s\n", text);
		}
		fclose(f);
		assert_int_equal(n, 0);
		snprintf(cmd, sizeof(cmd), "%s.dts", dtb);
		unlink(cmd);
		unlink(log);
	}
	close(fd);
	unlink(dtb);
}

/*
 * The tree as Linux reads it: QEMU's TCG `virt` machine (no KVM) boots a real arm64 kernel with our DTB in place
 * of its own, so the tree must describe QEMU's devices at QEMU's addresses (the PL011, the GICv3 and its ITS,
 * two vCPUs through PSCI over HVC). QEMU only rewrites /memory's size and, given -append or -initrd, /chosen. The
 * kernel has no root file system: it must get as far as the VFS panic, with our command line and model, both
 * CPUs up, the GIC, ITS and timer found, on the console stdout-path names; then panic=-1 resets through PSCI and
 * -no-reboot ends QEMU. Needs KVMHOST_TEST_ARM64_KERNEL (an Image, e.g. Debian's /boot/vmlinuz-*-arm64) and
 * qemu-system-aarch64 (Debian: qemu-system-arm); ~10-30 s under TCG.
 */
static void test_qemu_boot(void **state)
{
	static const struct kvmhost_arm64_fdt_memory ram = {0x40000000ull, 512 * MIB};
	static const uint64_t mpidrs[2] = {0x80000000ull, 0x80000001ull};
	const char *kernel = getenv("KVMHOST_TEST_ARM64_KERNEL");
	struct kvmhost_arm64_fdt_options o;
	struct kvmhost_arm64_fdt_virtio vio[32];
	char dir[] = "/tmp/kvmhost-arm64-qemu-XXXXXX", cmd[2048], path[256], *log;
	const char *want[] = {"Machine model: libkvmhost arm64",
			      "Kernel command line: earlycon panic=-1 kvmhost-fdt-test",
			      "psci: PSCIv",
			      "GICv3: ",
			      "ITS [mem 0x08080000-0x0809ffff]",
			      "arch_timer: cp15 timer(s) running",
			      "smp: Brought up 1 node, 2 CPUs",
			      "ttyAMA0",
			      "Kernel panic - not syncing: VFS: Unable to mount root fs"};
	size_t size;
	FILE *f;
	long n;
	(void)state;

	if (!kernel || system("command -v qemu-system-aarch64 >/dev/null 2>&1") != 0) {
		print_message("SKIP: needs KVMHOST_TEST_ARM64_KERNEL and qemu-system-aarch64\n");
		skip();
	}
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.memory = &ram;
	o.memory_count = 1;
	o.memory_size = sizeof(ram);
	o.mpidrs = mpidrs;
	o.cpu_count = 2;
	o.gicd_base = 0x8000000; /* QEMU's virt map (hw/arm/virt.c) */
	o.gicr_base = 0x80a0000;
	o.its_base = 0x8080000;
	o.uart_type = KVMHOST_ARM64_UART_PL011;
	o.uart_base = 0x9000000;
	o.uart_spi = 1;
	for (int i = 0; i < 32; i++)
		vio[i] = (struct kvmhost_arm64_fdt_virtio){0xa000000 + 0x200ull * i, 0x200, 16 + (uint32_t)i, 0};
	o.virtio = vio;
	o.virtio_count = 32;
	o.virtio_size = sizeof(vio[0]);
	o.bootargs = "earlycon panic=-1 kvmhost-fdt-test";
	size = build_ok(&o);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/virt.dtb", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, size, f), size);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "timeout 180 qemu-system-aarch64 -M virt,gic-version=3 -cpu max -smp 2 -m 512 -nographic "
		 "-no-reboot -nodefaults -serial file:%s/console.log -kernel '%s' -dtb %s >%s/qemu.log 2>&1",
		 dir, kernel, path, dir);
	int rc = system(cmd);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	log = calloc(1, (size_t)n + 1);
	assert_non_null(log);
	assert_int_equal(fread(log, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (size_t i = 0; i < KH_ARRAY_SIZE(want); i++)
		if (!strstr(log, want[i])) {
			print_error("QEMU (exit %d): the console lacks \"%s\"; its tail:\n%s\n", rc, want[i],
				    n > 3000 ? log + n - 3000 : log);
			fail();
		}
	assert_int_equal(rc, 0); /* QEMU ended by the guest's PSCI reset, not by the timeout */
	free(log);
	if (getenv("KVMHOST_TEST_KEEP")) { /* the DTB and the console log, to read */
		print_message("kept %s\n", dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_tree),
	    cmocka_unit_test(test_pl011_and_variants),
	    cmocka_unit_test(test_callback),
	    cmocka_unit_test(test_buffer_sizes),
	    cmocka_unit_test(test_bad_descriptions),
	    cmocka_unit_test(test_options_size),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_dtc),
	    cmocka_unit_test(test_qemu_boot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

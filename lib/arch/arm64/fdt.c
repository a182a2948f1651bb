/*
 * The arm64 device tree builder (include/kvmhost/arm64_fdt.h): check a machine description, then write the
 * tree with libfdt's read-write calls into the caller's buffer, let the embedder add nodes, pack and check it.
 * Pure code, built on every architecture (lib/CMakeLists.txt). What the nodes look like follows the Linux
 * bindings (arm/cpus.yaml, arm/psci.yaml, interrupt-controller/arm,gic-v3.yaml, timer/arm,arch_timer.yaml,
 * serial/8250.yaml, serial/pl011.yaml, virtio/mmio.yaml, chosen.yaml) and QEMU's virt machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libfdt.h>

#include <kvmhost/arm64_fdt.h>
#include "../../core/internal.h"
#include "../../machine/machine_internal.h"

#define FUNC "kvmhost_arm64_fdt_build"
/* Messages name the public call, not the helper that failed. */
#define FAIL(err, ...) kh_fail((err), FUNC, __VA_ARGS__)

/* MPIDR_EL1: Aff3 [39:32], Aff2..Aff0 [23:0]; bit 31 RES1, 30 U (uniprocessor), 24 MT. */
#define MPIDR_AFF_MASK	   0xff00ffffffull
#define MPIDR_IGNORED	   ((1ull << 31) | (1ull << 30) | (1ull << 24))
#define GIC_SPI		   0u
#define GIC_PPI		   1u
#define VIRTIO_MMIO_WINDOW 0x200ull
#define UART_WINDOW	   0x1000ull

struct range {
	uint64_t base, size;
	char what[40];
};

struct fdt_build {
	struct kvmhost_arm64_fdt_options o;
	struct kvmhost_arm64_fdt_memory mem[KVMHOST_ARM64_FDT_MAX_MEMORY];
	uint64_t aff[KVMHOST_ARM64_FDT_MAX_CPUS];
	struct kvmhost_arm64_fdt_virtio virtio[KVMHOST_ARM64_FDT_MAX_VIRTIO];
	uint32_t ppis[4];
	struct range ranges[KVMHOST_ARM64_FDT_MAX_MEMORY + KVMHOST_ARM64_FDT_MAX_VIRTIO + 4];
	uint32_t nranges;
	uint64_t gicr_size, uart_size;
	char uart_path[64];
};

static int add_range(struct fdt_build *b, uint64_t base, uint64_t size, const char *what)
{
	uint64_t end;

	if (!size)
		return FAIL(EINVAL, "%s has size 0", what);
	if (kh_add_overflows(base, size, &end))
		return FAIL(EINVAL, "%s [0x%llx, +0x%llx) wraps", what, (unsigned long long)base,
			    (unsigned long long)size);
	for (uint32_t i = 0; i < b->nranges; i++) {
		const struct range *r = &b->ranges[i];

		if (base < r->base + r->size && r->base < end)
			return FAIL(EINVAL, "%s [0x%llx, +0x%llx) overlaps %s [0x%llx, +0x%llx)", what,
				    (unsigned long long)base, (unsigned long long)size, r->what,
				    (unsigned long long)r->base, (unsigned long long)r->size);
	}
	b->ranges[b->nranges] = (struct range){base, size, ""};
	snprintf(b->ranges[b->nranges].what, sizeof(b->ranges[0].what), "%s", what);
	b->nranges++;
	return 0;
}

static int check_spi(uint32_t spi, const char *what)
{
	if (spi > KVMHOST_ARM64_FDT_MAX_SPI)
		return FAIL(EINVAL, "%s: SPI %u is above %u", what, spi, KVMHOST_ARM64_FDT_MAX_SPI);
	return 0;
}

static int load_memory(struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	char what[40];
	int r;

	if (!o->memory || !o->memory_count || o->memory_count > KVMHOST_ARM64_FDT_MAX_MEMORY)
		return FAIL(EINVAL, "memory: want 1 to %u ranges, have %u%s", KVMHOST_ARM64_FDT_MAX_MEMORY,
			    o->memory_count, o->memory ? "" : " (NULL)");
	for (uint32_t i = 0; i < o->memory_count; i++) {
		const void *src = (const char *)o->memory + (size_t)i * o->memory_size;

		r = kh_copy_element(&b->mem[i], sizeof(b->mem[i]), src, o->memory_size, 2 * sizeof(uint64_t), "memory",
				    i, FUNC);
		if (r < 0)
			return r;
		snprintf(what, sizeof(what), "memory[%u]", i);
		r = add_range(b, b->mem[i].base, b->mem[i].size, what);
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_cpus(struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;

	if (!o->mpidrs || !o->cpu_count || o->cpu_count > KVMHOST_ARM64_FDT_MAX_CPUS)
		return FAIL(EINVAL, "mpidrs: want 1 to %u vCPUs, have %u%s", KVMHOST_ARM64_FDT_MAX_CPUS, o->cpu_count,
			    o->mpidrs ? "" : " (NULL)");
	for (uint32_t i = 0; i < o->cpu_count; i++) {
		uint64_t m = o->mpidrs[i] & ~MPIDR_IGNORED;

		if (m & ~MPIDR_AFF_MASK)
			return FAIL(EINVAL, "mpidrs[%u] 0x%llx has bits outside Aff3..Aff0", i,
				    (unsigned long long)o->mpidrs[i]);
		for (uint32_t j = 0; j < i; j++)
			if (b->aff[j] == m)
				return FAIL(EINVAL, "mpidrs[%u] 0x%llx: the affinity of mpidrs[%u] again", i,
					    (unsigned long long)o->mpidrs[i], j);
		b->aff[i] = m;
	}
	return 0;
}

static int load_gic(struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	uint64_t need = (uint64_t)o->cpu_count * KVMHOST_ARM64_GICR_CPU_SIZE;
	uint32_t defaults[4] = {13, 14, 11, 10}, any = 0;
	int r;

	b->gicr_size = o->gicr_size ? o->gicr_size : need;
	if (b->gicr_size < need)
		return FAIL(EINVAL, "gicr_size 0x%llx holds fewer than %u redistributors (0x%llx bytes)",
			    (unsigned long long)b->gicr_size, o->cpu_count, (unsigned long long)need);
	if ((o->gicd_base | o->gicr_base | o->its_base) & 0xffff)
		return FAIL(EINVAL, "gicd_base 0x%llx, gicr_base 0x%llx, its_base 0x%llx: want 64 KiB alignment",
			    (unsigned long long)o->gicd_base, (unsigned long long)o->gicr_base,
			    (unsigned long long)o->its_base);
	r = add_range(b, o->gicd_base, KVMHOST_ARM64_GICD_SIZE, "the GIC distributor");
	if (r >= 0)
		r = add_range(b, o->gicr_base, b->gicr_size, "the GIC redistributors");
	if (r >= 0 && o->its_base)
		r = add_range(b, o->its_base, KVMHOST_ARM64_GIC_ITS_SIZE, "the GIC ITS");
	if (r < 0)
		return r;
	for (int i = 0; i < 4; i++)
		any |= o->timer_ppis[i];
	for (int i = 0; i < 4; i++) {
		b->ppis[i] = any ? o->timer_ppis[i] : defaults[i];
		if (b->ppis[i] > 15)
			return FAIL(EINVAL, "timer_ppis[%d] is %u: PPIs are 0 to 15", i, b->ppis[i]);
	}
	return 0;
}

static int load_devices(struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	char what[40];
	int r;

	if (o->uart_type > KVMHOST_ARM64_UART_PL011)
		return FAIL(EINVAL, "uart_type %d is unknown", (int)o->uart_type);
	if (o->uart_type != KVMHOST_ARM64_UART_NONE) {
		b->uart_size = o->uart_size ? o->uart_size : UART_WINDOW;
		snprintf(b->uart_path, sizeof(b->uart_path), "/%s@%llx",
			 o->uart_type == KVMHOST_ARM64_UART_PL011 ? "pl011" : "uart", (unsigned long long)o->uart_base);
		r = add_range(b, o->uart_base, b->uart_size, "the UART");
		if (r >= 0)
			r = check_spi(o->uart_spi, "uart_spi");
		if (r < 0)
			return r;
	}
	if (o->virtio_count > KVMHOST_ARM64_FDT_MAX_VIRTIO || (o->virtio_count && !o->virtio))
		return FAIL(EINVAL, "virtio: %u devices (at most %u)%s", o->virtio_count, KVMHOST_ARM64_FDT_MAX_VIRTIO,
			    o->virtio ? "" : " and virtio is NULL");
	for (uint32_t i = 0; i < o->virtio_count; i++) {
		const void *src = (const char *)o->virtio + (size_t)i * o->virtio_size;
		struct kvmhost_arm64_fdt_virtio *v = &b->virtio[i];

		r = kh_copy_element(v, sizeof(*v), src, o->virtio_size, sizeof(*v), "virtio", i, FUNC);
		if (r < 0)
			return r;
		snprintf(what, sizeof(what), "virtio[%u]", i);
		if (!v->size)
			v->size = VIRTIO_MMIO_WINDOW;
		if (!v->irq_type)
			v->irq_type = KVMHOST_ARM64_IRQ_EDGE_RISING;
		if (v->irq_type != KVMHOST_ARM64_IRQ_EDGE_RISING && v->irq_type != KVMHOST_ARM64_IRQ_LEVEL_HIGH)
			return FAIL(EINVAL, "%s: irq_type %u is not edge rising (1) or level high (4)", what,
				    v->irq_type);
		r = add_range(b, v->base, v->size, what);
		if (r >= 0)
			r = check_spi(v->spi, what);
		if (r < 0)
			return r;
	}
	if (o->bootargs && strlen(o->bootargs) > KVMHOST_ARM64_FDT_BOOTARGS_MAX)
		return FAIL(EINVAL, "bootargs: %zu bytes, at most %u", strlen(o->bootargs),
			    KVMHOST_ARM64_FDT_BOOTARGS_MAX);
	if ((o->initrd_start || o->initrd_end) && o->initrd_end <= o->initrd_start)
		return FAIL(EINVAL, "initrd [0x%llx, 0x%llx) is empty or reversed", (unsigned long long)o->initrd_start,
			    (unsigned long long)o->initrd_end);
	return 0;
}

/* ---------- writing the tree: each helper returns 0 or a libfdt error ---------- */

static int set_reg(void *fdt, int node, const uint64_t *pairs, int n)
{
	fdt64_t v[4];

	for (int i = 0; i < n; i++)
		v[i] = cpu_to_fdt64(pairs[i]);
	return fdt_setprop(fdt, node, "reg", v, (int)(n * sizeof(v[0])));
}

static int set_irq(void *fdt, int node, uint32_t kind, uint32_t num, uint32_t type)
{
	fdt32_t v[3] = {cpu_to_fdt32(kind), cpu_to_fdt32(num), cpu_to_fdt32(type)};

	return fdt_setprop(fdt, node, "interrupts", v, sizeof(v));
}

/* fdt_add_subnode() with "name@base"; returns the offset or a libfdt error. */
static int add_node_at(void *fdt, int parent, const char *name, uint64_t base)
{
	char n[64];

	snprintf(n, sizeof(n), "%s@%llx", name, (unsigned long long)base);
	return fdt_add_subnode(fdt, parent, n);
}

#define TRY(expr)                                                                                                      \
	do {                                                                                                           \
		int t_ = (expr);                                                                                       \
		if (t_ < 0)                                                                                            \
			return t_;                                                                                     \
	} while (0)

static int write_root(void *fdt)
{
	TRY(fdt_setprop_string(fdt, 0, "compatible", "linux,dummy-virt"));
	TRY(fdt_setprop_string(fdt, 0, "model", "libkvmhost arm64"));
	TRY(fdt_setprop_u32(fdt, 0, "#address-cells", 2));
	TRY(fdt_setprop_u32(fdt, 0, "#size-cells", 2));
	return fdt_setprop_u32(fdt, 0, "interrupt-parent", KVMHOST_ARM64_FDT_PHANDLE_GIC);
}

static int write_memory(void *fdt, const struct fdt_build *b)
{
	for (uint32_t i = b->o.memory_count; i-- > 0;) {
		uint64_t reg[2] = {b->mem[i].base, b->mem[i].size};
		int n = add_node_at(fdt, 0, "memory", b->mem[i].base);

		TRY(n);
		TRY(fdt_setprop_string(fdt, n, "device_type", "memory"));
		TRY(set_reg(fdt, n, reg, 2));
	}
	return 0;
}

static int write_cpus(void *fdt, const struct fdt_build *b)
{
	/* /psci first: fdt_add_subnode() prepends, so it ends up after /cpus. */
	int psci = fdt_add_subnode(fdt, 0, "psci");

	TRY(psci);
	TRY(fdt_setprop_string(fdt, psci, "compatible", "arm,psci-0.2"));
	TRY(fdt_setprop_string(fdt, psci, "method", "hvc"));
	int cpus = fdt_add_subnode(fdt, 0, "cpus");

	TRY(cpus);
	TRY(fdt_setprop_u32(fdt, cpus, "#address-cells", 2));
	TRY(fdt_setprop_u32(fdt, cpus, "#size-cells", 0));
	/* Nodes in the caller's order, added backwards for the same reason. */
	for (uint32_t i = b->o.cpu_count; i-- > 0;) {
		int n = add_node_at(fdt, cpus, "cpu", b->aff[i]);

		TRY(n);
		TRY(fdt_setprop_string(fdt, n, "device_type", "cpu"));
		TRY(fdt_setprop_string(fdt, n, "compatible", "arm,arm-v8"));
		TRY(fdt_setprop_string(fdt, n, "enable-method", "psci"));
		TRY(fdt_setprop_u64(fdt, n, "reg", b->aff[i]));
	}
	return 0;
}

static int write_gic(void *fdt, const struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	uint64_t reg[4] = {o->gicd_base, KVMHOST_ARM64_GICD_SIZE, o->gicr_base, b->gicr_size};
	int n = add_node_at(fdt, 0, "intc", o->gicd_base);

	TRY(n);
	TRY(fdt_setprop_string(fdt, n, "compatible", "arm,gic-v3"));
	TRY(fdt_setprop_u32(fdt, n, "#interrupt-cells", 3));
	TRY(fdt_setprop(fdt, n, "interrupt-controller", NULL, 0));
	TRY(set_reg(fdt, n, reg, 4));
	TRY(fdt_setprop_u32(fdt, n, "#redistributor-regions", 1));
	TRY(fdt_setprop_u32(fdt, n, "phandle", KVMHOST_ARM64_FDT_PHANDLE_GIC));
	if (!o->its_base)
		return 0;
	/* The ITS is a child: the GIC node needs ranges (identity) and cells for it. */
	TRY(fdt_setprop_u32(fdt, n, "#address-cells", 2));
	TRY(fdt_setprop_u32(fdt, n, "#size-cells", 2));
	TRY(fdt_setprop(fdt, n, "ranges", NULL, 0));
	uint64_t its_reg[2] = {o->its_base, KVMHOST_ARM64_GIC_ITS_SIZE};
	int its = add_node_at(fdt, n, "its", o->its_base);

	TRY(its);
	TRY(fdt_setprop_string(fdt, its, "compatible", "arm,gic-v3-its"));
	TRY(fdt_setprop(fdt, its, "msi-controller", NULL, 0));
	TRY(fdt_setprop_u32(fdt, its, "#msi-cells", 1));
	TRY(set_reg(fdt, its, its_reg, 2));
	return fdt_setprop_u32(fdt, its, "phandle", KVMHOST_ARM64_FDT_PHANDLE_ITS);
}

static int write_timer(void *fdt, const struct fdt_build *b)
{
	fdt32_t v[12];
	int n = fdt_add_subnode(fdt, 0, "timer");

	TRY(n);
	for (int i = 0; i < 4; i++) {
		v[3 * i] = cpu_to_fdt32(GIC_PPI);
		v[3 * i + 1] = cpu_to_fdt32(b->ppis[i]);
		v[3 * i + 2] = cpu_to_fdt32(KVMHOST_ARM64_IRQ_LEVEL_HIGH);
	}
	TRY(fdt_setprop_string(fdt, n, "compatible", "arm,armv8-timer"));
	TRY(fdt_setprop(fdt, n, "interrupts", v, sizeof(v)));
	/* KVM's virtual timer keeps counting whatever the vCPU does: no power state stops it. */
	return fdt_setprop(fdt, n, "always-on", NULL, 0);
}

static int write_uart(void *fdt, struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	uint64_t reg[2] = {o->uart_base, b->uart_size};
	int pl011 = o->uart_type == KVMHOST_ARM64_UART_PL011, n;
	uint32_t clock = o->uart_clock_hz ? o->uart_clock_hz : pl011 ? 24000000u : 1843200u;

	if (o->uart_type == KVMHOST_ARM64_UART_NONE)
		return 0;
	n = add_node_at(fdt, 0, pl011 ? "pl011" : "uart", o->uart_base);
	TRY(n);
	if (pl011) {
		static const char compat[] = "arm,pl011\0arm,primecell";
		static const char names[] = "uartclk\0apb_pclk";
		fdt32_t clocks[2] = {cpu_to_fdt32(KVMHOST_ARM64_FDT_PHANDLE_CLOCK),
				     cpu_to_fdt32(KVMHOST_ARM64_FDT_PHANDLE_CLOCK)};

		TRY(fdt_setprop(fdt, n, "compatible", compat, sizeof(compat)));
		TRY(fdt_setprop(fdt, n, "clocks", clocks, sizeof(clocks)));
		TRY(fdt_setprop(fdt, n, "clock-names", names, sizeof(names)));
	} else {
		TRY(fdt_setprop_string(fdt, n, "compatible", "ns16550a"));
		TRY(fdt_setprop_u32(fdt, n, "clock-frequency", clock));
		TRY(fdt_setprop_u32(fdt, n, "reg-shift", 0));
		TRY(fdt_setprop_u32(fdt, n, "reg-io-width", 1));
	}
	TRY(set_reg(fdt, n, reg, 2));
	TRY(set_irq(fdt, n, GIC_SPI, o->uart_spi, KVMHOST_ARM64_IRQ_LEVEL_HIGH));
	if (!pl011)
		return 0;
	/* The PL011 binding names two clocks (uartclk, apb_pclk): one fixed clock serves both. Added after the
	 * UART, it comes before it in the tree. */
	int clk = fdt_add_subnode(fdt, 0, "apb-pclk");

	TRY(clk);
	TRY(fdt_setprop_string(fdt, clk, "compatible", "fixed-clock"));
	TRY(fdt_setprop_u32(fdt, clk, "#clock-cells", 0));
	TRY(fdt_setprop_u32(fdt, clk, "clock-frequency", clock));
	TRY(fdt_setprop_string(fdt, clk, "clock-output-names", "clk24mhz"));
	return fdt_setprop_u32(fdt, clk, "phandle", KVMHOST_ARM64_FDT_PHANDLE_CLOCK);
}

static int write_virtio(void *fdt, const struct fdt_build *b)
{
	/* Backwards, so that the nodes end up in the caller's order (fdt_add_subnode() prepends). */
	for (uint32_t i = b->o.virtio_count; i-- > 0;) {
		const struct kvmhost_arm64_fdt_virtio *v = &b->virtio[i];
		uint64_t reg[2] = {v->base, v->size};
		int n = add_node_at(fdt, 0, "virtio_mmio", v->base);

		TRY(n);
		TRY(fdt_setprop_string(fdt, n, "compatible", "virtio,mmio"));
		TRY(set_reg(fdt, n, reg, 2));
		TRY(set_irq(fdt, n, GIC_SPI, v->spi, v->irq_type));
		TRY(fdt_setprop(fdt, n, "dma-coherent", NULL, 0));
	}
	return 0;
}

static int write_chosen(void *fdt, const struct fdt_build *b)
{
	const struct kvmhost_arm64_fdt_options *o = &b->o;
	int n = fdt_add_subnode(fdt, 0, "chosen");

	TRY(n);
	if (o->bootargs)
		TRY(fdt_setprop_string(fdt, n, "bootargs", o->bootargs));
	if (o->initrd_end) {
		TRY(fdt_setprop_u64(fdt, n, "linux,initrd-start", o->initrd_start));
		TRY(fdt_setprop_u64(fdt, n, "linux,initrd-end", o->initrd_end));
	}
	if (b->uart_path[0])
		TRY(fdt_setprop_string(fdt, n, "stdout-path", b->uart_path));
	return 0;
}

static int write_tree(void *fdt, size_t room, struct fdt_build *b)
{
	TRY(fdt_create_empty_tree(fdt, (int)room));
	TRY(write_root(fdt));
	/* Nodes are prepended: write them in reverse of the order a reader should meet them. */
	TRY(write_chosen(fdt, b));
	TRY(write_virtio(fdt, b));
	TRY(write_uart(fdt, b));
	TRY(write_timer(fdt, b));
	TRY(write_gic(fdt, b));
	TRY(write_cpus(fdt, b));
	return write_memory(fdt, b);
}

/* A libfdt error as this library's return: NOSPACE is the caller's buffer, anything else a bad tree. */
static int fdt_fail(int err, const char *step, const char *func)
{
	if (err == -FDT_ERR_NOSPACE)
		return kh_fail(ENOSPC, func, "%s: the buffer is too small (%s)", step, fdt_strerror(err));
	return kh_fail(EINVAL, func, "%s: %s", step, fdt_strerror(err));
}

static int build(struct fdt_build *b, const struct kvmhost_arm64_fdt_options *opts, void *buf, size_t buf_size,
		 size_t *fdt_size)
{
	size_t room = buf_size < KVMHOST_ARM64_FDT_MAX_SIZE ? buf_size : KVMHOST_ARM64_FDT_MAX_SIZE;
	int r = kh_copy_options(&b->o, sizeof(b->o), opts, FUNC);

	if (r >= 0)
		r = load_memory(b);
	if (r >= 0)
		r = load_cpus(b);
	if (r >= 0)
		r = load_gic(b);
	if (r >= 0)
		r = load_devices(b);
	if (r < 0)
		return r;
	if (room < sizeof(struct fdt_header))
		return FAIL(ENOSPC, "buf_size %zu cannot hold a device tree header", buf_size);
	r = write_tree(buf, room, b);
	if (r < 0)
		return fdt_fail(r, "writing the tree", FUNC);
	if (b->o.add_nodes) {
		r = b->o.add_nodes(buf, b->o.opaque);
		if (r < 0)
			return fdt_fail(r, "the add_nodes callback", FUNC);
	}
	r = fdt_pack(buf);
	if (r < 0)
		return fdt_fail(r, "packing the tree", FUNC);
	r = fdt_check_full(buf, fdt_totalsize(buf));
	if (r < 0)
		return fdt_fail(r, "fdt_check_full", FUNC);
	*fdt_size = fdt_totalsize(buf);
	kh_log(KVMHOST_LOG_DEBUG, "%s: %zu bytes, %u RAM ranges, %u vCPUs, %u virtio-mmio devices", FUNC, *fdt_size,
	       b->o.memory_count, b->o.cpu_count, b->o.virtio_count);
	return 0;
}

KVMHOST_API int kvmhost_arm64_fdt_build(const struct kvmhost_arm64_fdt_options *opts, void *buf, size_t buf_size,
					size_t *fdt_size)
{
	struct fdt_build *b;
	int r;

	if (!opts || !buf || !fdt_size)
		return FAIL(EINVAL, "%s is NULL", !opts ? "opts" : !buf ? "buf" : "fdt_size");
	b = calloc(1, sizeof(*b)); /* ~30 KiB: kept off the caller's stack */
	if (!b)
		return FAIL(ENOMEM, "no memory for the description");
	r = build(b, opts, buf, buf_size, fdt_size);
	free(b);
	return r;
}

KVMHOST_API int kvmhost_arm64_fdt_check(const void *fdt, size_t size)
{
	int r;

	if (!fdt)
		return KH_FAIL(EINVAL, "fdt is NULL");
	if (size < sizeof(struct fdt_header))
		return KH_FAIL(EINVAL, "%zu bytes cannot hold a device tree header", size);
	r = fdt_check_header(fdt);
	if (r < 0)
		return fdt_fail(r, "the header", __func__);
	if (fdt_totalsize(fdt) > size)
		return KH_FAIL(EINVAL, "totalsize %u is beyond the %zu bytes given", fdt_totalsize(fdt), size);
	if (fdt_totalsize(fdt) > KVMHOST_ARM64_FDT_MAX_SIZE)
		return KH_FAIL(E2BIG, "totalsize %u is above the arm64 boot protocol's 2 MiB", fdt_totalsize(fdt));
	r = fdt_check_full(fdt, fdt_totalsize(fdt));
	if (r < 0)
		return fdt_fail(r, "fdt_check_full", __func__);
	return 0;
}

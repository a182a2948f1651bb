/*
 * libFuzzer target: the virtio-mmio transport's registers driven by a
 * hostile guest. A framework device with two queues and 16 bytes of config
 * space sits behind the transport on a standalone MMIO bus, on fake guest
 * memory (64 KiB at GPA 0, guard pages around it); the input is a list of
 * register accesses of fuzzer-chosen offset, width and value, interleaved
 * with guest memory writes (rings) and device-side events.
 *
 * Input: byte 0 flags (bit 0: the device serves kicks, popping every chain,
 * reading and writing all of its buffers and pushing it; bit 1: start from
 * a driver that completed the init sequence with queue 0 at 0x1000/0x2000/
 * 0x3000, size 8), then 8-byte records:
 *   [0]    op: bits 0-1 kind (0 read, 1 write, 2 guest memory write,
 *          3 device event), bits 2-3 width log2 (1, 2, 4, 8 bytes)
 *   [1..2] offset, u16 LE (bus address base + (offset & 0x1fff): past the
 *          4 KiB window too; guest memory: offset into it)
 *   [3..7] value, 40 bits LE
 * Device events (value & 3): 0 config changed, 1 needs reset, 2 notify
 * used on queue (value >> 2) & 1, 3 a kick of that queue from "another
 * thread" (the ioeventfd path).
 * After every record: the interrupt line is high exactly while
 * InterruptStatus is non-zero.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kvmhost/bus.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/memory.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>

#define PAGE	4096u
#define MEM_LEN 0x10000u
#define BASE	0xd0000000ull

static struct kvmhost_memory *mem;
static uint8_t *ram;
static int serve;
static int level;
static uint8_t config[16];

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static void touch(const struct kvmhost_virtq_chain *c)
{
	volatile uint8_t sink = 0;

	for (uint32_t i = 0; i < c->readable_count; i++)
		for (size_t j = 0; j < c->readable[i].iov_len; j++)
			sink ^= ((const uint8_t *)c->readable[i].iov_base)[j];
	for (uint32_t i = 0; i < c->writable_count; i++)
		memset(c->writable[i].iov_base, 0x5a, c->writable[i].iov_len);
	(void)sink;
}

static void dev_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, queue);
	const struct kvmhost_virtq_chain *c;
	int rounds = 0;

	(void)opaque;
	if (!serve)
		return;
	while (rounds++ < 64 && kvmhost_virtq_pop(q, &c) == 1) {
		touch(c);
		(void)kvmhost_virtq_push(q, c, (uint32_t)(c->writable_len > 8 ? 8 : c->writable_len));
	}
	(void)kvmhost_virtio_device_notify_used(dev, queue);
}

static uint64_t dev_features(void *opaque)
{
	(void)opaque;
	return 0x9 | KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |
	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) |
	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
}

static int cfg_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	(void)opaque;
	memcpy(buf, &config[off], len);
	return 0;
}

static int cfg_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	(void)opaque;
	memcpy(&config[off], buf, len);
	return 0;
}

static const struct kvmhost_virtio_device_ops ops = {
    .size = sizeof(ops),
    .get_features = dev_features,
    .config_read = cfg_read,
    .config_write = cfg_write,
    .queue_notify = dev_notify,
};

static int line_set(void *opaque, int l)
{
	(void)opaque;
	level = l;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	uint8_t *p;

	(void)argc;
	(void)argv;
	p = mmap(NULL, MEM_LEN + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + PAGE, MEM_LEN, PROT_READ | PROT_WRITE) != 0)
		abort();
	ram = p + PAGE;
	if (kvmhost_memory_create(&mem) < 0)
		abort();
	o.guest_phys_addr = 0;
	o.length = MEM_LEN;
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = ram;
	if (kvmhost_memory_add_region(mem, &o, NULL) < 0)
		abort();
	return 0;
}

static uint32_t r32(struct kvmhost_bus *bus, uint64_t off)
{
	uint32_t v = 0;

	(void)kvmhost_bus_read(bus, BASE + off, &v, 4);
	return v;
}

static void w32(struct kvmhost_bus *bus, uint64_t off, uint32_t v)
{
	(void)kvmhost_bus_write(bus, BASE + off, &v, 4);
}

/* The driver side of Linux's virtio_mmio probe and vm_setup_vq(). */
static void bring_up(struct kvmhost_bus *bus)
{
	w32(bus, KVMHOST_VIRTIO_MMIO_STATUS, 0);
	w32(bus, KVMHOST_VIRTIO_MMIO_STATUS, 1);
	w32(bus, KVMHOST_VIRTIO_MMIO_STATUS, 3);
	w32(bus, KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(bus, KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES, 1);
	w32(bus, KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(bus, KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES, 0x9);
	w32(bus, KVMHOST_VIRTIO_MMIO_STATUS, 0xb);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_SEL, 0);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_NUM, 8);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x2000);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x3000);
	w32(bus, KVMHOST_VIRTIO_MMIO_QUEUE_READY, 1);
	w32(bus, KVMHOST_VIRTIO_MMIO_STATUS, 0xf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvmhost_virtio_device_options o = {.size = sizeof(o)};
	struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo)};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_virtio_device *dev = NULL;
	struct kvmhost_virtio_mmio *mmio = NULL;
	struct kvmhost_irq_line *line = NULL;
	struct kvmhost_bus *bus = NULL;

	if (size < 1)
		return 0;
	memset(ram, 0, MEM_LEN);
	memset(config, 0, sizeof(config));
	serve = data[0] & 1;
	level = 0;
	o.device_id = KVMHOST_VIRTIO_ID_ENTROPY;
	o.num_queues = 2;
	o.queue_max_size = 16;
	o.config_size = sizeof(config);
	o.ops = &ops;
	lo.set_level = line_set;
	if (kvmhost_virtio_device_create(mem, &o, &dev) < 0 || kvmhost_bus_create("fuzz", &bus) < 0 ||
	    kvmhost_irq_line_create(&lo, &line) < 0)
		abort();
	mo.irq = line;
	if (kvmhost_virtio_mmio_create(dev, &mo, &mmio) < 0 || kvmhost_virtio_mmio_attach(mmio, bus, BASE) < 0)
		abort();
	if (data[0] & 2)
		bring_up(bus);

	for (size_t i = 1; i + 8 <= size; i += 8) {
		const uint8_t *r = &data[i];
		uint32_t kind = r[0] & 3, len = 1u << ((r[0] >> 2) & 3);
		uint32_t off = (uint32_t)r[1] | (uint32_t)r[2] << 8;
		uint64_t v = 0;

		for (int b = 0; b < 5; b++)
			v |= (uint64_t)r[3 + b] << (8 * b);
		switch (kind) {
		case 0:
			(void)kvmhost_bus_read(bus, BASE + (off & 0x1fff), &v, len);
			break;
		case 1:
			(void)kvmhost_bus_write(bus, BASE + (off & 0x1fff), &v, len);
			break;
		case 2:
			if (off + 4 <= MEM_LEN)
				memcpy(ram + off, &v, 4);
			break;
		default:
			switch (v & 3) {
			case 0:
				(void)kvmhost_virtio_device_config_changed(dev);
				break;
			case 1:
				(void)kvmhost_virtio_device_set_needs_reset(dev, "fuzz");
				break;
			case 2:
				(void)kvmhost_virtio_device_notify_used(dev, (uint16_t)((v >> 2) & 1));
				break;
			default:
				(void)kvmhost_virtio_device_queue_notify(dev, (uint16_t)((v >> 2) & 1));
				break;
			}
			break;
		}
		/* The line follows InterruptStatus. */
		check(level == (r32(bus, KVMHOST_VIRTIO_MMIO_INTERRUPT_STATUS) != 0));
		check(kvmhost_irq_line_level(line) == level);
		/* Identity registers never change. */
		check(r32(bus, KVMHOST_VIRTIO_MMIO_MAGIC_VALUE) == KVMHOST_VIRTIO_MMIO_MAGIC);
		check(r32(bus, KVMHOST_VIRTIO_MMIO_VERSION) == 2);
	}

	kvmhost_virtio_mmio_destroy(mmio);
	kvmhost_irq_line_destroy(line);
	kvmhost_bus_destroy(bus);
	kvmhost_virtio_device_destroy(dev);
	return 0;
}

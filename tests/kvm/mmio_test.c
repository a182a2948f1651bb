/*
 * kvm tier: MMIO exits dispatched through a bus. A long-mode guest stores 1,
 * 2, 4 and 8 bytes to a device at 0x10000000 (outside RAM) and loads each
 * size back; MMIO exits go through an MMIO bus to the device's callbacks,
 * and the guest reports what it loaded with OUTs that go through a PIO bus.
 * Data is checked on both sides. Loads from an unclaimed address, and one
 * straddling the device's end, must read all ones in the guest. On arm64 the
 * guest is its twin (tests/guests-arm64/mmio.S): its reports are MMIO stores
 * to the port window (test_port_addr()) on the MMIO bus, and its last load is
 * the aligned word just past the device's end (an unaligned load faults with
 * the MMU off).
 */
#include <string.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(mmio);

#define DEV_BASE    0x10000000ull
#define DEV_LEN	    0x100
#define REPORT_PORT 0x10
#define DONE_PORT   0x11

struct access {
	uint64_t offset;
	uint32_t len;
	uint64_t value;
};

struct device {
	struct access writes[8];
	int nwrites;
	int nreads;
};

/* Byte i of the device reads as pattern(i): distinct per offset. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(0xa0 ^ (off * 7));
}

static int dev_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct device *d = opaque;
	uint8_t *p = data;

	d->nreads++;
	for (uint32_t i = 0; i < len; i++)
		p[i] = pattern(offset + i);
	return 0;
}

static int dev_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct device *d = opaque;
	struct access *a;

	CHECK(d->nwrites < 8);
	a = &d->writes[d->nwrites++];
	a->offset = offset;
	a->len = len;
	a->value = 0;
	memcpy(&a->value, data, len);
	return 0;
}

struct reporter {
	uint32_t values[16];
	int n;
	int done;
};

static int report_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct reporter *r = opaque;

	if (offset == test_port_addr(DONE_PORT) - test_port_addr(REPORT_PORT)) {
		r->done = 1;
		return 0;
	}
	CHECK(len == 4 && r->n < 16);
	memcpy(&r->values[r->n++], data, 4);
	return 0;
}

/* The value a load of @len bytes at @off returns: pattern bytes, little endian. */
static uint64_t expect_load(uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)pattern(off + i) << (8 * i);
	return v;
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_bus *pio, *mmio;
	struct device dev = {0};
	struct reporter rep = {0};
	struct kvmhost_bus_range dr = {.size = sizeof(dr),
				       .base = DEV_BASE,
				       .length = DEV_LEN,
				       .read = dev_read,
				       .write = dev_write,
				       .opaque = &dev,
				       .name = "testdev"};
	struct kvmhost_bus_range rr = {.size = sizeof(rr),
				       .base = test_port_addr(REPORT_PORT),
				       .length = test_port_addr(REPORT_PORT + 8) - test_port_addr(REPORT_PORT),
				       .write = report_write,
				       .opaque = &rep,
				       .name = "report"};
	int mmio_exits = 0, unclaimed = 0, exits = 0;
	struct test_vm t;

	test_vm_create_long(&t, sys, GUEST_BYTES(mmio), GUEST_SIZE(mmio));
	/* Map 1 GiB, not just the 2 MiB of RAM, so the guest can address the device. */
	test_vcpu_enter_long(t.vcpu, 1ull << 30);

	CHECK_OK(kvmhost_bus_create("pio", &pio));
	CHECK_OK(kvmhost_bus_create("mmio", &mmio));
	CHECK_OK(kvmhost_bus_register(mmio, &dr));
	CHECK_OK(kvmhost_bus_register(test_port_space() == KVMHOST_IO_SPACE_PIO ? pio : mmio, &rr));

	while (!rep.done) {
		const struct kvmhost_exit *e = test_run(&t);
		uint16_t port;
		uint32_t size;
		uint64_t value;
		int r;

		CHECK(++exits < 100);
		if (e->reason != KVMHOST_EXIT_IO && e->reason != KVMHOST_EXIT_MMIO) {
			fprintf(stderr, "unexpected exit %s (KVM %u)\n", kvmhost_exit_reason_name(e->reason),
				e->kvm_exit_reason);
			if (e->reason == KVMHOST_EXIT_INTERNAL_ERROR && test_kvm_is_pvm())
				fprintf(stderr, "(on the PVM host: see HOST-NOTES.md)\n");
			CHECK(0);
		}
		if (e->reason == KVMHOST_EXIT_MMIO && !test_exit_port_write(e, &port, &size, &value))
			mmio_exits++; /* the device's and the unclaimed ones, not arm64's reports */
		r = kvmhost_bus_dispatch_exit(pio, mmio, e);
		CHECK(r == 0 || r == KVMHOST_BUS_UNCLAIMED);
		if (r == KVMHOST_BUS_UNCLAIMED) {
			/* Only the guest's loads from nobody's addresses may miss. */
			if (e->reason == KVMHOST_EXIT_IO)
				fprintf(stderr, "unclaimed %s port 0x%x size %u\n", e->io.is_write ? "out" : "in",
					e->io.port, e->io.size);
			else if (e->mmio.is_write)
				fprintf(stderr, "unclaimed MMIO write 0x%llx len %u\n",
					(unsigned long long)e->mmio.addr, e->mmio.len);
			CHECK(e->reason == KVMHOST_EXIT_MMIO && !e->mmio.is_write);
			unclaimed++;
		}
	}

	/* Stores, seen by the device with the right offsets, sizes and data. */
	CHECK(dev.nwrites == 4);
	CHECK(dev.writes[0].offset == 0 && dev.writes[0].len == 1 && dev.writes[0].value == 0x11);
	CHECK(dev.writes[1].offset == 2 && dev.writes[1].len == 2 && dev.writes[1].value == 0x2233);
	CHECK(dev.writes[2].offset == 4 && dev.writes[2].len == 4 && dev.writes[2].value == 0x44556677);
	CHECK(dev.writes[3].offset == 8 && dev.writes[3].len == 8 && dev.writes[3].value == 0x8899aabbccddeeffull);
	CHECK(dev.nreads == 4);

	/* Loads, as the guest saw them. */
	CHECK(rep.n == 10);
	CHECK(rep.values[0] == expect_load(0x10, 1));
	CHECK(rep.values[1] == expect_load(0x12, 2));
	CHECK(rep.values[2] == expect_load(0x14, 4));
	CHECK(rep.values[3] == (uint32_t)expect_load(0x18, 8));
	CHECK(rep.values[4] == (uint32_t)(expect_load(0x18, 8) >> 32));
	/* Unclaimed: all ones, in every size. */
	CHECK(rep.values[5] == 0xff);
	CHECK(rep.values[6] == 0xffffffff);
	CHECK(rep.values[7] == 0xffffffff && rep.values[8] == 0xffffffff);
	/* Straddling the device's end: all ones too, and the device never saw it. */
	CHECK(rep.values[9] == 0xffffffff);
	CHECK(unclaimed == 4);
	CHECK(mmio_exits == 12);

	kvmhost_bus_destroy(pio);
	kvmhost_bus_destroy(mmio);
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	printf("mmio: %d exits (%d MMIO, %d unclaimed), data checked both ways\n", exits, mmio_exits, unclaimed);
	return TEST_PASS;
}

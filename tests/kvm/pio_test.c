/*
 * kvm tier: port I/O through decoded exits, checked on both sides. The pio
 * guest OUTs known values of sizes 1/2/4; the host answers INs of each size
 * and the guest OUTs them back transformed; then string I/O (REP OUTSB, REP
 * INSB, REP OUTSB of what it read), where KVM may batch several accesses
 * into one exit (count > 1).
 */
#include <string.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(pio);

static const struct kvmhost_exit *expect_io(struct test_vm *t, uint16_t port, uint8_t size, int is_write)
{
	const struct kvmhost_exit *e = test_run(t);

	if (e->reason != KVMHOST_EXIT_IO)
		fprintf(stderr, "expected io on port 0x%x, got %s\n", port, kvmhost_exit_reason_name(e->reason));
	CHECK(e->reason == KVMHOST_EXIT_IO);
	CHECK(e->kvm_exit_reason == KVM_EXIT_IO);
	if (e->io.port != port || e->io.size != size || e->io.is_write != is_write)
		fprintf(stderr, "expected port 0x%x size %u %s, got port 0x%x size %u %s\n", port, size,
			is_write ? "out" : "in", e->io.port, e->io.size, e->io.is_write ? "out" : "in");
	CHECK(e->io.port == port && e->io.size == size && e->io.is_write == is_write);
	CHECK(e->io.data != NULL);
	return e;
}

static uint32_t expect_out(struct test_vm *t, uint16_t port, uint8_t size)
{
	const struct kvmhost_exit *e = expect_io(t, port, size, 1);
	uint32_t v = 0;

	CHECK(e->io.count == 1);
	memcpy(&v, e->io.data, size);
	return v;
}

static void answer_in(struct test_vm *t, uint16_t port, uint8_t size, uint32_t value)
{
	const struct kvmhost_exit *e = expect_io(t, port, size, 0);

	CHECK(e->io.count == 1);
	memcpy(e->io.data, &value, size);
}

/* String I/O: collect (or supply) @len bytes over as many exits as KVM takes. */
static unsigned string_io(struct test_vm *t, uint16_t port, int is_write, uint8_t *buf, unsigned len,
			  unsigned *max_count)
{
	unsigned done = 0, exits = 0;

	while (done < len) {
		const struct kvmhost_exit *e = expect_io(t, port, 1, is_write);

		CHECK(e->io.count >= 1 && done + e->io.count <= len);
		if (is_write)
			memcpy(buf + done, e->io.data, e->io.count);
		else
			memcpy(e->io.data, buf + done, e->io.count);
		done += e->io.count;
		if (e->io.count > *max_count)
			*max_count = e->io.count;
		exits++;
	}
	return exits;
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct test_vm t;
	uint8_t out[8], in[8] = {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'}, echo[8];
	unsigned max_count = 0, outs_exits, ins_exits, echo_exits;
	const struct kvmhost_exit *e;

	test_vm_create_real(&t, sys, GUEST_BYTES(pio), GUEST_SIZE(pio));

	CHECK(expect_out(&t, 0x10, 1) == 0x5a);
	CHECK(expect_out(&t, 0x12, 2) == 0xbeef);
	CHECK(expect_out(&t, 0x14, 4) == 0xdeadbeef);

	answer_in(&t, 0x20, 1, 0x3c);
	CHECK(expect_out(&t, 0x21, 1) == (0x3c ^ 0xff));
	answer_in(&t, 0x22, 2, 0x1234);
	CHECK(expect_out(&t, 0x23, 2) == 0x2345);
	answer_in(&t, 0x24, 4, 0x01020304);
	CHECK(expect_out(&t, 0x25, 4) == (uint32_t)~0x01020304u);

	outs_exits = string_io(&t, 0x30, 1, out, sizeof(out), &max_count);
	CHECK(memcmp(out, "kvmhost!", 8) == 0);
	ins_exits = string_io(&t, 0x31, 0, in, sizeof(in), &max_count);
	echo_exits = string_io(&t, 0x32, 1, echo, sizeof(echo), &max_count);
	CHECK(memcmp(echo, in, 8) == 0);
	printf("pio_test: string I/O of 8 bytes: rep outsb %u exits, rep insb %u exits, rep outsb %u exits; "
	       "largest count %u\n",
	       outs_exits, ins_exits, echo_exits, max_count);
	CHECK(max_count > 1);

	e = test_run(&t);
	CHECK(e->reason == KVMHOST_EXIT_HLT);
	test_vm_destroy(&t);
	kvmhost_system_close(sys);
	printf("pio_test: pass\n");
	return TEST_PASS;
}

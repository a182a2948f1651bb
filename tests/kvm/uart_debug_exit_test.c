/*
 * kvm tier: the legacy devices under a real guest. The uart_hello guest
 * (real mode) programs a 16550A at COM1 (LCR/DLAB/divisor, read back),
 * prints "UART OK\n" polling LSR.THRE, enables the THRE interrupt and writes
 * 0x21 to the debug-exit port. The host runs the vCPU and hands every IO
 * exit to a port-I/O bus holding the UART (output into a pipe) and the
 * debug-exit device, then checks the text and the status (0x21 << 1) | 1.
 *
 * Run twice: without an irqchip (no interrupt line), and, where KVM has an
 * in-kernel irqchip, with the UART's line on GSI 4 through
 * kvmhost_irq_line_create_gsi(), which the guest's IER write must raise
 * (the guest keeps interrupts off, so nothing is delivered).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <kvmhost/irq_line.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/uart16550.h>

#include "kvm_test_util.h"

GUEST_DECLARE(uart_hello);

struct exit_rec {
	int calls;
	uint64_t status;
};

static void on_exit_rec(void *opaque, uint64_t status)
{
	struct exit_rec *r = opaque;

	r->calls++;
	r->status = status;
}

/* A VM like test_vm_create_real()'s, with the FULL irqchip made before the
 * vCPU. Returns 0, or -1 (nothing left behind) if KVM has no irqchip. */
static int create_vm_irqchip(struct test_vm *t, struct kvmhost_system *sys)
{
	struct kvmhost_memory_options mo = {.size = sizeof(mo)};
	int r;

	memset(t, 0, sizeof(*t));
	t->sys = sys;
	CHECK_OK(kvmhost_vm_create(sys, NULL, &t->vm));
	r = kvmhost_x86_vm_create_irqchip(t->vm, KVMHOST_X86_IRQCHIP_FULL, 0);
	if (r < 0) {
		printf("uart_debug_exit_test: no in-kernel irqchip (%s): GSI line not tested\n", kvmhost_last_error());
		kvmhost_vm_destroy(t->vm);
		return -1;
	}
	t->ram_size = 2u << 20;
	mo.length = t->ram_size;
	mo.backing = KVMHOST_MEMORY_ANONYMOUS;
	mo.name = "uart-ram";
	CHECK_OK(kvmhost_vm_add_memory(t->vm, &mo, &t->ram));
	CHECK_OK(kvmhost_memory_write(kvmhost_vm_memory(t->vm), KVMHOST_GUEST_LOAD_ADDR, GUEST_BYTES(uart_hello),
				      GUEST_SIZE(uart_hello)));
	CHECK_OK(kvmhost_vcpu_create(t->vm, 0, &t->vcpu));
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t->vcpu, 0, KVMHOST_GUEST_LOAD_ADDR));
	return 0;
}

static void run_case(struct test_vm *t, struct kvmhost_irq_line *line, const char *what)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo)};
	struct kvmhost_uart_stats st = {.size = sizeof(st)};
	struct exit_rec rec = {0};
	struct kvmhost_debug_exit_options dxo = {.size = sizeof(dxo), .on_exit = on_exit_rec, .opaque = &rec};
	struct kvmhost_debug_exit *dx;
	struct kvmhost_uart *uart;
	struct kvmhost_bus *pio;
	const struct kvmhost_exit *e;
	char out[64] = {0};
	uint64_t status = 0;
	unsigned exits = 0;
	int p[2], r;
	ssize_t n;

	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK_OK(kvmhost_bus_create("pio", &pio));
	uo.out_fd = p[1];
	uo.irq = line;
	uo.name = "com1";
	CHECK_OK(kvmhost_uart_create(&uo, &uart));
	CHECK_OK(kvmhost_uart_attach(uart, pio, KVMHOST_UART_COM1_BASE));
	CHECK_OK(kvmhost_debug_exit_create(&dxo, &dx));
	CHECK_OK(kvmhost_debug_exit_attach(dx, pio, KVMHOST_DEBUG_EXIT_DEFAULT_PORT));

	while (!kvmhost_debug_exit_requested(dx, NULL)) {
		CHECK(++exits < 100000);
		e = test_run(t);
		if (e->reason != KVMHOST_EXIT_IO) {
			fprintf(stderr, "FAIL (%s): exit %s before the debug-exit write%s\n", what,
				kvmhost_exit_reason_name(e->reason), test_kvm_is_pvm() ? " [PVM host]" : "");
			exit(TEST_FAIL);
		}
		r = kvmhost_bus_dispatch_exit(pio, NULL, e);
		if (r != 0)
			fprintf(stderr, "FAIL (%s): %s of port 0x%x not handled (%d)\n", what,
				e->io.is_write ? "out" : "in", e->io.port, r);
		CHECK(r == 0);
	}
	CHECK(kvmhost_debug_exit_requested(dx, &status) == 1);
	CHECK(status == ((0x21u << 1) | 1));
	CHECK(status == 0x43);
	CHECK(rec.calls == 1 && rec.status == 0x43);

	n = read(p[0], out, sizeof(out) - 1);
	CHECK(n >= 0);
	if (strcmp(out, "UART OK\n") != 0)
		fprintf(stderr, "FAIL (%s): the guest printed \"%s\"\n", what, out);
	CHECK(strcmp(out, "UART OK\n") == 0);
	CHECK_OK(kvmhost_uart_get_stats(uart, &st));
	CHECK(st.tx_bytes == 8 && st.tx_written == 8 && st.tx_dropped == 0);
	if (line)
		CHECK(kvmhost_irq_line_level(line) == 1); /* IER.THRI with THR empty */
	printf("uart_debug_exit_test (%s): guest printed \"UART OK\\n\" and asked for status 0x%llx in %u exits\n",
	       what, (unsigned long long)status, exits);

	kvmhost_debug_exit_destroy(dx);
	kvmhost_uart_destroy(uart);
	CHECK(kvmhost_bus_count(pio) == 0);
	kvmhost_bus_destroy(pio);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct kvmhost_irq_line *line;
	struct test_vm t;

	test_vm_create_real(&t, sys, GUEST_BYTES(uart_hello), GUEST_SIZE(uart_hello));
	run_case(&t, NULL, "no irqchip");
	test_vm_destroy(&t);

	if (kvmhost_system_check_extension(sys, KVM_CAP_IRQCHIP) > 0 && create_vm_irqchip(&t, sys) == 0) {
		CHECK_OK(kvmhost_irq_line_create_gsi(t.vm, KVMHOST_UART_COM1_IRQ, &line));
		run_case(&t, line, "GSI 4 line");
		kvmhost_irq_line_destroy(line);
		test_vm_destroy(&t);
	}
	kvmhost_system_close(sys);
	printf("uart_debug_exit_test: pass\n");
	return TEST_PASS;
}

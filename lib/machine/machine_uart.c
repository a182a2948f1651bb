/*
 * The console UART of a machine (a 16550, lib/devices/uart16550.c) and its host side, the same on every
 * architecture: x86 attaches it to port I/O as COM1, arm64 to MMIO. Its output goes to the serial out_fd; its
 * input is pumped by the I/O side while the FIFO has room; when the FIFO is full the input fd leaves the loop
 * until the guest has emptied it (rx_space, signalled through an eventfd). A regular file is read at each
 * signal instead of being watched. The UART's callbacks run in vCPU threads, inside the bus dispatch.
 */
#include <sys/stat.h>
#include <unistd.h>
#include <kvmhost/events.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/loop.h>
#include <kvmhost/devices/uart16550.h>

#include "../core/internal.h"
#include "machine_internal.h"

static void on_serial_input(int fd, uint32_t events, void *opaque)
{
	struct kvmhost_machine *m = opaque;
	struct kh_machine_uart *u = &m->uart;
	int r = kvmhost_uart_pump(u->dev, fd);

	(void)events;
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		u->in_done = 1; /* end of file (-EPIPE) or a read error: no more input */
	if (u->has_in_watch)
		kh_watch_set(m, u->in_watch,
			     u->in_done || (r == 0 && kvmhost_uart_rx_room(u->dev) == 0) ? 0 : KVMHOST_LOOP_IN);
}

static void on_serial_rx_space(int fd, uint32_t events, void *opaque)
{
	struct kvmhost_machine *m = opaque;
	struct kh_machine_uart *u = &m->uart;
	uint64_t n;

	(void)events;
	kvmhost_eventfd_consume(fd, &n);
	if (u->in_done)
		return;
	if (u->in_regular)
		on_serial_input(m->cfg.serial_in_fd, 0, m);
	else if (u->has_in_watch)
		kh_watch_set(m, u->in_watch, KVMHOST_LOOP_IN);
}

static void uart_rx_space(void *opaque)
{
	kvmhost_eventfd_signal(((struct kvmhost_machine *)opaque)->uart.rx_fd, 1);
}

int kh_machine_uart_create(struct kvmhost_machine *m, const char *id, struct kvmhost_irq_line *irq,
			   kh_machine_uart_attach_fn attach, struct kvmhost_bus *bus, uint64_t base)
{
	struct kh_machine_uart *u = &m->uart;
	struct kvmhost_uart_options uo = {.size = sizeof(uo),
					  .irq = irq,
					  .out_fd = m->cfg.serial_out_fd,
					  .rx_space = uart_rx_space,
					  .rx_space_opaque = m,
					  .name = id};
	struct stat st;
	uint32_t h;
	int r;

	u->irq = irq;
	if ((r = kvmhost_uart_create(&uo, &u->dev)) < 0 || (r = attach(u->dev, bus, base)) < 0 ||
	    (r = kvmhost_uart_register(u->dev, m->registry, id)) < 0)
		return r;
	if (m->cfg.serial_in_fd < 0)
		return 0;
	if ((r = kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &u->rx_fd)) < 0 ||
	    (r = kh_watch_add(m, u->rx_fd, KVMHOST_LOOP_IN, on_serial_rx_space, m, &h)) < 0)
		return r;
	if (fstat(m->cfg.serial_in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		u->in_regular = 1;
		return kvmhost_eventfd_signal(u->rx_fd, 1); /* read it once the I/O side runs */
	}
	if ((r = kh_watch_add(m, m->cfg.serial_in_fd, KVMHOST_LOOP_IN, on_serial_input, m, &u->in_watch)) < 0)
		return r;
	u->has_in_watch = 1;
	return 0;
}

void kh_machine_uart_destroy(struct kvmhost_machine *m)
{
	struct kh_machine_uart *u = &m->uart;

	/* Let the buffered console output out (giving a stuck reader a second). */
	for (int i = 0; u->dev && i < 10 && kvmhost_uart_flush(u->dev) > 0; i++)
		usleep(100 * 1000);
	kvmhost_uart_destroy(u->dev);
	kvmhost_irq_line_destroy(u->irq);
	if (u->rx_fd >= 0)
		close(u->rx_fd);
	*u = (struct kh_machine_uart){.rx_fd = -1};
}

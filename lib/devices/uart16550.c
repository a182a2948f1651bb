/*
 * 16550A UART (uart16550.h): register model, receive FIFO, loopback, the
 * interrupt priority logic of IIR, and the host side (output fd with a small
 * non-blocking buffer, input pushed in by the embedder).
 *
 * Layering: a device above the bus. It raises its interrupt only through
 * kvmhost_irq_line_set() and touches no KVM object, so the unit tests drive
 * it through a plain bus with a fake line.
 *
 * All guest-visible state is in struct kh_uart_regs (plain data, no
 * pointers); save/restore writes it field by field in a fixed little-endian
 * layout (below), and pause/resume hold the host's input and the interrupt
 * line still. What is derived is not stored: LSR.DR comes from the FIFO
 * count, THRE/TEMT are always set (transmission is instant), the MSR
 * status nibble outside loopback is the fixed "cable connected" set, IIR is
 * computed from the sources.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kvmhost/bus.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/uart16550.h>
#include <kvmhost/irq_line.h>

#include "../core/internal.h"
#include "../core/state_io.h"

/* Register offsets. */
#define R_RBR_THR_DLL 0
#define R_IER_DLM     1
#define R_IIR_FCR     2
#define R_LCR	      3
#define R_MCR	      4
#define R_LSR	      5
#define R_MSR	      6
#define R_SCR	      7

#define IER_RDI	 0x01 /* received data available / timeout */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI	 0x08 /* modem status */

#define IIR_NO_INT  0x01
#define IIR_MSI	    0x00
#define IIR_THRI    0x02
#define IIR_RDI	    0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0c
#define IIR_ID_MASK 0x0f
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE  0x01
#define FCR_RX_RST  0x02
#define FCR_TX_RST  0x04
#define FCR_DMA	    0x08
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	   0x01
#define LSR_OE	   0x02
#define LSR_PE	   0x04
#define LSR_FE	   0x08
#define LSR_BI	   0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS	  0x10
#define MSR_DSR	  0x20
#define MSR_RI	  0x40
#define MSR_DCD	  0x80
#define MSR_DELTA 0x0f
/* Outside loopback: a cable to a host that is always ready. */
#define MSR_CONNECTED (MSR_DCD | MSR_DSR | MSR_CTS)

/* Guest-visible state: plain data (save/restore is a copy). */
struct kh_uart_regs {
	uint8_t rx_fifo[KVMHOST_UART_FIFO_SIZE];
	uint8_t rx_head;  /* index of the oldest byte */
	uint8_t rx_count; /* bytes in the FIFO (at most 1 with FIFOs off) */
	uint8_t rbr;	  /* last byte read, returned again when empty */
	uint8_t ier;	  /* low nibble only */
	uint8_t fcr;	  /* FCR_ENABLE | FCR_DMA | FCR_TRIGGER bits as written */
	uint8_t lcr;
	uint8_t mcr;	    /* MCR_MASK bits */
	uint8_t lsr_errors; /* latched OE/PE/FE/BI, cleared by reading LSR */
	uint8_t msr;	    /* status nibble (high) and latched deltas (low) */
	uint8_t scr;
	uint8_t dll, dlm;
	uint8_t thr_ipending; /* THRE interrupt pending (cleared by IIR read or THR write) */
};

struct kvmhost_uart {
	pthread_mutex_t lock;
	struct kh_uart_regs r;
	struct kvmhost_irq_line *irq;
	int irq_level;
	int paused; /* kvmhost_uart_pause(): no input taken, the line left as it is */
	int out_fd;
	int out_nonblock; /* out_fd had O_NONBLOCK at creation: no poll() needed */
	int out_broken;	  /* out_fd failed with a real error: stop writing */
	kvmhost_uart_rx_space_fn rx_space;
	void *rx_space_opaque;
	uint8_t tx_buf[KVMHOST_UART_TX_BUFFER];
	size_t tx_len;
	struct kvmhost_uart_stats stats;
	struct kvmhost_bus *bus;
	uint64_t base;
	char name[48];
};

static unsigned kh_uart_trigger(const struct kh_uart_regs *r)
{
	static const uint8_t levels[4] = {1, 4, 8, 14};

	return levels[r->fcr >> 6];
}

static int kh_uart_fifo_on(const struct kh_uart_regs *r)
{
	return r->fcr & FCR_ENABLE;
}

static unsigned kh_uart_capacity(const struct kh_uart_regs *r)
{
	return kh_uart_fifo_on(r) ? KVMHOST_UART_FIFO_SIZE : 1;
}

static unsigned kh_uart_room(const struct kh_uart_regs *r)
{
	if (r->mcr & MCR_LOOP)
		return 0; /* the receiver listens to the transmitter */
	return kh_uart_capacity(r) - r->rx_count;
}

/* Room for the host's input: none while paused. */
static unsigned kh_uart_host_room(const struct kvmhost_uart *u)
{
	return u->paused ? 0 : kh_uart_room(&u->r);
}

static void kh_uart_push(struct kh_uart_regs *r, uint8_t byte)
{
	r->rx_fifo[(r->rx_head + r->rx_count) % KVMHOST_UART_FIFO_SIZE] = byte;
	r->rx_count++;
}

static uint8_t kh_uart_pop(struct kh_uart_regs *r)
{
	uint8_t byte = r->rx_fifo[r->rx_head];

	r->rx_head = (uint8_t)((r->rx_head + 1) % KVMHOST_UART_FIFO_SIZE);
	r->rx_count--;
	return byte;
}

/* IIR as the guest would read it now: the highest-priority pending source. */
static uint8_t kh_uart_iir(const struct kh_uart_regs *r)
{
	uint8_t id = IIR_NO_INT;

	if ((r->ier & IER_RLSI) && (r->lsr_errors & LSR_ERRORS))
		id = IIR_RLSI;
	else if ((r->ier & IER_RDI) && r->rx_count)
		/* Below the trigger level the burst has ended: a character timeout. */
		id = kh_uart_fifo_on(r) && r->rx_count < kh_uart_trigger(r) ? IIR_TIMEOUT : IIR_RDI;
	else if ((r->ier & IER_THRI) && r->thr_ipending)
		id = IIR_THRI;
	else if ((r->ier & IER_MSI) && (r->msr & MSR_DELTA))
		id = IIR_MSI;
	return (uint8_t)(id | (kh_uart_fifo_on(r) ? IIR_FIFO_ON : 0));
}

static void kh_uart_update_irq(struct kvmhost_uart *u)
{
	int level = !(kh_uart_iir(&u->r) & IIR_NO_INT);

	/* Paused: the change waits for resume, which computes the level anew. */
	if (level == u->irq_level || !u->irq || u->paused)
		return;
	/* A failed line keeps its old level; retry on the next change. */
	if (kvmhost_irq_line_set(u->irq, level) == 0)
		u->irq_level = level;
	else if (kh_log_enabled(KVMHOST_LOG_WARN))
		kh_log(KVMHOST_LOG_WARN, "%s: setting the interrupt line to %d failed: %s", u->name, level,
		       kvmhost_last_error());
}

/* The modem status inputs: the MCR outputs in loopback, else a ready cable. */
static uint8_t kh_uart_msr_inputs(uint8_t mcr)
{
	uint8_t now = MSR_CONNECTED;

	if (mcr & MCR_LOOP) {
		now = 0;
		if (mcr & MCR_RTS)
			now |= MSR_CTS;
		if (mcr & MCR_DTR)
			now |= MSR_DSR;
		if (mcr & MCR_OUT1)
			now |= MSR_RI;
		if (mcr & MCR_OUT2)
			now |= MSR_DCD;
	}
	return now;
}

/* A change of the inputs latches the delta bits (RI: trailing edge only). */
static void kh_uart_update_msr(struct kh_uart_regs *r)
{
	uint8_t old = r->msr & ~MSR_DELTA, now = kh_uart_msr_inputs(r->mcr);
	uint8_t delta = r->msr & MSR_DELTA;
	if ((old ^ now) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	if ((old ^ now) & MSR_DCD)
		delta |= MSR_DDCD;
	r->msr = (uint8_t)(now | delta);
}

static void kh_uart_reset(struct kh_uart_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->dll = 0x0c; /* 9600 baud, what a PC BIOS leaves */
	r->msr = MSR_CONNECTED;
}

/* A blocking out_fd is written in chunks no larger than this, each after
 * poll() said it is writable: small enough to fit the room that POLLOUT
 * promises on pipes (a free page) and terminals. */
#define KH_UART_BLOCKING_CHUNK 256

/* Write what fits to out_fd without blocking. Returns bytes written, or
 * -1 after a real error (out_fd is then given up on). */
static ssize_t kh_uart_write_out(struct kvmhost_uart *u, const uint8_t *p, size_t len)
{
	struct pollfd pfd = {.fd = u->out_fd, .events = POLLOUT};
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		size_t chunk = len - done;

		if (!u->out_nonblock) {
			/* Never let a blocking fd (a full pipe, a stopped terminal)
			 * block the vCPU. Errors are left to write() to report. */
			if (KH_RETRY_EINTR(poll(&pfd, 1, 0)) == 0)
				break;
			chunk = KH_MIN(chunk, (size_t)KH_UART_BLOCKING_CHUNK);
		}
		n = KH_RETRY_EINTR(write(u->out_fd, p + done, chunk));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (kh_log_enabled(KVMHOST_LOG_WARN))
				kh_log(KVMHOST_LOG_WARN, "%s: output fd %d failed (%s): further output is dropped",
				       u->name, u->out_fd, strerror(errno));
			u->out_broken = 1;
			return done ? (ssize_t)done : -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void kh_uart_flush_locked(struct kvmhost_uart *u)
{
	ssize_t n;

	if (!u->tx_len)
		return;
	if (!u->out_broken) {
		n = kh_uart_write_out(u, u->tx_buf, u->tx_len);
		if (n > 0) {
			u->stats.tx_written += (uint64_t)n;
			memmove(u->tx_buf, u->tx_buf + n, u->tx_len - (size_t)n);
			u->tx_len -= (size_t)n;
		}
	}
	if (u->out_broken) {
		u->stats.tx_dropped += u->tx_len;
		u->tx_len = 0;
	}
}

static void kh_uart_output(struct kvmhost_uart *u, uint8_t byte)
{
	ssize_t n = 0;

	u->stats.tx_bytes++;
	if (u->out_fd < 0) {
		u->stats.tx_written++;
		return;
	}
	kh_uart_flush_locked(u);
	if (u->out_broken) {
		u->stats.tx_dropped++;
		return;
	}
	/* Keep the order: nothing overtakes buffered bytes. */
	if (!u->tx_len)
		n = kh_uart_write_out(u, &byte, 1);
	if (n == 1) {
		u->stats.tx_written++;
	} else if (n == 0 && u->tx_len < sizeof(u->tx_buf)) {
		u->tx_buf[u->tx_len++] = byte;
	} else {
		u->stats.tx_dropped++;
	}
}

/* A byte the transmitter sends: out to the host, or back into the receiver. */
static void kh_uart_transmit(struct kvmhost_uart *u, uint8_t byte)
{
	struct kh_uart_regs *r = &u->r;

	if (!(r->mcr & MCR_LOOP)) {
		kh_uart_output(u, byte);
	} else if (r->rx_count < kh_uart_capacity(r)) {
		kh_uart_push(r, byte);
	} else {
		/* Overrun. With FIFOs the FIFO is kept and the new character is
		 * lost; a 16450-style holding register is overwritten. */
		if (!kh_uart_fifo_on(r))
			r->rx_fifo[r->rx_head] = byte;
		r->lsr_errors |= LSR_OE;
		u->stats.rx_overruns++;
	}
	/* Transmission is instant: THR is empty again at once. */
	r->thr_ipending = 1;
}

static void kh_uart_write_fcr(struct kh_uart_regs *r, uint8_t val)
{
	/* Toggling the enable bit clears both FIFOs; other bits need it set. */
	if ((val ^ r->fcr) & FCR_ENABLE)
		r->rx_count = 0;
	if (!(val & FCR_ENABLE)) {
		r->fcr = 0;
		return;
	}
	if (val & FCR_RX_RST)
		r->rx_count = 0;
	/* FCR_TX_RST: the transmit FIFO is always empty. */
	r->fcr = (uint8_t)(val & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER));
}

/* One register access; sets *emptied when the guest emptied a non-empty RX FIFO. */
static uint8_t kh_uart_reg_read(struct kh_uart_regs *r, unsigned reg, int *emptied)
{
	uint8_t v;

	switch (reg) {
	case R_RBR_THR_DLL:
		if (r->lcr & LCR_DLAB)
			return r->dll;
		if (r->rx_count) {
			r->rbr = kh_uart_pop(r);
			if (!r->rx_count)
				*emptied = 1;
		}
		return r->rbr;
	case R_IER_DLM:
		return (r->lcr & LCR_DLAB) ? r->dlm : r->ier;
	case R_IIR_FCR:
		v = kh_uart_iir(r);
		/* Reading IIR while it names THRE acknowledges that interrupt. */
		if ((v & IIR_ID_MASK) == IIR_THRI)
			r->thr_ipending = 0;
		return v;
	case R_LCR:
		return r->lcr;
	case R_MCR:
		return r->mcr;
	case R_LSR:
		v = (uint8_t)(LSR_THRE | LSR_TEMT | r->lsr_errors | (r->rx_count ? LSR_DR : 0));
		r->lsr_errors = 0;
		return v;
	case R_MSR:
		v = r->msr;
		r->msr &= (uint8_t)~MSR_DELTA;
		return v;
	default:
		return r->scr;
	}
}

static void kh_uart_reg_write(struct kvmhost_uart *u, unsigned reg, uint8_t val, int *emptied)
{
	struct kh_uart_regs *r = &u->r;
	uint8_t old;

	switch (reg) {
	case R_RBR_THR_DLL:
		if (r->lcr & LCR_DLAB)
			r->dll = val;
		else
			kh_uart_transmit(u, val);
		break;
	case R_IER_DLM:
		if (r->lcr & LCR_DLAB) {
			r->dlm = val;
			break;
		}
		old = r->ier;
		r->ier = val & 0x0f;
		/* Enabling THRI with THR empty raises THRE again even if an IIR
		 * read acknowledged it: Linux's 8250 startup probes exactly this
		 * (UART_BUG_THRE), and Windows toggles IER to get it. */
		if ((old ^ r->ier) & IER_THRI)
			r->thr_ipending = (r->ier & IER_THRI) ? 1 : 0;
		break;
	case R_IIR_FCR:
		old = r->rx_count;
		kh_uart_write_fcr(r, val);
		if (old && !r->rx_count)
			*emptied = 1;
		break;
	case R_LCR:
		r->lcr = val;
		break;
	case R_MCR:
		old = r->mcr;
		r->mcr = val & MCR_MASK;
		if (old != r->mcr)
			kh_uart_update_msr(r);
		break;
	case R_LSR:
	case R_MSR:
		break; /* factory-test writes: ignored */
	default:
		r->scr = val;
		break;
	}
}

static int kh_uart_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_uart *u = opaque;
	uint8_t *p = data;
	int emptied = 0;

	pthread_mutex_lock(&u->lock);
	/* Registers are bytes: a wider access is that many byte accesses. */
	for (uint32_t i = 0; i < len; i++)
		p[i] = kh_uart_reg_read(&u->r, (unsigned)(offset + i) & 7, &emptied);
	kh_uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (emptied && u->rx_space)
		u->rx_space(u->rx_space_opaque);
	return 0;
}

static int kh_uart_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_uart *u = opaque;
	const uint8_t *p = data;
	int emptied = 0;

	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < len; i++)
		kh_uart_reg_write(u, (unsigned)(offset + i) & 7, p[i], &emptied);
	kh_uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (emptied && u->rx_space)
		u->rx_space(u->rx_space_opaque);
	return 0;
}

KVMHOST_API int kvmhost_uart_create(const struct kvmhost_uart_options *opts, struct kvmhost_uart **out)
{
	struct kvmhost_uart_options o;
	struct kvmhost_uart *u;
	int r, fl = 0;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (!opts)
		o.out_fd = -1;
	if (o.out_fd < -1)
		return KH_FAIL(EINVAL, "out_fd %d is invalid (-1 for none)", o.out_fd);
	if (o.out_fd >= 0) {
		fl = fcntl(o.out_fd, F_GETFL);
		if (fl < 0)
			return KH_FAIL_ERRNO("out_fd %d is not an open fd", o.out_fd);
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return KH_FAIL(ENOMEM, "out of memory");
	pthread_mutex_init(&u->lock, NULL);
	kh_uart_reset(&u->r);
	u->irq = o.irq;
	u->out_fd = o.out_fd;
	u->out_nonblock = !!(fl & O_NONBLOCK);
	u->rx_space = o.rx_space;
	u->rx_space_opaque = o.rx_space_opaque;
	u->stats.size = sizeof(u->stats);
	snprintf(u->name, sizeof(u->name), "%s", o.name ? o.name : "uart16550");
	/* The reset state raises nothing: the line is left as it is. */
	*out = u;
	return 0;
}

KVMHOST_API void kvmhost_uart_destroy(struct kvmhost_uart *uart)
{
	if (!uart)
		return;
	if (uart->bus)
		kvmhost_bus_unregister(uart->bus, uart->base);
	pthread_mutex_destroy(&uart->lock);
	free(uart);
}

/* @limit: the highest address the 8 registers may end at (port 0xffff, or the top of an MMIO space); @func: the
 * public call, for the messages. */
static int kh_uart_attach(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base, uint64_t limit,
			  const char *func)
{
	struct kvmhost_bus_range range = {.size = sizeof(range)};
	int r;

	if (!uart)
		return kh_fail(EINVAL, func, "uart is NULL");
	if (!bus)
		return kh_fail(EINVAL, func, "%s: bus is NULL", uart->name);
	if (base > limit - (KVMHOST_UART_PORTS - 1))
		return kh_fail(EINVAL, func, "%s: registers 0x%llx-0x%llx pass 0x%llx", uart->name,
			       (unsigned long long)base, (unsigned long long)base + KVMHOST_UART_PORTS - 1,
			       (unsigned long long)limit);
	if (uart->bus)
		return kh_fail(EBUSY, func, "%s: already attached at port 0x%llx", uart->name,
			       (unsigned long long)uart->base);
	range.base = base;
	range.length = KVMHOST_UART_PORTS;
	range.read = kh_uart_bus_read;
	range.write = kh_uart_bus_write;
	range.opaque = uart;
	range.name = uart->name;
	r = kvmhost_bus_register(bus, &range);
	if (r < 0)
		return r;
	uart->bus = bus;
	uart->base = base;
	return 0;
}

KVMHOST_API int kvmhost_uart_attach(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base)
{
	return kh_uart_attach(uart, bus, base, 0xffff, __func__);
}

KVMHOST_API int kvmhost_uart_attach_mmio(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base)
{
	return kh_uart_attach(uart, bus, base, UINT64_MAX, __func__);
}

KVMHOST_API int kvmhost_uart_receive(struct kvmhost_uart *uart, const void *bytes, size_t len)
{
	const uint8_t *p = bytes;
	size_t n;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	if (!bytes && len)
		return KH_FAIL(EINVAL, "%s: bytes is NULL with len %zu", uart->name, len);
	pthread_mutex_lock(&uart->lock);
	n = KH_MIN(len, (size_t)kh_uart_host_room(uart));
	for (size_t i = 0; i < n; i++)
		kh_uart_push(&uart->r, p[i]);
	uart->stats.rx_bytes += n;
	kh_uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return (int)n;
}

KVMHOST_API int kvmhost_uart_rx_room(struct kvmhost_uart *uart)
{
	int room;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	pthread_mutex_lock(&uart->lock);
	room = (int)kh_uart_host_room(uart);
	pthread_mutex_unlock(&uart->lock);
	return room;
}

KVMHOST_API int kvmhost_uart_pump(struct kvmhost_uart *uart, int in_fd)
{
	uint8_t buf[KVMHOST_UART_FIFO_SIZE];
	struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
	unsigned room;
	ssize_t n;
	int r;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	if (in_fd < 0)
		return KH_FAIL(EINVAL, "%s: in_fd %d is negative", uart->name, in_fd);
	/* Read under the lock: the room measured is the room filled. */
	pthread_mutex_lock(&uart->lock);
	room = kh_uart_host_room(uart);
	if (!room) {
		pthread_mutex_unlock(&uart->lock);
		return 0;
	}
	r = (int)KH_RETRY_EINTR(poll(&pfd, 1, 0));
	if (r < 0 || (pfd.revents & POLLNVAL)) {
		if (r >= 0)
			errno = EBADF;
		pthread_mutex_unlock(&uart->lock);
		return KH_FAIL_ERRNO("%s: poll of in_fd %d failed", uart->name, in_fd);
	}
	if (r == 0) {
		pthread_mutex_unlock(&uart->lock);
		return 0;
	}
	n = KH_RETRY_EINTR(read(in_fd, buf, room));
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			kh_uart_push(&uart->r, buf[i]);
		uart->stats.rx_bytes += (uint64_t)n;
		kh_uart_update_irq(uart);
	}
	pthread_mutex_unlock(&uart->lock);
	if (n == 0)
		return KH_FAIL(EPIPE, "%s: end of file on in_fd %d", uart->name, in_fd);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return KH_FAIL_ERRNO("%s: read of in_fd %d failed", uart->name, in_fd);
	}
	return (int)n;
}

KVMHOST_API int kvmhost_uart_flush(struct kvmhost_uart *uart)
{
	int left;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	pthread_mutex_lock(&uart->lock);
	kh_uart_flush_locked(uart);
	left = (int)uart->tx_len;
	pthread_mutex_unlock(&uart->lock);
	return left;
}

KVMHOST_API int kvmhost_uart_get_stats(struct kvmhost_uart *uart, struct kvmhost_uart_stats *stats)
{
	struct kvmhost_uart_stats s;
	size_t size;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	if (!stats)
		return KH_FAIL(EINVAL, "%s: stats is NULL", uart->name);
	size = stats->size;
	if (size < sizeof(size_t) || size > 65536)
		return KH_FAIL(EINVAL, "%s: stats size %zu is invalid", uart->name, size);
	pthread_mutex_lock(&uart->lock);
	s = uart->stats;
	s.tx_pending = uart->tx_len;
	pthread_mutex_unlock(&uart->lock);
	memcpy(stats, &s, KH_MIN(size, sizeof(s)));
	if (size > sizeof(s)) /* fields of a newer library: zero */
		memset((char *)stats + sizeof(s), 0, size - sizeof(s));
	stats->size = size;
	return 0;
}

/* ---- reset, pause/resume, state ---- */

/* Run the rx_space callback if the host may send again (lock not held). */
static void kh_uart_kick_rx_space(struct kvmhost_uart *u, int had_no_room)
{
	if (had_no_room && u->rx_space)
		u->rx_space(u->rx_space_opaque);
}

KVMHOST_API int kvmhost_uart_reset(struct kvmhost_uart *uart)
{
	int kick;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	pthread_mutex_lock(&uart->lock);
	/* As when the guest resets its FIFO: the host may send again. */
	kick = uart->r.rx_count != 0 && !uart->paused;
	kh_uart_reset(&uart->r);
	kh_uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	kh_uart_kick_rx_space(uart, kick);
	return 0;
}

KVMHOST_API int kvmhost_uart_pause(struct kvmhost_uart *uart)
{
	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	pthread_mutex_lock(&uart->lock);
	uart->paused = 1;
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

KVMHOST_API int kvmhost_uart_resume(struct kvmhost_uart *uart)
{
	int room;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	pthread_mutex_lock(&uart->lock);
	uart->paused = 0;
	kh_uart_update_irq(uart);
	room = kh_uart_room(&uart->r) != 0;
	pthread_mutex_unlock(&uart->lock);
	/* While paused the room read 0: an embedder may have stopped watching. */
	kh_uart_kick_rx_space(uart, room);
	return 0;
}

/* State blob, version 1, little-endian, 37 bytes:
 *   u32 magic "KHUA", u32 version,
 *   u8 rx_count, u8 rx_fifo[16] (oldest first; bytes past rx_count are 0),
 *   u8 rbr, ier, fcr, lcr, mcr, lsr_errors, msr, scr, dll, dlm,
 *   u8 thr_ipending, u8 reserved (0).
 * The FIFO is stored in order rather than with its ring index, so the
 * layout does not depend on how the ring is kept. */
#define KH_UART_MAGIC	   0x4155484bu /* "KHUA" */
#define KH_UART_STATE_SIZE (KH_STATE_HEADER_SIZE + 1 + KVMHOST_UART_FIFO_SIZE + 12)

KVMHOST_API int kvmhost_uart_state_size(struct kvmhost_uart *uart)
{
	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	return KH_UART_STATE_SIZE;
}

KVMHOST_API int kvmhost_uart_save(struct kvmhost_uart *uart, void *buf, size_t len)
{
	const struct kh_uart_regs *r;
	uint8_t *p = buf;

	if (!uart || !buf)
		return KH_FAIL(EINVAL, "uart or buf is NULL");
	if (len < KH_UART_STATE_SIZE)
		return KH_FAIL(ENOSPC, "%s: state needs %d bytes, the buffer has %zu", uart->name, KH_UART_STATE_SIZE,
			       len);
	pthread_mutex_lock(&uart->lock);
	r = &uart->r;
	kh_le_put(&p, KH_UART_MAGIC, 4);
	kh_le_put(&p, KVMHOST_UART_STATE_VERSION, 4);
	kh_le_put(&p, r->rx_count, 1);
	for (unsigned i = 0; i < KVMHOST_UART_FIFO_SIZE; i++)
		kh_le_put(&p, i < r->rx_count ? r->rx_fifo[(r->rx_head + i) % KVMHOST_UART_FIFO_SIZE] : 0, 1);
	kh_le_put(&p, r->rbr, 1);
	kh_le_put(&p, r->ier, 1);
	kh_le_put(&p, r->fcr, 1);
	kh_le_put(&p, r->lcr, 1);
	kh_le_put(&p, r->mcr, 1);
	kh_le_put(&p, r->lsr_errors, 1);
	kh_le_put(&p, r->msr, 1);
	kh_le_put(&p, r->scr, 1);
	kh_le_put(&p, r->dll, 1);
	kh_le_put(&p, r->dlm, 1);
	kh_le_put(&p, r->thr_ipending, 1);
	kh_le_put(&p, 0, 1);
	pthread_mutex_unlock(&uart->lock);
	return KH_UART_STATE_SIZE;
}

/* Parse and check a blob into @r; every field against what the model can
 * reach, so a restored UART is one the guest could have made. */
static int kh_uart_parse_state(const struct kvmhost_uart *u, const void *buf, size_t len, struct kh_uart_regs *r,
			       const char *func)
{
	const uint8_t *p = buf;
	uint8_t reserved;
	int err;

	err = kh_state_check_header(buf, len, KH_UART_MAGIC, KVMHOST_UART_STATE_VERSION, KH_UART_STATE_SIZE, u->name,
				    func);
	if (err < 0)
		return err;
	p += KH_STATE_HEADER_SIZE;
	memset(r, 0, sizeof(*r));
	r->rx_count = (uint8_t)kh_le_get(&p, 1);
	for (unsigned i = 0; i < KVMHOST_UART_FIFO_SIZE; i++)
		r->rx_fifo[i] = (uint8_t)kh_le_get(&p, 1);
	r->rbr = (uint8_t)kh_le_get(&p, 1);
	r->ier = (uint8_t)kh_le_get(&p, 1);
	r->fcr = (uint8_t)kh_le_get(&p, 1);
	r->lcr = (uint8_t)kh_le_get(&p, 1);
	r->mcr = (uint8_t)kh_le_get(&p, 1);
	r->lsr_errors = (uint8_t)kh_le_get(&p, 1);
	r->msr = (uint8_t)kh_le_get(&p, 1);
	r->scr = (uint8_t)kh_le_get(&p, 1);
	r->dll = (uint8_t)kh_le_get(&p, 1);
	r->dlm = (uint8_t)kh_le_get(&p, 1);
	r->thr_ipending = (uint8_t)kh_le_get(&p, 1);
	reserved = (uint8_t)kh_le_get(&p, 1);
	if (r->fcr & ~(FCR_ENABLE | FCR_DMA | FCR_TRIGGER) || (r->fcr && !(r->fcr & FCR_ENABLE)))
		return kh_fail(EINVAL, func, "%s: state has FCR 0x%02x, which the UART never keeps", u->name, r->fcr);
	if (r->rx_count > kh_uart_capacity(r))
		return kh_fail(EINVAL, func, "%s: state has %u bytes in a receive FIFO of %u", u->name, r->rx_count,
			       kh_uart_capacity(r));
	for (unsigned i = r->rx_count; i < KVMHOST_UART_FIFO_SIZE; i++)
		if (r->rx_fifo[i])
			return kh_fail(EINVAL, func, "%s: state has a byte past the FIFO's %u (slot %u)", u->name,
				       r->rx_count, i);
	if (r->ier & ~0x0f)
		return kh_fail(EINVAL, func, "%s: state has IER 0x%02x (bits 4-7 are always 0)", u->name, r->ier);
	if (r->mcr & ~MCR_MASK)
		return kh_fail(EINVAL, func, "%s: state has MCR 0x%02x (bits 5-7 are always 0)", u->name, r->mcr);
	if (r->lsr_errors & ~LSR_ERRORS)
		return kh_fail(EINVAL, func, "%s: state has latched LSR bits 0x%02x that are not error bits", u->name,
			       r->lsr_errors);
	if ((r->msr & ~MSR_DELTA) != kh_uart_msr_inputs(r->mcr))
		return kh_fail(EINVAL, func, "%s: state has MSR 0x%02x, whose inputs do not follow MCR 0x%02x", u->name,
			       r->msr, r->mcr);
	if (r->thr_ipending > 1 || reserved)
		return kh_fail(EINVAL, func, "%s: state has a bad THRE flag %u or reserved byte 0x%02x", u->name,
			       r->thr_ipending, reserved);
	return 0;
}

KVMHOST_API int kvmhost_uart_restore(struct kvmhost_uart *uart, const void *buf, size_t len)
{
	struct kh_uart_regs r;
	int err, room;

	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	err = kh_uart_parse_state(uart, buf, len, &r, __func__);
	if (err < 0)
		return err; /* untouched */
	pthread_mutex_lock(&uart->lock);
	uart->r = r;
	kh_uart_update_irq(uart);
	room = !uart->paused && kh_uart_room(&uart->r) != 0;
	pthread_mutex_unlock(&uart->lock);
	kh_uart_kick_rx_space(uart, room);
	return 0;
}

static int kh_uart_op_reset(void *opaque)
{
	return kvmhost_uart_reset(opaque);
}

static int kh_uart_op_pause(void *opaque)
{
	return kvmhost_uart_pause(opaque);
}

static int kh_uart_op_resume(void *opaque)
{
	return kvmhost_uart_resume(opaque);
}

static int kh_uart_op_state_size(void *opaque)
{
	return kvmhost_uart_state_size(opaque);
}

static int kh_uart_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_uart_save(opaque, buf, len);
}

static int kh_uart_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_uart_restore(opaque, buf, len);
}

static const struct kvmhost_device_ops kh_uart_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_uart_op_reset,
    .pause = kh_uart_op_pause,
    .resume = kh_uart_op_resume,
    .state_size = kh_uart_op_state_size,
    .save = kh_uart_op_save,
    .restore = kh_uart_op_restore,
};

KVMHOST_API int kvmhost_uart_register(struct kvmhost_uart *uart, struct kvmhost_device_registry *registry,
				      const char *id)
{
	if (!uart)
		return KH_FAIL(EINVAL, "uart is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_UART_STATE_VERSION, &kh_uart_ops, uart);
}

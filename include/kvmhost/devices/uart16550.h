/**
 * @file uart16550.h
 * @brief A 16550A UART (the PC's COM ports) on a port-I/O bus.
 *
 * Registers, at offsets 0 to 7 from the base port: RBR/THR (DLL with
 * LCR.DLAB), IER (DLM with DLAB), IIR/FCR, LCR, MCR, LSR, MSR, SCR. 16-byte
 * receive FIFO with trigger levels, FIFO enable and reset through FCR;
 * loopback mode (MCR bit 4) connects the transmitter to the receiver and
 * the MCR outputs to the MSR inputs, as Linux's probe expects. Interrupts
 * (receiver line status, received data / character timeout, transmitter
 * empty, modem status, in that priority) drive one struct kvmhost_irq_line:
 * high while IIR reports one, with the 8250 rules Linux relies on (reading
 * IIR clears a pending THRE interrupt; setting IER.THRI while THR is empty
 * raises it again).
 *
 * Timing: the serial line is modelled at infinite speed. A byte written to
 * THR goes out at once (LSR.THRE and TEMT stay set), so the transmit FIFO
 * never holds anything. Received bytes arrive in the bursts
 * kvmhost_uart_receive() delivers, and the four character times of silence
 * after which a 16550 reports a character timeout count as passed when a
 * burst ends: below the trigger level IIR reports a timeout (0x0c), at or
 * above it received data available (0x04); both raise the line.
 *
 * Output goes to a host fd with write(2). The vCPU never waits for it: when
 * the fd cannot take a byte (write() says EAGAIN, or, for an fd that was not
 * O_NONBLOCK when the UART was made, poll() says it is not writable) bytes
 * wait in a 4 KiB buffer, sent before newer ones on the next transmit or
 * kvmhost_uart_flush(); when that is full they are dropped and counted. A
 * write error other than EAGAIN gives up on the fd (output is then dropped
 * and counted). Writing to a pipe whose reader has gone raises SIGPIPE, as
 * any write(2) does: embedders normally ignore that signal.
 * Input is pushed in by the embedder: kvmhost_uart_receive() accepts what
 * the receive FIFO has room for, and kvmhost_uart_pump() moves bytes from a
 * readable fd, for an event loop. Nothing is ever overrun from the host side;
 * LSR.OE is set only when the guest's own loopback transmissions overflow
 * the FIFO.
 *
 * Machine state: kvmhost_uart_reset(), kvmhost_uart_pause()/_resume() and
 * kvmhost_uart_save()/_restore() (guest-visible registers and the receive
 * FIFO as plain data; output waiting in the host buffer, the counters and
 * the options are the host's, not saved); kvmhost_uart_register() puts the
 * UART in a struct kvmhost_device_registry with all of them.
 *
 * Thread safety: one lock per UART; bus callbacks (any vCPU thread) and the
 * receive/pump/flush/stats calls (any thread) may run concurrently. The irq
 * line is set with that lock held. kvmhost_uart_destroy() must not race any
 * other call on the same UART.
 */
#ifndef KVMHOST_DEVICES_UART16550_H
#define KVMHOST_DEVICES_UART16550_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_device_registry;
struct kvmhost_irq_line;

/** Opaque UART. */
struct kvmhost_uart;

/** The PC's serial ports: base port and ISA IRQ (GSI on a standard IOAPIC/PIC setup). */
#define KVMHOST_UART_COM1_BASE 0x3f8
#define KVMHOST_UART_COM1_IRQ  4     /**< ISA IRQ of COM1 */
#define KVMHOST_UART_COM2_BASE 0x2f8 /**< first port of COM2 */
#define KVMHOST_UART_COM2_IRQ  3     /**< ISA IRQ of COM2 */
#define KVMHOST_UART_COM3_BASE 0x3e8 /**< first port of COM3 */
#define KVMHOST_UART_COM3_IRQ  4     /**< ISA IRQ of COM3 */
#define KVMHOST_UART_COM4_BASE 0x2e8 /**< first port of COM4 */
#define KVMHOST_UART_COM4_IRQ  3     /**< ISA IRQ of COM4 */

/** Ports a UART occupies from its base. */
#define KVMHOST_UART_PORTS 8
/** Depth of the receive FIFO. */
#define KVMHOST_UART_FIFO_SIZE 16
/** Bytes of output held while the output fd is full. */
#define KVMHOST_UART_TX_BUFFER 4096
/** Version of the state kvmhost_uart_save() writes (and the registry records). */
#define KVMHOST_UART_STATE_VERSION 1

/**
 * Called when the guest has emptied the receive FIFO (read its last byte, or
 * reset or switched the FIFO), so an
 * embedder that stopped watching its input fd while the FIFO was full can
 * start again. Runs in the vCPU thread, without the UART's lock held (it may
 * call kvmhost_uart_pump()). After stopping the watch, re-check
 * kvmhost_uart_rx_room(): the FIFO may have emptied just before.
 */
typedef void (*kvmhost_uart_rx_space_fn)(void *opaque);

/** Options for kvmhost_uart_create(); size rules as kvmhost_system_options. */
struct kvmhost_uart_options {
	size_t size;			   /**< sizeof(struct kvmhost_uart_options) */
	int out_fd;			   /**< host fd for transmitted bytes (not owned); -1: discard (counted as
						sent). Note 0 is a valid fd: set -1 explicitly for none. */
	struct kvmhost_irq_line *irq;	   /**< interrupt line (not owned; must outlive the UART); NULL: none */
	kvmhost_uart_rx_space_fn rx_space; /**< optional, see kvmhost_uart_rx_space_fn */
	void *rx_space_opaque;		   /**< passed to rx_space */
	const char *name;		   /**< for messages and the bus range; copied; may be NULL */
};

/** Counters of a UART, filled by kvmhost_uart_get_stats(). */
struct kvmhost_uart_stats {
	size_t size;	      /**< set by the caller to sizeof(struct kvmhost_uart_stats) */
	uint64_t tx_bytes;    /**< bytes the guest transmitted (loopback excluded) */
	uint64_t tx_written;  /**< bytes written to out_fd, or discarded without one */
	uint64_t tx_dropped;  /**< bytes dropped: the buffer was full or out_fd failed */
	uint64_t tx_pending;  /**< bytes waiting in the buffer now */
	uint64_t rx_bytes;    /**< bytes accepted by kvmhost_uart_receive()/kvmhost_uart_pump() */
	uint64_t rx_overruns; /**< characters lost to overrun (loopback into a full FIFO) */
};

/**
 * Create a UART in its reset state, not attached to any bus.
 * @param opts options; NULL: no output fd, no interrupt line
 * @param out receives the new UART
 * @return 0; -EINVAL, -E2BIG (options), -ENOMEM.
 */
KVMHOST_API int kvmhost_uart_create(const struct kvmhost_uart_options *opts, struct kvmhost_uart **out);

/** Detach (if attached) and destroy a UART. Buffered output is dropped; call
 * kvmhost_uart_flush() first to keep it. NULL is ignored.
 * @param uart the UART
 */
KVMHOST_API void kvmhost_uart_destroy(struct kvmhost_uart *uart);

/**
 * Claim ports @p base to @p base + 7 on @p bus. A UART sits on one bus at a
 * time; it stays there until destroyed.
 * @param uart the UART
 * @param bus the bus
 * @param base the first of the UART's 8 ports (0x3f8 for COM1)
 * @return 0; -EINVAL for NULL arguments or a range past port 0xffff; -EBUSY
 *         if already attached; -EEXIST if the ports are taken (the bus's
 *         message names the owner).
 */
KVMHOST_API int kvmhost_uart_attach(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base);

/**
 * Claim bytes @p base to @p base + 7 of an MMIO bus: the same 8 byte-wide registers as kvmhost_uart_attach(),
 * at a guest-physical address (a device tree's `ns16550a` with reg-shift 0 and reg-io-width 1, as the arm64
 * machine has it). Rules as kvmhost_uart_attach().
 * @param uart the UART
 * @param bus the MMIO bus
 * @param base the first register's guest-physical address
 * @return 0; -EINVAL for NULL arguments or a range that wraps; -EBUSY if already attached; -EEXIST if the
 *         range is taken.
 */
KVMHOST_API int kvmhost_uart_attach_mmio(struct kvmhost_uart *uart, struct kvmhost_bus *bus, uint64_t base);

/**
 * Put received bytes into the receive FIFO, in order, as far as it has room
 * (none in loopback mode, where the receiver listens to the transmitter).
 * @param uart the UART
 * @param bytes the bytes
 * @param len bytes at @p bytes
 * @return the number of bytes accepted (0 to @p len; the caller keeps the
 *         rest); -EINVAL for a NULL @p uart, or NULL @p bytes with @p len > 0.
 */
KVMHOST_API int kvmhost_uart_receive(struct kvmhost_uart *uart, const void *bytes, size_t len);

/** Return how many bytes kvmhost_uart_receive() would accept now (0 to
 * KVMHOST_UART_FIFO_SIZE), or -EINVAL for NULL.
 * @param uart the UART
 * @return how many bytes kvmhost_uart_receive() would accept now (0 to KVMHOST_UART_FIFO_SIZE), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_rx_room(struct kvmhost_uart *uart);

/**
 * Move bytes from @p in_fd into the receive FIFO: at most the room there is,
 * without blocking (poll() first, so a blocking fd is fine too). For an
 * event loop, when @p in_fd is readable; when this returns 0 with
 * kvmhost_uart_rx_room() at 0, stop watching @p in_fd until the rx_space
 * callback runs.
 * @param uart the UART
 * @param in_fd the host-side input, e.g. a terminal or a pipe
 * @return bytes moved (0 if there was no room or nothing to read); -EPIPE at
 *         end of file (stop watching the fd); -EINVAL for NULL or a negative
 *         fd; read(2)'s negative errno.
 */
KVMHOST_API int kvmhost_uart_pump(struct kvmhost_uart *uart, int in_fd);

/**
 * Try to write buffered output to out_fd, without blocking.
 * @param uart the UART
 * @return bytes still buffered (0: all out); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_flush(struct kvmhost_uart *uart);

/**
 * Copy the UART's counters. @p stats->size must be set; a smaller (older)
 * struct gets the fields it has room for.
 * @param uart the UART
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL for NULL or a size smaller than the size field.
 */
KVMHOST_API int kvmhost_uart_get_stats(struct kvmhost_uart *uart, struct kvmhost_uart_stats *stats);

/**
 * Back to the power-on state (the state kvmhost_uart_create() gives):
 * registers reset, the receive FIFO emptied (the rx_space callback then
 * runs), the interrupt line lowered. Buffered output and the counters are
 * kept.
 * @param uart the UART
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_reset(struct kvmhost_uart *uart);

/**
 * Pause: until kvmhost_uart_resume(), kvmhost_uart_receive() and
 * kvmhost_uart_pump() accept nothing (kvmhost_uart_rx_room() reads 0) and
 * the interrupt line is not changed; register accesses still work, and
 * their effect on the line waits for resume. Pausing twice is the same as
 * once.
 * @param uart the UART
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_pause(struct kvmhost_uart *uart);

/**
 * Resume after kvmhost_uart_pause(): the line is set to the level the
 * registers call for, and the rx_space callback runs if the FIFO has room
 * (the embedder may have stopped watching its input while paused).
 * @param uart the UART
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_resume(struct kvmhost_uart *uart);

/** Return the bytes kvmhost_uart_save() writes (a constant per state
 * version), or -EINVAL for NULL.
 * @param uart the UART
 * @return the bytes kvmhost_uart_save() writes (a constant per state version), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_uart_state_size(struct kvmhost_uart *uart);

/**
 * Save the guest-visible state: a fixed little-endian layout with a magic
 * and KVMHOST_UART_STATE_VERSION (described in lib/devices/uart16550.c),
 * not a copy of a C struct.
 * @param uart the UART
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return the bytes written (kvmhost_uart_state_size()); -EINVAL for NULL;
 *         -ENOSPC if @p len is smaller.
 */
KVMHOST_API int kvmhost_uart_save(struct kvmhost_uart *uart, void *buf, size_t len);

/**
 * Load a state kvmhost_uart_save() wrote, checking every field (register
 * bits the UART never sets, a FIFO count past the FIFO's depth, bytes past
 * the count, MSR inputs that do not follow MCR...). Then the interrupt line
 * follows the registers (unless paused) and, when the FIFO has room, the
 * rx_space callback runs.
 * @param uart the UART
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a bad blob (the UART is then untouched).
 */
KVMHOST_API int kvmhost_uart_restore(struct kvmhost_uart *uart, const void *buf, size_t len);

/**
 * Register the UART in @p registry as @p id, with state version
 * KVMHOST_UART_STATE_VERSION and ops that call kvmhost_uart_reset, _pause,
 * _resume, _state_size, _save and _restore. Remove it from the registry
 * before destroying it.
 * @param uart the UART
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p uart.
 */
KVMHOST_API int kvmhost_uart_register(struct kvmhost_uart *uart, struct kvmhost_device_registry *registry,
				      const char *id);

#ifdef __cplusplus
}
#endif

#endif

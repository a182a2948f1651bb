/*
 * libFuzzer target: the PC's legacy devices on one port bus, driven by a
 * hostile guest with reads and writes of every width at every offset
 * (plain accesses and REP string I/O through kvmhost_bus_dispatch_exit()),
 * by the host side (UART receive, pump from a pipe, flush into a pipe that
 * fills up, pause/resume, device resets, fw_cfg files added while the guest
 * reads), and by saved state (kvmhost_*_restore()) from the input: 16550
 * UARTs at COM1 (output to a non-blocking pipe) and COM2 (a blocking pipe,
 * or no fd), the i8042, the CMOS RTC, fw_cfg and debug-exit.
 *
 * (fw_cfg has only the traditional interface, no DMA: fw_cfg.h. Saved state
 * is a file the VMM reads back, so its parsers are fuzzed here too.)
 *
 * Invariants checked on every record, against models kept here or state
 * read back with the devices' side-effect-free calls (save, get_byte):
 *  - UART: the first register a read returns is what the state says (RBR
 *    the oldest FIFO byte, IIR by the 16550 priorities, LSR from the errors
 *    and the FIFO count, ...); the interrupt line is high exactly when IIR
 *    names an interrupt (unless paused); rx_room() is the FIFO's room;
 *    stats add up (transmitted = written + dropped + pending, pending at
 *    most the 4 KiB buffer); COM1's output pipe holds what was written,
 *    and, until something is dropped, exactly the bytes the guest sent to
 *    THR outside loopback, in order;
 *  - i8042: reads return the status and output buffer the state holds;
 *    the reset count and callback follow the pulses the guest made;
 *  - CMOS: RAM bytes (and registers A, B) read back what the guest wrote;
 *    C reads 0, D 0x80; with SET off the time registers are a valid date
 *    and time in the current mode (BCD or binary, 12 or 24 h);
 *  - fw_cfg: every data byte is the selected item's byte at the offset, or
 *    0 past its end (items modelled here, the directory included);
 *  - debug-exit: each write in its range asks for (value << 1) | 1;
 *  - every device: what save() writes, restore() takes back and save()
 *    writes again; a restore that fails leaves the device as it was.
 *
 * Input: byte 0 setup (bit 0 CMOS LOCALTIME, bit 1 CMOS RESTORE_PAUSED,
 * bits 2-3 debug-exit width 1/1/2/4, bit 4 COM2 without an output fd),
 * then 8-byte records: [0] op: bits 0-2 kind, bits 3-4 width log2
 * (1, 2, 4, 8); [1..2] a = u16 LE; [3..7] v = 40 bits LE.
 * A port is base[(a >> 12) & 7] + (a & 0xf): COM1, COM2, 0x60, 0x64, 0x70,
 * 0x510, debug-exit, or (7) the raw port a & 0xfff.
 *   0  read the port             1  write v to the port
 *   2  string I/O: v & 0xff + 1 accesses of the width (at most 4), write
 *      when v bit 39, data bytes from v
 *   3  UART host side, a & 7: 0 receive (v >> 32) & 7 bytes of v; 1 pump
 *      COM1 after putting v & 0xff bytes in its input pipe; 2 drain
 *      v & 0xfff bytes of COM1's output and flush; 3 flush both; 4 pause
 *      or resume COM1 (v & 1); 5 drain COM2's pipe; 6 reset COM1; 7 pump
 *      from a pipe at end of file
 *   4  other host side, a & 3: 0 add a fw_cfg file of v & 0xff bytes;
 *      1 reset fw_cfg, i8042, CMOS, debug-exit; 2 save/restore round trip of
 *      every device; 3 restore device (a >> 8) % 6 from a valid blob with
 *      byte (v >> 8) set to v >> 16 and byte (v >> 24) xored with v & 0xff
 *   5  restore device (a >> 8) % 6 from the next v & 0xff input bytes (the
 *      records go on after them)
 *   6, 7  nothing (the checks only)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kvmhost/bus.h>
#include <kvmhost/devices/cmos_rtc.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/fw_cfg.h>
#include <kvmhost/devices/i8042.h>
#include <kvmhost/devices/uart16550.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/vcpu.h>

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

#define COM1 KVMHOST_UART_COM1_BASE
#define COM2 KVMHOST_UART_COM2_BASE
#define DBG  0xf4u

static int verbose; /* FUZZ_VERBOSE=1: say why a state check failed */

/* Host side: pipes made once, drained at the start of every input. */
static int com1_out[2], com2_out[2], com1_in[2], eof_pipe;

static void make_pipe(int fds[2], int nonblock_read, int nonblock_write)
{
	if (pipe(fds) != 0)
		abort();
	(void)fcntl(fds[1], F_SETPIPE_SZ, 4096); /* fills up after a page */
	if (nonblock_read)
		(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	if (nonblock_write)
		(void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
}

static size_t drain(int fd, uint8_t *buf, size_t max)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, 0) != 1) /* some of the read ends block */
		return 0;
	n = read(fd, buf, max);

	return n > 0 ? (size_t)n : 0;
}

static void drain_all(int fd)
{
	uint8_t buf[4096];

	while (drain(fd, buf, sizeof(buf)))
		;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int e[2];

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	make_pipe(com1_out, 1, 1);
	make_pipe(com2_out, 1, 0); /* a blocking writer: the UART must poll() first */
	make_pipe(com1_in, 0, 1);  /* a blocking reader: pump polls first */
	if (pipe(e) != 0)
		abort();
	close(e[1]);
	eof_pipe = e[0];
	return 0;
}

/* ---- devices and their callbacks ---- */

static struct kvmhost_bus *bus;
static struct kvmhost_uart *com1, *com2;
static struct kvmhost_irq_line *line1, *line2;
static struct kvmhost_i8042 *kbd;
static struct kvmhost_cmos_rtc *rtc;
static struct kvmhost_fw_cfg *fw;
static struct kvmhost_debug_exit *dbg;
static int level1, level2, paused1, com2_fd;
static int resets_seen, exits_seen;
static uint64_t exit_status;
static unsigned dbg_width;

static int set_level(void *opaque, int l)
{
	*(int *)opaque = l;
	return 0;
}

static void on_reset(void *opaque)
{
	(void)opaque;
	resets_seen++;
	(void)kvmhost_i8042_reset_count(kbd); /* allowed from the callback */
}

static void on_exit_req(void *opaque, uint64_t status)
{
	(void)opaque;
	exits_seen++;
	exit_status = status;
}

static int no_pump; /* set while a restore is checked: the state must stay what was restored */

static void on_rx_space(void *opaque)
{
	(void)opaque;
	if (!no_pump)
		(void)kvmhost_uart_pump(com1, com1_in[0]); /* allowed from the callback */
}

/* fw_cfg's items as the guest should see them. */
#define MAX_FILES 24
static struct {
	char name[56];
	uint8_t data[300];
	uint32_t len;
} files[MAX_FILES];
static unsigned nfiles;
static uint8_t dir[4 + 64 * MAX_FILES];
static const uint64_t ram_size = 0x12345678ull;

static void add_file(const char *name, uint32_t len, uint8_t seed)
{
	int key;

	if (nfiles == MAX_FILES)
		return;
	snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", name);
	files[nfiles].len = len;
	for (uint32_t i = 0; i < len; i++)
		files[nfiles].data[i] = (uint8_t)(seed + i * 7);
	key = kvmhost_fw_cfg_add_file(fw, name, files[nfiles].data, len);
	check(key == (int)(KVMHOST_FW_CFG_FILE_FIRST + nfiles));
	nfiles++;
}

static uint32_t item(uint16_t key, const uint8_t **data)
{
	static uint8_t sig[4] = {'Q', 'E', 'M', 'U'}, id[4] = {1, 0, 0, 0}, ram[8], cpus[2] = {2, 0};
	uint8_t *e;

	*data = NULL;
	if (key & 0x8000)
		return 0;
	key &= 0x3fff;
	switch (key) {
	case 0:
		*data = sig;
		return 4;
	case 1:
		*data = id;
		return 4;
	case 3:
		for (int i = 0; i < 8; i++)
			ram[i] = (uint8_t)(ram_size >> (8 * i));
		*data = ram;
		return 8;
	case 5:
		*data = cpus;
		return 2;
	case 0x19:
		memset(dir, 0, sizeof(dir));
		dir[3] = (uint8_t)nfiles;
		for (unsigned i = 0; i < nfiles; i++) {
			e = dir + 4 + 64 * i;
			e[2] = (uint8_t)(files[i].len >> 8);
			e[3] = (uint8_t)files[i].len;
			e[4] = (uint8_t)((0x20 + i) >> 8);
			e[5] = (uint8_t)(0x20 + i);
			memcpy(e + 8, files[i].name, strlen(files[i].name));
		}
		*data = dir;
		return 4 + 64 * nfiles;
	default:
		if (key >= 0x20 && key - 0x20u < nfiles) {
			*data = files[key - 0x20].data;
			return files[key - 0x20].len;
		}
		return 0;
	}
}

static void setup(uint8_t flags)
{
	struct kvmhost_uart_options uo = {.size = sizeof(uo)};
	struct kvmhost_irq_line_options lo = {.size = sizeof(lo)};
	struct kvmhost_i8042_options ko = {.size = sizeof(ko)};
	struct kvmhost_cmos_rtc_options ro = {.size = sizeof(ro)};
	struct kvmhost_fw_cfg_options fo = {.size = sizeof(fo)};
	struct kvmhost_debug_exit_options dopt = {.size = sizeof(dopt)};
	static const unsigned widths[4] = {1, 1, 2, 4};

	drain_all(com1_out[0]);
	drain_all(com2_out[0]);
	drain_all(com1_in[0]);
	if (kvmhost_bus_create("pio", &bus) < 0)
		abort();
	lo.set_level = set_level;
	lo.opaque = &level1;
	level1 = level2 = paused1 = 0;
	if (kvmhost_irq_line_create(&lo, &line1) < 0)
		abort();
	lo.opaque = &level2;
	if (kvmhost_irq_line_create(&lo, &line2) < 0)
		abort();
	uo.out_fd = com1_out[1];
	uo.irq = line1;
	uo.rx_space = on_rx_space;
	uo.name = "com1";
	if (kvmhost_uart_create(&uo, &com1) < 0 || kvmhost_uart_attach(com1, bus, COM1) < 0)
		abort();
	com2_fd = flags & 0x10 ? -1 : com2_out[1];
	uo.out_fd = com2_fd;
	uo.irq = line2;
	uo.rx_space = NULL;
	uo.name = "com2";
	if (kvmhost_uart_create(&uo, &com2) < 0 || kvmhost_uart_attach(com2, bus, COM2) < 0)
		abort();
	ko.reset = on_reset;
	resets_seen = exits_seen = 0;
	if (kvmhost_i8042_create(&ko, &kbd) < 0 || kvmhost_i8042_attach(kbd, bus) < 0)
		abort();
	ro.flags = flags & 3;
	if (kvmhost_cmos_rtc_create(&ro, &rtc) < 0 || kvmhost_cmos_rtc_attach(rtc, bus) < 0 ||
	    kvmhost_cmos_rtc_set_memory_size(rtc, 0xc0000000ull, 0x40000000ull) < 0)
		abort();
	fo.nb_cpus = 2;
	fo.ram_size = ram_size;
	if (kvmhost_fw_cfg_create(&fo, &fw) < 0 || kvmhost_fw_cfg_attach(fw, bus) < 0)
		abort();
	nfiles = 0;
	add_file("etc/boot-order", 12, 1);
	add_file("opt/org.example/big", 300, 2);
	dbg_width = widths[(flags >> 2) & 3];
	dopt.width = dbg_width;
	dopt.on_exit = on_exit_req;
	if (kvmhost_debug_exit_create(&dopt, &dbg) < 0 || kvmhost_debug_exit_attach(dbg, bus, DBG) < 0)
		abort();
}

static void teardown(void)
{
	(void)kvmhost_uart_flush(com1);
	kvmhost_uart_destroy(com1);
	kvmhost_uart_destroy(com2);
	kvmhost_i8042_destroy(kbd);
	kvmhost_cmos_rtc_destroy(rtc);
	kvmhost_fw_cfg_destroy(fw);
	kvmhost_debug_exit_destroy(dbg);
	check(kvmhost_bus_count(bus) == 0);
	kvmhost_bus_destroy(bus);
	kvmhost_irq_line_destroy(line1);
	kvmhost_irq_line_destroy(line2);
}

/* ---- state, through save() ---- */

enum { D_COM1, D_COM2, D_KBD, D_RTC, D_FW, D_DBG, NDEV };

#define STATE_MAX  256
#define RTC_HOST_S 148 /* the host time of the save, in the RTC's blob */

static int save_n(int d, uint8_t *buf, size_t len)
{
	switch (d) {
	case D_COM1:
		return kvmhost_uart_save(com1, buf, len);
	case D_COM2:
		return kvmhost_uart_save(com2, buf, len);
	case D_KBD:
		return kvmhost_i8042_save(kbd, buf, len);
	case D_RTC:
		return kvmhost_cmos_rtc_save(rtc, buf, len);
	case D_FW:
		return kvmhost_fw_cfg_save(fw, buf, len);
	default:
		return kvmhost_debug_exit_save(dbg, buf, len);
	}
}

static int save(int d, uint8_t buf[STATE_MAX])
{
	return save_n(d, buf, STATE_MAX);
}

static int restore(int d, const uint8_t *buf, size_t len)
{
	switch (d) {
	case D_COM1:
		return kvmhost_uart_restore(com1, buf, len);
	case D_COM2:
		return kvmhost_uart_restore(com2, buf, len);
	case D_KBD:
		return kvmhost_i8042_restore(kbd, buf, len);
	case D_RTC:
		return kvmhost_cmos_rtc_restore(rtc, buf, len);
	case D_FW:
		return kvmhost_fw_cfg_restore(fw, buf, len);
	default:
		return kvmhost_debug_exit_restore(dbg, buf, len);
	}
}

static int state_size(int d)
{
	switch (d) {
	case D_COM1:
		return kvmhost_uart_state_size(com1);
	case D_COM2:
		return kvmhost_uart_state_size(com2);
	case D_KBD:
		return kvmhost_i8042_state_size(kbd);
	case D_RTC:
		return kvmhost_cmos_rtc_state_size(rtc);
	case D_FW:
		return kvmhost_fw_cfg_state_size(fw);
	default:
		return kvmhost_debug_exit_state_size(dbg);
	}
}

/* Two blobs of device d say the same (the RTC's save time aside, and its
 * offset when a restore rebases it). */
static int same_state(int d, const uint8_t *x, const uint8_t *y, int n, int restored, uint8_t flags)
{
	if (d == D_RTC) {
		uint8_t a[STATE_MAX], b[STATE_MAX];

		memcpy(a, x, (size_t)n);
		memcpy(b, y, (size_t)n);
		memset(a + RTC_HOST_S, 0, 8);
		memset(b + RTC_HOST_S, 0, 8);
		if (restored && (flags & 2)) { /* RESTORE_PAUSED moves the offset by the time since the save */
			memset(a + RTC_HOST_S - 8, 0, 8);
			memset(b + RTC_HOST_S - 8, 0, 8);
		}
		return memcmp(a, b, (size_t)n) == 0;
	}
	return memcmp(x, y, (size_t)n) == 0;
}

struct uart_state {
	uint8_t count, fifo[16], rbr, ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm, thri;
};

static struct uart_state uart_state(struct kvmhost_uart *u)
{
	uint8_t b[STATE_MAX];
	struct uart_state s;

	check(kvmhost_uart_save(u, b, sizeof(b)) == 37);
	s.count = b[8];
	memcpy(s.fifo, b + 9, 16);
	s.rbr = b[25];
	s.ier = b[26];
	s.fcr = b[27];
	s.lcr = b[28];
	s.mcr = b[29];
	s.lsr = b[30];
	s.msr = b[31];
	s.scr = b[32];
	s.dll = b[33];
	s.dlm = b[34];
	s.thri = b[35];
	return s;
}

/* IIR by the 16550's priorities (uart16550.h). */
static uint8_t uart_iir(const struct uart_state *s)
{
	static const uint8_t trigger[4] = {1, 4, 8, 14};
	int fifo = s->fcr & 1;
	uint8_t id = 1;

	if ((s->ier & 4) && s->lsr)
		id = 6;
	else if ((s->ier & 1) && s->count)
		id = fifo && s->count < trigger[s->fcr >> 6] ? 0x0c : 0x04;
	else if ((s->ier & 2) && s->thri)
		id = 2;
	else if ((s->ier & 8) && (s->msr & 0x0f))
		id = 0;
	return (uint8_t)(id | (fifo ? 0xc0 : 0));
}

static uint8_t uart_reg(const struct uart_state *s, unsigned reg)
{
	int dlab = s->lcr & 0x80;

	switch (reg) {
	case 0:
		return dlab ? s->dll : s->count ? s->fifo[0] : s->rbr;
	case 1:
		return dlab ? s->dlm : s->ier;
	case 2:
		return uart_iir(s);
	case 3:
		return s->lcr;
	case 4:
		return s->mcr;
	case 5:
		return (uint8_t)(0x60 | s->lsr | (s->count ? 1 : 0));
	case 6:
		return s->msr;
	default:
		return s->scr;
	}
}

static void check_uart(struct kvmhost_uart *u, int level, int paused, int fd)
{
	struct kvmhost_uart_stats st = {.size = sizeof(st)};
	struct uart_state s = uart_state(u);
	unsigned cap = s.fcr & 1 ? 16 : 1;

	check(s.count <= cap);
	if (!paused)
		check(level == !(uart_iir(&s) & 1));
	check(kvmhost_uart_rx_room(u) == (paused || (s.mcr & 0x10) ? 0 : (int)(cap - s.count)));
	check(kvmhost_uart_get_stats(u, &st) == 0);
	check(st.tx_pending <= KVMHOST_UART_TX_BUFFER && st.tx_bytes == st.tx_written + st.tx_dropped + st.tx_pending);
	if (fd < 0)
		check(st.tx_written == st.tx_bytes);
}

/* COM1's output: what the guest sent, and what the pipe got. */
static uint8_t sent[1 << 16];
static size_t nsent, nread;
static int sent_lost; /* something was dropped: the stream has holes */

static void check_com1_output(void)
{
	struct kvmhost_uart_stats st = {.size = sizeof(st)};
	int inpipe = 0;

	check(kvmhost_uart_get_stats(com1, &st) == 0 && ioctl(com1_out[0], FIONREAD, &inpipe) == 0);
	check(st.tx_written == nread + (uint64_t)inpipe);
	if (st.tx_dropped || nsent > sizeof(sent))
		sent_lost = 1;
	if (!sent_lost)
		check(st.tx_bytes == nsent);
}

static void drain_com1(size_t max)
{
	uint8_t buf[4096];
	size_t n = drain(com1_out[0], buf, max < sizeof(buf) ? max : sizeof(buf));

	for (size_t i = 0; i < n && !sent_lost; i++)
		check(nread + i < nsent && buf[i] == sent[nread + i]);
	nread += n;
}

/* A guest access of COM1 that starts at THR: the bytes it sends. */
static void com1_sends(uint64_t port, const uint8_t *data, uint32_t size, uint32_t count)
{
	struct uart_state s;

	if (port != COM1)
		return;
	s = uart_state(com1);
	for (uint32_t j = 0; j < count; j++) {
		if (!(s.lcr & 0x80) && !(s.mcr & 0x10) && nsent < sizeof(sent))
			sent[nsent] = data[j * size];
		if (!(s.lcr & 0x80) && !(s.mcr & 0x10))
			nsent++;
		if (size >= 4)
			s.lcr = data[j * size + 3]; /* the next access sees the new LCR */
	}
}

/* ---- i8042 ---- */

static int pulses;

static void kbd_state(uint8_t *status, uint8_t *out, uint8_t *pending)
{
	uint8_t b[STATE_MAX];

	check(kvmhost_i8042_save(kbd, b, sizeof(b)) == 16);
	*status = b[8];
	*out = b[11];
	*pending = b[12];
}

/* ---- CMOS ---- */

static uint8_t cmos[128]; /* what RAM and registers A, B should read */

static int cmos_ram(unsigned i)
{
	return (i >= 0x0e && i != 0x32) || i == 0x0a || i == 0x0b;
}

static void cmos_reload(void)
{
	for (unsigned i = 0; i < 128; i++)
		if (cmos_ram(i))
			cmos[i] = (uint8_t)kvmhost_cmos_rtc_get_byte(rtc, (uint8_t)i);
	cmos[0x0a] &= 0x7f;
}

static uint8_t cmos_index(void)
{
	uint8_t b[STATE_MAX];

	check(kvmhost_cmos_rtc_save(rtc, b, sizeof(b)) == 180);
	return b[8];
}

static int bcd_ok(int v, int bcd)
{
	return !bcd || ((v & 0x0f) <= 9 && (v >> 4) <= 9);
}

static int dec(int v, int bcd)
{
	return bcd ? (v >> 4) * 10 + (v & 0x0f) : v;
}

static void check_cmos(void)
{
	int b = kvmhost_cmos_rtc_get_byte(rtc, 0x0b), bcd, v;

	for (unsigned i = 0; i < 128; i++)
		if (cmos_ram(i) && i != 0x0a)
			check(kvmhost_cmos_rtc_get_byte(rtc, (uint8_t)i) == cmos[i]);
	check((kvmhost_cmos_rtc_get_byte(rtc, 0x0a) & 0x7f) == cmos[0x0a]);
	check(kvmhost_cmos_rtc_get_byte(rtc, 0x0c) == 0 && kvmhost_cmos_rtc_get_byte(rtc, 0x0d) == 0x80);
	if (b & 0x80)
		return; /* SET: the guest's half-written time */
	bcd = !(b & 0x04);
	v = kvmhost_cmos_rtc_get_byte(rtc, 0);
	check(bcd_ok(v, bcd) && dec(v, bcd) < 60);
	v = kvmhost_cmos_rtc_get_byte(rtc, 2);
	check(bcd_ok(v, bcd) && dec(v, bcd) < 60);
	v = kvmhost_cmos_rtc_get_byte(rtc, 4);
	if (b & 0x02) {
		check(bcd_ok(v, bcd) && dec(v, bcd) < 24);
	} else {
		check(bcd_ok(v & 0x7f, bcd) && dec(v & 0x7f, bcd) >= 1 && dec(v & 0x7f, bcd) <= 12);
	}
	v = kvmhost_cmos_rtc_get_byte(rtc, 6);
	check(bcd_ok(v, bcd) && dec(v, bcd) >= 1 && dec(v, bcd) <= 7);
	v = kvmhost_cmos_rtc_get_byte(rtc, 7);
	check(bcd_ok(v, bcd) && dec(v, bcd) >= 1 && dec(v, bcd) <= 31);
	v = kvmhost_cmos_rtc_get_byte(rtc, 8);
	check(bcd_ok(v, bcd) && dec(v, bcd) >= 1 && dec(v, bcd) <= 12);
	v = kvmhost_cmos_rtc_get_byte(rtc, 9);
	check(bcd_ok(v, bcd) && dec(v, bcd) <= 99);
	v = kvmhost_cmos_rtc_get_byte(rtc, 0x32);
	check(bcd_ok(v, bcd) && dec(v, bcd) <= 99);
}

/* ---- one guest access ---- */

static void fw_state(uint16_t *sel, uint32_t *off)
{
	uint8_t b[STATE_MAX];

	check(kvmhost_fw_cfg_save(fw, b, sizeof(b)) == 20);
	*sel = (uint16_t)(b[8] | b[9] << 8);
	*off = (uint32_t)b[12] | (uint32_t)b[13] << 8 | (uint32_t)b[14] << 16 | (uint32_t)b[15] << 24;
}

/* What the models expect of an access of @size bytes at @port, repeated
 * @count times (string I/O); checks a read's bytes afterwards. */
struct expect {
	int com; /* 1, 2: the UART's register (first byte of the first access) */
	struct uart_state us;
	int kbd_status, kbd_data;
	uint8_t ks, ko, kp;
	int rtc;
	uint8_t rtc_index;
	int dbg;
	int fw;		       /* fw_cfg bytes expected in fwb */
	uint8_t fwb[4096 * 2]; /* last: before() clears only what comes before it */
};

static void before(struct expect *e, uint64_t port, const uint8_t *data, uint32_t size, uint32_t count, int write)
{
	memset(e, 0, offsetof(struct expect, fwb));
	if (port >= COM1 && port + size <= COM1 + 8) {
		e->com = 1;
		e->us = uart_state(com1);
		if (write)
			com1_sends(port, data, size, count);
	} else if (port >= COM2 && port + size <= COM2 + 8) {
		e->com = 2;
		e->us = uart_state(com2);
	} else if (port == 0x60 && size == 1) {
		kbd_state(&e->ks, &e->ko, &e->kp);
		e->kbd_data = 1;
		if (write)
			for (uint32_t j = 0; j < count; j++) {
				if (e->kp == 0xd1 && !(data[j] & 1))
					pulses++;
				e->kp = 0; /* a data byte ends the command */
			}
	} else if (port == 0x64 && size == 1) {
		kbd_state(&e->ks, &e->ko, &e->kp);
		e->kbd_status = 1;
		if (write)
			for (uint32_t j = 0; j < count; j++)
				if (data[j] >= 0xf0 && !(data[j] & 1))
					pulses++;
	} else if (port >= 0x70 && port + size <= 0x72) {
		e->rtc = 1;
		e->rtc_index = cmos_index();
		if (write)
			for (uint32_t j = 0; j < count; j++)
				for (uint32_t i = 0; i < size; i++) {
					uint8_t b = data[j * size + i];

					if ((port + i) % 2 == 0)
						e->rtc_index = b & 0x7f;
					else if (cmos_ram(e->rtc_index))
						cmos[e->rtc_index] = e->rtc_index == 0x0a ? b & 0x7f : b;
				}
	} else if (port >= KVMHOST_FW_CFG_PORT && port + size <= KVMHOST_FW_CFG_PORT + 2 && !write) {
		uint16_t sel;
		uint32_t off, len;
		const uint8_t *it;

		fw_state(&sel, &off);
		len = item(sel, &it);
		e->fw = 1;
		for (uint32_t j = 0; j < count; j++)
			for (uint32_t i = 0; i < size; i++) {
				uint8_t *x = &e->fwb[j * size + i];

				*x = 0;
				if (port + i == KVMHOST_FW_CFG_PORT + 1) {
					if (off < len)
						*x = it[off];
					off++;
				}
			}
	} else if (port >= DBG && port + size <= DBG + dbg_width) {
		e->dbg = 1;
		exits_seen = 0;
	}
}

static void after(const struct expect *e, uint64_t port, const uint8_t *data, uint32_t size, uint32_t count, int write,
		  int r)
{
	if (e->com && !write)
		check(data[0] == uart_reg(&e->us, (unsigned)(port - (e->com == 1 ? COM1 : COM2))));
	if (e->kbd_status && !write)
		check(data[0] == e->ks && !(e->ks & 0x02));
	if (e->kbd_data && !write) {
		uint8_t s, o, p;

		check(data[0] == e->ko);
		kbd_state(&s, &o, &p);
		check(!(s & 0x21)); /* the read emptied the output buffer */
	}
	if (e->rtc && !write)
		for (uint32_t j = 0; j < count; j++)
			for (uint32_t i = 0; i < size; i++) {
				uint8_t got = data[j * size + i];

				if ((port + i) % 2 == 0)
					check(got == 0xff);
				else if (cmos_ram(e->rtc_index) && e->rtc_index != 0x0a)
					check(got == cmos[e->rtc_index]);
				else if (e->rtc_index == 0x0c)
					check(got == 0);
				else if (e->rtc_index == 0x0d)
					check(got == 0x80);
			}
	if (e->fw)
		check(memcmp(data, e->fwb, (size_t)size * count) == 0);
	if (e->dbg && write) {
		uint64_t v = 0, st = 0;

		for (uint32_t i = 0; i < size; i++)
			v |= (uint64_t)data[(count - 1) * size + i] << (8 * i);
		check(r == 0 && exits_seen == (int)count && exit_status == ((v << 1) | 1));
		check(kvmhost_debug_exit_requested(dbg, &st) == 1 && st == exit_status);
	}
	if (e->dbg && !write)
		for (uint32_t i = 0; i < size * count; i++)
			check(data[i] == 0);
}

static uint64_t port_of(uint32_t a)
{
	static const uint64_t base[7] = {COM1, COM2, 0x60, 0x64, 0x70, KVMHOST_FW_CFG_PORT, DBG};
	uint32_t sel = (a >> 12) & 7;

	return sel == 7 ? (a & 0xfff) : base[sel] + (a & 0xf);
}

/* ---- save/restore ---- */

/* The models that keep their own copy: the others read the device's state. */
static void after_restore(int d)
{
	if (d == D_RTC)
		cmos_reload();
}

static void round_trip(uint8_t flags)
{
	for (int d = 0; d < NDEV; d++) {
		uint8_t a[STATE_MAX], b[STATE_MAX], small[4];
		int n = save(d, a), m;

		check(n == state_size(d) && n >= 0 && n <= STATE_MAX);
		if (n > 0)
			check(save_n(d, small, sizeof(small)) == -ENOSPC);
		no_pump = 1;
		check(restore(d, a, (size_t)n) == 0);
		no_pump = 0;
		m = save(d, b);
		check(m == n && same_state(d, a, b, n, 1, flags));
		after_restore(d);
	}
}

static void restore_from(int d, const uint8_t *blob, size_t len, uint8_t flags)
{
	uint8_t a[STATE_MAX], b[STATE_MAX];
	int n = save(d, a), r, m;

	check(n >= 0);
	no_pump = 1;
	r = restore(d, blob, len);
	no_pump = 0;
	m = save(d, b);
	check(m == n);
	if (r < 0) {
		check(r == -EINVAL);
		check(same_state(d, a, b, n, 0, flags)); /* untouched */
		return;
	}
	if (verbose && !((size_t)n == len && same_state(d, blob, b, n, 1, flags))) {
		fprintf(stderr, "device %d took a state it does not save back:\n", d);
		for (size_t k = 0; k < len; k++)
			fprintf(stderr, "%02x%s", blob[k], k + 1 == len ? "\n" : " ");
		for (int k = 0; k < m; k++)
			fprintf(stderr, "%02x%s", b[k], k + 1 == m ? "\n" : " ");
	}
	check((size_t)n == len && same_state(d, blob, b, n, 1, flags));
	after_restore(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	setup(flags);
	nsent = nread = 0;
	sent_lost = 0;
	pulses = 0;
	cmos_reload();
	for (size_t i = 1; i + 8 <= size; i += 8) {
		const uint8_t *rec = &data[i];
		uint32_t kind = rec[0] & 7, len = 1u << ((rec[0] >> 3) & 3),
			 a = (uint32_t)rec[1] | (uint32_t)rec[2] << 8;
		uint64_t v = 0, port = port_of(a);
		uint8_t buf[4096 * 2];
		struct expect e;
		int r;

		for (int b = 0; b < 5; b++)
			v |= (uint64_t)rec[3 + b] << (8 * b);
		memcpy(buf, &v, 8);
		switch (kind) {
		case 0:
		case 1:
			before(&e, port, buf, len, 1, kind == 1);
			r = kind ? kvmhost_bus_write(bus, port, buf, len) : kvmhost_bus_read(bus, port, buf, len);
			check(r == 0 || r == KVMHOST_BUS_UNCLAIMED);
			if (r == 0)
				after(&e, port, buf, len, 1, kind == 1, r);
			break;
		case 2: {
			struct kvmhost_exit x = {.reason = KVMHOST_EXIT_IO};
			uint32_t sz = len > 4 ? 4 : len, count = (uint32_t)(v & 0xff) + 1;

			for (uint32_t b = 0; b < sz * count; b++)
				buf[b] = (uint8_t)(v >> (8 * (b % 5)));
			x.io.port = (uint16_t)port;
			x.io.size = (uint8_t)sz;
			x.io.is_write = (uint8_t)(v >> 39);
			x.io.count = count;
			x.io.data = buf;
			before(&e, port, buf, sz, count, x.io.is_write);
			r = kvmhost_bus_dispatch_exit(bus, NULL, &x);
			check(r == 0 || r == KVMHOST_BUS_UNCLAIMED);
			if (r == 0)
				after(&e, port, buf, sz, count, x.io.is_write, r);
			break;
		}
		case 3:
			switch (a & 7) {
			case 0: {
				int room = kvmhost_uart_rx_room(com1), n = (int)((v >> 32) & 7);

				check(kvmhost_uart_receive(com1, buf, (size_t)n) == (n < room ? n : room));
				break;
			}
			case 1: {
				int room = kvmhost_uart_rx_room(com1);

				if (write(com1_in[1], buf, v & 0xff) < 0)
					(void)0; /* full: fine */
				r = kvmhost_uart_pump(com1, com1_in[0]);
				check(r >= 0 && r <= room);
				break;
			}
			case 2:
				drain_com1(v & 0xfff);
				check(kvmhost_uart_flush(com1) >= 0);
				break;
			case 3:
				check(kvmhost_uart_flush(com1) >= 0 && kvmhost_uart_flush(com2) >= 0);
				break;
			case 4:
				paused1 = (int)(v & 1);
				check((paused1 ? kvmhost_uart_pause(com1) : kvmhost_uart_resume(com1)) == 0);
				break;
			case 5:
				drain_all(com2_out[0]);
				break;
			case 6:
				check(kvmhost_uart_reset(com1) == 0);
				break;
			default:
				r = kvmhost_uart_pump(com1, eof_pipe);
				check(r == -EPIPE || (r == 0 && kvmhost_uart_rx_room(com1) == 0));
				break;
			}
			break;
		case 4:
			switch (a & 3) {
			case 0: {
				char name[32];

				snprintf(name, sizeof(name), "opt/fuzz/%u", nfiles);
				add_file(name, (uint32_t)(v & 0xff), (uint8_t)(v >> 8));
				break;
			}
			case 1:
				check(kvmhost_fw_cfg_reset(fw) == 0 && kvmhost_i8042_reset(kbd) == 0 &&
				      kvmhost_cmos_rtc_reset(rtc) == 0 && kvmhost_debug_exit_reset(dbg) == 0);
				check(kvmhost_debug_exit_requested(dbg, NULL) == 0);
				cmos[0x0b] &= (uint8_t)~0x78;
				break;
			case 2:
				round_trip(flags);
				break;
			default: {
				int d = (int)((a >> 8) % NDEV), n = save(d, buf);

				if (n > 0) {
					buf[((v >> 8) & 0xff) % (uint32_t)n] = (uint8_t)(v >> 16);
					buf[((v >> 24) & 0xff) % (uint32_t)n] ^= (uint8_t)v;
				}
				restore_from(d, buf, (size_t)n, flags);
				break;
			}
			}
			break;
		case 5: {
			size_t n = v & 0xff, left = size - (i + 8);

			if (n > left)
				n = left;
			restore_from((int)((a >> 8) % NDEV), rec + 8, n, flags);
			i += n;
			break;
		}
		default:
			break;
		}
		check_uart(com1, level1, paused1, com1_out[1]);
		check_uart(com2, level2, 0, com2_fd);
		check_com1_output();
		check(kvmhost_i8042_reset_count(kbd) == pulses && resets_seen == pulses);
		check_cmos();
	}
	teardown();
	return 0;
}

/*
 * 8042 keyboard controller (i8042.h) without keyboard or mouse: the
 * controller commands a guest probes with, the command byte, the output
 * port, and the CPU reset line that reboots the machine. A device above the
 * bus: the reset is reported to the embedder, never acted on here. Its
 * state (struct kh_i8042_regs) saves as a fixed little-endian blob; it needs
 * no pause, since it only ever answers register accesses.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/bus.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/i8042.h>

#include "../core/internal.h"
#include "../core/state_io.h"

#define ST_OBF	    0x01 /* output buffer full */
#define ST_IBF	    0x02 /* input buffer full: never, commands complete at once */
#define ST_SYS	    0x04 /* system flag (set by the self-test / command byte) */
#define ST_CMD	    0x08 /* last write was to the command port */
#define ST_UNLOCKED 0x10 /* keyboard not inhibited */
#define ST_AUX_OBF  0x20 /* the output buffer holds aux data */

#define CB_SYS	   0x04 /* command byte: system flag */
#define CB_KBD_DIS 0x10
#define CB_AUX_DIS 0x20

#define OP_RESET 0x01 /* output port: CPU reset line (0 = asserted) */
#define OP_A20	 0x02

/* Commands that take a data byte through port 0x60. */
#define CMD_WRITE_CB  0x60
#define CMD_WRITE_OUT 0xd1
#define CMD_ECHO_KBD  0xd2
#define CMD_ECHO_AUX  0xd3
#define CMD_WRITE_AUX 0xd4

/* Guest-visible state: plain data. */
struct kh_i8042_regs {
	uint8_t status;
	uint8_t cmd_byte;
	uint8_t outport;
	uint8_t out_data;    /* output buffer; kept after a read, as on hardware */
	uint8_t pending_cmd; /* command waiting for its data byte, 0 if none */
};

struct kvmhost_i8042 {
	pthread_mutex_t lock;
	struct kh_i8042_regs r;
	kvmhost_i8042_reset_fn reset;
	void *opaque;
	int resets;
	struct kvmhost_bus *bus;
};

/* The state a PC BIOS leaves: POST done (SYS), keyboard interrupt and
 * scan-code translation on, A20 enabled, reset line released. */
static void kh_i8042_power_on(struct kh_i8042_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->cmd_byte = 0x45;
	r->status = ST_SYS | ST_CMD | ST_UNLOCKED;
	r->outport = OP_RESET | OP_A20;
}

static void kh_i8042_queue(struct kh_i8042_regs *r, uint8_t v, int aux)
{
	r->out_data = v;
	r->status |= ST_OBF;
	if (aux)
		r->status |= ST_AUX_OBF;
	else
		r->status &= (uint8_t)~ST_AUX_OBF;
}

/* Returns 1 when the command pulses the reset line. */
static int kh_i8042_command(struct kh_i8042_regs *r, uint8_t cmd)
{
	r->status |= ST_CMD;
	r->pending_cmd = 0;
	switch (cmd) {
	case 0x20:
		kh_i8042_queue(r, r->cmd_byte, 0);
		break;
	case CMD_WRITE_CB:
	case CMD_WRITE_OUT:
	case CMD_ECHO_KBD:
	case CMD_ECHO_AUX:
	case CMD_WRITE_AUX:
		r->pending_cmd = cmd;
		break;
	case 0xa7:
		r->cmd_byte |= CB_AUX_DIS;
		break;
	case 0xa8:
		r->cmd_byte &= (uint8_t)~CB_AUX_DIS;
		break;
	case 0xa9: /* aux interface test: 0 = no error */
	case 0xab: /* keyboard interface test: 0 = no error */
		kh_i8042_queue(r, 0x00, 0);
		break;
	case 0xaa: /* controller self-test */
		r->status |= ST_SYS;
		kh_i8042_queue(r, 0x55, 0);
		break;
	case 0xad:
		r->cmd_byte |= CB_KBD_DIS;
		break;
	case 0xae:
		r->cmd_byte &= (uint8_t)~CB_KBD_DIS;
		break;
	case 0xd0:
		kh_i8042_queue(r, r->outport, 0);
		break;
	default:
		/* 0xf0-0xff pulse the output port bits whose mask bit is 0. */
		if (cmd >= 0xf0 && !(cmd & OP_RESET))
			return 1;
		break; /* anything else: no such command here, ignored */
	}
	return 0;
}

static int kh_i8042_data(struct kh_i8042_regs *r, uint8_t v)
{
	uint8_t cmd = r->pending_cmd;

	r->status &= (uint8_t)~ST_CMD;
	r->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CB:
		r->cmd_byte = v;
		r->status = (uint8_t)((r->status & ~ST_SYS) | (v & CB_SYS));
		break;
	case CMD_WRITE_OUT:
		/* The line returns high after the pulse: the machine restarts. */
		r->outport = (uint8_t)(v | OP_RESET);
		return !(v & OP_RESET);
	case CMD_ECHO_KBD:
		kh_i8042_queue(r, v, 0);
		break;
	case CMD_ECHO_AUX:
		kh_i8042_queue(r, v, 1);
		break;
	default:
		break; /* to the keyboard or mouse: nobody is there */
	}
	return 0;
}

static void kh_i8042_pulse(struct kvmhost_i8042 *k, int pulses)
{
	/* Outside the lock: the callback may call kvmhost_i8042_reset_count(). */
	for (int i = 0; i < pulses; i++)
		if (k->reset)
			k->reset(k->opaque);
}

/* Port 0x60 read: the output buffer. */
static int kh_i8042_data_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_i8042 *k = opaque;

	(void)offset;
	(void)len; /* a one-byte range: always 1 */
	pthread_mutex_lock(&k->lock);
	*(uint8_t *)data = k->r.out_data;
	k->r.status &= (uint8_t) ~(ST_OBF | ST_AUX_OBF);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int kh_i8042_data_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_i8042 *k = opaque;
	int pulse;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&k->lock);
	pulse = kh_i8042_data(&k->r, *(const uint8_t *)data);
	k->resets += pulse;
	pthread_mutex_unlock(&k->lock);
	kh_i8042_pulse(k, pulse);
	return 0;
}

/* Port 0x64 read: the status register. */
static int kh_i8042_status_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_i8042 *k = opaque;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&k->lock);
	*(uint8_t *)data = k->r.status;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int kh_i8042_cmd_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_i8042 *k = opaque;
	int pulse;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&k->lock);
	pulse = kh_i8042_command(&k->r, *(const uint8_t *)data);
	k->resets += pulse;
	pthread_mutex_unlock(&k->lock);
	kh_i8042_pulse(k, pulse);
	return 0;
}

KVMHOST_API int kvmhost_i8042_create(const struct kvmhost_i8042_options *opts, struct kvmhost_i8042 **out)
{
	struct kvmhost_i8042_options o;
	struct kvmhost_i8042 *k;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	k = calloc(1, sizeof(*k));
	if (!k)
		return KH_FAIL(ENOMEM, "out of memory");
	pthread_mutex_init(&k->lock, NULL);
	kh_i8042_power_on(&k->r);
	k->reset = o.reset;
	k->opaque = o.opaque;
	*out = k;
	return 0;
}

KVMHOST_API void kvmhost_i8042_destroy(struct kvmhost_i8042 *i8042)
{
	if (!i8042)
		return;
	if (i8042->bus) {
		kvmhost_bus_unregister(i8042->bus, KVMHOST_I8042_DATA_PORT);
		kvmhost_bus_unregister(i8042->bus, KVMHOST_I8042_CMD_PORT);
	}
	pthread_mutex_destroy(&i8042->lock);
	free(i8042);
}

KVMHOST_API int kvmhost_i8042_attach(struct kvmhost_i8042 *i8042, struct kvmhost_bus *bus)
{
	struct kvmhost_bus_range data = {.size = sizeof(data)}, cmd = {.size = sizeof(cmd)};
	int r;

	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (i8042->bus)
		return KH_FAIL(EBUSY, "i8042 is already attached");
	data.base = KVMHOST_I8042_DATA_PORT;
	data.length = 1;
	data.read = kh_i8042_data_read;
	data.write = kh_i8042_data_write;
	data.opaque = i8042;
	data.name = "i8042-data";
	cmd.base = KVMHOST_I8042_CMD_PORT;
	cmd.length = 1;
	cmd.read = kh_i8042_status_read;
	cmd.write = kh_i8042_cmd_write;
	cmd.opaque = i8042;
	cmd.name = "i8042-cmd";
	r = kvmhost_bus_register(bus, &data);
	if (r < 0)
		return r;
	r = kvmhost_bus_register(bus, &cmd);
	if (r < 0) {
		kvmhost_bus_unregister(bus, KVMHOST_I8042_DATA_PORT);
		return r;
	}
	i8042->bus = bus;
	return 0;
}

KVMHOST_API int kvmhost_i8042_reset_count(struct kvmhost_i8042 *i8042)
{
	int n;

	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	pthread_mutex_lock(&i8042->lock);
	n = i8042->resets;
	pthread_mutex_unlock(&i8042->lock);
	return n;
}

/* ---- reset and state ---- */

KVMHOST_API int kvmhost_i8042_reset(struct kvmhost_i8042 *i8042)
{
	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	pthread_mutex_lock(&i8042->lock);
	kh_i8042_power_on(&i8042->r);
	pthread_mutex_unlock(&i8042->lock);
	return 0;
}

/* State blob, version 1, little-endian, 16 bytes:
 *   u32 magic "KHKB", u32 version,
 *   u8 status, u8 cmd_byte, u8 outport, u8 out_data, u8 pending_cmd,
 *   u8 reserved[3] (0). */
#define KH_I8042_MAGIC	    0x424b484bu /* "KHKB" */
#define KH_I8042_STATE_SIZE (KH_STATE_HEADER_SIZE + 8)
#define KH_I8042_ST_VALID   (ST_OBF | ST_SYS | ST_CMD | ST_UNLOCKED | ST_AUX_OBF)

KVMHOST_API int kvmhost_i8042_state_size(struct kvmhost_i8042 *i8042)
{
	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	return KH_I8042_STATE_SIZE;
}

KVMHOST_API int kvmhost_i8042_save(struct kvmhost_i8042 *i8042, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (!i8042 || !buf)
		return KH_FAIL(EINVAL, "i8042 or buf is NULL");
	if (len < KH_I8042_STATE_SIZE)
		return KH_FAIL(ENOSPC, "i8042: state needs %d bytes, the buffer has %zu", KH_I8042_STATE_SIZE, len);
	pthread_mutex_lock(&i8042->lock);
	kh_le_put(&p, KH_I8042_MAGIC, 4);
	kh_le_put(&p, KVMHOST_I8042_STATE_VERSION, 4);
	kh_le_put(&p, i8042->r.status, 1);
	kh_le_put(&p, i8042->r.cmd_byte, 1);
	kh_le_put(&p, i8042->r.outport, 1);
	kh_le_put(&p, i8042->r.out_data, 1);
	kh_le_put(&p, i8042->r.pending_cmd, 1);
	kh_le_put(&p, 0, 3);
	pthread_mutex_unlock(&i8042->lock);
	return KH_I8042_STATE_SIZE;
}

static int kh_i8042_pending_ok(uint8_t cmd)
{
	return cmd == 0 || cmd == CMD_WRITE_CB || cmd == CMD_WRITE_OUT || cmd == CMD_ECHO_KBD || cmd == CMD_ECHO_AUX ||
	       cmd == CMD_WRITE_AUX;
}

KVMHOST_API int kvmhost_i8042_restore(struct kvmhost_i8042 *i8042, const void *buf, size_t len)
{
	struct kh_i8042_regs r = {0};
	const uint8_t *p = buf;
	uint32_t reserved;
	int err;

	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	err = kh_state_check_header(buf, len, KH_I8042_MAGIC, KVMHOST_I8042_STATE_VERSION, KH_I8042_STATE_SIZE, "i8042",
				    __func__);
	if (err < 0)
		return err;
	p += KH_STATE_HEADER_SIZE;
	r.status = (uint8_t)kh_le_get(&p, 1);
	r.cmd_byte = (uint8_t)kh_le_get(&p, 1);
	r.outport = (uint8_t)kh_le_get(&p, 1);
	r.out_data = (uint8_t)kh_le_get(&p, 1);
	r.pending_cmd = (uint8_t)kh_le_get(&p, 1);
	reserved = (uint32_t)kh_le_get(&p, 3);
	/* Only states the model can reach: no input buffer full (commands
	 * complete at once), the keyboard never inhibited, aux data only in a
	 * full buffer, the reset line released (a pulse returns it high). */
	if ((r.status & ~KH_I8042_ST_VALID) || !(r.status & ST_UNLOCKED) ||
	    ((r.status & ST_AUX_OBF) && !(r.status & ST_OBF)))
		return KH_FAIL(EINVAL, "i8042: state has status 0x%02x, which the controller never shows", r.status);
	if (!(r.outport & OP_RESET))
		return KH_FAIL(EINVAL, "i8042: state has output port 0x%02x with the reset line held", r.outport);
	if (!kh_i8042_pending_ok(r.pending_cmd))
		return KH_FAIL(EINVAL, "i8042: state waits for the data byte of 0x%02x, which takes none",
			       r.pending_cmd);
	if (reserved)
		return KH_FAIL(EINVAL, "i8042: state has reserved bytes 0x%06x", reserved);
	pthread_mutex_lock(&i8042->lock);
	i8042->r = r;
	pthread_mutex_unlock(&i8042->lock);
	return 0;
}

static int kh_i8042_op_reset(void *opaque)
{
	return kvmhost_i8042_reset(opaque);
}

static int kh_i8042_op_state_size(void *opaque)
{
	return kvmhost_i8042_state_size(opaque);
}

static int kh_i8042_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_i8042_save(opaque, buf, len);
}

static int kh_i8042_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_i8042_restore(opaque, buf, len);
}

/* No pause: the controller raises no interrupt and writes no memory. */
static const struct kvmhost_device_ops kh_i8042_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_i8042_op_reset,
    .state_size = kh_i8042_op_state_size,
    .save = kh_i8042_op_save,
    .restore = kh_i8042_op_restore,
};

KVMHOST_API int kvmhost_i8042_register(struct kvmhost_i8042 *i8042, struct kvmhost_device_registry *registry,
				       const char *id)
{
	if (!i8042)
		return KH_FAIL(EINVAL, "i8042 is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_I8042_STATE_VERSION, &kh_i8042_ops, i8042);
}

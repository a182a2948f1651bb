/*
 * MC146818 RTC and CMOS RAM (cmos_rtc.h). The clock is never ticked: every
 * read converts the host's wall clock plus the guest's offset, so it costs
 * nothing while the guest does not look and never drifts from the host.
 * While register B's SET bit is on, the time is held as raw fields the guest
 * writes one by one (a date is invalid halfway through being set), and
 * turned into the new offset when SET is cleared. Saved state carries that
 * offset (plus the host time of the save, for the RESTORE_PAUSED policy),
 * not a time, so a restored clock goes on from the host's clock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kvmhost/bus.h>
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/cmos_rtc.h>

#include "../core/internal.h"
#include "../core/state_io.h"

#define REG_SEC	  0x00
#define REG_MIN	  0x02
#define REG_HOUR  0x04
#define REG_WDAY  0x06
#define REG_MDAY  0x07
#define REG_MON	  0x08
#define REG_YEAR  0x09
#define REG_A	  0x0a
#define REG_B	  0x0b
#define REG_C	  0x0c
#define REG_D	  0x0d
#define FIRST_RAM 0x0e

#define A_UIP	0x80
#define B_SET	0x80
#define B_PIE	0x40 /* periodic, alarm, update-ended interrupt enables and */
#define B_AIE	0x20 /* the square wave: stored (never acted on), and cleared */
#define B_UIE	0x10 /* by a reset, as the part's RESET pin does */
#define B_SQWE	0x08
#define B_DM	0x04 /* binary, not BCD */
#define B_24H	0x02
#define D_VRT	0x80
#define HOUR_PM 0x80

/* The update cycle: UIP is set this long before each second ends. */
#define UIP_NS 244000L

/* A time as the registers hold it, in binary. */
struct kh_rtc_time {
	int32_t sec, min, hour; /* hour 0-23 */
	int32_t mday, mon;	/* 1-31, 1-12 */
	int32_t year;		/* e.g. 2026 */
};

/* Guest-visible state: plain data. */
struct kh_rtc_regs {
	uint8_t ram[KVMHOST_CMOS_RTC_SIZE]; /* clock bytes unused; A and B as written (UIP not stored) */
	uint8_t index;
	int64_t offset_s;	   /* guest time - host time, seconds */
	struct kh_rtc_time frozen; /* the time while B.SET is on */
};

struct kvmhost_cmos_rtc {
	pthread_mutex_t lock;
	struct kh_rtc_regs r;
	int localtime;
	int restore_paused; /* KVMHOST_CMOS_RTC_RESTORE_PAUSED */
	struct kvmhost_bus *bus;
};

static void kh_rtc_from_time_t(const struct kvmhost_cmos_rtc *rtc, int64_t t, struct kh_rtc_time *out)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (rtc->localtime)
		localtime_r(&tt, &tm);
	else
		gmtime_r(&tt, &tm);
	out->sec = tm.tm_sec > 59 ? 59 : tm.tm_sec;
	out->min = tm.tm_min;
	out->hour = tm.tm_hour;
	out->mday = tm.tm_mday;
	out->mon = tm.tm_mon + 1;
	out->year = tm.tm_year + 1900;
}

static int64_t kh_rtc_to_time_t(const struct kvmhost_cmos_rtc *rtc, const struct kh_rtc_time *t)
{
	struct tm tm = {0};

	/* timegm()/mktime() normalise out-of-range fields (Feb 30 -> Mar 2),
	 * which is as good as any answer to a guest that set such a date. */
	tm.tm_sec = t->sec;
	tm.tm_min = t->min;
	tm.tm_hour = t->hour;
	tm.tm_mday = t->mday;
	tm.tm_mon = t->mon - 1;
	tm.tm_year = t->year - 1900;
	tm.tm_isdst = -1;
	return (int64_t)(rtc->localtime ? mktime(&tm) : timegm(&tm));
}

static struct timespec kh_rtc_host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static void kh_rtc_now(const struct kvmhost_cmos_rtc *rtc, struct kh_rtc_time *out)
{
	if (rtc->r.ram[REG_B] & B_SET)
		*out = rtc->r.frozen;
	else
		kh_rtc_from_time_t(rtc, (int64_t)kh_rtc_host_now().tv_sec + rtc->r.offset_s, out);
}

/* Make @t the guest's current time. */
static void kh_rtc_set_now(struct kvmhost_cmos_rtc *rtc, const struct kh_rtc_time *t)
{
	if (rtc->r.ram[REG_B] & B_SET)
		rtc->r.frozen = *t;
	else
		rtc->r.offset_s = kh_rtc_to_time_t(rtc, t) - (int64_t)kh_rtc_host_now().tv_sec;
}

/* Day of week, 1 = Sunday, from the date (Sakamoto's method). */
static int kh_rtc_wday(const struct kh_rtc_time *t)
{
	static const int k[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
	int y = t->year - (t->mon < 3), m = t->mon;

	if (m < 1 || m > 12)
		return 1;
	return ((y + y / 4 - y / 100 + y / 400 + k[m - 1] + t->mday) % 7 + 7) % 7 + 1;
}

static uint8_t kh_rtc_enc(const struct kh_rtc_regs *r, int v)
{
	v = ((v % 100) + 100) % 100;
	return (uint8_t)((r->ram[REG_B] & B_DM) ? v : ((v / 10) << 4) | (v % 10));
}

static int kh_rtc_dec(const struct kh_rtc_regs *r, uint8_t v)
{
	return (r->ram[REG_B] & B_DM) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t kh_rtc_read_reg(const struct kvmhost_cmos_rtc *rtc, unsigned idx)
{
	const struct kh_rtc_regs *r = &rtc->r;
	struct kh_rtc_time t;
	int h;

	switch (idx) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case KVMHOST_CMOS_RTC_CENTURY:
		kh_rtc_now(rtc, &t);
		break;
	case REG_A: {
		uint8_t a = r->ram[REG_A] & (uint8_t)~A_UIP;

		/* The last 244 us of each second, unless SET stops updates. */
		if (!(r->ram[REG_B] & B_SET) && kh_rtc_host_now().tv_nsec >= 1000000000L - UIP_NS)
			a |= A_UIP;
		return a;
	}
	case REG_C:
		return 0; /* no interrupt flags: none are raised */
	case REG_D:
		return D_VRT;
	default:
		return r->ram[idx];
	}
	switch (idx) {
	case REG_SEC:
		return kh_rtc_enc(r, t.sec);
	case REG_MIN:
		return kh_rtc_enc(r, t.min);
	case REG_HOUR:
		if (r->ram[REG_B] & B_24H)
			return kh_rtc_enc(r, t.hour);
		h = t.hour % 12;
		return (uint8_t)(kh_rtc_enc(r, h ? h : 12) | (t.hour >= 12 ? HOUR_PM : 0));
	case REG_WDAY:
		return kh_rtc_enc(r, kh_rtc_wday(&t));
	case REG_MDAY:
		return kh_rtc_enc(r, t.mday);
	case REG_MON:
		return kh_rtc_enc(r, t.mon);
	case REG_YEAR:
		return kh_rtc_enc(r, t.year % 100);
	default:
		return kh_rtc_enc(r, t.year / 100);
	}
}

static void kh_rtc_write_reg(struct kvmhost_cmos_rtc *rtc, unsigned idx, uint8_t v)
{
	struct kh_rtc_regs *r = &rtc->r;
	struct kh_rtc_time t;
	int h;

	switch (idx) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case KVMHOST_CMOS_RTC_CENTURY:
		kh_rtc_now(rtc, &t);
		break;
	case REG_WDAY:
		return; /* derived from the date */
	case REG_A:
		r->ram[REG_A] = v & (uint8_t)~A_UIP;
		return;
	case REG_B:
		if ((v ^ r->ram[REG_B]) & B_SET) {
			if (v & B_SET) {
				kh_rtc_now(rtc, &r->frozen); /* stop the clock where it is */
			} else {
				r->ram[REG_B] = v;
				kh_rtc_set_now(rtc, &r->frozen); /* and restart it from there */
			}
		}
		r->ram[REG_B] = v;
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	default:
		r->ram[idx] = v;
		return;
	}
	switch (idx) {
	case REG_SEC:
		t.sec = kh_rtc_dec(r, v);
		break;
	case REG_MIN:
		t.min = kh_rtc_dec(r, v);
		break;
	case REG_HOUR:
		if (r->ram[REG_B] & B_24H) {
			t.hour = kh_rtc_dec(r, v);
		} else {
			h = kh_rtc_dec(r, v & (uint8_t)~HOUR_PM) % 12;
			t.hour = h + ((v & HOUR_PM) ? 12 : 0);
		}
		break;
	case REG_MDAY:
		t.mday = kh_rtc_dec(r, v);
		break;
	case REG_MON:
		t.mon = kh_rtc_dec(r, v);
		break;
	case REG_YEAR:
		t.year = t.year / 100 * 100 + kh_rtc_dec(r, v);
		break;
	default:
		t.year = kh_rtc_dec(r, v) * 100 + t.year % 100;
		break;
	}
	kh_rtc_set_now(rtc, &t);
}

static int kh_rtc_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct kvmhost_cmos_rtc *rtc = opaque;
	uint8_t *p = data;

	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++)
		/* The index port is write-only: it reads as a floating bus. */
		p[i] = (offset + i) % 2 == 0 ? 0xff : kh_rtc_read_reg(rtc, rtc->r.index);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static int kh_rtc_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_cmos_rtc *rtc = opaque;
	const uint8_t *p = data;

	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++) {
		if ((offset + i) % 2 == 0)
			rtc->r.index = p[i] & 0x7f; /* bit 7 is the PC's NMI mask: not ours */
		else
			kh_rtc_write_reg(rtc, rtc->r.index, p[i]);
	}
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

KVMHOST_API int kvmhost_cmos_rtc_create(const struct kvmhost_cmos_rtc_options *opts, struct kvmhost_cmos_rtc **out)
{
	struct kvmhost_cmos_rtc_options o;
	struct kvmhost_cmos_rtc *rtc;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (o.flags & ~(KVMHOST_CMOS_RTC_LOCALTIME | KVMHOST_CMOS_RTC_RESTORE_PAUSED))
		return KH_FAIL(EINVAL, "unknown flags 0x%x",
			       o.flags & ~(KVMHOST_CMOS_RTC_LOCALTIME | KVMHOST_CMOS_RTC_RESTORE_PAUSED));
	rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return KH_FAIL(ENOMEM, "out of memory");
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->localtime = !!(o.flags & KVMHOST_CMOS_RTC_LOCALTIME);
	rtc->restore_paused = !!(o.flags & KVMHOST_CMOS_RTC_RESTORE_PAUSED);
	rtc->r.ram[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	rtc->r.ram[REG_B] = B_24H;
	*out = rtc;
	return 0;
}

KVMHOST_API void kvmhost_cmos_rtc_destroy(struct kvmhost_cmos_rtc *rtc)
{
	if (!rtc)
		return;
	if (rtc->bus)
		kvmhost_bus_unregister(rtc->bus, KVMHOST_CMOS_RTC_PORT);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

KVMHOST_API int kvmhost_cmos_rtc_attach(struct kvmhost_cmos_rtc *rtc, struct kvmhost_bus *bus)
{
	struct kvmhost_bus_range range = {.size = sizeof(range)};
	int r;

	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	if (!bus)
		return KH_FAIL(EINVAL, "bus is NULL");
	if (rtc->bus)
		return KH_FAIL(EBUSY, "the RTC is already attached");
	range.base = KVMHOST_CMOS_RTC_PORT;
	range.length = 2;
	range.read = kh_rtc_bus_read;
	range.write = kh_rtc_bus_write;
	range.opaque = rtc;
	range.name = "cmos-rtc";
	r = kvmhost_bus_register(bus, &range);
	if (r < 0)
		return r;
	rtc->bus = bus;
	return 0;
}

static int kh_rtc_is_ram(unsigned idx)
{
	return idx >= FIRST_RAM && idx < KVMHOST_CMOS_RTC_SIZE && idx != KVMHOST_CMOS_RTC_CENTURY;
}

KVMHOST_API int kvmhost_cmos_rtc_set_byte(struct kvmhost_cmos_rtc *rtc, uint8_t index, uint8_t value)
{
	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	if (!kh_rtc_is_ram(index))
		return KH_FAIL(EINVAL, "index 0x%x is not CMOS RAM (0x0e-0x7f, not the century 0x32)", index);
	pthread_mutex_lock(&rtc->lock);
	rtc->r.ram[index] = value;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

KVMHOST_API int kvmhost_cmos_rtc_get_byte(struct kvmhost_cmos_rtc *rtc, uint8_t index)
{
	int v;

	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	if (index >= KVMHOST_CMOS_RTC_SIZE)
		return KH_FAIL(EINVAL, "index 0x%x is past 0x7f", index);
	pthread_mutex_lock(&rtc->lock);
	v = kh_rtc_read_reg(rtc, index);
	pthread_mutex_unlock(&rtc->lock);
	return v;
}

static void kh_rtc_put16(uint8_t *ram, unsigned idx, uint64_t v)
{
	ram[idx] = (uint8_t)v;
	ram[idx + 1] = (uint8_t)(v >> 8);
}

KVMHOST_API int kvmhost_cmos_rtc_set_memory_size(struct kvmhost_cmos_rtc *rtc, uint64_t below_4g, uint64_t above_4g)
{
	const uint64_t kib = 1024, mib = 1024 * kib;
	uint64_t base, ext, high, above;

	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	if (below_4g > 4096 * mib)
		return KH_FAIL(EINVAL, "below_4g 0x%llx is more than 4 GiB", (unsigned long long)below_4g);
	above = above_4g / (64 * kib);
	if (above > 0xffffff)
		return KH_FAIL(ERANGE, "above_4g 0x%llx does not fit the 24-bit count of 64 KiB units",
			       (unsigned long long)above_4g);
	base = KH_MIN(below_4g / kib, 640);
	ext = below_4g > mib ? KH_MIN((below_4g - mib) / kib, 0xffff) : 0;
	high = below_4g > 16 * mib ? KH_MIN((below_4g - 16 * mib) / (64 * kib), 0xffff) : 0;
	pthread_mutex_lock(&rtc->lock);
	kh_rtc_put16(rtc->r.ram, 0x15, base);
	kh_rtc_put16(rtc->r.ram, 0x17, ext);
	kh_rtc_put16(rtc->r.ram, 0x30, ext);
	kh_rtc_put16(rtc->r.ram, 0x34, high);
	rtc->r.ram[0x5b] = (uint8_t)above;
	rtc->r.ram[0x5c] = (uint8_t)(above >> 8);
	rtc->r.ram[0x5d] = (uint8_t)(above >> 16);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* ---- reset and state ---- */

KVMHOST_API int kvmhost_cmos_rtc_reset(struct kvmhost_cmos_rtc *rtc)
{
	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	pthread_mutex_lock(&rtc->lock);
	rtc->r.ram[REG_B] &= (uint8_t) ~(B_PIE | B_AIE | B_UIE | B_SQWE);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* State blob, version 1, little-endian, 180 bytes:
 *   u32 magic "KHRT", u32 version,
 *   u8 index, u8 reserved[3] (0),
 *   u8 ram[128]  (RAM, and registers A and B at 0x0a/0x0b; the clock's
 *                 own bytes 0x00-0x09, 0x0c, 0x0d and 0x32 are 0),
 *   s64 offset_s (guest time minus host time, in seconds),
 *   s64 host_s   (host CLOCK_REALTIME seconds when saved),
 *   s32 frozen sec, min, hour, mday, mon, year (the time held while B.SET
 *                 is on, as the guest wrote it). */
#define KH_RTC_MAGIC	  0x5452484bu /* "KHRT" */
#define KH_RTC_STATE_SIZE (KH_STATE_HEADER_SIZE + 4 + KVMHOST_CMOS_RTC_SIZE + 16 + 24)
/* The guest can set years 0 to 25755 (century and year bytes of up to 255
 * in binary mode, 255 * 100 + 255): its offsets stay well inside this bound
 * (about 34800 years), and so do the years a clock that then runs on from
 * there shows. */
#define KH_RTC_OFFSET_MAX (1ll << 40)
#define KH_RTC_YEAR_MAX	  40000

KVMHOST_API int kvmhost_cmos_rtc_state_size(struct kvmhost_cmos_rtc *rtc)
{
	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	return KH_RTC_STATE_SIZE;
}

/* The bytes of ram[] that are the clock's, not RAM or registers A/B. */
static int kh_rtc_is_clock_byte(unsigned idx)
{
	return (idx < FIRST_RAM && idx != REG_A && idx != REG_B) || idx == KVMHOST_CMOS_RTC_CENTURY;
}

KVMHOST_API int kvmhost_cmos_rtc_save(struct kvmhost_cmos_rtc *rtc, void *buf, size_t len)
{
	const struct kh_rtc_regs *r;
	uint8_t *p = buf;

	if (!rtc || !buf)
		return KH_FAIL(EINVAL, "rtc or buf is NULL");
	if (len < KH_RTC_STATE_SIZE)
		return KH_FAIL(ENOSPC, "RTC: state needs %d bytes, the buffer has %zu", KH_RTC_STATE_SIZE, len);
	pthread_mutex_lock(&rtc->lock);
	r = &rtc->r;
	kh_le_put(&p, KH_RTC_MAGIC, 4);
	kh_le_put(&p, KVMHOST_CMOS_RTC_STATE_VERSION, 4);
	kh_le_put(&p, r->index, 1);
	kh_le_put(&p, 0, 3);
	for (unsigned i = 0; i < KVMHOST_CMOS_RTC_SIZE; i++)
		kh_le_put(&p, kh_rtc_is_clock_byte(i) ? 0 : r->ram[i], 1);
	kh_le_put(&p, (uint64_t)r->offset_s, 8);
	kh_le_put(&p, (uint64_t)kh_rtc_host_now().tv_sec, 8);
	kh_le_put(&p, (uint32_t)r->frozen.sec, 4);
	kh_le_put(&p, (uint32_t)r->frozen.min, 4);
	kh_le_put(&p, (uint32_t)r->frozen.hour, 4);
	kh_le_put(&p, (uint32_t)r->frozen.mday, 4);
	kh_le_put(&p, (uint32_t)r->frozen.mon, 4);
	kh_le_put(&p, (uint32_t)r->frozen.year, 4);
	pthread_mutex_unlock(&rtc->lock);
	return KH_RTC_STATE_SIZE;
}

KVMHOST_API int kvmhost_cmos_rtc_restore(struct kvmhost_cmos_rtc *rtc, const void *buf, size_t len)
{
	struct kh_rtc_regs r = {0};
	const uint8_t *p = buf;
	int32_t *frozen[6] = {&r.frozen.sec,  &r.frozen.min, &r.frozen.hour,
			      &r.frozen.mday, &r.frozen.mon, &r.frozen.year};
	int64_t host_s;
	uint32_t reserved;
	int err;

	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	err = kh_state_check_header(buf, len, KH_RTC_MAGIC, KVMHOST_CMOS_RTC_STATE_VERSION, KH_RTC_STATE_SIZE, "RTC",
				    __func__);
	if (err < 0)
		return err;
	p += KH_STATE_HEADER_SIZE;
	r.index = (uint8_t)kh_le_get(&p, 1);
	reserved = (uint32_t)kh_le_get(&p, 3);
	for (unsigned i = 0; i < KVMHOST_CMOS_RTC_SIZE; i++)
		r.ram[i] = (uint8_t)kh_le_get(&p, 1);
	r.offset_s = (int64_t)kh_le_get(&p, 8);
	host_s = (int64_t)kh_le_get(&p, 8);
	for (unsigned i = 0; i < 6; i++)
		*frozen[i] = (int32_t)(uint32_t)kh_le_get(&p, 4);
	if (r.index >= KVMHOST_CMOS_RTC_SIZE || reserved)
		return KH_FAIL(EINVAL, "RTC: state has index 0x%02x (past 0x7f) or reserved bytes 0x%06x", r.index,
			       reserved);
	for (unsigned i = 0; i < KVMHOST_CMOS_RTC_SIZE; i++)
		if (kh_rtc_is_clock_byte(i) && r.ram[i])
			return KH_FAIL(EINVAL, "RTC: state has 0x%02x in clock byte 0x%02x, which is not stored",
				       r.ram[i], i);
	if (r.ram[REG_A] & A_UIP)
		return KH_FAIL(EINVAL, "RTC: state has register A 0x%02x with UIP, which is never stored",
			       r.ram[REG_A]);
	if (r.offset_s > KH_RTC_OFFSET_MAX || r.offset_s < -KH_RTC_OFFSET_MAX || host_s < 0 ||
	    host_s > KH_RTC_OFFSET_MAX)
		return KH_FAIL(EINVAL, "RTC: state has a clock offset of %lld s or a save time of %lld s out of range",
			       (long long)r.offset_s, (long long)host_s);
	/* Each frozen field came from one register byte (at most 255) or from
	 * the running clock; the year from two bytes or the clock. */
	for (unsigned i = 0; i < 6; i++)
		if (*frozen[i] < 0 || *frozen[i] > (i == 5 ? KH_RTC_YEAR_MAX : 255))
			return KH_FAIL(EINVAL, "RTC: state has frozen time field %u = %d, out of range", i,
				       (int)*frozen[i]);
	pthread_mutex_lock(&rtc->lock);
	if (rtc->restore_paused) /* go on from the time it read when saved */
		r.offset_s = host_s + r.offset_s - (int64_t)kh_rtc_host_now().tv_sec;
	rtc->r = r;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static int kh_rtc_op_reset(void *opaque)
{
	return kvmhost_cmos_rtc_reset(opaque);
}

static int kh_rtc_op_state_size(void *opaque)
{
	return kvmhost_cmos_rtc_state_size(opaque);
}

static int kh_rtc_op_save(void *opaque, void *buf, size_t len)
{
	return kvmhost_cmos_rtc_save(opaque, buf, len);
}

static int kh_rtc_op_restore(void *opaque, const void *buf, size_t len)
{
	return kvmhost_cmos_rtc_restore(opaque, buf, len);
}

/* No pause: the RTC raises no interrupt and writes no memory, and its clock
 * is the host's (pausing would not stop it; see RESTORE_PAUSED instead). */
static const struct kvmhost_device_ops kh_rtc_ops = {
    .size = sizeof(struct kvmhost_device_ops),
    .reset = kh_rtc_op_reset,
    .state_size = kh_rtc_op_state_size,
    .save = kh_rtc_op_save,
    .restore = kh_rtc_op_restore,
};

KVMHOST_API int kvmhost_cmos_rtc_register(struct kvmhost_cmos_rtc *rtc, struct kvmhost_device_registry *registry,
					  const char *id)
{
	if (!rtc)
		return KH_FAIL(EINVAL, "rtc is NULL");
	return kvmhost_device_registry_add(registry, id, KVMHOST_CMOS_RTC_STATE_VERSION, &kh_rtc_ops, rtc);
}

/*
 * Lab benchmark program for virtio-blk and virtio-net (tests/lab/l1/virtio-bench.sh), statically linked: the
 * same binary runs in the L2 guest (the disk phases and the TCP sender, guest test tests/lab/l2/vbench.sh) and
 * in L1 (the TCP receiver). The guest image has no fio or iperf3, so this does the few things they would:
 *
 *   lab_vbench seq-write DEV SECS [BLOCK_KIB]   sequential O_DIRECT writes from offset 0 (wrapping at the end)
 *   lab_vbench seq-read  DEV SECS [BLOCK_KIB]   sequential O_DIRECT reads, likewise (default blocks: 1024 KiB)
 *   lab_vbench rand-read DEV SECS [SEED]        4 KiB O_DIRECT reads at random aligned offsets, queue depth 1,
 *                                               from a fixed xorshift seed (default 1): the same offsets each run
 *   lab_vbench tcp-send HOST PORT SECS          send to HOST:PORT for SECS seconds, then wait for the receiver
 *                                               to close (so the end marker means "all data arrived")
 *   lab_vbench tcp-recv PORT [TIMEOUT]          accept one connection, count bytes until end of file
 *   lab_vbench dirty MIB RATE [SECS]            a memory-dirtying load (the migration benchmark, tests/lab/l1/
 *                                               migrate-bench.sh): MIB MiB of anonymous memory, every page
 *                                               written once, "VBENCH-DIRTY-READY", then RATE MiB/s of pages
 *                                               written (one byte each, never zero), round-robin, paced by the
 *                                               clock every 10 ms, for SECS seconds (default: until killed)
 *   lab_vbench tick MS                          (the migration benchmark's guest) a line "T n us" on stdout every
 *                                               MS ms of the guest's CLOCK_MONOTONIC, n counting from 1, us that
 *                                               clock in microseconds; the next line is due MS ms after the last
 *                                               one (never a burst to catch up after a stall), until killed
 *   lab_vbench stamp FILE                       (L1) copy stdin to stdout line by line, except the "T n us" lines,
 *                                               which go to FILE as "L1_us T n us", L1_us the arrival on L1's
 *                                               CLOCK_MONOTONIC (a partial last line is dropped); until end of
 *                                               file. With both, the gaps in the arrival of a guest's ticks are
 *                                               what the host saw of it, whatever the guest's clock did
 *
 * Each measuring command prints "VBENCH-BEGIN <name>" just before its first I/O and "VBENCH-END <name> ..."
 * just after its last, with its own clock's figures. Under nested virtualisation the guest's clock may drift,
 * so the L1 script stamps those two lines with L1's /proc/uptime as they arrive on the console and computes
 * the rates from that; the guest's own figures are printed for comparison. The phases last SECS of the
 * guest's clock, capped at 64 GiB / 16 M operations in case that clock runs very slow.
 * tcp-recv runs in L1 and times from the first byte to end of file with L1's CLOCK_MONOTONIC.
 * Exit status 0 on success, 1 on any error (with a message on stderr), 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BYTES (64ull << 30)
#define MAX_OPS	  (16u << 20)
#define RAND_BS	  4096u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	fprintf(stderr, "lab_vbench: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Markers go straight to the console, unbuffered, so that L1 stamps them when they happen. */
static void marker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void marker(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	fflush(stdout);
	if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
		perror("lab_vbench: write");
}

static int open_dev(const char *dev, int flags, uint64_t *size)
{
	int fd = open(dev, flags | O_DIRECT);
	struct stat st;

	if (fd < 0)
		return -1;
	if (ioctl(fd, BLKGETSIZE64, size) < 0) {
		if (fstat(fd, &st) < 0) {
			close(fd);
			return -1;
		}
		*size = (uint64_t)st.st_size;
	}
	return fd;
}

static void *aligned_buf(size_t size, int fill)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, size) != 0)
		return NULL;
	memset(p, fill, size);
	return p;
}

static int seq(const char *name, const char *dev, double secs, size_t bs, int write_it)
{
	uint64_t size, off = 0, bytes = 0, ops = 0;
	unsigned char *buf;
	double t0, t1;
	int fd;

	fd = open_dev(dev, write_it ? O_RDWR : O_RDONLY, &size);
	if (fd < 0)
		return fail(dev);
	if (size < bs) {
		fprintf(stderr, "lab_vbench: %s: %llu bytes, smaller than one block\n", dev, (unsigned long long)size);
		return 1;
	}
	buf = aligned_buf(bs, 0x5a);
	if (!buf)
		return fail("posix_memalign");
	marker("VBENCH-BEGIN %s dev=%s block=%zu size=%llu", name, dev, bs, (unsigned long long)size);
	t0 = now_s();
	t1 = t0;
	do {
		ssize_t n;

		if (off + bs > size)
			off = 0;
		if (write_it) {
			/* A different first word per block: no layer can treat the blocks as all the same. */
			memcpy(buf, &ops, sizeof(ops));
			n = pwrite(fd, buf, bs, (off_t)off);
		} else {
			n = pread(fd, buf, bs, (off_t)off);
		}
		if (n != (ssize_t)bs) {
			if (n >= 0)
				errno = EIO;
			return fail(write_it ? "pwrite" : "pread");
		}
		off += bs;
		bytes += bs;
		ops++;
		t1 = now_s();
	} while (t1 - t0 < secs && bytes < MAX_BYTES);
	if (write_it && fdatasync(fd) < 0)
		return fail("fdatasync");
	t1 = now_s();
	marker("VBENCH-END %s bytes=%llu ops=%llu guest_s=%.3f guest_mbps=%.2f", name, (unsigned long long)bytes,
	       (unsigned long long)ops, t1 - t0, bytes / 1e6 / (t1 - t0));
	close(fd);
	free(buf);
	return 0;
}

static int rand_read(const char *dev, double secs, uint64_t seed)
{
	uint64_t size, blocks, ops = 0, x = seed ? seed : 1;
	unsigned char *buf;
	double t0, t1;
	int fd;

	fd = open_dev(dev, O_RDONLY, &size);
	if (fd < 0)
		return fail(dev);
	blocks = size / RAND_BS;
	if (blocks == 0) {
		fprintf(stderr, "lab_vbench: %s is empty\n", dev);
		return 1;
	}
	buf = aligned_buf(RAND_BS, 0);
	if (!buf)
		return fail("posix_memalign");
	marker("VBENCH-BEGIN rand-read dev=%s block=%u size=%llu seed=%llu", dev, RAND_BS, (unsigned long long)size,
	       (unsigned long long)seed);
	t0 = now_s();
	t1 = t0;
	do {
		/* xorshift64: a fixed, cheap sequence of offsets, the same for every VMM. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ssize_t n = pread(fd, buf, RAND_BS, (off_t)((x % blocks) * RAND_BS));

		if (n != (ssize_t)RAND_BS) {
			if (n >= 0)
				errno = EIO;
			return fail("pread");
		}
		ops++;
		t1 = now_s();
	} while (t1 - t0 < secs && ops < MAX_OPS);
	marker("VBENCH-END rand-read bytes=%llu ops=%llu guest_s=%.3f guest_iops=%.1f",
	       (unsigned long long)(ops * RAND_BS), (unsigned long long)ops, t1 - t0, ops / (t1 - t0));
	close(fd);
	free(buf);
	return 0;
}

static int tcp_send(const char *host, int port, double secs)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	static char buf[128 << 10];
	uint64_t bytes = 0;
	double t0, t1;
	int fd = -1;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "lab_vbench: %s is not an IPv4 address\n", host);
		return 2;
	}
	/* The receiver listens before the VM starts, but the link may need a moment (ARP): retry for ~20 s. */
	for (int i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return fail("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		fprintf(stderr, "lab_vbench: connect %s:%d: %s (retrying)\n", host, port, strerror(errno));
		close(fd);
		fd = -1;
		usleep(200000);
	}
	if (fd < 0) {
		fprintf(stderr, "lab_vbench: could not connect to %s:%d\n", host, port);
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	marker("VBENCH-BEGIN tcp-send to=%s:%d", host, port);
	t0 = now_s();
	t1 = t0;
	do {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("send");
		}
		bytes += (uint64_t)n;
		t1 = now_s();
	} while (t1 - t0 < secs && bytes < MAX_BYTES);
	if (shutdown(fd, SHUT_WR) < 0)
		return fail("shutdown");
	/* The receiver closes after end of file: then every byte has arrived. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	t1 = now_s();
	marker("VBENCH-END tcp-send bytes=%llu guest_s=%.3f guest_mbps=%.2f", (unsigned long long)bytes, t1 - t0,
	       bytes / 1e6 / (t1 - t0));
	close(fd);
	return 0;
}

static int tcp_recv(int port, int timeout)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	static char buf[256 << 10];
	double first = 0, last = 0, t_accept;
	uint64_t bytes = 0;
	int one = 1, ls, fd;

	if (timeout > 0)
		alarm((unsigned)timeout); /* default action: the receiver ends, and the script reports no result */
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0)
		return fail("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("bind");
	if (listen(ls, 1) < 0)
		return fail("listen");
	printf("VBENCH-LISTENING port=%d\n", port);
	fflush(stdout);
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		return fail("accept");
	t_accept = now_s();
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("recv");
		}
		if (n == 0)
			break;
		last = now_s();
		if (bytes == 0)
			first = last;
		bytes += (uint64_t)n;
	}
	close(fd);
	close(ls);
	if (bytes == 0) {
		printf("VBENCH-RECV bytes=0 accept_to_eof_s=%.3f\n", now_s() - t_accept);
		return 1;
	}
	printf("VBENCH-RECV bytes=%llu secs=%.3f mbps=%.2f\n", (unsigned long long)bytes, last - first,
	       last > first ? bytes / 1e6 / (last - first) : 0.0);
	return 0;
}

/* dirty: RATE MiB/s of 4 KiB pages of a MIB MiB working set written, paced by CLOCK_MONOTONIC: each 10 ms the
 * pages due since the start (at most one pass over the set at once, so a clock that jumped, e.g. across a
 * migration's pause, gives one burst and no more). */
static int dirty(long mib, double rate, double secs)
{
	size_t pages = (size_t)mib << 8, next = 0;
	double per_s = rate * 256, t0, t;
	unsigned long long done = 0, due;
	unsigned char gen = 1;
	unsigned char *buf;

	buf = mmap(NULL, pages << 12, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return fail("mmap");
	for (size_t i = 0; i < pages; i++)
		buf[i << 12] = gen;
	printf("VBENCH-DIRTY-READY mib=%ld rate_mibs=%.1f\n", mib, rate);
	fflush(stdout);
	t0 = now_s();
	for (;;) {
		t = now_s() - t0;
		if (secs > 0 && t >= secs)
			break;
		due = (unsigned long long)(t * per_s);
		if (due > done + pages)
			done = due - pages;
		for (; done < due; done++) {
			buf[(next << 12) + (gen & 0xfff)] = gen;
			if (++next == pages) {
				next = 0;
				gen = (unsigned char)(gen == 255 ? 1 : gen + 1);
			}
		}
		usleep(10000);
	}
	printf("VBENCH-DIRTY-END pages=%llu secs=%.1f\n", done, now_s() - t0);
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int tick(long ms) __attribute__((noreturn));
static int tick(long ms)
{
	uint64_t period = (uint64_t)ms * 1000u, due = now_us() + period, t;
	unsigned long long n = 0;
	struct timespec ts;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		t = now_us();
		if (due > t) {
			ts.tv_sec = (time_t)((due - t) / 1000000u);
			ts.tv_nsec = (long)((due - t) % 1000000u) * 1000;
			nanosleep(&ts, NULL);
			continue;
		}
		printf("T %llu %llu\n", ++n, (unsigned long long)t);
		due = t + period; /* after a stall: one line, then the period again */
	}
}

static int stamp(const char *path)
{
	static char line[4096];
	size_t len = 0;
	FILE *ticks = fopen(path, "w");
	int c;

	if (!ticks)
		return fail(path);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(ticks, NULL, _IOLBF, 0);
	while ((c = getchar()) != EOF) {
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = (char)c;
			continue;
		}
		line[len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!strncmp(line, "T ", 2))
			fprintf(ticks, "%llu %s\n", (unsigned long long)now_us(), line);
		else
			printf("%s\n", line);
		len = 0;
	}
	fclose(ticks);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: lab_vbench seq-write|seq-read DEV SECS [BLOCK_KIB]\n"
			"       lab_vbench rand-read DEV SECS [SEED]\n"
			"       lab_vbench tcp-send HOST PORT SECS\n"
			"       lab_vbench tcp-recv PORT [TIMEOUT]\n"
			"       lab_vbench dirty MIB RATE_MIBS [SECS]\n"
			"       lab_vbench tick MS\n"
			"       lab_vbench stamp FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && (!strcmp(argv[1], "seq-write") || !strcmp(argv[1], "seq-read"))) {
		long kib = argc > 4 ? strtol(argv[4], NULL, 0) : 1024;

		if (kib <= 0 || kib % 4 || kib > 65536)
			return usage();
		return seq(argv[1], argv[2], atof(argv[3]), (size_t)kib << 10, argv[1][4] == 'w');
	}
	if (argc >= 4 && !strcmp(argv[1], "rand-read"))
		return rand_read(argv[2], atof(argv[3]), argc > 4 ? strtoull(argv[4], NULL, 0) : 1);
	if (argc == 5 && !strcmp(argv[1], "tcp-send"))
		return tcp_send(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "tcp-recv"))
		return tcp_recv(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 0);
	if (argc >= 4 && !strcmp(argv[1], "dirty") && atol(argv[2]) > 0 && atof(argv[3]) >= 0)
		return dirty(atol(argv[2]), atof(argv[3]), argc > 4 ? atof(argv[4]) : 0);
	if (argc == 3 && !strcmp(argv[1], "tick") && atol(argv[2]) > 0)
		return tick(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "stamp"))
		return stamp(argv[2]);
	return usage();
}

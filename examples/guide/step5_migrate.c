/*
 * Guide step 5, part 2 (docs/guide.md): live migration (migration.h). Two machines in one process stand for a
 * source and a destination on two hosts, a socketpair for the connection between them. The source runs the
 * counting kernel guide_tick.S (a counter at 2 MiB, a digit on COM1 every 65536 counts); the destination is
 * created with KVMHOST_MACHINE_INCOMING from the same options. A thread receives
 * (kvmhost_machine_migrate_receive()) while the main thread sends (kvmhost_machine_migrate_send()): memory goes
 * over in passes while the guest runs on, a progress callback printing each; then the source pauses for the last
 * dirty pages and the state, the destination starts, and the source stops (reason MIGRATED). The destination's
 * counter goes on from the source's.
 * Exit status: 0; 1 on a failure; 77 (one line on stderr) where there is no usable /dev/kvm.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>

#define COUNT_ADDR 0x200000 /* guide_tick.S's counter */

extern const unsigned char mbguest_guide_tick[], mbguest_guide_tick_end[];

static struct kvmhost_machine_serial serial = {.size = sizeof(serial), .in_fd = -1, .out_fd = STDOUT_FILENO};
static struct kvmhost_machine_x86_options x86 = {.size = sizeof(x86)};

/* As in step5_snapshot.c: the same options for both machines, only the flags differ. */
static int create(const char *name, uint32_t flags, struct kvmhost_machine **m)
{
	struct kvmhost_machine_options o = {
	    .size = sizeof(o),
	    .name = name,
	    .kernel = mbguest_guide_tick,
	    .kernel_size = (size_t)(mbguest_guide_tick_end - mbguest_guide_tick),
	    .kernel_format = KVMHOST_X86_BOOT_MULTIBOOT,
	    .ram_size = 4u << 20,
	    .vcpu_count = 1,
	    .flags = flags,
	    .serial = &serial,
	    .arch_options = &x86,
	};
	return kvmhost_machine_create(&o, m);
}

static uint32_t counter(struct kvmhost_machine *m)
{
	uint32_t v = 0;

	kvmhost_memory_read(kvmhost_machine_memory(m), COUNT_ADDR, &v, sizeof(v));
	return v;
}

/* Wait (up to 20 s) until the counter passes @above. */
static int wait_counter(struct kvmhost_machine *m, uint32_t above)
{
	struct timespec ms10 = {0, 10000000};

	for (int i = 0; i < 2000; i++) {
		if (counter(m) > above)
			return 0;
		nanosleep(&ms10, NULL);
	}
	return -1;
}

static int fail(const char *what)
{
	fprintf(stderr, "step5_migrate: %s: %s\n", what, kvmhost_last_error());
	return 1;
}

/* The destination's side, in a thread of its own (on another host, it would be the main thread there). */
struct receiver {
	struct kvmhost_machine *m;
	int fd;
	int result;
	char error[256]; /* kvmhost_last_error() is per thread: keep this thread's */
};

static void *receive_main(void *arg)
{
	struct receiver *r = arg;

	r->result = kvmhost_machine_migrate_receive(r->m, r->fd, NULL, NULL);
	if (r->result < 0)
		snprintf(r->error, sizeof(r->error), "%s", kvmhost_last_error());
	return NULL;
}

/* Called by migrate_send in the sending thread after each step: where it is, what it sent, what it expects. */
static void on_progress(void *opaque, const struct kvmhost_migration_progress *p)
{
	static const char *const phases[] = {"?", "setup", "pre-copy", "stop-and-copy", "hand-over", "done"};

	(void)opaque;
	printf("\n  %s: pass %u, %llu bytes sent, %llu pages dirty, expected downtime %llu us",
	       p->phase <= KVMHOST_MIGRATION_PHASE_DONE ? phases[p->phase] : "?", p->iteration,
	       (unsigned long long)p->bytes_sent, (unsigned long long)p->dirty_pages,
	       (unsigned long long)p->expected_downtime_us);
}

int main(void)
{
	struct kvmhost_migration_options o = {.size = sizeof(o), .downtime_limit_ms = 50, .progress = on_progress};
	struct kvmhost_migration_stats st = {.size = sizeof(st)};
	struct kvmhost_machine_stop_info stop = {.size = sizeof(stop)};
	struct kvmhost_system *sys;
	struct kvmhost_machine *src, *dst;
	struct receiver rx = {0};
	pthread_t thread;
	uint32_t at;
	int sv[2];

	setvbuf(stdout, NULL, _IONBF, 0); /* our lines and the guests' COM1 digits share stdout: keep their order */
	if (kvmhost_system_open(NULL, &sys) < 0) {
		fprintf(stderr, "SKIP: step5_migrate: no usable KVM here: %s\n", kvmhost_last_error());
		return 77;
	}
	kvmhost_system_close(sys);

	/* 1. The source runs a while; the destination waits, incoming. */
	if (create("step5-source", 0, &src) < 0 || kvmhost_machine_start(src) < 0)
		return fail("source");
	if (create("step5-destination", KVMHOST_MACHINE_INCOMING, &dst) < 0)
		return fail("destination");
	if (wait_counter(src, 3 * 65536) < 0)
		return fail("the guest does not count");

	/* 2. Connect them and migrate: receive in a thread, send here (both block until it is over). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("step5_migrate: socketpair");
		return 1;
	}
	rx = (struct receiver){.m = dst, .fd = sv[1]};
	if (pthread_create(&thread, NULL, receive_main, &rx) != 0) {
		perror("step5_migrate: pthread_create");
		return 1;
	}
	printf("\nmigrating at counter %u:", counter(src));
	if (kvmhost_machine_migrate_send(src, sv[0], &o, &st) < 0) {
		fail("send");
		close(sv[0]); /* hang up: the destination stops waiting, and never runs the guest */
		pthread_join(thread, NULL);
		fprintf(stderr, "step5_migrate: receive: %s\n", rx.error);
		return 1;
	}
	pthread_join(thread, NULL);
	if (rx.result < 0) {
		fprintf(stderr, "step5_migrate: receive: %s\n", rx.error);
		return 1;
	}
	printf("\nmigrated: %u passes (%llu pages in the last, paused), %llu bytes (state %llu), downtime %.2f ms "
	       "(expected %.2f), total %.1f ms\n",
	       st.passes, (unsigned long long)st.last_pass_pages, (unsigned long long)st.bytes,
	       (unsigned long long)st.state_bytes, st.downtime_us / 1000.0, st.expected_downtime_us / 1000.0,
	       st.total_us / 1000.0);

	/* 3. The source has stopped, handing over; the destination runs the guest on from where it was. */
	if (kvmhost_machine_get_stop_info(src, &stop) < 0 || stop.reason != KVMHOST_MACHINE_STOP_MIGRATED) {
		fprintf(stderr, "step5_migrate: the source did not stop as migrated: %s\n", kvmhost_last_error());
		return 1;
	}
	at = counter(dst);
	printf("source stopped (%s) at counter %u; destination runs from %u\n",
	       kvmhost_machine_stop_reason_name(stop.reason), counter(src), at);
	if (at < counter(src) || wait_counter(dst, at + 2 * 65536) < 0)
		return fail("the migrated guest does not count on");
	if (kvmhost_machine_stop(dst) < 0 || kvmhost_machine_wait(dst, 10000) < 0)
		return fail("stop");
	printf("\nthe migrated guest counted on to %u\n", counter(dst));
	kvmhost_machine_destroy(dst);
	kvmhost_machine_destroy(src);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/*
 * C helpers of the Go binding (compiled by cgo with the package): trampolines for the callbacks, which pass a
 * cgo.Handle (an integer, never a Go pointer) as the opaque pointer, a flattened view of a vCPU exit (so that no
 * Go code reads the C union of struct kvmhost_exit by offset), and calls that need a few C steps around them.
 * layout/layout.c prints the layout of struct kh_exit_flat too: the Go view of it is checked like the others.
 */
#ifndef KVMHOST_GO_SHIM_H
#define KVMHOST_GO_SHIM_H
#include <stdint.h>
#include <kvmhost/kvmhost.h>

/* What the Go side reads of a struct kvmhost_exit. */
struct kh_exit_flat {
	uint32_t reason;
	uint32_t kvm_exit_reason;
	uint16_t io_port;
	uint8_t io_size;
	uint8_t io_is_write;
	uint32_t io_count;
	uint8_t *io_data;
	uint64_t mmio_addr;
	uint32_t mmio_len;
	uint8_t mmio_is_write;
	uint8_t *mmio_data;
};

/* kvmhost_vcpu_run(), the exit flattened into *out on success. */
int kh_vcpu_run(struct kvmhost_vcpu *vcpu, struct kh_exit_flat *out);
/* Route the machine's events to the Go function khGoMachineEvent with handle h. */
void kh_set_event_handler(struct kvmhost_machine_options *o, uintptr_t h);
/* Non-zero while this thread runs a Go event callback (a machine thread). */
int kh_in_event_callback(void);
/* Install (on != 0) or remove the process-wide log callback, which calls khGoLog. */
int kh_set_log(int on, int max_level);
/* Snapshot / restore on fd, with O_NONBLOCK cleared for the call (Go's poller sets it on pipes and sockets). */
int kh_snapshot(struct kvmhost_machine *m, int fd, const struct kvmhost_migration_options *o,
		struct kvmhost_migration_stats *st);
int kh_restore(struct kvmhost_machine *m, int fd, const struct kvmhost_migration_options *o,
	       struct kvmhost_migration_stats *st);
/* The library's default kick signal, SIGRTMIN + 1 (a libc function call, not a constant). */
int kh_default_kick_signal(void);
/* poll() fd for input: 1 readable, 0 timeout, negative errno. */
int kh_poll_in(int fd, int timeout_ms);
#endif

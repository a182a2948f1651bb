package kvmhost

/*
#include "shim.h"
*/
import "C"

import (
	"syscall"
)

// Migration flags (MigrationOptions.Flags).
const (
	MigrationLeavePaused  uint32 = C.KVMHOST_MIGRATION_LEAVE_PAUSED   // Snapshot: a running machine stays paused
	MigrationClockCatchUp uint32 = C.KVMHOST_MIGRATION_CLOCK_CATCH_UP // Restore: the guest's clock advances
	MigrationAllPages     uint32 = C.KVMHOST_MIGRATION_ALL_PAGES      // Snapshot: zero pages with their data too
)

// MigrationOptions are the options of Snapshot and Restore (struct kvmhost_migration_options).
type MigrationOptions struct {
	Flags     uint32
	TimeoutMS uint32 // the longest wait for the peer; 0: the default
}

// MigrationStats say what a snapshot wrote or a restore read (struct kvmhost_migration_stats).
type MigrationStats struct {
	Bytes     uint64
	DataPages uint64
	ZeroPages uint64
	Sections  uint32
	VCPUs     uint32
}

func migrationOptions(o *MigrationOptions) C.struct_kvmhost_migration_options {
	var c C.struct_kvmhost_migration_options
	c.size = C.sizeof_struct_kvmhost_migration_options
	if o != nil {
		c.flags = C.uint32_t(o.Flags)
		c.timeout_ms = C.uint32_t(o.TimeoutMS)
	}
	return c
}

func (m *Machine) stream(op string, conn syscall.Conn, o *MigrationOptions,
	f func(*C.struct_kvmhost_machine, C.int, *C.struct_kvmhost_migration_options, *C.struct_kvmhost_migration_stats) C.int) (MigrationStats, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return MigrationStats{}, err
	}
	co := migrationOptions(o)
	var st C.struct_kvmhost_migration_stats
	st.size = C.sizeof_struct_kvmhost_migration_stats
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		_, cerr = m.do(op, func(p *C.struct_kvmhost_machine) C.int { return f(p, C.int(fd), &co, &st) })
	}); err != nil {
		return MigrationStats{}, err
	}
	if cerr != nil {
		return MigrationStats{}, cerr
	}
	return MigrationStats{Bytes: uint64(st.bytes), DataPages: uint64(st.data_pages), ZeroPages: uint64(st.zero_pages),
		Sections: uint32(st.sections), VCPUs: uint32(st.vcpus)}, nil
}

// Snapshot writes the machine's state to w (kvmhost_machine_snapshot): an *os.File (a file, a pipe) or a
// net.Conn, anything with a file descriptor; it blocks until the whole stream is written. A running machine is
// paused for it and resumed after, unless MigrationLeavePaused. opts may be nil.
func (m *Machine) Snapshot(w syscall.Conn, opts *MigrationOptions) (MigrationStats, error) {
	return m.stream("kvmhost_machine_snapshot", w, opts, func(p *C.struct_kvmhost_machine, fd C.int,
		o *C.struct_kvmhost_migration_options, st *C.struct_kvmhost_migration_stats) C.int {
		return C.kh_snapshot(p, fd, o, st)
	})
}

// Restore reads a snapshot from r into the machine (kvmhost_machine_restore), which must have been made with
// FlagIncoming from options of the same shape and never started; then Start runs the saved guest. On failure
// the machine is stopped for good. opts may be nil.
func (m *Machine) Restore(r syscall.Conn, opts *MigrationOptions) (MigrationStats, error) {
	return m.stream("kvmhost_machine_restore", r, opts, func(p *C.struct_kvmhost_machine, fd C.int,
		o *C.struct_kvmhost_migration_options, st *C.struct_kvmhost_migration_stats) C.int {
		return C.kh_restore(p, fd, o, st)
	})
}

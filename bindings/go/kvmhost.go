// Package kvmhost is the Go binding of libkvmhost, the C library for building KVM virtual machine monitors.
//
// The machine layer (machine.h) is [Machine]: one [Options] value names a whole VM (kernel, RAM, vCPUs, the
// serial console), [NewMachine] builds it, and Start, Pause, Resume, Stop, Wait, Snapshot and Close drive it.
// The primitives below it are [System] (/dev/kvm), [VM], [Memory], [Region] and [VCPU].
//
// Errors are [*Error] values: the C function, the errno (errors.Is(err, syscall.EINVAL) works, and so does
// errors.Is(err, os.ErrNotExist) for ENOENT) and the library's own message (kvmhost_last_error(), read on the
// OS thread that made the failing call).
//
// Handles are closed with Close (io.Closer). No C pointer reaches the user of this package, and C never keeps a
// Go pointer: callbacks go through cgo.Handle values. The package is built with cgo against the kvmhost
// pkg-config package: the installed one, or a build tree's kvmhost.pc
// (PKG_CONFIG_PATH=BUILD/bindings/go/pkgconfig), see README.md.
package kvmhost

/*
#cgo pkg-config: kvmhost
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

// The Go runtime installs its handler for every signal, the library's kick signal included (so the library
// keeps it rather than installing its own no-op handler). Go re-raises a signal that arrives on a thread it did
// not make (the library's vCPU threads) with the default action, which for a real-time signal kills the
// process, unless the program asked for that signal with signal.Notify. So every kick signal a System or a
// Machine uses is asked for here; what arrives is dropped (the channel is never read). The signal still
// interrupts KVM_RUN (EINTR), which is all a kick needs.
var (
	kickMu      sync.Mutex
	kickSignals = map[int]bool{}
	kickSink    = make(chan os.Signal, 1)
)

func acceptKickSignal(sig int) {
	kickMu.Lock()
	defer kickMu.Unlock()
	if !kickSignals[sig] {
		kickSignals[sig] = true
		signal.Notify(kickSink, syscall.Signal(sig))
	}
}

func init() { acceptKickSignal(int(C.kh_default_kick_signal())) }

// HeaderVersion is the version of the headers this package was compiled against; [Version] is the loaded
// library's.
const HeaderVersion = C.KVMHOST_VERSION_STRING

// Version returns the loaded library's version, "major.minor.patch".
func Version() string { return C.GoString(C.kvmhost_version_string()) }

// VersionNumber returns the loaded library's version as major*10000 + minor*100 + patch.
func VersionNumber() int { return int(C.kvmhost_version()) }

// Strerror describes a (positive) errno value as the library does (kvmhost_strerror).
func Strerror(errno syscall.Errno) string { return C.GoString(C.kvmhost_strerror(-C.int(errno))) }

// Error is a failed libkvmhost call.
type Error struct {
	Op    string        // the C function, e.g. "kvmhost_machine_create"
	Errno syscall.Errno // the errno it returned (as a positive value)
	Msg   string        // kvmhost_last_error() of the thread that made the call: "function: what: strerror"
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Op + ": " + e.Errno.Error()
}

// Unwrap returns the errno, so errors.Is(err, syscall.EINVAL) and errors.Is(err, os.ErrNotExist) work.
func (e *Error) Unwrap() error { return e.Errno }

// ErrClosed is returned (wrapped in no *Error) by calls on a handle after its Close.
var ErrClosed = errors.New("kvmhost: use of a closed handle")

// call runs f, a C call returning 0 (or a count) or a negative errno, with the goroutine on one OS thread for
// the call and the read of the thread's last-error message that follows a failure.
func call(op string, f func() C.int) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ret := f()
	if ret < 0 {
		return int(ret), &Error{Op: op, Errno: syscall.Errno(-ret), Msg: C.GoString(C.kvmhost_last_error())}
	}
	return int(ret), nil
}

// errnoError makes an *Error for a check this package makes itself, before any C call.
func errnoError(op string, errno syscall.Errno, msg string) error {
	return &Error{Op: op, Errno: errno, Msg: op + ": " + msg + ": " + errno.Error()}
}

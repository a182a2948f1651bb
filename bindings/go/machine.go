package kvmhost

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/cgo"
	"syscall"
	"time"
	"unsafe"
)

// State is where a machine is in its life (enum kvmhost_machine_state).
type State int

// Machine states.
const (
	StateCreated State = C.KVMHOST_MACHINE_CREATED
	StateRunning State = C.KVMHOST_MACHINE_RUNNING
	StatePaused  State = C.KVMHOST_MACHINE_PAUSED
	StateStopped State = C.KVMHOST_MACHINE_STOPPED
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StopReason is why a machine stopped (enum kvmhost_machine_stop_reason).
type StopReason uint32

// Stop reasons.
const (
	StopNone       StopReason = C.KVMHOST_MACHINE_STOP_NONE
	StopPoweroff   StopReason = C.KVMHOST_MACHINE_STOP_POWEROFF
	StopReset      StopReason = C.KVMHOST_MACHINE_STOP_RESET
	StopDebugExit  StopReason = C.KVMHOST_MACHINE_STOP_DEBUG_EXIT
	StopGuestError StopReason = C.KVMHOST_MACHINE_STOP_GUEST_ERROR
	StopHostError  StopReason = C.KVMHOST_MACHINE_STOP_HOST_ERROR
	StopRequested  StopReason = C.KVMHOST_MACHINE_STOP_REQUESTED
	StopMigrated   StopReason = C.KVMHOST_MACHINE_STOP_MIGRATED
)

// String is the library's name for the reason (kvmhost_machine_stop_reason_name).
func (r StopReason) String() string {
	return C.GoString(C.kvmhost_machine_stop_reason_name(C.uint32_t(r)))
}

// EventType is a kind of machine event (enum kvmhost_machine_event_type).
type EventType uint32

// Event types.
const (
	EventStarted      EventType = C.KVMHOST_MACHINE_EVENT_STARTED
	EventPaused       EventType = C.KVMHOST_MACHINE_EVENT_PAUSED
	EventResumed      EventType = C.KVMHOST_MACHINE_EVENT_RESUMED
	EventRebooted     EventType = C.KVMHOST_MACHINE_EVENT_REBOOTED
	EventDeviceBroken EventType = C.KVMHOST_MACHINE_EVENT_DEVICE_BROKEN
	EventStopped      EventType = C.KVMHOST_MACHINE_EVENT_STOPPED
)

func (t EventType) String() string {
	names := map[EventType]string{EventStarted: "started", EventPaused: "paused", EventResumed: "resumed",
		EventRebooted: "rebooted", EventDeviceBroken: "device-broken", EventStopped: "stopped"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("EventType(%d)", uint32(t))
}

// KernelFormat is how the kernel is loaded (x86: enum kvmhost_x86_boot_format; 0 detects it).
type KernelFormat uint32

// Kernel formats.
const (
	FormatDetect    KernelFormat = 0
	FormatBzImage   KernelFormat = C.KVMHOST_X86_BOOT_BZIMAGE
	FormatPVHELF    KernelFormat = C.KVMHOST_X86_BOOT_PVH_ELF
	FormatMultiboot KernelFormat = C.KVMHOST_X86_BOOT_MULTIBOOT
	FormatRaw       KernelFormat = C.KVMHOST_X86_BOOT_RAW // needs X86Options.RawGPA
)

// RawMode is the CPU mode a FormatRaw image starts in (enum kvmhost_x86_raw_mode).
type RawMode uint32

// Raw modes.
const (
	RawReal        RawMode = C.KVMHOST_X86_RAW_REAL
	RawProtected32 RawMode = C.KVMHOST_X86_RAW_PROTECTED_32
	RawLong64      RawMode = C.KVMHOST_X86_RAW_LONG_64
)

// ResetPolicy is what a guest reset does (enum kvmhost_machine_reset_policy).
type ResetPolicy uint32

// Reset policies.
const (
	ResetStop   ResetPolicy = C.KVMHOST_MACHINE_RESET_STOP
	ResetReboot ResetPolicy = C.KVMHOST_MACHINE_RESET_REBOOT
)

// Machine flags (Options.Flags).
const (
	FlagExternalIO uint32 = C.KVMHOST_MACHINE_EXTERNAL_IO // no I/O thread (not supported by this binding yet)
	FlagIncoming   uint32 = C.KVMHOST_MACHINE_INCOMING    // the destination of Machine.Restore
)

// RAM flags (Options.RAMFlags).
const (
	RAMShared   uint32 = C.KVMHOST_MACHINE_RAM_SHARED
	RAMTHP      uint32 = C.KVMHOST_MACHINE_RAM_THP
	RAMPrefault uint32 = C.KVMHOST_MACHINE_RAM_PREFAULT
	RAMLogDirty uint32 = C.KVMHOST_MACHINE_RAM_LOG_DIRTY
)

// x86 flags (X86Options.Flags).
const (
	X86NoACPI       uint32 = C.KVMHOST_MACHINE_X86_NO_ACPI
	X86NoMPTable    uint32 = C.KVMHOST_MACHINE_X86_NO_MPTABLE
	X86LinuxEntry32 uint32 = C.KVMHOST_MACHINE_X86_LINUX_ENTRY_32
)

// NoVCPU is the VCPU of an event or stop that no vCPU saw.
const NoVCPU = ^uint32(0)

// DefaultRAMSize is the RAM of a machine whose Options.RAMSize is 0.
const DefaultRAMSize = 4 << 20

// X86Options are the x86 half of the options (struct kvmhost_machine_x86_options).
type X86Options struct {
	Flags         uint32 // X86NoACPI, ...
	DebugExitPort uint16 // a debug-exit device at this port: the guest's write stops the machine; 0: none
	MMIOHoleStart uint64 // 0: 3 GiB
	RawMode       RawMode
	RawGPA        uint64 // FormatRaw: where the image goes and starts (required)
	HyperV        uint32 // KVMHOST_X86_HV_* enlightenments
}

// Options name a machine (struct kvmhost_machine_options). The zero value of a field is the library's
// default, except RAMSize (0: DefaultRAMSize) and VCPUs (0: one).
type Options struct {
	Name         string
	Kernel       []byte // the kernel image (copied into C memory for the machine's life) ...
	KernelPath   string // ... or a file (exactly one of the two)
	KernelFormat KernelFormat
	Initrd       []byte // an initrd (Multiboot: module 0) as bytes (copied), or
	InitrdPath   string // a file
	Cmdline      string
	RAMSize      uint64
	VCPUs        int
	Flags        uint32 // FlagIncoming, ...
	RAMFlags     uint32 // RAMShared, ...
	OnReset      ResetPolicy

	// COM1. By default what the guest transmits goes into a pipe read with Machine.ReadSerial,
	// Machine.WaitSerial or Machine.Serial. SerialOut (not owned; keep it open until Close) takes it
	// instead; NoSerialPipe without SerialOut discards it. SerialIn (not owned) is read into the UART.
	SerialIn     *os.File
	SerialOut    *os.File
	NoSerialPipe bool

	// OnEvent, if set, is called for each event in the thread that saw it (a vCPU or I/O thread of the
	// library, or the goroutine calling Start/Pause/Resume), with no lock held. It must be quick; there
	// Start, Pause, Resume and Wait fail with EDEADLK and Close too (they are the machine's own threads).
	// Events also queue for NextEvent/Events/WaitEvent.
	OnEvent func(Event)

	X86 X86Options
}

// Event is one machine event (struct kvmhost_machine_event).
type Event struct {
	Type     EventType
	Reason   StopReason // EventStopped: why
	VCPU     uint32     // the vCPU that saw it; NoVCPU: none
	Index    uint32     // EventDeviceBroken: the device's index
	Sequence uint64     // 1, 2, 3, ... per machine: a gap means events were dropped
	Device   string     // EventDeviceBroken: the device's id
}

func eventFromC(e *C.struct_kvmhost_machine_event) Event {
	return Event{Type: EventType(e._type), Reason: StopReason(e.reason), VCPU: uint32(e.vcpu),
		Index: uint32(e.index), Sequence: uint64(e.sequence), Device: C.GoString(&e.device[0])}
}

// StopInfo says why and how a machine stopped (struct kvmhost_machine_stop_info).
type StopInfo struct {
	Reason          StopReason
	VCPU            uint32        // the vCPU whose exit stopped it; NoVCPU: none
	Errno           syscall.Errno // StopHostError: the error
	ExitReason      ExitReason    // the exit that stopped it (0: none)
	KVMExitReason   uint32
	Suberror        uint32
	SystemEvent     uint32
	FailEntryCPU    uint32
	HardwareReason  uint64
	PC              uint64 // guest instruction pointer at that exit; 0 if unknown
	DebugExitStatus uint64 // StopDebugExit: the value the guest wrote
	Insn            []byte // the instruction bytes KVM gave
	Message         string // one line saying why, e.g. "vCPU 0: triple fault"
}

// VCPUStats are one vCPU's counters (struct kvmhost_machine_vcpu_stats).
type VCPUStats struct {
	Runs  uint64
	Exits [C.KVMHOST_MACHINE_EXIT_REASONS]uint64 // by ExitReason
}

type eventSink struct{ fn func(Event) }

// Machine is a whole VM (machine.h). Its methods are safe for concurrent use; Close waits for the calls in
// progress and makes later ones fail with ErrClosed.
type Machine struct {
	g       guard
	ptr     *C.struct_kvmhost_machine
	handle  cgo.Handle // the OnEvent sink; 0: none
	kernel  unsafe.Pointer
	initrd  unsafe.Pointer
	serialR *os.File
	serialW int
	files   []*os.File // not owned: kept referenced so they stay open
	name    string
	vcpus   int
}

// cOptions is a struct kvmhost_machine_options in C memory (it points at other C memory: no Go pointer).
type cOptions struct {
	o    *C.struct_kvmhost_machine_options
	free []unsafe.Pointer // after create/check
	keep []unsafe.Pointer // for the machine's life: kernel, initrd
}

func (c *cOptions) alloc(size C.size_t) unsafe.Pointer {
	p := C.calloc(1, size)
	if p == nil {
		panic("kvmhost: out of C memory")
	}
	c.free = append(c.free, p)
	return p
}

func (c *cOptions) str(s string) *C.char {
	if s == "" {
		return nil
	}
	p := C.CString(s)
	c.free = append(c.free, unsafe.Pointer(p))
	return p
}

func (c *cOptions) release(all bool) {
	for _, p := range c.free {
		C.free(p)
	}
	c.free = nil
	if all {
		for _, p := range c.keep {
			C.free(p)
		}
		c.keep = nil
	}
}

func fileFD(f *os.File) (int, error) {
	rc, err := f.SyscallConn() // not f.Fd(), which would make the file blocking
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}

func (o *Options) toC(serialOut int) (*cOptions, error) {
	c := &cOptions{}
	c.o = (*C.struct_kvmhost_machine_options)(c.alloc(C.sizeof_struct_kvmhost_machine_options))
	co := c.o
	co.size = C.sizeof_struct_kvmhost_machine_options
	co.name = c.str(o.Name)
	co.kernel_path = c.str(o.KernelPath)
	if o.Kernel != nil {
		p := C.CBytes(o.Kernel)
		c.keep = append(c.keep, p)
		co.kernel, co.kernel_size = p, C.size_t(len(o.Kernel))
	}
	co.initrd_path = c.str(o.InitrdPath)
	if o.Initrd != nil {
		p := C.CBytes(o.Initrd)
		c.keep = append(c.keep, p)
		co.initrd, co.initrd_size = p, C.size_t(len(o.Initrd))
	}
	co.kernel_format = C.uint32_t(o.KernelFormat)
	co.cmdline = c.str(o.Cmdline)
	co.ram_size = C.uint64_t(o.RAMSize)
	if o.RAMSize == 0 {
		co.ram_size = DefaultRAMSize
	}
	co.ram_flags = C.uint32_t(o.RAMFlags)
	switch {
	case o.VCPUs == 0:
		co.vcpu_count = 1
	case o.VCPUs < 0 || o.VCPUs > 1<<31:
		c.release(true)
		return nil, errnoError("kvmhost_machine_create", syscall.EINVAL, fmt.Sprintf("vcpu_count %d", o.VCPUs))
	default:
		co.vcpu_count = C.uint32_t(o.VCPUs)
	}
	co.flags = C.uint32_t(o.Flags)
	co.on_reset = C.uint32_t(o.OnReset)
	in := -1
	if o.SerialIn != nil {
		fd, err := fileFD(o.SerialIn)
		if err != nil {
			c.release(true)
			return nil, err
		}
		in = fd
	}
	if in >= 0 || serialOut >= 0 {
		s := (*C.struct_kvmhost_machine_serial)(c.alloc(C.sizeof_struct_kvmhost_machine_serial))
		s.size = C.sizeof_struct_kvmhost_machine_serial
		s.in_fd, s.out_fd = C.int(in), C.int(serialOut)
		co.serial = s
	}
	x := (*C.struct_kvmhost_machine_x86_options)(c.alloc(C.sizeof_struct_kvmhost_machine_x86_options))
	x.size = C.sizeof_struct_kvmhost_machine_x86_options
	x.flags = C.uint32_t(o.X86.Flags)
	x.debug_exit_port = C.uint16_t(o.X86.DebugExitPort)
	x.mmio_hole_start = C.uint64_t(o.X86.MMIOHoleStart)
	x.raw_mode = C.uint32_t(o.X86.RawMode)
	x.raw_gpa = C.uint64_t(o.X86.RawGPA)
	x.hyperv = C.uint32_t(o.X86.HyperV)
	co.arch_options = unsafe.Pointer(x)
	return c, nil
}

// Check runs every check NewMachine makes before it opens /dev/kvm (kvmhost_machine_check): the options, the
// files and the kernel's loader, with no KVM and nothing created. A nil error means the configuration is
// good; NewMachine may still fail where the host cannot run it.
func Check(opts Options) error {
	out := -1
	if opts.SerialOut != nil {
		fd, err := fileFD(opts.SerialOut)
		if err != nil {
			return err
		}
		out = fd
	}
	c, err := opts.toC(out)
	if err != nil {
		return err
	}
	defer c.release(true)
	_, err = call("kvmhost_machine_check", func() C.int { return C.kvmhost_machine_check(c.o) })
	return err
}

// NewMachine validates opts and builds the machine (kvmhost_machine_create): KVM VM, RAM, platform, kernel
// loaded; no thread runs until Start. On failure nothing is left.
func NewMachine(opts Options) (*Machine, error) {
	m := &Machine{serialW: -1}
	out := -1
	if opts.SerialOut != nil {
		fd, err := fileFD(opts.SerialOut)
		if err != nil {
			return nil, err
		}
		out = fd
		m.files = append(m.files, opts.SerialOut)
	} else if !opts.NoSerialPipe {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
			return nil, os.NewSyscallError("pipe2", err)
		}
		m.serialR = os.NewFile(uintptr(p[0]), "kvmhost-serial")
		m.serialW = p[1]
		out = p[1]
	}
	if opts.SerialIn != nil {
		m.files = append(m.files, opts.SerialIn)
	}
	c, err := opts.toC(out)
	if err != nil {
		m.closeSerial()
		return nil, err
	}
	defer c.release(false)
	if opts.OnEvent != nil {
		m.handle = cgo.NewHandle(&eventSink{fn: opts.OnEvent})
		C.kh_set_event_handler(c.o, C.uintptr_t(m.handle))
	}
	var p *C.struct_kvmhost_machine
	if _, err := call("kvmhost_machine_create", func() C.int { return C.kvmhost_machine_create(c.o, &p) }); err != nil {
		c.release(true)
		if m.handle != 0 {
			m.handle.Delete()
		}
		m.closeSerial()
		return nil, err
	}
	m.ptr = p
	m.kernel, m.initrd = nil, nil
	if len(c.keep) > 0 {
		m.kernel = c.keep[0]
	}
	if len(c.keep) > 1 {
		m.initrd = c.keep[1]
	}
	c.keep = nil
	m.name = C.GoString(C.kvmhost_machine_name(p))
	m.vcpus = int(C.kvmhost_machine_vcpu_count(p))
	return m, nil
}

func (m *Machine) closeSerial() {
	if m.serialR != nil {
		m.serialR.Close()
		m.serialR = nil
	}
	if m.serialW >= 0 {
		syscall.Close(m.serialW)
		m.serialW = -1
	}
}

// Close stops the machine if it runs, joins its threads and frees everything it made
// (kvmhost_machine_destroy). Calls in progress finish first (those that wait return); later calls fail with
// ErrClosed. Closing twice is not an error. From an OnEvent callback it fails with EDEADLK.
func (m *Machine) Close() error {
	if C.kh_in_event_callback() != 0 {
		return errnoError("kvmhost_machine_destroy", syscall.EDEADLK, "Close from the machine's event callback")
	}
	if !m.g.beginClose() {
		return nil
	}
	C.kvmhost_machine_stop(m.ptr) // blocked Pause/Wait calls return
	m.g.drain()
	C.kvmhost_machine_destroy(m.ptr)
	m.ptr = nil
	if m.handle != 0 {
		m.handle.Delete() // no callback can come any more: the threads are joined
		m.handle = 0
	}
	C.free(m.kernel)
	C.free(m.initrd)
	m.kernel, m.initrd = nil, nil
	m.closeSerial()
	m.files = nil
	return nil
}

// do runs f on the live machine, or fails with ErrClosed.
func (m *Machine) do(op string, f func(p *C.struct_kvmhost_machine) C.int) (int, error) {
	if !m.g.enter() {
		return 0, ErrClosed
	}
	defer m.g.exit()
	return call(op, func() C.int { return f(m.ptr) })
}

// Start starts the vCPU threads (and the I/O thread): created -> running.
func (m *Machine) Start() error {
	_, err := m.do("kvmhost_machine_start", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_start(p) })
	return err
}

// Pause pauses the machine and returns once it is quiet: no vCPU runs, no device writes guest memory.
func (m *Machine) Pause() error {
	_, err := m.do("kvmhost_machine_pause", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_pause(p) })
	return err
}

// Resume undoes Pause.
func (m *Machine) Resume() error {
	_, err := m.do("kvmhost_machine_resume", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_resume(p) })
	return err
}

// Stop stops the machine (reason StopRequested unless it stopped already) and returns at once; Wait waits
// for its threads.
func (m *Machine) Stop() error {
	_, err := m.do("kvmhost_machine_stop", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_stop(p) })
	return err
}

// RequestReset resets the machine as if the guest had asked (Options.OnReset decides).
func (m *Machine) RequestReset() error {
	_, err := m.do("kvmhost_machine_request_reset", func(p *C.struct_kvmhost_machine) C.int {
		return C.kvmhost_machine_request_reset(p)
	})
	return err
}

// RequestPoweroff presses the guest's power button (x86: ACPI); the guest decides.
func (m *Machine) RequestPoweroff() error {
	_, err := m.do("kvmhost_machine_request_poweroff", func(p *C.struct_kvmhost_machine) C.int {
		return C.kvmhost_machine_request_poweroff(p)
	})
	return err
}

// slice is how long one blocking C wait lasts, so that a context's cancellation and Close are seen.
const slice = 50 * time.Millisecond

func sliceMS(ctx context.Context) C.int {
	d := slice
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	if d < 0 {
		d = 0
	}
	return C.int(d / time.Millisecond)
}

// Wait waits until the machine is stopped and its threads have ended, or ctx is done (then it returns
// ctx.Err()).
func (m *Machine) Wait(ctx context.Context) error {
	for {
		ms := sliceMS(ctx)
		_, err := m.do("kvmhost_machine_wait", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_wait(p, ms) })
		if err == nil || !errors.Is(err, syscall.ETIMEDOUT) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// State returns where the machine is.
func (m *Machine) State() (State, error) {
	s, err := m.do("kvmhost_machine_get_state", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_get_state(p) })
	return State(s), err
}

// StopInfo says why the machine stopped (Reason StopNone while it has not).
func (m *Machine) StopInfo() (StopInfo, error) {
	var s C.struct_kvmhost_machine_stop_info
	s.size = C.sizeof_struct_kvmhost_machine_stop_info
	if _, err := m.do("kvmhost_machine_get_stop_info", func(p *C.struct_kvmhost_machine) C.int {
		return C.kvmhost_machine_get_stop_info(p, &s)
	}); err != nil {
		return StopInfo{}, err
	}
	n := int(s.insn_len)
	if n > len(s.insn) {
		n = len(s.insn)
	}
	return StopInfo{Reason: StopReason(s.reason), VCPU: uint32(s.vcpu), Errno: syscall.Errno(-s.error),
		ExitReason: ExitReason(s.exit_reason), KVMExitReason: uint32(s.kvm_exit_reason),
		Suberror: uint32(s.suberror), SystemEvent: uint32(s.system_event), FailEntryCPU: uint32(s.fail_entry_cpu),
		HardwareReason: uint64(s.hardware_reason), PC: uint64(s.pc), DebugExitStatus: uint64(s.debug_exit_status),
		Insn: C.GoBytes(unsafe.Pointer(&s.insn[0]), C.int(n)), Message: C.GoString(&s.message[0])}, nil
}

// EventFD returns an eventfd, owned by the machine, that is readable while NextEvent has events (for an
// event loop of the caller's).
func (m *Machine) EventFD() (int, error) {
	return m.do("kvmhost_machine_event_fd", func(p *C.struct_kvmhost_machine) C.int { return C.kvmhost_machine_event_fd(p) })
}

// NextEvent takes the oldest queued event; ok is false when the queue is empty.
func (m *Machine) NextEvent() (ev Event, ok bool, err error) {
	var e C.struct_kvmhost_machine_event
	e.size = C.sizeof_struct_kvmhost_machine_event
	n, err := m.do("kvmhost_machine_next_event", func(p *C.struct_kvmhost_machine) C.int {
		return C.kvmhost_machine_next_event(p, &e)
	})
	if err != nil || n == 0 {
		return Event{}, false, err
	}
	return eventFromC(&e), true, nil
}

// Events takes every queued event, oldest first.
func (m *Machine) Events() ([]Event, error) {
	var out []Event
	for {
		ev, ok, err := m.NextEvent()
		if err != nil || !ok {
			return out, err
		}
		out = append(out, ev)
	}
}

// WaitEvent returns the next event, waiting for one until ctx is done.
func (m *Machine) WaitEvent(ctx context.Context) (Event, error) {
	for {
		ev, ok, err := m.NextEvent()
		if err != nil || ok {
			return ev, err
		}
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		if !m.g.enter() {
			return Event{}, ErrClosed
		}
		r := C.kh_poll_in(C.kvmhost_machine_event_fd(m.ptr), sliceMS(ctx))
		m.g.exit()
		if r < 0 {
			return Event{}, os.NewSyscallError("poll", syscall.Errno(-r))
		}
	}
}

// Name is the machine's name.
func (m *Machine) Name() string { return m.name }

// VCPUCount is the number of vCPUs.
func (m *Machine) VCPUCount() int { return m.vcpus }

// VCPUStats reads vCPU i's counters.
func (m *Machine) VCPUStats(i int) (VCPUStats, error) {
	var s C.struct_kvmhost_machine_vcpu_stats
	s.size = C.sizeof_struct_kvmhost_machine_vcpu_stats
	if _, err := m.do("kvmhost_machine_get_vcpu_stats", func(p *C.struct_kvmhost_machine) C.int {
		return C.kvmhost_machine_get_vcpu_stats(p, C.uint32_t(i), &s)
	}); err != nil {
		return VCPUStats{}, err
	}
	out := VCPUStats{Runs: uint64(s.runs)}
	for j := range out.Exits {
		out.Exits[j] = uint64(s.exits[j])
	}
	return out, nil
}

// VCPUThreadID returns the host thread id (gettid) of vCPU i's thread; 0 before it started.
func (m *Machine) VCPUThreadID(i int) (int, error) {
	if !m.g.enter() {
		return 0, ErrClosed
	}
	defer m.g.exit()
	var id C.long
	_, err := call("kvmhost_machine_vcpu_thread_id", func() C.int {
		id = C.kvmhost_machine_vcpu_thread_id(m.ptr, C.uint32_t(i))
		if id < 0 {
			return C.int(id)
		}
		return 0
	})
	return int(id), err
}

// Memory is the machine's guest memory (checked copies and views); its calls fail with ErrClosed once the
// machine is closed.
func (m *Machine) Memory() *Memory {
	if !m.g.enter() {
		return &Memory{g: &m.g}
	}
	defer m.g.exit()
	return &Memory{ptr: C.kvmhost_machine_memory(m.ptr), g: &m.g}
}

// Serial is the read end of the COM1 pipe (nil with SerialOut or NoSerialPipe). It is non-blocking and in
// Go's poller: Read blocks the goroutine only, and SetReadDeadline works. The machine closes it.
func (m *Machine) Serial() *os.File { return m.serialR }

// ReadSerial returns what COM1 wrote since the last read, without waiting (nil when nothing).
func (m *Machine) ReadSerial() ([]byte, error) {
	if m.serialR == nil {
		return nil, errors.New("kvmhost: the machine has no serial pipe")
	}
	rc, err := m.serialR.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []byte
	var rerr error
	buf := make([]byte, 4096)
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, e := syscall.Read(int(fd), buf)
			if n > 0 {
				out = append(out, buf[:n]...)
				continue
			}
			if e != nil && e != syscall.EAGAIN && e != syscall.EINTR {
				rerr = os.NewSyscallError("read", e)
			}
			if e == syscall.EINTR {
				continue
			}
			return true // done: never wait in the poller
		}
	})
	if err != nil {
		return out, err
	}
	return out, rerr
}

// WaitSerial reads COM1 until until appears in what was read, or ctx is done (then it returns what it read
// and ctx.Err()).
func (m *Machine) WaitSerial(ctx context.Context, until []byte) ([]byte, error) {
	var out []byte
	for {
		b, err := m.ReadSerial()
		out = append(out, b...)
		if err != nil {
			return out, err
		}
		if bytes.Contains(out, until) {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		rc, err := m.serialR.SyscallConn()
		if err != nil {
			return out, err
		}
		ms := sliceMS(ctx)
		if err := rc.Control(func(fd uintptr) { C.kh_poll_in(C.int(fd), ms) }); err != nil {
			return out, err
		}
	}
}

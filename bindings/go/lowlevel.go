package kvmhost

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"io"
	"sync"
	"unsafe"
)

// SystemOptions are the options of OpenSystem (struct kvmhost_system_options).
type SystemOptions struct {
	DevicePath string // "": /dev/kvm
	KickSignal int    // 0: SIGRTMIN + 1
	Flags      uint32
}

// System is an open KVM device (system.h), the root of the primitives. Close closes its VMs too.
type System struct {
	g   guard
	ptr *C.struct_kvmhost_system
	mu  sync.Mutex
	vms []*VM
}

// OpenSystem opens the KVM device and checks its API version; opts may be nil.
func OpenSystem(opts *SystemOptions) (*System, error) {
	var o C.struct_kvmhost_system_options
	o.size = C.sizeof_struct_kvmhost_system_options
	if opts != nil {
		if opts.DevicePath != "" {
			o.device_path = C.CString(opts.DevicePath)
			defer C.free(unsafe.Pointer(o.device_path))
		}
		o.kick_signal = C.int(opts.KickSignal)
		if opts.KickSignal != 0 {
			acceptKickSignal(opts.KickSignal)
		}
		o.flags = C.uint32_t(opts.Flags)
	}
	var p *C.struct_kvmhost_system
	if _, err := call("kvmhost_system_open", func() C.int { return C.kvmhost_system_open(&o, &p) }); err != nil {
		return nil, err
	}
	return &System{ptr: p}, nil
}

func (s *System) do(op string, f func(p *C.struct_kvmhost_system) C.int) (int, error) {
	if !s.g.enter() {
		return 0, ErrClosed
	}
	defer s.g.exit()
	return call(op, func() C.int { return f(s.ptr) })
}

// Close closes the VMs made from the system, then the system (kvmhost_system_close).
func (s *System) Close() error {
	if !s.g.beginClose() {
		return nil
	}
	s.g.drain() // a CreateVM in progress lists its VM first
	s.mu.Lock()
	vms := s.vms
	s.vms = nil
	s.mu.Unlock()
	for _, vm := range vms {
		vm.Close()
	}
	C.kvmhost_system_close(s.ptr)
	s.ptr = nil
	return nil
}

// FD is the KVM device's file descriptor (owned by the system).
func (s *System) FD() (int, error) {
	return s.do("kvmhost_system_fd", func(p *C.struct_kvmhost_system) C.int { return C.kvmhost_system_fd(p) })
}

// CheckExtension asks KVM about a capability (a KVM_CAP_* number): 0 when absent.
func (s *System) CheckExtension(capability int) (int, error) {
	return s.do("kvmhost_system_check_extension", func(p *C.struct_kvmhost_system) C.int {
		return C.kvmhost_system_check_extension(p, C.long(capability))
	})
}

// MaxVCPUs is the most vCPUs KVM allows in one VM.
func (s *System) MaxVCPUs() (int, error) {
	return s.do("kvmhost_system_max_vcpus", func(p *C.struct_kvmhost_system) C.int { return C.kvmhost_system_max_vcpus(p) })
}

// MaxMemslots is the number of memory slots a VM may use.
func (s *System) MaxMemslots() (int, error) {
	return s.do("kvmhost_system_max_memslots", func(p *C.struct_kvmhost_system) C.int { return C.kvmhost_system_max_memslots(p) })
}

// VCPUMmapSize is the size of each vCPU's kvm_run mapping.
func (s *System) VCPUMmapSize() (int, error) {
	return s.do("kvmhost_system_vcpu_mmap_size", func(p *C.struct_kvmhost_system) C.int {
		return C.kvmhost_system_vcpu_mmap_size(p)
	})
}

// CreateVM creates a VM (kvmhost_vm_create); name may be "" (then "vm<N>").
func (s *System) CreateVM(name string) (*VM, error) {
	var o C.struct_kvmhost_vm_options
	o.size = C.sizeof_struct_kvmhost_vm_options
	if name != "" {
		o.name = C.CString(name)
		defer C.free(unsafe.Pointer(o.name))
	}
	if !s.g.enter() {
		return nil, ErrClosed
	}
	defer s.g.exit() // until the VM is listed: Close waits for that, then closes it
	var p *C.struct_kvmhost_vm
	if _, err := call("kvmhost_vm_create", func() C.int { return C.kvmhost_vm_create(s.ptr, &o, &p) }); err != nil {
		return nil, err
	}
	vm := &VM{ptr: p, sys: s, name: C.GoString(C.kvmhost_vm_name(p))}
	s.mu.Lock()
	s.vms = append(s.vms, vm)
	s.mu.Unlock()
	return vm, nil
}

// VM is a KVM VM (vm.h). It owns its vCPUs and memory regions: Close frees them, and their calls fail with
// ErrClosed afterwards.
type VM struct {
	g     guard
	ptr   *C.struct_kvmhost_vm
	sys   *System
	name  string
	mu    sync.Mutex
	vcpus []*VCPU
}

func (vm *VM) do(op string, f func(p *C.struct_kvmhost_vm) C.int) (int, error) {
	if !vm.g.enter() {
		return 0, ErrClosed
	}
	defer vm.g.exit()
	return call(op, func() C.int { return f(vm.ptr) })
}

// Close destroys the VM with its vCPUs and memory (kvmhost_vm_destroy). A vCPU running in another goroutine
// is kicked out of the guest first, and its Run returns (the next one fails with ErrClosed).
func (vm *VM) Close() error {
	if !vm.g.beginClose() {
		return nil
	}
	vm.mu.Lock()
	for _, v := range vm.vcpus {
		C.kvmhost_vcpu_kick(v.ptr)
	}
	vm.mu.Unlock()
	vm.g.drain()
	C.kvmhost_vm_destroy(vm.ptr)
	vm.ptr = nil
	return nil
}

// Name is the VM's name.
func (vm *VM) Name() string { return vm.name }

// FD is the VM's file descriptor (owned by the VM).
func (vm *VM) FD() (int, error) {
	return vm.do("kvmhost_vm_fd", func(p *C.struct_kvmhost_vm) C.int { return C.kvmhost_vm_fd(p) })
}

// CheckExtension is KVM_CHECK_EXTENSION on the VM.
func (vm *VM) CheckExtension(capability int) (int, error) {
	return vm.do("kvmhost_vm_check_extension", func(p *C.struct_kvmhost_vm) C.int {
		return C.kvmhost_vm_check_extension(p, C.long(capability))
	})
}

// SetIRQLine sets the level (0 or 1) of an interrupt line (KVM_IRQ_LINE; needs an in-kernel irqchip).
func (vm *VM) SetIRQLine(gsi uint32, level int) error {
	_, err := vm.do("kvmhost_vm_set_irq_line", func(p *C.struct_kvmhost_vm) C.int {
		return C.kvmhost_vm_set_irq_line(p, C.uint32_t(gsi), C.int(level))
	})
	return err
}

// MemoryBacking is where a region's host memory comes from (enum kvmhost_memory_backing).
type MemoryBacking uint32

// Memory backings this binding offers (FILE and HOST_POINTER need fds and C memory of the caller's).
const (
	MemoryAnonymous MemoryBacking = C.KVMHOST_MEMORY_ANONYMOUS
	MemoryMemfd     MemoryBacking = C.KVMHOST_MEMORY_MEMFD
	MemoryHugetlb   MemoryBacking = C.KVMHOST_MEMORY_HUGETLB
)

// Memory region flags (MemoryOptions.Flags).
const (
	MemoryReadOnly uint32 = C.KVMHOST_MEMORY_READONLY
	MemoryLogDirty uint32 = C.KVMHOST_MEMORY_LOG_DIRTY
	MemoryTHP      uint32 = C.KVMHOST_MEMORY_THP
	MemoryPrefault uint32 = C.KVMHOST_MEMORY_PREFAULT
)

// MemoryOptions describe a region (struct kvmhost_memory_options).
type MemoryOptions struct {
	GPA          uint64 // guest physical start, page aligned
	Size         uint64 // bytes, page aligned
	Backing      MemoryBacking
	Flags        uint32
	HugepageSize uint64 // MemoryHugetlb: 0 (the default), 2 MiB or 1 GiB
	Name         string
}

// AddMemory adds a region to the VM and registers it as a KVM memory slot (kvmhost_vm_add_memory).
func (vm *VM) AddMemory(opts MemoryOptions) (*Region, error) {
	var o C.struct_kvmhost_memory_options
	o.size = C.sizeof_struct_kvmhost_memory_options
	o.guest_phys_addr = C.uint64_t(opts.GPA)
	o.length = C.uint64_t(opts.Size)
	o.backing = C.enum_kvmhost_memory_backing(opts.Backing)
	o.flags = C.uint32_t(opts.Flags)
	o.fd = -1
	o.hugepage_size = C.uint64_t(opts.HugepageSize)
	if opts.Name != "" {
		o.name = C.CString(opts.Name)
		defer C.free(unsafe.Pointer(o.name))
	}
	var r *C.struct_kvmhost_memory_region
	if _, err := vm.do("kvmhost_vm_add_memory", func(p *C.struct_kvmhost_vm) C.int { return C.kvmhost_vm_add_memory(p, &o, &r) }); err != nil {
		return nil, err
	}
	return &Region{ptr: r, g: &vm.g}, nil
}

// Memory is the VM's guest memory map.
func (vm *VM) Memory() *Memory {
	if !vm.g.enter() {
		return &Memory{g: &vm.g}
	}
	defer vm.g.exit()
	return &Memory{ptr: C.kvmhost_vm_memory(vm.ptr), g: &vm.g}
}

// CreateVCPU creates vCPU id (x86: its APIC ID) in the VM.
func (vm *VM) CreateVCPU(id uint32) (*VCPU, error) {
	if !vm.g.enter() {
		return nil, ErrClosed
	}
	defer vm.g.exit()
	var p *C.struct_kvmhost_vcpu
	if _, err := call("kvmhost_vcpu_create", func() C.int { return C.kvmhost_vcpu_create(vm.ptr, C.uint32_t(id), &p) }); err != nil {
		return nil, err
	}
	v := &VCPU{ptr: p, g: &vm.g, id: id}
	vm.mu.Lock()
	vm.vcpus = append(vm.vcpus, v)
	vm.mu.Unlock()
	return v, nil
}

// Region is a guest memory region of a VM, valid while the VM is open.
type Region struct {
	ptr *C.struct_kvmhost_memory_region
	g   *guard
}

// GPA is the region's guest physical start.
func (r *Region) GPA() uint64 { return uint64(C.kvmhost_memory_region_gpa(r.ptr)) }

// Size is the region's length in bytes.
func (r *Region) Size() uint64 { return uint64(C.kvmhost_memory_region_length(r.ptr)) }

// Bytes is the region's host mapping as a byte slice, no copy. Writes through it are guest memory writes (and
// invisible to the dirty logs). Like a slice from syscall.Mmap it must not be used after its VM is closed:
// the memory is unmapped then.
func (r *Region) Bytes() ([]byte, error) {
	if !r.g.enter() {
		return nil, ErrClosed
	}
	defer r.g.exit()
	return unsafe.Slice((*byte)(C.kvmhost_memory_region_host_addr(r.ptr)), r.Size()), nil
}

// Memory is a guest memory map (a VM's or a machine's): checked copies (io.ReaderAt, io.WriterAt, with the
// offset a guest physical address) and views.
type Memory struct {
	ptr *C.struct_kvmhost_memory
	g   *guard
}

var _ io.ReaderAt = (*Memory)(nil)
var _ io.WriterAt = (*Memory)(nil)

func (m *Memory) do(op string, f func() C.int) (int, error) {
	if m.ptr == nil || !m.g.enter() {
		return 0, ErrClosed
	}
	defer m.g.exit()
	return call(op, f)
}

// ReadAt copies guest memory at guest physical address gpa into p: all of it, or nothing and an error (EFAULT
// when a byte is outside memory).
func (m *Memory) ReadAt(p []byte, gpa int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := m.do("kvmhost_memory_read", func() C.int {
		return C.kvmhost_memory_read(m.ptr, C.uint64_t(gpa), unsafe.Pointer(&p[0]), C.size_t(len(p)))
	}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt copies p into guest memory at gpa, all or nothing (EFAULT outside memory, EROFS in a read-only
// region), and marks the pages dirty for the VMM-side log.
func (m *Memory) WriteAt(p []byte, gpa int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := m.do("kvmhost_memory_write", func() C.int {
		return C.kvmhost_memory_write(m.ptr, C.uint64_t(gpa), unsafe.Pointer(&p[0]), C.size_t(len(p)))
	}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// View returns guest memory [gpa, gpa+n), which must lie inside one region, as a byte slice over the host
// mapping, no copy; it must not be used after the owner (VM or machine) is closed.
func (m *Memory) View(gpa, n uint64) ([]byte, error) {
	var host unsafe.Pointer
	if _, err := m.do("kvmhost_memory_translate", func() C.int {
		return C.kvmhost_memory_translate(m.ptr, C.uint64_t(gpa), C.uint64_t(n), &host)
	}); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(host), n), nil
}

// ExitReason is why VCPU.Run returned (enum kvmhost_exit_reason).
type ExitReason uint32

// Exit reasons.
const (
	ExitUnknown       ExitReason = C.KVMHOST_EXIT_UNKNOWN
	ExitIO            ExitReason = C.KVMHOST_EXIT_IO
	ExitMMIO          ExitReason = C.KVMHOST_EXIT_MMIO
	ExitHLT           ExitReason = C.KVMHOST_EXIT_HLT
	ExitShutdown      ExitReason = C.KVMHOST_EXIT_SHUTDOWN
	ExitSystemEvent   ExitReason = C.KVMHOST_EXIT_SYSTEM_EVENT
	ExitInternalError ExitReason = C.KVMHOST_EXIT_INTERNAL_ERROR
	ExitFailEntry     ExitReason = C.KVMHOST_EXIT_FAIL_ENTRY
	ExitKicked        ExitReason = C.KVMHOST_EXIT_KICKED
	ExitDebug         ExitReason = C.KVMHOST_EXIT_DEBUG
	ExitIRQWindowOpen ExitReason = C.KVMHOST_EXIT_IRQ_WINDOW_OPEN
	ExitHypercall     ExitReason = C.KVMHOST_EXIT_HYPERCALL
	ExitX86RDMSR      ExitReason = C.KVMHOST_EXIT_X86_RDMSR
	ExitX86WRMSR      ExitReason = C.KVMHOST_EXIT_X86_WRMSR
	ExitIOAPICEOI     ExitReason = C.KVMHOST_EXIT_IOAPIC_EOI
)

// String is the library's name for the reason ("io", "mmio", ...).
func (r ExitReason) String() string {
	return C.GoString(C.kvmhost_exit_reason_name(C.enum_kvmhost_exit_reason(r)))
}

// IOExit is a port I/O exit. Data (Size * Count bytes) lies in the vCPU's kvm_run page: for an IN, fill it
// before the next Run. It is valid until the next Run.
type IOExit struct {
	Port  uint16
	Size  uint8
	Write bool // OUT
	Count uint32
	Data  []byte
}

// MMIOExit is an MMIO exit; Data (valid until the next Run) must be filled for a load.
type MMIOExit struct {
	Addr  uint64
	Write bool
	Data  []byte
}

// Exit is a decoded vCPU exit.
type Exit struct {
	Reason        ExitReason
	KVMExitReason uint32    // the raw KVM_EXIT_* value
	IO            *IOExit   // ExitIO
	MMIO          *MMIOExit // ExitMMIO
}

func (e *Exit) String() string {
	switch {
	case e.IO != nil:
		return fmt.Sprintf("io port %#x size %d write %v", e.IO.Port, e.IO.Size, e.IO.Write)
	case e.MMIO != nil:
		return fmt.Sprintf("mmio %#x len %d write %v", e.MMIO.Addr, len(e.MMIO.Data), e.MMIO.Write)
	}
	return e.Reason.String()
}

// VCPU is a vCPU of a VM (vcpu.h), freed with its VM. Run it from one goroutine at a time.
type VCPU struct {
	ptr *C.struct_kvmhost_vcpu
	g   *guard
	id  uint32
}

// ID is the vCPU id given at creation.
func (v *VCPU) ID() uint32 { return v.id }

func (v *VCPU) do(op string, f func() C.int) (int, error) {
	if !v.g.enter() {
		return 0, ErrClosed
	}
	defer v.g.exit()
	return call(op, f)
}

// SetupRealMode puts the vCPU in 16-bit real mode at cs:ip (x86).
func (v *VCPU) SetupRealMode(cs, ip uint16) error {
	_, err := v.do("kvmhost_x86_vcpu_setup_real_mode", func() C.int {
		return C.kvmhost_x86_vcpu_setup_real_mode(v.ptr, C.uint16_t(cs), C.uint16_t(ip))
	})
	return err
}

// Run enters the guest until the next exit userspace must handle (one KVM_RUN) and decodes it. ExitKicked
// (a Kick, a signal) means: run again when ready. The goroutine stays on one OS thread for the call.
func (v *VCPU) Run() (*Exit, error) {
	var f C.struct_kh_exit_flat
	if _, err := v.do("kvmhost_vcpu_run", func() C.int { return C.kh_vcpu_run(v.ptr, &f) }); err != nil {
		return nil, err
	}
	e := &Exit{Reason: ExitReason(f.reason), KVMExitReason: uint32(f.kvm_exit_reason)}
	switch e.Reason {
	case ExitIO:
		n := uint64(f.io_size) * uint64(f.io_count)
		e.IO = &IOExit{Port: uint16(f.io_port), Size: uint8(f.io_size), Write: f.io_is_write != 0,
			Count: uint32(f.io_count), Data: unsafe.Slice((*byte)(unsafe.Pointer(f.io_data)), n)}
	case ExitMMIO:
		e.MMIO = &MMIOExit{Addr: uint64(f.mmio_addr), Write: f.mmio_is_write != 0,
			Data: unsafe.Slice((*byte)(unsafe.Pointer(f.mmio_data)), uint64(f.mmio_len))}
	}
	return e, nil
}

// Kick makes the vCPU's current or next Run return ExitKicked promptly; safe from any goroutine.
func (v *VCPU) Kick() error {
	if !v.g.enter() {
		return ErrClosed
	}
	defer v.g.exit()
	_, err := call("kvmhost_vcpu_kick", func() C.int { return C.kvmhost_vcpu_kick(v.ptr) })
	return err
}

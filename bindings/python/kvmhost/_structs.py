"""ctypes mirrors of the public C structs the binding uses.

Every struct here is checked against the C headers by tests/test_layout.py
(sizes and field offsets printed by layout/layout.c), so they cannot drift.
"""

from __future__ import annotations

import ctypes as C

size_t = C.c_size_t
u8, u16, u32, u64, i32 = C.c_uint8, C.c_uint16, C.c_uint32, C.c_uint64, C.c_int32

BUS_READ_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, u64, C.c_void_p, u32)
BUS_WRITE_FN = C.CFUNCTYPE(C.c_int, C.c_void_p, u64, C.c_void_p, u32)
# void (*)(void *opaque, struct kvmhost_machine *, const struct kvmhost_machine_event *)
MACHINE_EVENT_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_void_p, C.c_void_p)


class SystemOptions(C.Structure):
    _fields_ = [("size", size_t), ("device_path", C.c_char_p), ("kick_signal", C.c_int), ("flags", u32)]


class VmOptions(C.Structure):
    _fields_ = [("size", size_t), ("type", C.c_ulong), ("name", C.c_char_p)]


class MemoryOptions(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("guest_phys_addr", u64),
        ("length", u64),
        ("backing", C.c_int),  # enum kvmhost_memory_backing
        ("flags", u32),
        ("fd", C.c_int),
        ("fd_offset", u64),
        ("host_addr", C.c_void_p),
        ("hugepage_size", u64),
        ("name", C.c_char_p),
    ]


class BusRange(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("base", u64),
        ("length", u64),
        ("read", BUS_READ_FN),
        ("write", BUS_WRITE_FN),
        ("opaque", C.c_void_p),
        ("name", C.c_char_p),
    ]


class _ExitIo(C.Structure):
    _fields_ = [("port", u16), ("size", u8), ("is_write", u8), ("count", u32), ("data", C.POINTER(u8))]


class _ExitMmio(C.Structure):
    _fields_ = [("addr", u64), ("len", u32), ("is_write", u8), ("data", C.POINTER(u8))]


class _ExitSystemEvent(C.Structure):
    _fields_ = [("type", u32), ("ndata", u32), ("data", C.POINTER(u64))]


class _ExitInternal(C.Structure):
    _fields_ = [
        ("suberror", u32),
        ("ndata", u32),
        ("data", C.POINTER(u64)),
        ("insn_len", u8),
        ("insn", u8 * 15),
    ]


class _ExitFailEntry(C.Structure):
    _fields_ = [("hardware_reason", u64), ("cpu", u32)]


class _ExitHypercall(C.Structure):
    _fields_ = [("nr", u64), ("args", C.POINTER(u64)), ("ret", C.POINTER(u64))]


class _ExitMsr(C.Structure):
    _fields_ = [("index", u32), ("error", C.POINTER(u8)), ("data", C.POINTER(u64))]


class _ExitEoi(C.Structure):
    _fields_ = [("vector", u8)]


class _ExitUnion(C.Union):
    _fields_ = [
        ("io", _ExitIo),
        ("mmio", _ExitMmio),
        ("system_event", _ExitSystemEvent),
        ("internal", _ExitInternal),
        ("fail_entry", _ExitFailEntry),
        ("hypercall", _ExitHypercall),
        ("msr", _ExitMsr),
        ("eoi", _ExitEoi),
    ]


class ExitStruct(C.Structure):
    """struct kvmhost_exit (owned by the library, handed out by pointer)."""

    _anonymous_ = ("u",)
    _fields_ = [("reason", C.c_int), ("kvm_exit_reason", u32), ("u", _ExitUnion)]


class MachineVcpu(C.Structure):
    _fields_ = [("affinity", C.c_void_p), ("affinity_size", size_t)]


class MachineSerial(C.Structure):
    _fields_ = [("size", size_t), ("in_fd", C.c_int), ("out_fd", C.c_int)]


class MachineDevice(C.Structure):
    _fields_ = [
        ("type", u32),
        ("flags", u32),
        ("id", C.c_char_p),
        ("path", C.c_char_p),
        ("in_fd", C.c_int),
        ("out_fd", C.c_int),
        ("mac", u8 * 6),
        ("num_queues", u16),
        ("ops", C.c_void_p),
        ("opaque", C.c_void_p),
    ]


class MachineOptions(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("name", C.c_char_p),
        ("kernel_path", C.c_char_p),
        ("kernel", C.c_void_p),
        ("kernel_size", size_t),
        ("kernel_format", u32),
        ("initrd_path", C.c_char_p),
        ("initrd", C.c_void_p),
        ("initrd_size", size_t),
        ("cmdline", C.c_char_p),
        ("ram_size", u64),
        ("ram_backing", u32),
        ("ram_flags", u32),
        ("ram_path", C.c_char_p),
        ("hugepage_size", u64),
        ("vcpu_count", u32),
        ("flags", u32),
        ("vcpus", C.c_void_p),
        ("vcpu_size", size_t),
        ("serial", C.POINTER(MachineSerial)),
        ("devices", C.c_void_p),
        ("device_count", u32),
        ("transport", u32),
        ("device_size", size_t),
        ("on_reset", u32),
        ("on_event", MACHINE_EVENT_FN),
        ("event_opaque", C.c_void_p),
        ("arch_options", C.c_void_p),
    ]


class MachineX86CpuidEdit(C.Structure):
    _fields_ = [("function", u32), ("index", u32), ("reg", u32), ("set", u32), ("clear", u32)]


class MachineX86Options(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("flags", u32),
        ("debug_exit_port", u16),
        ("reserved0", u16),
        ("mmio_hole_start", u64),
        ("cpuid_edits", C.c_void_p),
        ("cpuid_edit_count", u32),
        ("raw_mode", u32),
        ("cpuid_edit_size", size_t),
        ("raw_gpa", u64),
        ("hyperv", u32),  # KVMHOST_X86_HV_*
    ]


class MachineStopInfo(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("reason", u32),
        ("vcpu", u32),
        ("error", i32),
        ("exit_reason", u32),
        ("kvm_exit_reason", u32),
        ("suberror", u32),
        ("system_event", u32),
        ("fail_entry_cpu", u32),
        ("hardware_reason", u64),
        ("pc", u64),
        ("debug_exit_status", u64),
        ("insn_len", u8),
        ("insn", u8 * 15),
        ("message", C.c_char * 160),
    ]


class MachineEvent(C.Structure):
    _fields_ = [
        ("size", size_t),
        ("type", u32),
        ("reason", u32),
        ("vcpu", u32),
        ("index", u32),
        ("sequence", u64),
        ("device", C.c_char * 32),
    ]


class MachineVcpuStats(C.Structure):
    _fields_ = [("size", size_t), ("runs", u64), ("exits", u64 * 32)]


class MachineDeviceStats(C.Structure):
    _fields_ = [("size", size_t), ("notifies", u64), ("bad_accesses", u64), ("broken", u32)]


# name of the C struct -> ctypes class, for the layout check
C_STRUCTS: dict[str, type] = {
    "kvmhost_system_options": SystemOptions,
    "kvmhost_vm_options": VmOptions,
    "kvmhost_memory_options": MemoryOptions,
    "kvmhost_bus_range": BusRange,
    "kvmhost_exit": ExitStruct,
    "kvmhost_machine_vcpu": MachineVcpu,
    "kvmhost_machine_serial": MachineSerial,
    "kvmhost_machine_device": MachineDevice,
    "kvmhost_machine_options": MachineOptions,
    "kvmhost_machine_x86_cpuid_edit": MachineX86CpuidEdit,
    "kvmhost_machine_x86_options": MachineX86Options,
    "kvmhost_machine_stop_info": MachineStopInfo,
    "kvmhost_machine_event": MachineEvent,
    "kvmhost_machine_vcpu_stats": MachineVcpuStats,
    "kvmhost_machine_device_stats": MachineDeviceStats,
}

"""The primitives: System (/dev/kvm), Vm, memory Region, Vcpu, Exit and Bus.

Each object that creates something is a context manager that destroys it
(``close()`` does the same; objects are also closed when collected). A Vm
owns its vCPUs and memory (kvmhost_vm_destroy() frees them): closing the Vm
invalidates them.
"""

from __future__ import annotations

import ctypes as C
import enum
import errno as _errno
import threading
from typing import TYPE_CHECKING, Callable, Optional

from . import _structs as S
from ._lib import lib
from .errors import KvmhostError, call



class ExitReason(enum.IntEnum):
    """enum kvmhost_exit_reason."""

    UNKNOWN = 0
    IO = 1
    MMIO = 2
    HLT = 3
    SHUTDOWN = 4
    SYSTEM_EVENT = 5
    INTERNAL_ERROR = 6
    FAIL_ENTRY = 7
    KICKED = 8
    DEBUG = 9
    IRQ_WINDOW_OPEN = 10
    HYPERCALL = 11
    X86_RDMSR = 12
    X86_WRMSR = 13
    IOAPIC_EOI = 14


EXIT_UNKNOWN, EXIT_IO, EXIT_MMIO, EXIT_HLT = ExitReason.UNKNOWN, ExitReason.IO, ExitReason.MMIO, ExitReason.HLT
BUS_UNCLAIMED = 1

if TYPE_CHECKING:
    from .machine import Machine

MEMORY_ANONYMOUS, MEMORY_MEMFD = 0, 1
MEMORY_READONLY, MEMORY_LOG_DIRTY = 1 << 0, 1 << 1


def _buffer(addr: int, length: int) -> memoryview:
    """A writable memoryview over host memory at ``addr`` (no copy)."""
    return memoryview((C.c_char * length).from_address(addr)).cast("B")


class _Handle:
    _ptr: Optional[int] = None

    @property
    def handle(self) -> int:
        if not self._ptr:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    @property
    def closed(self) -> bool:
        return not self._ptr

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class System(_Handle):
    """/dev/kvm (kvmhost_system_open)."""

    def __init__(self, device_path: Optional[str] = None, kick_signal: int = 0, flags: int = 0) -> None:
        o = S.SystemOptions(C.sizeof(S.SystemOptions), device_path.encode() if device_path else None,
                            kick_signal, flags)
        p = C.c_void_p()
        call("kvmhost_system_open", C.byref(o), C.byref(p))
        self._ptr = p.value
        self._vms: list[Vm] = []

    def close(self) -> None:
        if self._ptr:
            for vm in self._vms:
                vm.close()
            self._vms.clear()
            lib().kvmhost_system_close(self._ptr)
            self._ptr = None

    def fd(self) -> int:
        return call("kvmhost_system_fd", self.handle)

    def check_extension(self, cap: int) -> int:
        return call("kvmhost_system_check_extension", self.handle, cap)

    def max_vcpus(self) -> int:
        return call("kvmhost_system_max_vcpus", self.handle)

    def create_vm(self, name: Optional[str] = None, type: int = 0) -> "Vm":
        vm = Vm(self, name, type)
        self._vms.append(vm)
        return vm


class Region:
    """A guest memory region of a Vm (valid while the Vm lives)."""

    def __init__(self, vm: "Vm", ptr: int) -> None:
        self._vm = vm
        self._ptr = ptr

    @property
    def gpa(self) -> int:
        return int(lib().kvmhost_memory_region_gpa(self._ptr))

    @property
    def length(self) -> int:
        return int(lib().kvmhost_memory_region_length(self._ptr))

    def memoryview(self) -> memoryview:
        """The region's host mapping as a writable memoryview of bytes, no copy.
        It must not be used after the Vm is closed."""
        self._vm.handle  # raises if closed
        addr = lib().kvmhost_memory_region_host_addr(self._ptr)
        return _buffer(addr, self.length)


class Vm(_Handle):
    """A KVM VM (kvmhost_vm_create); made by System.create_vm()."""

    def __init__(self, system: System, name: Optional[str] = None, type: int = 0) -> None:
        self._name = name.encode() if name else None
        o = S.VmOptions(C.sizeof(S.VmOptions), type, self._name)
        p = C.c_void_p()
        call("kvmhost_vm_create", system.handle, C.byref(o), C.byref(p))
        self._ptr = p.value
        self.system = system
        self._vcpus: list[Vcpu] = []

    def close(self) -> None:
        if self._ptr:
            for v in self._vcpus:
                v._ptr = None  # freed with the VM
            lib().kvmhost_vm_destroy(self._ptr)
            self._ptr = None

    def fd(self) -> int:
        return call("kvmhost_vm_fd", self.handle)

    def add_memory(self, length: int, gpa: int = 0, backing: int = MEMORY_ANONYMOUS, flags: int = 0,
                   name: Optional[str] = None) -> Region:
        o = S.MemoryOptions(size=C.sizeof(S.MemoryOptions), guest_phys_addr=gpa, length=length,
                            backing=backing, flags=flags, fd=-1, name=name.encode() if name else None)
        r = C.c_void_p()
        call("kvmhost_vm_add_memory", self.handle, C.byref(o), C.byref(r))
        return Region(self, r.value or 0)

    @property
    def memory(self) -> "Memory":
        return Memory(lib().kvmhost_vm_memory(self.handle), self)

    def create_vcpu(self, id: int = 0) -> "Vcpu":
        p = C.c_void_p()
        call("kvmhost_vcpu_create", self.handle, id, C.byref(p))
        v = Vcpu(self, p.value or 0)
        self._vcpus.append(v)
        return v


class Memory:
    """A guest memory map (kvmhost_memory): checked reads, writes and views."""

    def __init__(self, ptr: int, owner: "Vm | Machine") -> None:
        self._ptr_ = ptr
        self._owner = owner  # keeps the VM or machine referenced

    @property
    def _ptr(self) -> int:
        self._owner.handle  # ValueError once the owner is closed
        return self._ptr_

    def read(self, gpa: int, length: int) -> bytes:
        buf = C.create_string_buffer(length)
        call("kvmhost_memory_read", self._ptr, gpa, buf, length)
        return buf.raw

    def write(self, gpa: int, data: bytes) -> None:
        b = bytes(data)
        call("kvmhost_memory_write", self._ptr, gpa, b, len(b))

    def view(self, gpa: int, length: int) -> memoryview:
        """Guest memory [gpa, gpa + length) (inside one region) as a writable
        memoryview, no copy; valid while its owner lives."""
        host = C.c_void_p()
        call("kvmhost_memory_translate", self._ptr, gpa, length, C.byref(host))
        return _buffer(host.value or 0, length)


class Exit:
    """A vCPU exit (struct kvmhost_exit), valid until the vCPU runs again."""

    def __init__(self, ptr: "C._Pointer[S.ExitStruct]") -> None:
        self._p = ptr
        self.raw = ptr.contents

    @property
    def reason(self) -> int:
        """An ExitReason (a plain int for a reason newer than this binding)."""
        r = int(self.raw.reason)
        try:
            return ExitReason(r)
        except ValueError:
            return r

    @property
    def reason_name(self) -> str:
        return (lib().kvmhost_exit_reason_name(self.raw.reason) or b"?").decode()

    @property
    def kvm_exit_reason(self) -> int:
        return int(self.raw.kvm_exit_reason)

    @property
    def io_port(self) -> int:
        return int(self.raw.io.port)

    @property
    def io_is_write(self) -> bool:
        return bool(self.raw.io.is_write)

    @property
    def io_data(self) -> memoryview:
        """The I/O exit's size * count bytes (writable: fill it for an IN)."""
        io = self.raw.io
        return _buffer(C.cast(io.data, C.c_void_p).value or 0, io.size * io.count)

    @property
    def mmio_addr(self) -> int:
        return int(self.raw.mmio.addr)

    @property
    def mmio_data(self) -> memoryview:
        m = self.raw.mmio
        return _buffer(C.cast(m.data, C.c_void_p).value or 0, m.len)

    def __repr__(self) -> str:
        return f"<Exit {self.reason_name}>"


class Vcpu:
    """A vCPU of a Vm (kvmhost_vcpu_create), freed with its Vm."""

    def __init__(self, vm: Vm, ptr: int) -> None:
        self.vm = vm
        self._ptr: Optional[int] = ptr

    @property
    def handle(self) -> int:
        if not self._ptr:
            raise ValueError("Vcpu is closed (its Vm was closed)")
        return self._ptr

    def setup_real_mode(self, cs: int = 0, ip: int = 0x1000) -> None:
        """x86: 16-bit real mode at cs:ip."""
        call("kvmhost_x86_vcpu_setup_real_mode", self.handle, cs, ip)

    def run(self) -> Exit:
        """KVM_RUN until the next exit userspace must handle (the GIL is released meanwhile)."""
        p = C.POINTER(S.ExitStruct)()
        call("kvmhost_vcpu_run", self.handle, C.byref(p))
        return Exit(p)

    def kick(self) -> None:
        """Make a run in another thread return (KICKED), from any thread."""
        call("kvmhost_vcpu_kick", self.handle)


ReadFn = Callable[[int, int], bytes]
WriteFn = Callable[[int, bytes], None]


class Bus(_Handle):
    """An I/O bus (bus.h): PIO or MMIO ranges served by Python callables.

    ``read(offset, length) -> bytes`` and ``write(offset, data)`` run in the
    thread that dispatches the access (the one calling dispatch_exit(), read()
    or write(): a vCPU loop's thread). They are ctypes callbacks, so they take
    the GIL when called from any thread; C calls made from Python release it.
    An exception in a callback is kept and re-raised by the call that
    dispatched the access (the C side sees -EIO).
    """

    def __init__(self, name: str = "bus") -> None:
        p = C.c_void_p()
        call("kvmhost_bus_create", name.encode(), C.byref(p))
        self._ptr = p.value
        self._ranges: dict[int, tuple[object, object, S.BusRange]] = {}
        self._pending = threading.local()

    def close(self) -> None:
        if self._ptr:
            lib().kvmhost_bus_destroy(self._ptr)
            self._ptr = None
            self._ranges.clear()  # only now may the callbacks be freed

    def _fail(self, e: BaseException) -> int:
        self._pending.exc = e
        return -_errno.EIO

    def register(self, base: int, length: int, read: Optional[ReadFn] = None,
                 write: Optional[WriteFn] = None, name: Optional[str] = None) -> None:
        def c_read(_opaque: int, offset: int, data: int, n: int) -> int:
            try:
                out = bytes(read(offset, n))  # type: ignore[misc]
                if len(out) != n:
                    raise ValueError(f"read callback returned {len(out)} bytes, wanted {n}")
                C.memmove(data, out, n)
                return 0
            except BaseException as e:  # noqa: BLE001 - must not unwind through C
                return self._fail(e)

        def c_write(_opaque: int, offset: int, data: int, n: int) -> int:
            try:
                write(offset, C.string_at(data, n))  # type: ignore[misc]
                return 0
            except BaseException as e:  # noqa: BLE001
                return self._fail(e)

        rf = S.BUS_READ_FN(c_read) if read else S.BUS_READ_FN()  # type: ignore[call-overload]  # NULL
        wf = S.BUS_WRITE_FN(c_write) if write else S.BUS_WRITE_FN()  # type: ignore[call-overload]
        r = S.BusRange(C.sizeof(S.BusRange), base, length, rf, wf, None, name.encode() if name else None)
        self._call("kvmhost_bus_register", self.handle, C.byref(r))
        self._ranges[base] = (rf, wf, r)  # the C side keeps the function pointers

    def unregister(self, base: int) -> None:
        call("kvmhost_bus_unregister", self.handle, base)
        # kept until close: another thread may be inside a callback right now
        self._retired = getattr(self, "_retired", [])
        self._retired.append(self._ranges.pop(base, None))

    def __len__(self) -> int:
        return call("kvmhost_bus_count", self.handle)

    def _call(self, name: str, *args: object) -> int:
        self._pending.exc = None
        ret = int(getattr(lib(), name)(*args))
        exc = getattr(self._pending, "exc", None)
        if exc is not None:
            self._pending.exc = None
            raise exc
        if ret < 0:
            from .errors import check
            check(ret, name)
        return ret

    def read(self, addr: int, length: int) -> bytes:
        buf = C.create_string_buffer(length)
        self._call("kvmhost_bus_read", self.handle, addr, buf, length)
        return buf.raw

    def write(self, addr: int, data: bytes) -> None:
        b = bytes(data)
        self._call("kvmhost_bus_write", self.handle, addr, b, len(b))

    def dispatch_exit(self, exit: Exit, mmio: Optional["Bus"] = None) -> bool:
        """Serve a PIO exit on this bus (or an MMIO exit on ``mmio``); False
        when no range claims it (KVMHOST_BUS_UNCLAIMED)."""
        ret = self._call("kvmhost_bus_dispatch_exit", self.handle, mmio.handle if mmio else None, exit._p)
        return ret != BUS_UNCLAIMED


__all__ = ["System", "Vm", "Vcpu", "Region", "Memory", "Exit", "ExitReason", "Bus", "KvmhostError"]

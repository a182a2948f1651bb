"""The machine layer (machine.h): a whole VM from one set of options."""

from __future__ import annotations

import ctypes as C
import enum
import errno
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

from . import _structs as S
from ._lib import lib
from .errors import call, check
from .lowlevel import Memory


class State(enum.IntEnum):
    CREATED = 1
    RUNNING = 2
    PAUSED = 3
    STOPPED = 4


class StopReason(enum.IntEnum):
    NONE = 0
    POWEROFF = 1
    RESET = 2
    DEBUG_EXIT = 3
    GUEST_ERROR = 4
    HOST_ERROR = 5
    REQUESTED = 6
    MIGRATED = 7


class EventType(enum.IntEnum):
    STARTED = 1
    PAUSED = 2
    RESUMED = 3
    REBOOTED = 4
    DEVICE_BROKEN = 5
    STOPPED = 6


class KernelFormat(enum.IntEnum):
    """x86: enum kvmhost_x86_boot_format (0: detect)."""

    DETECT = 0
    BZIMAGE = 1
    PVH_ELF = 2
    MULTIBOOT = 3
    RAW = 4


class RawMode(enum.IntEnum):
    """x86: enum kvmhost_x86_raw_mode, for KernelFormat.RAW."""

    REAL = 0
    PROTECTED_32 = 1
    LONG_64 = 2


_tls = threading.local()  # in_callback: this thread is inside an on_event callback

FLAG_EXTERNAL_IO = 1 << 0
RAM_LOG_DIRTY = 1 << 3
X86_NO_ACPI, X86_NO_MPTABLE = 1 << 0, 1 << 1


@dataclass(frozen=True)
class StopInfo:
    reason: StopReason
    vcpu: int
    error: int
    exit_reason: int
    kvm_exit_reason: int
    pc: int
    debug_exit_status: int
    message: str


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: StopReason
    vcpu: int
    index: int
    sequence: int
    device: str

    @staticmethod
    def _from(e: S.MachineEvent) -> "Event":
        return Event(EventType(e.type), StopReason(e.reason), e.vcpu, e.index, e.sequence,
                     e.device.decode("utf-8", "replace"))


def _enc(s: Optional[str]) -> Optional[bytes]:
    return s.encode() if s is not None else None


class Machine:
    """A machine (kvmhost_machine_create), destroyed by close() or on leaving
    the ``with`` block (which stops it first if it runs).

    kernel: bytes (kept referenced for the machine's life, as the C API needs)
    or a path. serial: True for COM1 output into a pipe read with
    read_serial()/wait_serial(); an (in_fd, out_fd) pair; or None (discarded).
    on_event(Event) is called in the library's thread that saw the event (a
    vCPU or I/O thread, or the caller of start/pause/resume); it takes the
    GIL, must not call start/pause/resume/wait (-EDEADLK) and should be quick.
    Its exceptions are kept in ``callback_errors``. Events also queue for
    events()/next_event().
    """

    def __init__(self, kernel: Union[bytes, bytearray, str, "os.PathLike[str]"], *, ram_size: int = 4 << 20,
                 vcpus: int = 1, kernel_format: int = KernelFormat.DETECT, cmdline: Optional[str] = None,
                 initrd: Union[None, bytes, str, "os.PathLike[str]"] = None, name: Optional[str] = None,
                 serial: Union[None, bool, tuple[int, int]] = True, debug_exit_port: int = 0,
                 raw_gpa: int = 0, raw_mode: int = RawMode.REAL, x86_flags: int = 0, flags: int = 0,
                 ram_flags: int = 0, on_event: Optional[Callable[[Event], None]] = None,
                 check_only: bool = False) -> None:
        self._ptr: Optional[int] = None
        self._serial_r = self._serial_w = -1
        self.callback_errors: list[BaseException] = []
        o = S.MachineOptions()
        o.size = C.sizeof(o)
        self._keep: list[object] = []  # everything the C side points at
        if isinstance(kernel, (bytes, bytearray)):
            buf = C.create_string_buffer(bytes(kernel), len(kernel))
            self._keep.append(buf)
            o.kernel, o.kernel_size = C.cast(buf, C.c_void_p), len(kernel)
        else:
            o.kernel_path = os.fsencode(kernel)
        if isinstance(initrd, (bytes, bytearray)):
            ibuf = C.create_string_buffer(bytes(initrd), len(initrd))
            self._keep.append(ibuf)
            o.initrd, o.initrd_size = C.cast(ibuf, C.c_void_p), len(initrd)
        elif initrd is not None:
            o.initrd_path = os.fsencode(initrd)
        o.kernel_format = int(kernel_format)
        o.name, o.cmdline = _enc(name), _enc(cmdline)
        o.ram_size, o.ram_flags, o.vcpu_count, o.flags = ram_size, ram_flags, vcpus, flags
        self._keep += [o.name, o.cmdline, o.kernel_path, o.initrd_path]
        x86 = S.MachineX86Options(size=C.sizeof(S.MachineX86Options), flags=x86_flags,
                                  debug_exit_port=debug_exit_port, raw_mode=int(raw_mode), raw_gpa=raw_gpa)
        self._keep.append(x86)
        o.arch_options = C.cast(C.byref(x86), C.c_void_p)
        if serial is True and not check_only:
            self._serial_r, self._serial_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            ser = S.MachineSerial(C.sizeof(S.MachineSerial), -1, self._serial_w)
        elif isinstance(serial, tuple):
            ser = S.MachineSerial(C.sizeof(S.MachineSerial), serial[0], serial[1])
        else:
            ser = None
        if ser is not None:
            self._keep.append(ser)
            o.serial = C.pointer(ser)
        if on_event is not None:
            errors = self.callback_errors  # not self: no cycle through the machine
            cb = on_event

            def trampoline(_opaque: int, _machine: int, ev: int) -> None:
                _tls.in_callback = getattr(_tls, "in_callback", 0) + 1
                try:
                    cb(Event._from(S.MachineEvent.from_address(ev)))
                except BaseException as e:  # noqa: BLE001 - must not unwind through C
                    errors.append(e)
                finally:
                    _tls.in_callback -= 1

            self._on_event = S.MACHINE_EVENT_FN(trampoline)  # lives as long as the machine
            o.on_event = self._on_event
        self._opts = o
        if check_only:
            call("kvmhost_machine_check", C.byref(o))
            return
        p = C.c_void_p()
        try:
            call("kvmhost_machine_create", C.byref(o), C.byref(p))
        except BaseException:
            self._close_serial()
            raise
        self._ptr = p.value

    @staticmethod
    def check(kernel: Union[bytes, str, "os.PathLike[str]"], **kw: object) -> None:
        """kvmhost_machine_check(): the options' and files' checks, no KVM; raises KvmhostError."""
        Machine(kernel, check_only=True, serial=None, **kw)  # type: ignore[arg-type]

    @property
    def handle(self) -> int:
        if not self._ptr:
            raise ValueError("Machine is closed")
        return self._ptr

    def _close_serial(self) -> None:
        for fd in (self._serial_r, self._serial_w):
            if fd >= 0:
                os.close(fd)
        self._serial_r = self._serial_w = -1

    def close(self) -> None:
        """Stop (if running), join the threads and free everything (kvmhost_machine_destroy).
        Not from the on_event callback (RuntimeError): that runs in the machine's own threads."""
        if getattr(_tls, "in_callback", 0):
            raise RuntimeError("Machine.close() from its on_event callback (a machine thread)")
        self._destroy()

    def _destroy(self) -> None:
        if self._ptr:
            lib().kvmhost_machine_destroy(self._ptr)  # GIL released: the threads may call back
            self._ptr = None
        self._close_serial()

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(_tls, "in_callback", 0):
                # collected inside a callback, i.e. in one of the machine's threads, which
                # destroy would join: destroy it from a thread of its own instead
                threading.Thread(target=self._destroy, daemon=True).start()
            else:
                self._destroy()
        except Exception:
            pass

    # lifecycle
    def start(self) -> None:
        call("kvmhost_machine_start", self.handle)

    def pause(self) -> None:
        call("kvmhost_machine_pause", self.handle)

    def resume(self) -> None:
        call("kvmhost_machine_resume", self.handle)

    def stop(self) -> None:
        call("kvmhost_machine_stop", self.handle)

    def request_reset(self) -> None:
        call("kvmhost_machine_request_reset", self.handle)

    def request_poweroff(self) -> None:
        call("kvmhost_machine_request_poweroff", self.handle)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until STOPPED (timeout in seconds, None: forever); False on timeout."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        ret = lib().kvmhost_machine_wait(self.handle, ms)
        if ret == -errno.ETIMEDOUT:
            return False
        check(ret, "kvmhost_machine_wait")
        return True

    @property
    def state(self) -> State:
        return State(call("kvmhost_machine_get_state", self.handle))

    def stop_info(self) -> StopInfo:
        s = S.MachineStopInfo(size=C.sizeof(S.MachineStopInfo))
        call("kvmhost_machine_get_stop_info", self.handle, C.byref(s))
        return StopInfo(StopReason(s.reason), s.vcpu, s.error, s.exit_reason, s.kvm_exit_reason, s.pc,
                        s.debug_exit_status, s.message.decode("utf-8", "replace"))

    # events
    def event_fd(self) -> int:
        return call("kvmhost_machine_event_fd", self.handle)

    def next_event(self) -> Optional[Event]:
        e = S.MachineEvent(size=C.sizeof(S.MachineEvent))
        if call("kvmhost_machine_next_event", self.handle, C.byref(e)) == 0:
            return None
        return Event._from(e)

    def events(self) -> list[Event]:
        """Every queued event, oldest first (the queue is emptied)."""
        out = []
        while (e := self.next_event()) is not None:
            out.append(e)
        return out

    # accessors
    @property
    def name(self) -> str:
        return (lib().kvmhost_machine_name(self.handle) or b"").decode()

    @property
    def vcpu_count(self) -> int:
        return int(lib().kvmhost_machine_vcpu_count(self.handle))

    @property
    def memory(self) -> Memory:
        """Guest memory: read()/write() (checked copies) and view(gpa, len) (a memoryview, no copy)."""
        return Memory(lib().kvmhost_machine_memory(self.handle), self)

    def vcpu_runs(self, vcpu: int = 0) -> int:
        st = S.MachineVcpuStats(size=C.sizeof(S.MachineVcpuStats))
        call("kvmhost_machine_get_vcpu_stats", self.handle, vcpu, C.byref(st))
        return int(st.runs)

    # serial (serial=True)
    @property
    def serial_fd(self) -> int:
        """The pipe's read end (non-blocking), for select()/an event loop."""
        return self._serial_r

    def read_serial(self) -> bytes:
        """What COM1 wrote since the last read (b"" when nothing)."""
        if self._serial_r < 0:
            raise ValueError("no serial pipe (serial=True makes one)")
        out = b""
        while True:
            try:
                chunk = os.read(self._serial_r, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def wait_serial(self, until: bytes, timeout: float = 10.0) -> bytes:
        """Read COM1 until ``until`` appears or the timeout; return all read."""
        out = b""
        end = time.monotonic() + timeout
        while until not in out:
            left = end - time.monotonic()
            if left <= 0:
                break
            select.select([self._serial_r], [], [], left)
            out += self.read_serial()
        return out


def stop_reason_name(reason: int) -> str:
    return (lib().kvmhost_machine_stop_reason_name(reason) or b"?").decode()

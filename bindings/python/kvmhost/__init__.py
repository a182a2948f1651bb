"""Python bindings for libkvmhost (ctypes over libkvmhost.so.0).

The library is found through KVMHOST_LIBRARY (a path), else the soname
libkvmhost.so.0 on the loader's path, else ctypes.util.find_library().
"""

from __future__ import annotations

from . import _lib
from .errors import KvmhostError, last_error
from .lowlevel import Bus, Exit, ExitReason, Memory, Region, System, Vcpu, Vm
from .machine import (Event, EventType, KernelFormat, Machine, RawMode, State, StopInfo, StopReason,
                      stop_reason_name)

__version__ = "0.1.0"


def version() -> str:
    """The loaded library's version, "major.minor.patch"."""
    return str(_lib.lib().kvmhost_version_string().decode())


def version_number() -> int:
    """major * 10000 + minor * 100 + patch of the loaded library."""
    return int(_lib.lib().kvmhost_version())


def library_path() -> str:
    """The file libkvmhost was loaded from."""
    return _lib.path()


def strerror(err: int) -> str:
    """kvmhost_strerror() for a negative (or positive) errno."""
    return (_lib.lib().kvmhost_strerror(-abs(err)) or b"").decode()


__all__ = [
    "KvmhostError", "last_error", "version", "version_number", "library_path", "strerror",
    "System", "Vm", "Vcpu", "Region", "Memory", "Exit", "ExitReason", "Bus",
    "Machine", "State", "StopReason", "StopInfo", "Event", "EventType", "KernelFormat", "RawMode",
    "stop_reason_name",
]

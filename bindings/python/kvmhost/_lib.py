"""Finding and loading libkvmhost.so.0, and the C prototypes.

Search order: the KVMHOST_LIBRARY environment variable (a path, e.g. a build
tree's lib/libkvmhost.so.0), then the soname "libkvmhost.so.0" through the
dynamic loader's search path (ldconfig's cache, LD_LIBRARY_PATH), then
ctypes.util.find_library("kvmhost"). The library is loaded on first use, so
``import kvmhost`` works without it.

The library is loaded with ctypes.CDLL: every foreign call releases the GIL
while it runs, so a C call that blocks (KVM_RUN, joining a machine's threads)
never stops other Python threads or the library's threads, which may call
back into Python (callbacks made with CFUNCTYPE take the GIL themselves).
"""

from __future__ import annotations

import ctypes as C
import ctypes.util
import os
import threading

from . import _structs as S

SONAME = "libkvmhost.so.0"

_lock = threading.Lock()
_handle: C.CDLL | None = None

vp = C.c_void_p
ci = C.c_int
u32 = C.c_uint32
u64 = C.c_uint64
cp = C.c_char_p

# name: (restype, argtypes)
_PROTOS: dict[str, tuple[object, list[object]]] = {
    "kvmhost_version": (ci, []),
    "kvmhost_version_string": (cp, []),
    "kvmhost_last_error": (cp, []),
    "kvmhost_strerror": (cp, [ci]),
    # system.h
    "kvmhost_system_open": (ci, [C.POINTER(S.SystemOptions), C.POINTER(vp)]),
    "kvmhost_system_close": (None, [vp]),
    "kvmhost_system_fd": (ci, [vp]),
    "kvmhost_system_check_extension": (ci, [vp, C.c_long]),
    "kvmhost_system_max_vcpus": (ci, [vp]),
    # vm.h
    "kvmhost_vm_create": (ci, [vp, C.POINTER(S.VmOptions), C.POINTER(vp)]),
    "kvmhost_vm_destroy": (None, [vp]),
    "kvmhost_vm_fd": (ci, [vp]),
    # memory.h
    "kvmhost_vm_memory": (vp, [vp]),
    "kvmhost_vm_add_memory": (ci, [vp, C.POINTER(S.MemoryOptions), C.POINTER(vp)]),
    "kvmhost_memory_region_gpa": (u64, [vp]),
    "kvmhost_memory_region_length": (u64, [vp]),
    "kvmhost_memory_region_host_addr": (vp, [vp]),
    "kvmhost_memory_translate": (ci, [vp, u64, u64, C.POINTER(vp)]),
    "kvmhost_memory_read": (ci, [vp, u64, vp, C.c_size_t]),
    "kvmhost_memory_write": (ci, [vp, u64, vp, C.c_size_t]),
    # vcpu.h
    "kvmhost_vcpu_create": (ci, [vp, u32, C.POINTER(vp)]),
    "kvmhost_vcpu_run": (ci, [vp, C.POINTER(C.POINTER(S.ExitStruct))]),
    "kvmhost_vcpu_kick": (ci, [vp]),
    "kvmhost_exit_reason_name": (cp, [ci]),
    # x86.h
    "kvmhost_x86_vcpu_setup_real_mode": (ci, [vp, C.c_uint16, C.c_uint16]),
    # bus.h
    "kvmhost_bus_create": (ci, [cp, C.POINTER(vp)]),
    "kvmhost_bus_destroy": (None, [vp]),
    "kvmhost_bus_register": (ci, [vp, C.POINTER(S.BusRange)]),
    "kvmhost_bus_unregister": (ci, [vp, u64]),
    "kvmhost_bus_count": (ci, [vp]),
    "kvmhost_bus_read": (ci, [vp, u64, vp, u32]),
    "kvmhost_bus_write": (ci, [vp, u64, vp, u32]),
    "kvmhost_bus_dispatch_exit": (ci, [vp, vp, C.POINTER(S.ExitStruct)]),
    # machine.h
    "kvmhost_machine_create": (ci, [C.POINTER(S.MachineOptions), C.POINTER(vp)]),
    "kvmhost_machine_check": (ci, [C.POINTER(S.MachineOptions)]),
    "kvmhost_machine_destroy": (None, [vp]),
    "kvmhost_machine_start": (ci, [vp]),
    "kvmhost_machine_pause": (ci, [vp]),
    "kvmhost_machine_resume": (ci, [vp]),
    "kvmhost_machine_stop": (ci, [vp]),
    "kvmhost_machine_request_reset": (ci, [vp]),
    "kvmhost_machine_request_poweroff": (ci, [vp]),
    "kvmhost_machine_wait": (ci, [vp, ci]),
    "kvmhost_machine_get_state": (ci, [vp]),
    "kvmhost_machine_get_stop_info": (ci, [vp, C.POINTER(S.MachineStopInfo)]),
    "kvmhost_machine_event_fd": (ci, [vp]),
    "kvmhost_machine_next_event": (ci, [vp, C.POINTER(S.MachineEvent)]),
    "kvmhost_machine_get_vcpu_stats": (ci, [vp, u32, C.POINTER(S.MachineVcpuStats)]),
    "kvmhost_machine_name": (cp, [vp]),
    "kvmhost_machine_memory": (vp, [vp]),
    "kvmhost_machine_vcpu_count": (u32, [vp]),
    "kvmhost_machine_stop_reason_name": (cp, [u32]),
}


def _candidates() -> list[str]:
    env = os.environ.get("KVMHOST_LIBRARY")
    if env:
        return [env]  # an explicit choice: no fallback that could hide a wrong path
    out = [SONAME]
    found = ctypes.util.find_library("kvmhost")
    if found and found != SONAME:
        out.append(found)
    return out


def lib() -> C.CDLL:
    """The loaded library (loaded and its prototypes set on first call)."""
    global _handle
    if _handle is not None:
        return _handle
    with _lock:
        if _handle is None:
            errors = []
            for name in _candidates():
                try:
                    h = C.CDLL(name)
                    break
                except OSError as e:
                    errors.append(f"{name}: {e}")
            else:
                raise OSError(
                    "cannot load libkvmhost (set KVMHOST_LIBRARY to its path): " + "; ".join(errors)
                )
            for fname, (res, args) in _PROTOS.items():
                f = getattr(h, fname)
                f.restype = res
                f.argtypes = args
            _handle = h
    return _handle


def path() -> str:
    """The file the library was loaded from."""
    h = lib()
    addr = C.cast(h.kvmhost_version, C.c_void_p).value or 0
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi and len(parts) >= 6:
                return parts[5]
    return h._name

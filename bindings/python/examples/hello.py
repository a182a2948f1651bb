#!/usr/bin/env python3
"""Boot a guest written as Python bytes on a libkvmhost machine and print what it says on COM1.

    python3 bindings/python/examples/hello.py                       # the installed libkvmhost.so.0
    KVMHOST_LIBRARY=build/lib/libkvmhost.so.0 PYTHONPATH=bindings/python python3 bindings/python/examples/hello.py

Exit status: 0 when the guest said hello and stopped with the status it was given, 1 otherwise; 77 when there is
no usable /dev/kvm (the library's error says why).
"""

import errno
import sys

import kvmhost
from kvmhost import KernelFormat, StopReason, tinyguests


def main() -> int:
    message = b"Hello from a Python-built guest!\n"
    try:
        machine = kvmhost.Machine(tinyguests.hello(message, status=7), name="py-hello",
                                  kernel_format=KernelFormat.RAW, raw_gpa=tinyguests.BASE,
                                  debug_exit_port=tinyguests.DEBUG_EXIT,
                                  on_event=lambda e: print(f"event: {e.type.name}", file=sys.stderr))
    except kvmhost.KvmhostError as e:  # e.g. "kvmhost_system_open: /dev/kvm: No such file or directory"
        if e.errno in (errno.ENOENT, errno.ENODEV, errno.EACCES, errno.ENXIO):
            print(f"SKIP: no usable /dev/kvm: {e}")  # one line, as every kvm-tier program says it
            return 77
        print(f"hello.py: {e}", file=sys.stderr)
        return 1
    with machine:  # destroyed on the way out, whatever happens
        machine.start()
        if not machine.wait(10):
            print("hello.py: the guest did not stop within 10 s", file=sys.stderr)
            return 1
        said = machine.wait_serial(b"\n", 5)
        info = machine.stop_info()
        print(f"{machine.name}: {said.decode(errors='replace')}", end="")
        print(f"stopped: {kvmhost.stop_reason_name(info.reason)}, status {info.debug_exit_status}")
        return 0 if said == message and info.reason == StopReason.DEBUG_EXIT and info.debug_exit_status == 7 else 1


if __name__ == "__main__":
    sys.exit(main())

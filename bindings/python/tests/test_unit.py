"""Unit tests: no KVM needed (version, errors, option checks, the bus)."""

import errno
import os
import re
import subprocess
import sys
import threading

import pytest

import kvmhost
from kvmhost import tinyguests as guests


def test_version():
    v = kvmhost.version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", v)
    major, minor, patch = map(int, v.split("."))
    assert kvmhost.version_number() == major * 10000 + minor * 100 + patch
    assert kvmhost.__version__ == v  # the package is the library's version


def test_library_path():
    p = kvmhost.library_path()
    assert os.path.basename(p).startswith("libkvmhost.so")
    env = os.environ.get("KVMHOST_LIBRARY")
    if env:
        assert os.path.realpath(p) == os.path.realpath(env)


def test_bad_library_env():
    env = dict(os.environ, KVMHOST_LIBRARY="/nonexistent/libkvmhost.so.0")
    r = subprocess.run([sys.executable, "-c", "import kvmhost; kvmhost.version()"], env=env,
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode != 0
    assert "KVMHOST_LIBRARY" in r.stderr


def test_strerror():
    assert kvmhost.strerror(-errno.EINVAL)


def test_error_is_oserror_with_errno_and_message():
    with pytest.raises(kvmhost.KvmhostError) as ei:
        kvmhost.Machine.check(guests.hello(b"x"), kernel_format=kvmhost.KernelFormat.RAW)  # no raw_gpa
    e = ei.value
    assert isinstance(e, OSError)
    assert e.errno == errno.EINVAL
    assert "raw_gpa" in e.last_error
    assert e.function == "kvmhost_machine_check"
    assert "raw_gpa" in str(e)
    assert "raw_gpa" in kvmhost.last_error()


def test_check_options():
    g = guests.hello(b"ok")
    raw = dict(kernel_format=kvmhost.KernelFormat.RAW, raw_gpa=guests.BASE, debug_exit_port=guests.DEBUG_EXIT)
    kvmhost.Machine.check(g, **raw)  # a good configuration: no exception, no KVM
    with pytest.raises(kvmhost.KvmhostError) as ei:
        kvmhost.Machine.check(g, ram_size=1 << 20, **raw)  # below 2 MiB
    assert ei.value.errno == errno.EINVAL and "ram" in ei.value.last_error
    with pytest.raises(kvmhost.KvmhostError) as ei:
        kvmhost.Machine.check(g, vcpus=0, **raw)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(kvmhost.KvmhostError) as ei:
        kvmhost.Machine.check("/nonexistent/kernel", kernel_format=kvmhost.KernelFormat.MULTIBOOT)
    assert ei.value.errno == errno.ENOENT
    assert isinstance(ei.value, OSError)


def test_last_error_is_per_thread():
    with pytest.raises(kvmhost.KvmhostError):
        kvmhost.Machine.check(guests.hello(b"x"), kernel_format=kvmhost.KernelFormat.RAW)
    seen = []

    def other():
        with pytest.raises(kvmhost.KvmhostError):
            kvmhost.Machine.check(guests.hello(b"x"), kernel_format=kvmhost.KernelFormat.RAW,
                                  raw_gpa=guests.BASE, vcpus=0)
        seen.append(kvmhost.last_error())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert "raw_gpa" in kvmhost.last_error()
    assert seen and "raw_gpa" not in seen[0]


class Regs:
    """A Python PIO device: 4 byte registers."""

    def __init__(self):
        self.regs = bytearray(4)
        self.lock = threading.Lock()
        self.writes = 0

    def read(self, offset, length):
        return bytes(self.regs[offset:offset + length])

    def write(self, offset, data):
        with self.lock:
            self.regs[offset:offset + len(data)] = data
            self.writes += 1


def test_bus_python_device():
    dev = Regs()
    with kvmhost.Bus("pio") as bus:
        bus.register(0x100, 4, read=dev.read, write=dev.write, name="regs")
        assert len(bus) == 1
        bus.write(0x101, b"\xab")
        assert dev.regs == bytearray(b"\0\xab\0\0")
        assert bus.read(0x100, 2) == b"\0\xab"
        assert bus.read(0x200, 1) == b"\xff"  # unclaimed: all ones
        with pytest.raises(kvmhost.KvmhostError) as ei:
            bus.register(0x102, 4, read=dev.read)  # overlaps
        assert ei.value.last_error
        bus.unregister(0x100)
        assert len(bus) == 0
    assert bus.closed
    with pytest.raises(ValueError):
        bus.read(0x100, 1)


def test_bus_callback_exception_propagates():
    def bad_read(offset, length):
        raise RuntimeError("device broke")

    with kvmhost.Bus() as bus:
        bus.register(0x10, 1, read=bad_read, write=None)
        with pytest.raises(RuntimeError, match="device broke"):
            bus.read(0x10, 1)
        assert bus.write(0x10, b"\1") is None  # NULL write: dropped
        bus.register(0x20, 1, read=lambda o, n: b"\1\2")  # wrong length
        with pytest.raises(ValueError):
            bus.read(0x20, 1)


def test_bus_from_many_threads():
    dev = Regs()
    with kvmhost.Bus() as bus:
        bus.register(0x100, 4, read=dev.read, write=dev.write)

        def hammer(i):
            for _ in range(500):
                bus.write(0x100 + i, bytes([i]))
                assert bus.read(0x100 + i, 1) == bytes([i])

        ts = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert dev.writes == 2000
    assert dev.regs == bytearray(b"\0\1\2\3")

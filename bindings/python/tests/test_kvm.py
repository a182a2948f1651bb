"""kvm tier: tiny guests on the local /dev/kvm (each skips without a usable one)."""

import os
import struct
import threading
import time

import pytest

import kvmhost
from kvmhost import EventType, KernelFormat, State, StopReason
from kvmhost import tinyguests as guests

pytestmark = [pytest.mark.kvm, pytest.mark.usefixtures("kvm")]

RAW = dict(kernel_format=KernelFormat.RAW, raw_gpa=guests.BASE, debug_exit_port=guests.DEBUG_EXIT)


def test_machine_runs_python_bytes_guest():
    seen = []

    def on_event(ev):
        seen.append((ev.type, threading.get_ident()))

    with kvmhost.Machine(guests.hello(b"Hello from Python bytes\n", status=42), name="py-hello",
                         on_event=on_event, **RAW) as m:
        assert m.state == State.CREATED and m.name == "py-hello" and m.vcpu_count == 1
        m.start()
        assert m.wait(10)
        assert m.state == State.STOPPED
        info = m.stop_info()
        assert info.reason == StopReason.DEBUG_EXIT and info.debug_exit_status == 42, info
        assert m.wait_serial(b"\n", 5) == b"Hello from Python bytes\n"
        types = [e.type for e in m.events()]
        assert types[0] == EventType.STARTED and types[-1] == EventType.STOPPED
        assert kvmhost.stop_reason_name(info.reason) == "debug-exit" or kvmhost.stop_reason_name(info.reason)
    assert not m.callback_errors
    assert [t for t, _ in seen][-1] == EventType.STOPPED
    # STOPPED comes from the last of the machine's threads to end, which is start()'s own when the guest stopped
    # before start() returned (seen in the lab's one-CPU L1): the callback from a library thread is checked in
    # test_machine_pause_resume, whose guest runs until stop().
    with pytest.raises(ValueError):
        m.start()  # closed


def test_machine_boots_multiboot_guest():
    d = os.environ.get("KVMHOST_MBGUESTS_DIR")
    if not d or not os.path.exists(os.path.join(d, "mb_hello.bin")):
        pytest.skip("KVMHOST_MBGUESTS_DIR has no mb_hello.bin (ctest sets it to the build's tests/guests-multiboot)")
    with kvmhost.Machine(os.path.join(d, "mb_hello.bin"), kernel_format=KernelFormat.MULTIBOOT, cmdline="x",
                         initrd=b"Y" * 4096, debug_exit_port=guests.DEBUG_EXIT) as m:
        m.start()
        assert m.wait(10)
        out = m.wait_serial(b"\n", 5)
        info = m.stop_info()
        assert out == b"MB:xY\n", out
        assert info.reason == StopReason.DEBUG_EXIT and info.debug_exit_status == 0, info


def test_machine_pause_resume():
    seen = []

    def on_event(ev):
        seen.append((ev.type, threading.get_ident()))

    with kvmhost.Machine(guests.count(), on_event=on_event, **RAW) as m:
        counter = m.memory.view(guests.COUNT_ADDR, 4).cast("I")  # guest memory, no copy

        def wait_above(v):
            for _ in range(500):
                if counter[0] > v:
                    return
                time.sleep(0.01)
            raise AssertionError(f"counter stuck at {counter[0]}")

        m.start()
        wait_above(0)
        for _ in range(2):
            m.pause()
            assert m.state == State.PAUSED
            before, runs = counter[0], m.vcpu_runs(0)
            time.sleep(0.2)
            assert counter[0] == before and m.vcpu_runs(0) == runs
            assert struct.unpack("<I", m.memory.read(guests.COUNT_ADDR, 4))[0] == before
            m.resume()
            assert m.state == State.RUNNING
            wait_above(before)
        m.stop()
        assert m.wait(5)
        assert m.stop_info().reason == StopReason.REQUESTED
        with pytest.raises(kvmhost.KvmhostError):
            m.resume()
        types = [e.type for e in m.events()]
        assert types.count(EventType.PAUSED) == 2 and types.count(EventType.RESUMED) == 2
        counter.release()
    assert not m.callback_errors
    # start() had returned long before, so STOPPED came from a library thread (the vCPU's or the I/O thread): the
    # callback took the GIL there
    stopped = [tid for t, tid in seen if t == EventType.STOPPED]
    assert len(stopped) == 1 and stopped[0] != threading.get_ident(), seen


def test_machine_close_while_running():
    m = kvmhost.Machine(guests.count(), **RAW)
    mem = m.memory
    m.start()
    m.close()  # stops, joins the vCPU thread, frees it
    m.close()  # twice is fine
    with pytest.raises(ValueError):
        mem.read(guests.COUNT_ADDR, 4)  # not a use after free


class Uart:
    def __init__(self):
        self.out = bytearray()

    def write(self, offset, data):
        assert offset == 0
        self.out += data


def run_until_hlt(vcpu, pio, limit=10000):
    for _ in range(limit):
        ex = vcpu.run()
        if ex.reason == kvmhost.ExitReason.HLT:
            return
        assert ex.reason == kvmhost.ExitReason.IO, ex
        assert pio.dispatch_exit(ex), f"unclaimed port {ex.io_port:#x}"
    raise AssertionError("no HLT")


def test_lowlevel_vm_with_python_pio_devices():
    uart, status = Uart(), []
    with kvmhost.System() as sys_, kvmhost.Bus("pio") as pio:
        pio.register(guests.COM1, 1, write=uart.write, name="com1")
        pio.register(guests.DEBUG_EXIT, 1, write=lambda o, d: status.append(d[0]), name="debug-exit")
        with sys_.create_vm("py-lowlevel") as vm:
            ram = vm.add_memory(1 << 20)
            assert ram.gpa == 0 and ram.length == 1 << 20
            mem = ram.memoryview()
            g = guests.hello(b"low level\n", status=7)
            mem[guests.BASE:guests.BASE + len(g)] = g  # written through the view, no copy
            assert vm.memory.read(guests.BASE, len(g)) == g
            vcpu = vm.create_vcpu(0)
            vcpu.setup_real_mode(0, guests.BASE)
            run_until_hlt(vcpu, pio)
            mem.release()
        assert vm.closed
        with pytest.raises(ValueError):
            vcpu.run()
    assert bytes(uart.out) == b"low level\n" and status == [7]


def test_lowlevel_vcpu_thread_in_and_out():
    """The vCPU loop runs in its own thread; the Python device answers an IN
    and sees the OUT, while the main thread waits (the GIL is released in KVM_RUN)."""
    seen = []
    with kvmhost.System() as sys_, kvmhost.Bus() as pio:
        pio.register(0x10, 1, read=lambda o, n: b"\x41", write=lambda o, d: seen.append((threading.get_ident(), d)))
        vm = sys_.create_vm()
        vm.add_memory(1 << 20)
        vm.memory.write(guests.BASE, guests.read_port(0x10))
        vcpu = vm.create_vcpu(0)
        vcpu.setup_real_mode(0, guests.BASE)
        err = []

        def loop():
            try:
                run_until_hlt(vcpu, pio)
            except BaseException as e:  # noqa: BLE001
                err.append(e)

        t = threading.Thread(target=loop)
        t.start()
        t.join(10)
        assert not t.is_alive() and not err, err
        assert vm.memory.read(guests.COUNT_ADDR, 1) == b"\x41"
        assert seen and seen[0][1] == b"\x42" and seen[0][0] == t.ident
    assert vm.closed  # closed with its System


def test_lowlevel_errors():
    with kvmhost.System() as s, s.create_vm() as vm:
        vm.add_memory(1 << 20)
        with pytest.raises(kvmhost.KvmhostError) as ei:
            vm.add_memory(1 << 20)  # overlaps
        assert ei.value.errno and ei.value.last_error
        with pytest.raises(kvmhost.KvmhostError):
            vm.memory.read(1 << 30, 4)  # outside RAM
        with pytest.raises(kvmhost.KvmhostError):
            vm.memory.view(1 << 30, 4)


def test_lowlevel_python_mmio_device():
    window, log = 0x20000, []

    def read(offset, length):
        log.append(("r", offset, length))
        return b"\x99" * length

    def write(offset, data):
        log.append(("w", offset, bytes(data)))

    with kvmhost.System() as s, kvmhost.Bus("pio") as pio, kvmhost.Bus("mmio") as mmio, s.create_vm() as vm:
        mmio.register(window, 0x1000, read=read, write=write, name="py-mmio")
        vm.add_memory(0x10000)  # RAM below the window
        vm.memory.write(guests.BASE, guests.mmio(window))
        vcpu = vm.create_vcpu(0)
        vcpu.setup_real_mode(0, guests.BASE)
        for _ in range(100):
            ex = vcpu.run()
            if ex.reason == kvmhost.ExitReason.HLT:
                break
            assert ex.reason == kvmhost.ExitReason.MMIO, ex
            assert pio.dispatch_exit(ex, mmio=mmio)
        assert log == [("w", 0, b"\x55"), ("r", 4, 1)]
        assert vm.memory.read(guests.COUNT_ADDR, 1) == b"\x99"


def test_machine_calls_from_the_event_callback():
    """In the callback (a machine thread) pause fails with EDEADLK and close refuses; both reach Python."""
    import errno

    got = []

    def on_event(ev):
        if ev.type == EventType.STARTED and not got:
            try:
                m.pause()
            except kvmhost.KvmhostError as e:
                got.append(e.errno)
            try:
                m.close()
            except RuntimeError:
                got.append("close refused")

    m = kvmhost.Machine(guests.hello(b"cb\n"), on_event=on_event, **RAW)
    with m:
        m.start()
        assert m.wait(10)
    assert got == [errno.EDEADLK, "close refused"], got
    assert not m.callback_errors

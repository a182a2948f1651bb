#!/usr/bin/env python3
"""Write the seed corpus of migration_stream_fuzz (tests/fuzz/corpus/migration_stream/):
valid streams in the format of docs/migration.md for a 2-vCPU machine with 1 MiB of RAM
at 1 MiB (header with CPU feature words, config, memory sections with data and zero
ranges, a VM section with the x86 items, two vCPU sections, an empty device container,
an optional virtio section, the end marker), format 1.1 diff snapshots (the header's
lineage block), format 1.2 streams (header flag bit 4: memory sections checked by XXH64),
and a few damaged ones. Small (a few KiB each).
Run from anywhere: python3 tests/fuzz/make_migration_corpus.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "migration_stream")
RAM_GPA, RAM_SIZE = 0x100000, 0x100000


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579,
                      2870177450012600261)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, v):
    return _rotl((acc + v * P2) & M64, 31) * P1 & M64


def xxh64(b, seed=0):
    """XXH64 (lib/core/xxh64.c), for format 1.2's memory sections."""
    n, i = len(b), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", b, i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", b, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", b, i)[0] * P1 & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = _rotl(h ^ (b[i] * P5 & M64), 11) * P1 & M64
        i += 1
    h ^= h >> 33
    h = h * P2 & M64
    h ^= h >> 29
    h = h * P3 & M64
    return h ^ (h >> 32)


def header(features=((1, 0, 2, 0x1), (7, 0, 1, 0x9)), major=1, arch=1, lineage=None, flags=0, minor=0):
    """lineage (format 1.1): (id, base, parent, generation), 16-byte ids; sets flag bit 2 (LINEAGE)."""
    if lineage:
        flags |= 4
    size = 32 + 16 * len(features) + (56 if lineage else 0) + 4
    body = struct.pack("<IHHIIIIII", 0x534D484B, major, minor, size, arch, 100, flags, 4096, len(features))
    for f in features:
        body += struct.pack("<IIII", *f)
    if lineage:
        body += lineage[0] + lineage[1] + lineage[2] + struct.pack("<II", lineage[3], 0)
    return body + struct.pack("<I", crc(body))


class Stream:
    def __init__(self, **kw):
        self.b = header(**kw)
        self.xxh = kw.get("flags", 0) & 16
        self.sections = 0
        self.vcpus = 0
        self.data = 0
        self.zero = 0

    def section(self, sid, payload, instance=0):
        sum_ = xxh64(payload) & 0xFFFFFFFF if self.xxh and sid == 2 else crc(payload)
        h = struct.pack("<IHHQI", sid, 1, instance, len(payload), sum_)
        self.b += h + struct.pack("<I", crc(h)) + payload
        if sid != 7:
            self.sections += 1
            self.vcpus += sid == 4

    def config(self, vcpus=2):
        self.section(1, struct.pack("<IIQQ", vcpus, 1, RAM_GPA, RAM_SIZE))

    def memory(self, records):
        p = b""
        for gpa, pages, kind, fill in records:
            p += struct.pack("<QII", gpa, pages, kind)
            if kind == 0:
                p += bytes([fill]) * (4096 * pages)
                self.data += pages
            else:
                self.zero += pages
        self.section(2, p)

    def end(self):
        self.section(7, struct.pack("<QQII", self.data, self.zero, self.sections, self.vcpus))


def item(tag, data):
    return struct.pack("<HHI", tag, 0, len(data)) + data


# struct sizes on x86_64 (linux/kvm.h)
IRQCHIP, PIT2, REGS, SREGS, XSAVE, FPU, XCRS, DREGS, LAPIC, EVENTS, MP = 520, 112, 144, 312, 4096, 416, 392, 128, 1024, 64, 4


def vm_payload():
    p = b""
    for chip in range(3):
        p += item(chip + 1, struct.pack("<II", chip, 0) + bytes(IRQCHIP - 8))
    p += item(4, bytes(PIT2))
    p += item(5, struct.pack("<QIIQQQ", 123456789, 0, 0, 0, 0, 1700000000 * 10**9))
    return p


def vcpu_payload(fpu=False, msrs=((0x10, 1000), (0x6E0, 0), (0xC0000080, 0x500))):
    cpuid = struct.pack("<I", 1) + struct.pack("<IIIIIIIIII", 1, 0, 0, 0x806F0, 0, 0x1, 0x9, 0, 0, 0)
    p = item(1, cpuid) + item(2, struct.pack("<I", 2000000)) + item(3, struct.pack("<I", 0))
    p += item(4, bytes(REGS)) + item(5, bytes(SREGS))
    p += item(7, bytes(FPU)) if fpu else item(6, bytes(XSAVE))
    p += item(8, struct.pack("<II", 1, 0) + bytes(XCRS - 8)) + item(9, bytes(DREGS)) + item(10, bytes(LAPIC))
    m = struct.pack("<I", len(msrs)) + b"".join(struct.pack("<IIQ", i, 0, v) for i, v in msrs)
    return p + item(11, m) + item(12, bytes(EVENTS))


def devices():
    h = struct.pack("<IHHIQ", 0x5644484B, 1, 0, 0, 24)
    return h + struct.pack("<I", crc(h))


def full(virtio=False, fpu=False, passes=1, records=None, **kw):
    s = Stream(**kw)
    s.config()
    for i in range(passes):
        s.memory(records or [(RAM_GPA, 1, 0, 0x90 + i), (RAM_GPA + 4096, 255, 1, 0)])
    s.section(3, vm_payload())
    s.section(4, vcpu_payload(fpu), 0)
    s.section(4, vcpu_payload(fpu), 1)
    s.section(5, devices())
    if virtio:
        s.section(6, b"virtio-state", 0)
    s.end()
    return s.b


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    a = full()
    if len(a) % 2:  # the fuzz target expects a virtio section on odd sizes
        a += b"\0"
    write("full", a)
    b = full(virtio=True)
    if len(b) % 2 == 0:
        b += b"\0"
    write("full_virtio", b)
    write("fpu_two_passes", full(fpu=True, passes=2) + (b"" if len(full(fpu=True, passes=2)) % 2 == 0 else b"\0"))
    write("header_only", header())
    write("major2", header(major=2))
    write("arm", header(arch=2))
    write("cut", a[: len(a) // 2])
    s = Stream()
    s.section(3, vm_payload())
    write("vm_first", s.b)
    s = Stream()
    s.config()
    s.memory([(RAM_GPA + RAM_SIZE - 4096, 2, 1, 0)])
    write("past_ram", s.b)
    # Format 1.1 diff snapshots. The fuzz target accepts a diff (header flag bit 3) when the input's size has bit 1
    # set, and expects a virtio section when bit 0 is: pad() makes the size what a seed needs.
    base_id, diff1_id, diff2_id = bytes(range(1, 17)), bytes(range(17, 33)), bytes(range(33, 49))
    zero = bytes(16)

    def pad(data, size_mod4):
        while len(data) % 4 != size_mod4:
            data += b"\0"
        return data

    diff_records = [(RAM_GPA + 8 * 4096, 2, 0, 0xA1), (RAM_GPA + 64 * 4096, 1, 1, 0)]
    write("base_lineage", pad(full(lineage=(base_id, base_id, zero, 0), minor=1), 0))
    write("diff1", pad(full(lineage=(diff1_id, base_id, base_id, 1), flags=8, minor=1, records=diff_records), 2))
    write("diff2_virtio", pad(full(virtio=True, lineage=(diff2_id, base_id, diff1_id, 2), flags=8, minor=1,
                                   records=diff_records[:1]), 3))
    write("diff_not_accepted", pad(full(lineage=(diff1_id, base_id, base_id, 1), flags=8, minor=1), 0))
    write("diff_no_parent", pad(full(lineage=(diff1_id, base_id, zero, 1), flags=8, minor=1), 2))
    write("diff_no_lineage", pad(header(flags=8, minor=1), 2))
    write("diff_cut", pad(full(lineage=(diff1_id, base_id, base_id, 1), flags=8, minor=1)[:300], 2))
    # Format 1.2: memory checked by XXH64 (what this library writes now).
    assert xxh64(b"") == 0xEF46DB3751D8E999 and xxh64(b"abc") == 0x44BC2CF5AD770999
    assert xxh64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1
    write("xxh64_two_passes", pad(full(fpu=True, passes=2, flags=16, minor=2), 0))
    write("xxh64_diff1", pad(full(lineage=(diff1_id, base_id, base_id, 1), flags=8 | 16, minor=2,
                                  records=diff_records), 2))


if __name__ == "__main__":
    main()

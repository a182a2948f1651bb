#!/usr/bin/env python3
"""Write the seed corpora of virtio_mmio_fuzz and virtio_pci_fuzz
(tests/fuzz/corpus/virtio_mmio/, tests/fuzz/corpus/virtio_pci/).

Each seed is a flags byte and 8-byte records (op, u16 offset, 40-bit value)
in the format the targets describe: a driver's init sequence with a kick,
an enumeration, a BAR move, and a few misuses.
Run from anywhere: python3 tests/fuzz/make_transport_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
W = {1: 0, 2: 1, 4: 2, 8: 3}


def rec(kind, off, val=0, width=4, kbits=2, wshift=2):
    return bytes([kind | (W[width] << wshift)]) + struct.pack("<H", off) + (val & (1 << 40) - 1).to_bytes(5, "little")


def write(name, sub, flags, records):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([flags]) + b"".join(records))


# ---- virtio-mmio: kinds 0 read, 1 write, 2 guest memory, 3 device event; width at bits 2-3
def mr(off, w=4):
    return rec(0, off, 0, w)


def mw(off, v, w=4):
    return rec(1, off, v, w)


def mem(off, v):
    return rec(2, off, v, 4)


def split_request():
    """One two-buffer chain in the split ring at 0x1000/0x2000/0x3000 (size 8)."""
    return [
        mem(0x1000, 0x8000), mem(0x1004, 0), mem(0x1008, 16), mem(0x100C, 0x1 | (1 << 16)),  # desc 0 -> 1
        mem(0x1010, 0x9000), mem(0x1014, 0), mem(0x1018, 32), mem(0x101C, 0x2),  # desc 1 writable
        mem(0x2004, 0), mem(0x2000, 1 << 16),  # avail ring[0] = 0, idx = 1
    ]


init = [mr(0x000), mr(0x004), mr(0x008), mw(0x070, 0), mw(0x070, 1), mw(0x070, 3),
        mw(0x014, 1), mr(0x010), mw(0x014, 0), mr(0x010),
        mw(0x024, 1), mw(0x020, 1), mw(0x024, 0), mw(0x020, 0x9), mw(0x070, 0xb), mr(0x070),
        mw(0x030, 0), mr(0x044), mr(0x034), mw(0x038, 8),
        mw(0x080, 0x1000), mw(0x084, 0), mw(0x090, 0x2000), mw(0x094, 0), mw(0x0a0, 0x3000), mw(0x0a4, 0),
        mw(0x044, 1), mw(0x070, 0xf)] + split_request() + [mw(0x050, 0), mr(0x060), mw(0x064, 1), mr(0x0fc),
                                                           mr(0x100, 1), mr(0x104, 2), mw(0x108, 0x1234, 4)]
write("init_kick", "virtio_mmio", 1, init)
write("ready_kick", "virtio_mmio", 3, split_request() + [mw(0x050, 0), mr(0x060), mw(0x064, 3),
                                                          rec(3, 0, 0), mr(0x060), mw(0x064, 2)])
write("bad_widths", "virtio_mmio", 0, [mr(0x000, 1), mr(0x002, 2), mr(0x004, 8), mw(0x070, 1, 2),
                                       mw(0x071, 1, 4), mr(0x1000), mw(0x1ff0, 1, 8), mr(0x0fe, 4),
                                       mr(0x10f, 8), mw(0x0b0, 5), mr(0x0b0), mr(0x0c0)])
write("reset_storm", "virtio_mmio", 3, [mw(0x044, 0), mw(0x070, 0), rec(3, 0, 1), mw(0x070, 0x4),
                                        mw(0x038, 7), mw(0x044, 1), rec(3, 0, 3), mr(0x070)])


# ---- virtio-pci: kind at bits 0-2, width at bits 3-4
def pr(kind, off, v=0, w=4):
    return rec(kind, off, v, w, wshift=3)


def cf8(addr):
    return pr(1, 0, addr, 4)


def cfg(slot, reg, v, w=4):
    return pr(4, reg, v | (slot << 32), w)


enum = []
for slot in range(4):
    enum += [cf8(0x80000000 | slot << 11), pr(0, 4, 0, 4), cf8(0x80000000 | slot << 11 | 0x08), pr(0, 4, 0, 4)]
enum += [pr(1, 3, 1, 1), cf8(0x80000000), pr(0, 0, 0, 4), cf8(0x80000834), pr(0, 4, 0, 1),
         cf8(0x80000898), pr(0, 4, 0, 4), cf8(0x8000089a), pr(0, 6, 0, 2)]
write("enumerate", "virtio_pci", 0, enum)

size_move = [cfg(1, 0x04, 0, 2), cfg(1, 0x10, 0xffffffff), cfg(1, 0x14, 0xffffffff),
             cf8(0x80000810), pr(0, 4), cfg(1, 0x10, 0xe1000000), cfg(1, 0x14, 0), cfg(1, 0x04, 2, 2),
             pr(2, 0x12, 0, 2), pr(7, 0x0100, 0, 4)]
write("size_move", "virtio_pci", 0, size_move)


def bar(off, v, w=4):
    return pr(3, off, v, w)


def pmem(off, v):
    return pr(5, off, v, 4)


pci_init = [bar(0x14, 0, 1), bar(0x14, 1, 1), bar(0x14, 3, 1), bar(0x08, 1), bar(0x0c, 1), bar(0x08, 0),
            bar(0x0c, 0), bar(0x14, 0xb, 1), bar(0x16, 0, 2), bar(0x18, 8, 2), bar(0x1a, 1, 2),
            bar(0x20, 0x1000), bar(0x24, 0), bar(0x28, 0x2000, 8), bar(0x30, 0x3000, 8), bar(0x1c, 1, 2),
            bar(0x14, 0xf, 1)]
pci_init += [pmem(0x1000, 0x8000), pmem(0x1008, 16), pmem(0x100C, 0x1 | (1 << 16)), pmem(0x1010, 0x9000),
             pmem(0x1018, 32), pmem(0x101C, 0x2), pmem(0x2000, 1 << 16)]
pci_init += [bar(0x3000, 0, 2), pr(2, 0x1000, 0, 1), pr(2, 0x5000, 0, 8)]
write("init_kick_intx", "virtio_pci", 1, pci_init)
write("msix_mask", "virtio_pci", 3, [pmem(0x1000, 0x8000), pmem(0x1008, 16), pmem(0x2000, 1 << 16),
                                     bar(0x401c, 1), bar(0x3000, 0, 2), pr(2, 0x5000, 0, 8), bar(0x401c, 0),
                                     pr(6, 0, 0), cfg(1, 0x9a, 0xc000, 2), pr(6, 0, 2), cfg(1, 0x9a, 0x8000, 2)])


# ---- virtio-pci migration (flags bit 2): u16 patch count, records, then 3-byte patches
def mig(name, flags, records, patches=()):
    body = struct.pack("<H", len(patches)) + b"".join(records)
    body += b"".join(struct.pack("<HB", off, x) for off, x in patches)
    write(name, "virtio_pci", flags | 4, [body])


mig("migrate_msix", 3, [pmem(0x1000, 0x8000), pmem(0x1008, 16), pmem(0x2000, 1 << 16), bar(0x402c, 1),
                        pr(6, 0, 0), bar(0x3000, 0, 2)])
mig("migrate_intx", 1, pci_init)
mig("migrate_damaged", 3, [bar(0x401c, 1), pr(6, 0, 0)], [(4, 3), (0x3f0, 0x80), (0x500, 1), (0x3a0, 2)])

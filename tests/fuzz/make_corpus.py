#!/usr/bin/env python3
"""Write the seed corpus of virtio_queue_fuzz (tests/fuzz/corpus/virtio_queue/).

Each seed is a small well-formed (or deliberately malformed) ring in the
fuzzer's input format (see virtio_queue_fuzz.c): a header, a script of
device/driver moves, and an image of guest memory region A.
Run from anywhere: python3 tests/fuzz/make_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "virtio_queue")
NEXT, WRITE, INDIRECT = 1, 2, 4
AVAIL, USED = 1 << 7, 1 << 15
DESC, DRV, DEV = 0x100, 0x200, 0x300  # split layout for size <= 8
PDRV, PDEV = 0x200, 0x204             # packed event suppression areas

# script ops
POP, PUSH_OLD, PUSH_NEW, UNPOP, NOTIFY, SETNOTIFY, POKE, RESET = range(8)


def op(code, arg=0):
    return bytes([(arg << 3) | code])


def poke(off, val):
    return op(POKE) + struct.pack("<HB", off, val)


class Image:
    def __init__(self, size=0x900):
        self.b = bytearray(size)

    def put(self, off, fmt, *v):
        struct.pack_into(fmt, self.b, off, *v)

    def split_desc(self, i, addr, ln, flags, nxt, table=DESC):
        self.put(table + 16 * i, "<QIHH", addr, ln, flags, nxt)

    def packed_desc(self, i, addr, ln, bid, flags, table=DESC):
        self.put(table + 16 * i, "<QIHH", addr, ln, bid, flags)


def seed(name, flags, size, img, script=b"", desc=DESC, drv=DRV, dev=DEV):
    hdr = struct.pack("<BHHHHB", flags, size, desc, drv, dev, len(script))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(hdr + script + bytes(img.b).rstrip(b"\0"))  # memory past the input reads as zeros


def split_avail(img, heads, size=4):
    for i, h in enumerate(heads):
        img.put(DRV + 4 + 2 * (i % size), "<H", h)
    img.put(DRV + 2, "<H", len(heads))


def main():
    os.makedirs(OUT, exist_ok=True)
    moves = op(POP) + op(POP) + op(PUSH_NEW, 1) + op(NOTIFY) + op(PUSH_OLD, 2) + op(SETNOTIFY, 0) + op(SETNOTIFY, 1)

    img = Image()
    img.split_desc(0, 0x800, 8, NEXT, 1)
    img.split_desc(1, 0x840, 16, WRITE, 0)
    img.split_desc(2, 0x860, 4, 0, 0)
    split_avail(img, [0, 2])
    seed("split_basic", 0, 4, img, moves)

    img = Image()
    img.split_desc(0, 0x800, 4, NEXT, 1)
    img.split_desc(1, 0x600, 48, INDIRECT, 0)
    img.split_desc(0, 0x810, 8, NEXT, 1, table=0x600)
    img.split_desc(1, 0x840, 16, NEXT | WRITE, 2, table=0x600)
    img.split_desc(2, 0x880, 32, WRITE, 0, table=0x600)
    split_avail(img, [0])
    seed("split_indirect", 2, 4, img, moves)

    img = Image()
    img.split_desc(0, 0x800, 8, WRITE, 0)
    img.split_desc(1, 0x840, 8, WRITE, 0)
    split_avail(img, [0, 1])
    img.put(DRV + 4 + 2 * 4, "<H", 1)  # used_event
    seed("split_event_idx", 4, 4, img, moves + poke(DRV + 4, 1) + poke(DRV + 2, 3) + op(POP) + op(NOTIFY))

    img = Image()
    img.split_desc(0, 0x800, 8, NEXT, 0)
    split_avail(img, [0])
    seed("split_loop", 0, 4, img, op(POP))

    img = Image()
    img.split_desc(0, 0xFFF8, 16, 0, 0)
    img.split_desc(1, 0xFFF0, 32, WRITE, 0)
    split_avail(img, [0, 1])
    seed("split_cross", 0, 4, img, moves)

    img = Image()
    img.split_desc(0, 0x800, 8, 0, 0)
    split_avail(img, [0])
    seed("split_poke", 4, 4, img, op(POP) + op(PUSH_OLD, 1) + poke(DRV + 6, 0) + poke(DRV + 2, 2) + op(POP)
         + op(UNPOP) + op(POP) + op(RESET) + op(POP))

    img = Image()
    img.packed_desc(0, 0x800, 8, 0, AVAIL | NEXT)
    img.packed_desc(1, 0x840, 16, 0, AVAIL | WRITE)
    img.packed_desc(2, 0x860, 4, 1, AVAIL)
    seed("packed_basic", 1, 4, img, moves, drv=PDRV, dev=PDEV)

    img = Image()
    img.packed_desc(0, 0x600, 32, 2, AVAIL | INDIRECT)
    img.packed_desc(0, 0x800, 8, 0, 0, table=0x600)
    img.packed_desc(1, 0x840, 16, 0, WRITE, table=0x600)
    seed("packed_indirect", 3, 4, img, moves, drv=PDRV, dev=PDEV)

    img = Image()
    for i in range(3):
        img.packed_desc(i, 0x800 + 0x20 * i, 8, i, AVAIL | WRITE)
    img.put(PDRV, "<HH", 2 | 1 << 15, 2)  # driver event: DESC at slot 2, wrap 1
    seed("packed_event_idx", 5, 3, img, moves + poke(DESC + 14, 0) + poke(DESC + 15, 0x80) + op(POP) + op(NOTIFY),
         drv=PDRV, dev=PDEV)

    img = Image()
    seed("bad_layout", 0, 3, img, op(POP))


if __name__ == "__main__":
    main()

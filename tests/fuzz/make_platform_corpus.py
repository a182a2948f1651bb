#!/usr/bin/env python3
"""Write the seed corpora of the platform fuzz targets:
x86_boot_fuzz (tests/fuzz/corpus/x86_boot/), pci_config_fuzz
(tests/fuzz/corpus/pci_config/) and legacy_devices_fuzz
(tests/fuzz/corpus/legacy_devices/), in the input formats their sources
describe: real-looking bzImage, PVH ELF, Multiboot (a.out kludge and ELF)
and raw images with options; a firmware-style PCI enumeration, BAR sizing
and moves, MSI-X setup with masked vectors; the register sequences a Linux
guest and a firmware use on the 16550, i8042, CMOS RTC, fw_cfg and
debug-exit. Seeds stay small (a few hundred bytes each). The repro_* files
next to them are the inputs that found bugs (each has a unit test); this
script leaves them alone.
Run from anywhere: python3 tests/fuzz/make_platform_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- x86_boot
# header: sel, cmdline length + 1, u16 initrd size, modules, e820 count, placement mask, misc
LOAD, BZ, PVH, MB, RAW = 0, 1, 2, 3, 4
ENTRY32, HAS_E820, OPTS_NULL = 0x20, 0x40, 0x80
WIDE_ELEMENTS, SIZES_0 = 0x2, 0x4  # misc: the load's arrays as a future caller's; element sizes 0


def boot_input(layout, loader, image, cmdline=None, initrd=0, nmods=0, mod_strings=0, mod_scale=0,
               e820=(), place=None, flags=0, rsdp=False, misc=0):
    place = place or {}
    sel = layout | (loader << 2) | flags | (HAS_E820 if e820 else 0)
    mask = 0
    for i in place:
        mask |= 1 << i
    hdr = bytes([sel, 0 if cmdline is None else len(cmdline) + 1]) + struct.pack("<H", initrd)
    hdr += bytes([nmods | (mod_strings << 2) | (mod_scale << 5), len(e820), mask, (1 if rsdp else 0) | misc])
    body = b"".join(struct.pack("<IIB", a, s, t) for a, s, t in e820)
    body += b"".join(struct.pack("<I", place[i]) for i in sorted(place))
    body += (cmdline or b"")
    return hdr + body + image


def bzimage(version=0x020f, relocatable=1, xlf=3, payload=512, init_size=0x20000, pref=0x100000,
            align=0x200000, setup_sects=1, loadflags=1, cmdline_size=2047, initrd_max=0x7fffffff):
    setup = (setup_sects + 1) * 512
    img = bytearray(setup + payload)
    jump = 0x66 if version >= 0x020a else 0x3a
    struct.pack_into("<B", img, 0x1f1, setup_sects)
    struct.pack_into("<I", img, 0x1f4, payload // 16)
    struct.pack_into("<H", img, 0x1fe, 0xAA55)
    struct.pack_into("<BB", img, 0x200, 0xeb, jump)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, version)
    struct.pack_into("<B", img, 0x211, loadflags)
    struct.pack_into("<I", img, 0x214, 0x100000)
    struct.pack_into("<I", img, 0x22c, initrd_max)
    struct.pack_into("<I", img, 0x230, align)
    struct.pack_into("<B", img, 0x234, relocatable)
    struct.pack_into("<H", img, 0x236, xlf)
    struct.pack_into("<I", img, 0x238, cmdline_size)
    if version >= 0x0208:
        struct.pack_into("<II", img, 0x248, 0x10, payload - 0x20)
    if version >= 0x020a:
        struct.pack_into("<QI", img, 0x258, pref, init_size)
    for i in range(payload):  # a recognisable kernel
        img[setup + i] = (i * 7 + 1) & 0xff
    return bytes(img)


def xen_note(entry, size=4):
    desc = struct.pack("<I" if size == 4 else "<Q", entry)
    return struct.pack("<III", 4, len(desc), 18) + b"Xen\0" + desc


def elf(class64, loads, notes=b"", entry=0x100000, extra=b""):
    """loads: list of (paddr, file bytes, memsz); notes go in a PT_NOTE segment."""
    ehsize, phent = (64, 56) if class64 else (52, 32)
    nph = len(loads) + (1 if notes else 0)
    off = ehsize + nph * phent
    blobs, phdrs = b"", []
    for paddr, data, memsz in loads:
        phdrs.append((1, off + len(blobs), paddr, len(data), memsz, 0x1000))
        blobs += data
    if notes:
        phdrs.append((4, off + len(blobs), 0, len(notes), len(notes), 4))
        blobs += notes
    ident = b"\x7fELF" + bytes([2 if class64 else 1, 1, 1]) + bytes(9)
    if class64:
        hdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, ehsize, 0, 0, ehsize, phent, nph, 0, 0, 0)
        ph = b"".join(struct.pack("<IIQQQQQQ", t, 5, o, p, p, fs, ms, al) for t, o, p, fs, ms, al in phdrs)
    else:
        hdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, entry, ehsize, 0, 0, ehsize, phent, nph, 0, 0, 0)
        ph = b"".join(struct.pack("<IIIIIIII", t, o, p, p, fs, ms, 5, al) for t, o, p, fs, ms, al in phdrs)
    return hdr + ph + blobs + extra


def mb_header(flags, aout=None):
    h = struct.pack("<III", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xffffffff)
    if aout:
        h += struct.pack("<IIIII", *aout)
    return h


def code(n, seed=3):
    return bytes(((i * 13 + seed) & 0xff) for i in range(n))


def x86_boot():
    S = "x86_boot"
    write(S, "bzimage_64", boot_input(0, BZ, bzimage(), cmdline=b"console=ttyS0 root=/dev/vda", initrd=3000))
    write(S, "bzimage_detect_e820", boot_input(
        0, LOAD, bzimage(), cmdline=b"quiet", initrd=5000,
        e820=[(0, 0x9fc00, 1), (0x9fc00, 0x400, 2), (0xf0000, 0x10000, 2), (0x100000, 0x300000, 1)], rsdp=True))
    write(S, "bzimage_32_high", boot_input(2, BZ, bzimage(align=0x1000), cmdline=b"x", initrd=4096, flags=ENTRY32))
    write(S, "bzimage_old_fixed", boot_input(1, BZ, bzimage(version=0x0206, relocatable=0, xlf=0),
                                             cmdline=b"init=/bin/sh"))
    write(S, "bzimage_placed", boot_input(3, BZ, bzimage(align=0x1000), cmdline=b"a b c", initrd=100,
                                          place={0: 0x180000, 1: 0x10000, 5: 0x11000, 6: 0x1c0000}))
    write(S, "bzimage_too_small", boot_input(0, BZ, bzimage(payload=512)[:0x300]))
    kernel = code(0x80)
    write(S, "pvh_elf64", boot_input(0, PVH, elf(True, [(0x100000, kernel, 0x1000)], xen_note(0x100010)),
                                     cmdline=b"console=hvc0", initrd=2000, nmods=2, mod_strings=1))
    write(S, "pvh_elf32_placed", boot_input(
        3, LOAD, elf(False, [(0x100000, kernel, 0x80), (0x102000, code(0x40, 9), 0x2000)], xen_note(0x100000, 8)),
        cmdline=b"ro", initrd=1000, place={2: 0x8000, 4: 0x9000, 5: 0xa000}))
    write(S, "pvh_no_ram_4g", boot_input(2, PVH, elf(True, [(0xfff00000, kernel, 0x1000)], xen_note(0xfff00000))))
    aout = mb_header(0x10003, (0x100000, 0x100000, 0, 0x102000, 0x100020)) + code(0x60)
    write(S, "multiboot_aout", boot_input(0, MB, aout, cmdline=b"kernel args", initrd=1500, nmods=3,
                                          mod_strings=5))
    mbelf = elf(False, [(0x100000, mb_header(3) + code(0x40), 0x800)], entry=0x10000c)
    write(S, "multiboot_aout_wide", boot_input(
        0, MB, aout, cmdline=b"wide", initrd=900, nmods=2, mod_strings=3, misc=WIDE_ELEMENTS,
        e820=[(0, 0x9fc00, 1), (0x9fc00, 0x400, 2), (0x100000, 0x300000, 1)]))
    write(S, "pvh_sizes_0", boot_input(0, PVH, elf(True, [(0x100000, kernel, 0x1000)], xen_note(0x100010)),
                                       nmods=1, e820=[(0, 0x9fc00, 1), (0x100000, 0x300000, 1)], misc=SIZES_0))
    write(S, "multiboot_elf", boot_input(1, LOAD, mbelf, cmdline=b"", initrd=700, place={3: 0x30000}))
    write(S, "multiboot_elf64_e820", boot_input(
        3, MB, elf(True, [(0x100000, mb_header(2) + code(0x20), 0x100)], entry=0x100000),
        e820=[(0, 0x100000, 1), (0x100000, 0x80000, 1), (0x180000, 0x80000, 3)]))
    write(S, "multiboot_video", boot_input(0, MB, mb_header(0x10004, (0x100000, 0x100000, 0, 0, 0x100000))
                                           + code(16)))
    write(S, "bzimage_top_of_space", boot_input(2, BZ, bzimage(), initrd=4096, e820=[(0xe0000000, 0x1000, 1)],
                                                place={0: 0xeffff000, 5: 0xefffffff, 6: 0xeffff000}))
    write(S, "raw", boot_input(0, RAW, code(0x40), place={7: 0x2000}))
    write(S, "raw_opts_null", boot_input(0, RAW, code(0x20), flags=OPTS_NULL))


# ---------------------------------------------------------------- pci_config
# records: op (kind | width log2 << 3), u16 a, 40-bit v; v bit 39 = write
W = 1 << 39
WL = {1: 0, 2: 1, 4: 2, 8: 3}
GEN, VIRTIO, BIG = 1, 2, 3  # slots
MSIX_CAP = 0x88  # in the virtio function (printed by pci_config_fuzz with FUZZ_VERBOSE=1)


def prec(kind, a, v=0, width=4):
    return bytes([kind | (WL[width] << 3)]) + struct.pack("<H", a) + (v & ((1 << 40) - 1)).to_bytes(5, "little")


def cfg_rd(slot, reg, width=4, func=0):
    return prec(1, reg | slot << 8 | func << 13, 0, width)


def cfg_wr(slot, reg, val, width=4, func=0, bus=0):
    return prec(1, reg | slot << 8 | func << 13, val | W | (bus << 38), width)


def ecam(slot, reg, val=None, width=4, func=0):
    v = (reg >> 8) << 32
    if val is not None:
        v |= val | W
    return prec(2, (reg & 0xff) | slot << 8 | func << 13, v, width)


def bar(fn, k, off, val=None, width=4):
    v = fn << 32 | k << 34
    if val is not None:
        v |= val | W
    return prec(3, off, v, width)


def msix(off, val=None, width=4, pba=False):
    return prec(7, off | (0x800 if pba else 0), 0 if val is None else val | W, width)


def event(what, v=0):
    return prec(6, what, v)


def size_bar(slot, reg):
    """What Linux's pci_read_bases does for one BAR dword."""
    return [cfg_rd(slot, reg), cfg_wr(slot, reg, 0xffffffff), cfg_rd(slot, reg), cfg_wr(slot, reg, 0)]


def pci_config():
    S = "pci_config"
    enum = [prec(0, 0, 0x80000000 | W), prec(0, 0), prec(0, 3, 0x01 | W, 1)]  # CF8 probe, a byte at 0xcfb
    for slot in (0, GEN, VIRTIO, BIG, 4):
        enum += [cfg_rd(slot, 0), cfg_rd(slot, 8), cfg_rd(slot, 0x0e, 1), cfg_rd(slot, 0x34, 1), cfg_rd(slot, 0, 4, 1)]
    enum += [cfg_wr(GEN, 4, 0)] + sum((size_bar(GEN, 0x10 + 4 * k) for k in range(6)), []) + [cfg_wr(GEN, 4, 7)]
    enum += [cfg_wr(BIG, 4, 0)] + sum((size_bar(BIG, 0x10 + 4 * k) for k in range(6)), []) + [cfg_wr(BIG, 4, 3)]
    enum += [cfg_rd(GEN, 0x40), cfg_rd(GEN, 0x44), cfg_rd(GEN, 0x50, 2), cfg_rd(VIRTIO, MSIX_CAP, 4)]
    write(S, "enumerate", b"".join(enum))
    write(S, "size_move", b"".join([
        cfg_wr(GEN, 4, 0, 2), cfg_wr(GEN, 0x10, 0xe0100000), cfg_wr(GEN, 0x18, 0xe0200000), cfg_wr(GEN, 0x1c, 0),
        cfg_wr(GEN, 0x14, 0xc200), cfg_wr(GEN, 4, 3, 2), bar(0, 0, 0x10, 0x1234), bar(0, 2, 0x3ff8, 1, 8),
        bar(0, 1, 0x1f, None, 1), prec(4, 0, 0), cfg_wr(BIG, 0x14, 0x10), cfg_wr(BIG, 0x10, 0),
        cfg_wr(GEN, 0x10, 0xe8000000), bar(2, 2, 0x100, 5), ecam(GEN, 0x18, 0xffffffff), ecam(GEN, 0x18)]))
    write(S, "overlap", b"".join([
        cfg_wr(GEN, 0x10, 0xe8001000), cfg_wr(GEN, 0x10, 0xe0000000), cfg_wr(GEN, 0x24, 0xc101),
        cfg_wr(GEN, 0x14, 0xc100), prec(5, 0x100, 7 | W, 1), cfg_wr(GEN, 0x14, 0xc000), cfg_wr(BIG, 4, 0, 2),
        cfg_wr(GEN, 0x10, 0xe8000000), cfg_wr(BIG, 4, 2, 2), cfg_wr(GEN, 0x10, 0xfffff000),
        cfg_wr(GEN, 0x18, 0xffffc000), cfg_wr(GEN, 0x1c, 0xffffffff)]))
    table = []
    for v in (0, 1, 2, 65):
        table += [msix(16 * v, 0xfee00000), msix(16 * v + 4, 0), msix(16 * v + 8, 0x40 + v), msix(16 * v + 12, 0)]
    write(S, "msix_mask", b"".join(
        [cfg_wr(VIRTIO, MSIX_CAP, 0xc000 << 16)] + table + [
            bar(1, 0, 0x14, 1, 1), bar(1, 0, 0x14, 3, 1), bar(1, 0, 0x08, 1), bar(1, 0, 0x0c, 1), bar(1, 0, 0x08, 0),
            bar(1, 0, 0x0c, 1), bar(1, 0, 0x14, 0xb, 1), bar(1, 0, 0x14, 0xf, 1),  # virtio init up to DRIVER_OK
            bar(1, 0, 0x10, 0, 2), bar(1, 0, 0x16, 1, 2), bar(1, 0, 0x1a, 65, 2),
            event(2), msix(0, None, 4, True), msix(8, None, 8, True),  # config change while masked: pending
            cfg_wr(VIRTIO, MSIX_CAP + 2, 0x8000, 2),                    # unmask the function: delivered
            msix(12, 1), event(2), msix(12, 0), msix(16 * 65 + 12, 1), event(3, 0), msix(16 * 65 + 8, 0x99, 8),
            ecam(VIRTIO, MSIX_CAP + 2, 0x0000, 2), event(2), ecam(VIRTIO, MSIX_CAP + 2, 0x8000, 2)]))
    write(S, "hotplug", b"".join([
        event(1), cfg_wr(GEN, 4, 0x400, 2), event(0), event(1), event(4), cfg_rd(GEN, 0), event(5, 7),
        cfg_rd(7, 0), cfg_rd(7, 0x10), event(4), event(5, 0), cfg_rd(1, 0)]))
    write(S, "ecam_misc", b"".join([
        ecam(GEN, 0, None, 8), ecam(GEN, 0x100), ecam(GEN, 0xffc), ecam(GEN, 0, None, 4, 1), ecam(GEN, 2, None, 4),
        ecam(GEN, 0x3c, 0x0b, 1), ecam(GEN, 0x06, 0xffff, 2), cfg_wr(GEN, 0, 0x5678, 4, 0, 1), cfg_rd(0, 0),
        ecam(VIRTIO, 0x74 + 4, 0x00000004 | 0x1000 << 0, 4), prec(0, 0, 0x7fffffff | W)]))


# ---------------------------------------------------------------- legacy_devices
# records: op (kind | width log2 << 3), u16 a (port selector << 12 | offset), 40-bit v
P_COM1, P_COM2, P_KBD, P_KBDCMD, P_RTC, P_FWCFG, P_DBG = range(7)


def lrec(kind, a, v=0, width=1):
    return bytes([kind | (WL[width] << 3)]) + struct.pack("<H", a) + (v & ((1 << 40) - 1)).to_bytes(5, "little")


def inb(dev, off=0, width=1):
    return lrec(0, dev << 12 | off, 0, width)


def outb(dev, off, val, width=1):
    return lrec(1, dev << 12 | off, val, width)


def rep(dev, off, count, write, val=0, width=1):
    return lrec(2, dev << 12 | off, (count - 1) | (val & 0xffffff00) | (W if write else 0), width)


def host(what, v=0):
    return lrec(3, what, v)


def other(what, v=0, dev=0):
    return lrec(4, what | dev << 8, v)


def raw_restore(dev, blob):
    return lrec(5, dev << 8, len(blob)) + blob


def legacy_devices():
    S = "legacy_devices"
    thr = [outb(P_COM1, 0, c) for c in b"Hello\n"]
    probe = [outb(P_COM1, 1, 0), inb(P_COM1, 1), outb(P_COM1, 3, 0xbf), outb(P_COM1, 3, 0), outb(P_COM1, 7, 0xa5),
             inb(P_COM1, 7), outb(P_COM1, 4, 0x1a), inb(P_COM1, 6), outb(P_COM1, 4, 0x1f), inb(P_COM1, 6),
             outb(P_COM1, 4, 0x0b), outb(P_COM1, 2, 0xc7), inb(P_COM1, 2), outb(P_COM1, 3, 0x80), outb(P_COM1, 0, 1),
             outb(P_COM1, 1, 0), outb(P_COM1, 3, 0x03), outb(P_COM1, 1, 0x0f), inb(P_COM1, 2), inb(P_COM1, 2)]
    probe += thr + [inb(P_COM1, 5), outb(P_COM1, 4, 0x1b), outb(P_COM1, 0, 0x55), inb(P_COM1, 5), inb(P_COM1, 0),
                    outb(P_COM1, 4, 0x0b), host(0, 0x0300000000 | 0x636261), inb(P_COM1, 2), inb(P_COM1, 0, 4),
                    host(2, 0xfff), inb(P_COM1, 5), inb(P_COM2, 5), outb(P_COM2, 0, 0x41)]
    write(S, "uart_linux_probe", bytes([0]) + b"".join(probe))
    write(S, "uart_string_io", bytes([0x10]) + b"".join([
        outb(P_COM1, 2, 0x01), rep(P_COM1, 0, 40, True, 0x4142434400), host(1, 20), inb(P_COM1, 5),
        rep(P_COM1, 0, 16, False), host(4, 1), host(0, 0x0500000000), host(4, 0), host(2, 8), host(3),
        outb(P_COM1, 0, 0x41424344, 4), outb(P_COM1, 0, 0x0102030405060708 & 0xffffffffff, 8), host(7),
        rep(P_COM2, 0, 200, True, 0x61626364), host(5), outb(P_COM1, 2, 0x07), host(6), host(2, 0xfff)]))
    write(S, "i8042_reboot", bytes([0]) + b"".join([
        inb(P_KBDCMD), outb(P_KBDCMD, 0, 0xaa), inb(P_KBDCMD), inb(P_KBD), outb(P_KBDCMD, 0, 0x20), inb(P_KBD),
        outb(P_KBDCMD, 0, 0x60), outb(P_KBD, 0, 0x47), outb(P_KBDCMD, 0, 0xd3), outb(P_KBD, 0, 0x5a),
        inb(P_KBDCMD), inb(P_KBD), outb(P_KBDCMD, 0, 0xa7), outb(P_KBDCMD, 0, 0xd0), inb(P_KBD),
        outb(P_KBDCMD, 0, 0xd1), outb(P_KBD, 0, 0x02), outb(P_KBDCMD, 0, 0xfe), inb(P_KBD, 0, 2)]))
    cmos = [outb(P_RTC, 0, 0x8a), inb(P_RTC, 1), outb(P_RTC, 0, 0x00), inb(P_RTC, 1), inb(P_RTC, 0, 2)]
    for idx in (0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x5b, 0x5c, 0x5d, 0x32, 0x0c, 0x0d):
        cmos += [outb(P_RTC, 0, idx), inb(P_RTC, 1)]
    cmos += [outb(P_RTC, 0, 0x0b | 0x8200 << 0, 2), outb(P_RTC, 0, 0x0a), outb(P_RTC, 1, 0x26 | 0x80),
             outb(P_RTC, 0, 0x59 << 8 | 0x00, 2), outb(P_RTC, 0, 0x23 << 8 | 0x04, 2), outb(P_RTC, 0, 0x31 << 8 | 0x07, 2),
             outb(P_RTC, 0, 0x12 << 8 | 0x08, 2), outb(P_RTC, 0, 0x99 << 8 | 0x09, 2), outb(P_RTC, 0, 0x20 << 8 | 0x32, 2),
             outb(P_RTC, 0, 0x0b | 0x02 << 8, 2), outb(P_RTC, 0, 0x04), inb(P_RTC, 1), outb(P_RTC, 0, 0x0b | 0x04 << 8, 2),
             outb(P_RTC, 0, 0x04), inb(P_RTC, 1), outb(P_RTC, 0, 0x40 | 0x77 << 8, 2), inb(P_RTC, 1)]
    write(S, "cmos_firmware", bytes([1]) + b"".join(cmos))
    fw = [outb(P_FWCFG, 0, 0x0000, 2), rep(P_FWCFG, 1, 4, False), outb(P_FWCFG, 0, 0x0001, 2), inb(P_FWCFG, 1),
          outb(P_FWCFG, 0, 0x0019, 2), rep(P_FWCFG, 1, 4 + 64 * 2, False), outb(P_FWCFG, 0, 0x0020, 2),
          inb(P_FWCFG, 0, 2), rep(P_FWCFG, 1, 16, False), other(0, 0x2010), outb(P_FWCFG, 0, 0x0019, 2),
          rep(P_FWCFG, 1, 200, False), outb(P_FWCFG, 0, 0x0022, 2), rep(P_FWCFG, 1, 17, False),
          outb(P_FWCFG, 0, 0x8003, 2), inb(P_FWCFG, 1), outb(P_FWCFG, 0, 0x4005, 2), inb(P_FWCFG, 1, 2),
          outb(P_FWCFG, 1, 0x12), outb(P_FWCFG, 0, 3, 1), outb(P_FWCFG, 0, 3, 4), inb(P_FWCFG, 1)]
    write(S, "fw_cfg_reads", bytes([0]) + b"".join(fw))
    write(S, "debug_exit", bytes([3 << 2]) + b"".join([
        outb(P_DBG, 0, 0x31, 4), inb(P_DBG, 0, 4), outb(P_DBG, 1, 0x1, 2), outb(P_DBG, 3, 0x7f), other(1),
        rep(P_DBG, 0, 3, True, 0x11223344, 4)]))
    uart_blob = struct.pack("<II", 0x4155484b, 1) + bytes([2, 0x61, 0x62]) + bytes(14) + \
        bytes([0, 0x05, 0xc1, 0x03, 0x0b, 0, 0xb0, 0, 0x0c, 0, 1, 0])
    write(S, "state", bytes([2]) + b"".join([
        outb(P_COM1, 0, 0x41), outb(P_KBDCMD, 0, 0x60), outb(P_RTC, 0, 0x40), outb(P_FWCFG, 0, 0x19, 2),
        inb(P_FWCFG, 1), other(2)] + [other(3, 0x00ff0900 | d << 16, d) for d in range(6)] +
        [raw_restore(0, uart_blob), inb(P_COM1, 2), inb(P_COM1, 0), raw_restore(3, b"KHRT"),
         other(3, 0x00010800, 4), other(3, 0x00000c00, 4), inb(P_FWCFG, 1), other(2)]))


def main():
    x86_boot()
    pci_config()
    legacy_devices()


if __name__ == "__main__":
    main()

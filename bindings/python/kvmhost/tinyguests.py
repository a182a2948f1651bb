"""Tiny 16-bit real-mode guests as Python bytes, linked to run at 0x1000 (like examples/hello/hello_guest.S),
and the ports they use: for trying the library without a kernel (examples/hello.py) and for its tests."""

BASE = 0x1000
COM1 = 0x3F8
DEBUG_EXIT = 0xF4
COUNT_ADDR = 0x2000


def hello(message: bytes, status: int = 0) -> bytes:
    """Write ``message`` byte by byte to COM1, then ``status`` to the debug-exit port, then halt."""
    code = bytes([
        0xFC,                                   # cld
        0xBE, *((BASE + 22).to_bytes(2, "little")),  # mov si, message
        0xBA, 0xF8, 0x03,                       # mov dx, 0x3f8
        0xAC,                                   # 1: lodsb
        0x84, 0xC0,                             # test al, al
        0x74, 0x03,                             # jz 2f
        0xEE,                                   # out dx, al
        0xEB, 0xF8,                             # jmp 1b
        0xB0, status & 0xFF,                    # 2: mov al, status
        0xE6, DEBUG_EXIT,                       # out 0xf4, al
        0xF4,                                   # 3: hlt
        0xEB, 0xFD,                             # jmp 3b
    ])
    assert len(code) == 22
    return code + message + b"\0"


def count() -> bytes:
    """Increment the dword at COUNT_ADDR forever."""
    return bytes([0x66, 0xFF, 0x06, *COUNT_ADDR.to_bytes(2, "little"),  # inc dword [COUNT_ADDR]
                  0xEB, 0xF9])                                           # jmp back


def read_port(port: int) -> bytes:
    """IN a byte from ``port``, store it at COUNT_ADDR, OUT it + 1 to the same port, halt."""
    return bytes([0xBA, *port.to_bytes(2, "little"),        # mov dx, port
                  0xEC,                                     # in al, dx
                  0xA2, *COUNT_ADDR.to_bytes(2, "little"),  # mov [COUNT_ADDR], al
                  0xFE, 0xC0,                               # inc al
                  0xEE,                                     # out dx, al
                  0xF4])                                    # hlt


def mmio(window: int) -> bytes:
    """Store 0x55 at guest physical ``window`` (below 1 MiB, 64 KiB aligned), load the byte at
    window + 4, store it at COUNT_ADDR, halt."""
    seg = window >> 4
    return bytes([0xB8, *seg.to_bytes(2, "little"),             # mov ax, seg
                  0x8E, 0xD8,                                   # mov ds, ax
                  0xC6, 0x06, 0x00, 0x00, 0x55,                 # mov byte [0], 0x55
                  0xA0, 0x04, 0x00,                             # mov al, [4]
                  0x31, 0xDB,                                   # xor bx, bx
                  0x8E, 0xDB,                                   # mov ds, bx
                  0xA2, *COUNT_ADDR.to_bytes(2, "little"),      # mov [COUNT_ADDR], al
                  0xF4])                                        # hlt

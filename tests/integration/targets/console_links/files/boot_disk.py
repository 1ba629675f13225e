"""A raw disk whose boot sector hides the cursor, prints a known line on the VGA text screen, then halts:
what the console test reads back through the proxy and straight from QEMU's VNC server."""

import sys

MESSAGE = b"NOVAOPS CONSOLE TEST OK\r\n"
CODE = bytes([
    0xFA,                   # cli
    0x31, 0xC0,             # xor ax, ax
    0x8E, 0xD8,             # mov ds, ax
    0xB4, 0x01,             # mov ah, 0x01 (cursor shape)
    0xB9, 0x00, 0x20,       # mov cx, 0x2000 (hidden: a blinking cursor would make two reads differ)
    0xCD, 0x10,             # int 0x10
    0xBE, 0x20, 0x7C,       # mov si, 0x7c20 (the message)
    0xB4, 0x0E,             # mov ah, 0x0e (teletype output)
    0xBB, 0x07, 0x00,       # mov bx, 0x0007 (page 0, grey)
    0xAC,                   # next: lodsb
    0x84, 0xC0,             # test al, al
    0x74, 0x04,             # jz halt
    0xCD, 0x10,             # int 0x10
    0xEB, 0xF7,             # jmp next
    0xF4,                   # halt: hlt
    0xEB, 0xFD,             # jmp halt
])
assert len(CODE) == 0x20
sector = bytearray(CODE + MESSAGE + b"\0")
sector += bytes(510 - len(sector)) + b"\x55\xaa"
with open(sys.argv[1], "wb") as out:
    out.write(bytes(sector) + bytes(1024 * 1024 - 512))

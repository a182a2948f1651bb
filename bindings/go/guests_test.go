package kvmhost

// Tiny 16-bit real-mode guests as Go bytes, linked to run at guestBase (like bindings/python/kvmhost/tinyguests.py).

const (
	guestBase  = 0x1000
	com1       = 0x3f8
	debugExit  = 0xf4
	countAddr  = 0x2000
	guestPorts = 0x10
)

// helloGuest writes msg byte by byte to COM1, then status to the debug-exit port, then halts.
func helloGuest(msg string, status byte) []byte {
	m := guestBase + 22
	code := []byte{
		0xfc,                        // cld
		0xbe, byte(m), byte(m >> 8), // mov si, message
		0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xac,       // 1: lodsb
		0x84, 0xc0, // test al, al
		0x74, 0x03, // jz 2f
		0xee,       // out dx, al
		0xeb, 0xf8, // jmp 1b
		0xb0, status, // 2: mov al, status
		0xe6, debugExit, // out 0xf4, al
		0xf4,       // 3: hlt
		0xeb, 0xfd, // jmp 3b
	}
	if len(code) != 22 {
		panic("helloGuest: code is not 22 bytes")
	}
	return append(append(code, msg...), 0)
}

// countGuest increments the dword at countAddr forever.
func countGuest() []byte {
	return []byte{0x66, 0xff, 0x06, countAddr & 0xff, countAddr >> 8, // inc dword [countAddr]
		0xeb, 0xf9} // jmp back
}

// readPortGuest INs a byte from guestPorts, stores it at countAddr, OUTs it + 1 to the same port, halts.
func readPortGuest() []byte {
	return []byte{0xba, guestPorts, 0x00, // mov dx, port
		0xec,                                   // in al, dx
		0xa2, countAddr & 0xff, countAddr >> 8, // mov [countAddr], al
		0xfe, 0xc0, // inc al
		0xee, // out dx, al
		0xf4} // hlt
}

func rawOptions(kernel []byte) Options {
	return Options{Kernel: kernel, KernelFormat: FormatRaw,
		X86: X86Options{RawGPA: guestBase, DebugExitPort: debugExit}}
}

// Command hello boots a guest written as Go bytes on a libkvmhost machine and prints what it says on COM1.
//
//	PKG_CONFIG_PATH=build/bindings/go/pkgconfig go run ./examples/hello   # in bindings/go, against a build tree
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"libkvmhost.dev/kvmhost"
)

// guest is 16-bit real-mode code linked at 0x1000: it writes msg to COM1 (port 0x3f8), then its exit status
// to the debug-exit port 0xf4, which stops the machine.
func guest(msg string, status byte) []byte {
	code := []byte{
		0xfc,             // cld
		0xbe, 0x16, 0x10, // mov si, 0x1016 (the message, after these 22 bytes)
		0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xac,       // next: lodsb
		0x84, 0xc0, // test al, al
		0x74, 0x03, // jz done
		0xee,       // out dx, al
		0xeb, 0xf8, // jmp next
		0xb0, status, // done: mov al, status
		0xe6, 0xf4, // out 0xf4, al
		0xf4,       // hlt
		0xeb, 0xfd, // jmp hlt
	}
	return append(append(code, msg...), 0)
}

func main() {
	m, err := kvmhost.NewMachine(kvmhost.Options{
		Name:         "go-hello",
		Kernel:       guest("Hello from a Go-built guest!\n", 0),
		KernelFormat: kvmhost.FormatRaw,
		X86:          kvmhost.X86Options{RawGPA: 0x1000, DebugExitPort: 0xf4},
		OnEvent:      func(e kvmhost.Event) { log.Printf("event: %v (vCPU %d)", e.Type, int32(e.VCPU)) },
	})
	if err != nil {
		log.Fatal(err) // e.g. "kvmhost_system_open: /dev/kvm: No such file or directory"
	}
	defer m.Close()
	if err := m.Start(); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	out, err := m.WaitSerial(ctx, []byte("\n"))
	if err != nil {
		log.Fatal(err)
	}
	info, err := m.StopInfo()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s", m.Name(), out)
	fmt.Printf("stopped: %v, status %d\n", info.Reason, info.DebugExitStatus)
}

package kvmhost

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runUntilHLT runs v, serving port I/O with out (OUT) and in (IN), until the guest halts.
func runUntilHLT(t *testing.T, v *VCPU, out func(port uint16, b byte), in func(port uint16) byte) {
	t.Helper()
	for i := 0; i < 10000; i++ {
		e, err := v.Run()
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		switch e.Reason {
		case ExitHLT:
			return
		case ExitKicked:
			continue
		case ExitIO:
			if e.IO.Write {
				out(e.IO.Port, e.IO.Data[0])
			} else {
				e.IO.Data[0] = in(e.IO.Port)
			}
		default:
			t.Fatalf("unexpected exit %v", e)
		}
	}
	t.Fatal("no HLT")
}

// A guest written as Go bytes runs on a vCPU of a VM made from the primitives, and its OUTs reach Go.
func TestKVMVCPURunsGoBytes(t *testing.T) {
	needKVM(t)
	sys, err := OpenSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if n, err := sys.MaxVCPUs(); err != nil || n < 1 {
		t.Fatalf("MaxVCPUs: %d, %v", n, err)
	}
	if n, err := sys.VCPUMmapSize(); err != nil || n < 4096 {
		t.Fatalf("VCPUMmapSize: %d, %v", n, err)
	}
	vm, err := sys.CreateVM("go-lowlevel")
	if err != nil {
		t.Fatal(err)
	}
	if vm.Name() != "go-lowlevel" {
		t.Fatalf("Name() = %q", vm.Name())
	}
	ram, err := vm.AddMemory(MemoryOptions{Size: 1 << 20, Name: "ram"})
	if err != nil {
		t.Fatal(err)
	}
	if ram.GPA() != 0 || ram.Size() != 1<<20 {
		t.Fatalf("region [%#x, +%#x)", ram.GPA(), ram.Size())
	}
	_, err = vm.AddMemory(MemoryOptions{Size: 1 << 20})
	checkErr(t, err, syscall.EEXIST, "kvmhost_vm_add_memory", "overlaps")
	mem, err := ram.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	g := helloGuest("low level\n", 7)
	copy(mem[guestBase:], g) // guest memory written through the mapping, no copy in between
	back := make([]byte, len(g))
	if _, err := vm.Memory().ReadAt(back, guestBase); err != nil || !bytes.Equal(back, g) {
		t.Fatalf("ReadAt: %v", err)
	}
	_, err = vm.Memory().ReadAt(back, 1<<30)
	checkErr(t, err, syscall.EFAULT, "kvmhost_memory_read", "")
	v, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetupRealMode(0, guestBase); err != nil {
		t.Fatal(err)
	}
	var serial []byte
	status := -1
	runUntilHLT(t, v, func(port uint16, b byte) {
		switch port {
		case com1:
			serial = append(serial, b)
		case debugExit:
			status = int(b)
		default:
			t.Fatalf("OUT to port %#x", port)
		}
	}, func(port uint16) byte { t.Fatalf("IN from %#x", port); return 0 })
	if string(serial) != "low level\n" || status != 7 {
		t.Fatalf("serial %q, status %d", serial, status)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Run(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after the VM's Close: %v", err)
	}
	if _, err := vm.Memory().ReadAt(back, guestBase); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
}

// The vCPU loop in a goroutine of its own answers an IN and sees the OUT.
func TestKVMVCPUInOut(t *testing.T) {
	needKVM(t)
	sys, err := OpenSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close() // closes the VM too
	vm, err := sys.CreateVM("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.AddMemory(MemoryOptions{Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Memory().WriteAt(readPortGuest(), guestBase); err != nil {
		t.Fatal(err)
	}
	v, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetupRealMode(0, guestBase); err != nil {
		t.Fatal(err)
	}
	var seen []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // a vCPU loop stays on its thread
		defer runtime.UnlockOSThread()
		runUntilHLT(t, v, func(port uint16, b byte) { seen = append(seen, b) }, func(port uint16) byte { return 0x41 })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the vCPU loop did not end")
	}
	b := make([]byte, 1)
	if _, err := vm.Memory().ReadAt(b, countAddr); err != nil || b[0] != 0x41 {
		t.Fatalf("guest stored %#x (%v)", b[0], err)
	}
	if !bytes.Equal(seen, []byte{0x42}) {
		t.Fatalf("OUTs %x", seen)
	}
}

// A machine runs a Go-bytes guest; its serial output, stop information and events reach Go, the events also
// through the callback, called in a library thread.
func TestKVMMachineSerialAndEvents(t *testing.T) {
	needKVM(t)
	var mu sync.Mutex
	var cb []EventType
	o := rawOptions(helloGuest("Hello from Go bytes\n", 42))
	o.Name = "go-hello"
	o.OnEvent = func(e Event) {
		mu.Lock()
		cb = append(cb, e.Type)
		mu.Unlock()
	}
	m, err := NewMachine(o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if s, err := m.State(); err != nil || s != StateCreated || m.Name() != "go-hello" || m.VCPUCount() != 1 {
		t.Fatalf("state %v (%v), name %q, vcpus %d", s, err, m.Name(), m.VCPUCount())
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	info, err := m.StopInfo()
	if err != nil || info.Reason != StopDebugExit || info.DebugExitStatus != 42 {
		t.Fatalf("stop info %+v (%v)", info, err)
	}
	out, err := m.WaitSerial(ctx10(t), []byte("\n"))
	if err != nil || string(out) != "Hello from Go bytes\n" {
		t.Fatalf("serial %q (%v)", out, err)
	}
	evs, err := m.Events()
	if err != nil || len(evs) < 2 || evs[0].Type != EventStarted || evs[len(evs)-1].Type != EventStopped ||
		evs[len(evs)-1].Reason != StopDebugExit {
		t.Fatalf("events %+v (%v)", evs, err)
	}
	mu.Lock()
	if len(cb) != len(evs) || cb[len(cb)-1] != EventStopped {
		t.Errorf("callback saw %v, queue %+v", cb, evs)
	}
	mu.Unlock()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func counter(t *testing.T, m *Machine) *uint32 {
	t.Helper()
	b, err := m.Memory().View(countAddr, 4)
	if err != nil {
		t.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&b[0])) // guest memory, read in place
}

func waitAbove(t *testing.T, c *uint32, v uint32) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if atomic.LoadUint32(c) > v {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("counter stuck at %d", atomic.LoadUint32(c))
}

// Pause means quiet: the guest's counter and the vCPU's runs stand still until Resume.
func TestKVMMachinePauseResume(t *testing.T) {
	needKVM(t)
	m, err := NewMachine(rawOptions(countGuest()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := counter(t, m)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	waitAbove(t, c, 0)
	for i := 0; i < 2; i++ {
		if err := m.Pause(); err != nil {
			t.Fatal(err)
		}
		if s, _ := m.State(); s != StatePaused {
			t.Fatalf("state %v", s)
		}
		before := atomic.LoadUint32(c)
		st, err := m.VCPUStats(0)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		st2, _ := m.VCPUStats(0)
		if atomic.LoadUint32(c) != before || st2.Runs != st.Runs {
			t.Fatalf("paused, yet the counter went %d -> %d, runs %d -> %d", before, *c, st.Runs, st2.Runs)
		}
		if err := m.Resume(); err != nil {
			t.Fatal(err)
		}
		waitAbove(t, c, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a running machine: %v", err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.StopInfo(); info.Reason != StopRequested {
		t.Fatalf("stop reason %v", info.Reason)
	}
	checkErr(t, m.Resume(), syscall.EINVAL, "kvmhost_machine_resume", "")
	evs, _ := m.Events()
	n := map[EventType]int{}
	for _, e := range evs {
		n[e.Type]++
	}
	if n[EventPaused] != 2 || n[EventResumed] != 2 {
		t.Fatalf("events %+v", evs)
	}
}

// In the event callback (a machine thread) Pause fails with EDEADLK, and so does Close.
func TestKVMMachineCallsFromCallback(t *testing.T) {
	needKVM(t)
	var m *Machine
	got := make(chan error, 2)
	o := rawOptions(helloGuest("cb\n", 0))
	var once sync.Once
	o.OnEvent = func(e Event) {
		if e.Type == EventStarted {
			once.Do(func() {
				got <- m.Pause()
				got <- m.Close()
			})
		}
	}
	m, err := NewMachine(o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	checkErr(t, <-got, syscall.EDEADLK, "kvmhost_machine_pause", "")
	checkErr(t, <-got, syscall.EDEADLK, "kvmhost_machine_destroy", "callback")
}

// Close of a running machine stops it; the handles made from it fail with ErrClosed, not a use after free.
func TestKVMMachineCloseWhileRunning(t *testing.T) {
	needKVM(t)
	m, err := NewMachine(rawOptions(countGuest()))
	if err != nil {
		t.Fatal(err)
	}
	mem := m.Memory()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if ev, err := m.WaitEvent(ctx10(t)); err != nil || ev.Type != EventStarted || ev.Sequence != 1 {
		t.Fatalf("first event %+v (%v)", ev, err)
	}
	waiting := make(chan error)
	go func() { waiting <- m.Wait(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("a Wait during Close: %v", err)
	}
	if _, err := mem.ReadAt(make([]byte, 4), countAddr); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
}

// A snapshot of a paused machine, restored into an incoming machine of the same shape, runs on from there.
func TestKVMMachineSnapshotRestore(t *testing.T) {
	needKVM(t)
	src, err := NewMachine(rawOptions(countGuest()))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := counter(t, src)
	if err := src.Start(); err != nil {
		t.Fatal(err)
	}
	waitAbove(t, c, 1000)
	if err := src.Pause(); err != nil {
		t.Fatal(err)
	}
	saved := atomic.LoadUint32(c)
	f, err := os.CreateTemp(t.TempDir(), "snap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := src.Snapshot(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes == 0 || st.VCPUs != 1 {
		t.Fatalf("snapshot stats %+v", st)
	}
	src.Close()
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	o := rawOptions(countGuest())
	o.Flags = FlagIncoming
	dst, err := NewMachine(o)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Restore(f, nil); err != nil {
		t.Fatal(err)
	}
	d := counter(t, dst)
	if got := atomic.LoadUint32(d); got != saved {
		t.Fatalf("restored counter %d, saved %d", got, saved)
	}
	if err := dst.Start(); err != nil {
		t.Fatal(err)
	}
	waitAbove(t, d, saved)
	// A stream that is not a snapshot is refused with the library's message, and the machine is stopped.
	bad, err := NewMachine(o)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("not a snapshot stream at all, sorry"))
	w.Close()
	defer r.Close()
	if _, err := bad.Restore(r, nil); err == nil {
		t.Fatal("garbage restored")
	} else if e := (*Error)(nil); !errors.As(err, &e) || e.Msg == "" {
		t.Fatalf("restore error %v", err)
	}
	if s, _ := bad.State(); s != StateStopped {
		t.Fatalf("state after a failed restore: %v", s)
	}
}

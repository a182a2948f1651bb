package kvmhost

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// -kvmhost.tier=kvm (tests/run.sh kvm): without a usable KVM the test binary prints one "SKIP: " line and exits
// 77, what ctest and tests/kvm/no-kvm-check.sh expect of a kvm-tier test. Without the flag (go test by hand)
// each kvm-tier test skips by itself.
var tier = flag.String("kvmhost.tier", "", "the ctest tier this run is (unit, layout, kvm)")

var (
	kvmOnce   sync.Once
	kvmReason string
)

func kvmUsable() string {
	kvmOnce.Do(func() {
		s, err := OpenSystem(nil)
		if err != nil {
			kvmReason = "no usable /dev/kvm: " + err.Error()
			return
		}
		defer s.Close()
		vm, err := s.CreateVM("probe")
		if err != nil {
			kvmReason = "no usable /dev/kvm: " + err.Error()
			return
		}
		vm.Close()
	})
	return kvmReason
}

func needKVM(t *testing.T) {
	t.Helper()
	if r := kvmUsable(); r != "" {
		t.Skip(r)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *tier == "kvm" {
		if r := kvmUsable(); r != "" {
			fmt.Println("SKIP: " + r)
			os.Exit(77)
		}
	}
	os.Exit(m.Run())
}

func TestUnitVersion(t *testing.T) {
	v := Version()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
	var maj, min, pat int
	fmt.Sscanf(v, "%d.%d.%d", &maj, &min, &pat)
	if VersionNumber() != maj*10000+min*100+pat {
		t.Fatalf("VersionNumber() = %d, Version() = %s", VersionNumber(), v)
	}
	if HeaderVersion != v {
		t.Fatalf("built against headers %s, running library %s", HeaderVersion, v)
	}
	if Strerror(syscall.EINVAL) == "" {
		t.Fatal("Strerror(EINVAL) is empty")
	}
}

func checkErr(t *testing.T, err error, errno syscall.Errno, op, inMsg string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", errno)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, errno) || e.Errno != errno {
		t.Fatalf("errors.Is(%v, %v) is false (Errno %v)", err, errno, e.Errno)
	}
	if e.Op != op {
		t.Fatalf("Op = %q, want %q", e.Op, op)
	}
	if !strings.Contains(e.Msg, inMsg) || !strings.Contains(err.Error(), inMsg) {
		t.Fatalf("message %q does not name %q", e.Msg, inMsg)
	}
	return e
}

func TestUnitCheckOptions(t *testing.T) {
	good := rawOptions(helloGuest("ok", 0))
	if err := Check(good); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	o := good
	o.X86.RawGPA = 0
	checkErr(t, Check(o), syscall.EINVAL, "kvmhost_machine_check", "raw_gpa")
	o = good
	o.RAMSize = 1 << 20
	checkErr(t, Check(o), syscall.EINVAL, "kvmhost_machine_check", "ram")
	o = good
	o.VCPUs = 1000
	checkErr(t, Check(o), syscall.EINVAL, "kvmhost_machine_check", "vcpu")
	o = good
	o.VCPUs = -1 // refused by the binding itself, the same way
	checkErr(t, Check(o), syscall.EINVAL, "kvmhost_machine_create", "vcpu_count")
	o = good
	o.KernelPath = "/nonexistent/kernel"
	checkErr(t, Check(o), syscall.EINVAL, "kvmhost_machine_check", "kernel") // both a buffer and a path
	err := Check(Options{KernelPath: "/nonexistent/kernel", KernelFormat: FormatMultiboot})
	checkErr(t, err, syscall.ENOENT, "kvmhost_machine_check", "/nonexistent/kernel")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("errors.Is(%v, os.ErrNotExist) is false", err)
	}
}

func TestUnitErrorType(t *testing.T) {
	e := &Error{Op: "kvmhost_x", Errno: syscall.EBUSY}
	if e.Error() != "kvmhost_x: "+syscall.EBUSY.Error() {
		t.Fatalf("Error() without a message = %q", e.Error())
	}
	e.Msg = "kvmhost_x: what: busy"
	if e.Error() != e.Msg || errors.Unwrap(e) != syscall.EBUSY {
		t.Fatalf("Error() = %q, Unwrap() = %v", e.Error(), errors.Unwrap(e))
	}
	wrapped := fmt.Errorf("starting: %w", e)
	if !errors.Is(wrapped, syscall.EBUSY) {
		t.Fatal("errors.Is through a wrapping error")
	}
	_, err := OpenSystem(&SystemOptions{DevicePath: "/nonexistent/kvm"})
	checkErr(t, err, syscall.ENOENT, "kvmhost_system_open", "/nonexistent/kvm")
}

// The last-error message is per OS thread: many goroutines failing at once each get their own call's message.
func TestUnitLastErrorPerThread(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				o := rawOptions(helloGuest("x", 0))
				want := "raw_gpa"
				if (i+j)%2 == 0 {
					o.RAMSize = 1 << 20
					want = "ram_size"
				} else {
					o.X86.RawGPA = 0
				}
				err := Check(o)
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Msg, want) {
					errs <- fmt.Errorf("goroutine %d: want a message naming %s, got %v", i, want, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUnitLogger(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	if err := SetLogger(nil, LogLevel(99)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SetLogger with a bad level: %v", err)
	}
	if err := SetLogger(func(l LogLevel, msg string) {
		mu.Lock()
		msgs = append(msgs, msg)
		mu.Unlock()
	}, LogDebug); err != nil {
		t.Fatal(err)
	}
	o := rawOptions(helloGuest("x", 0))
	o.X86.RawGPA = 0
	Check(o)
	if err := SetLogger(nil, LogError); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if strings.Contains(m, "raw_gpa") {
			return
		}
	}
	t.Fatalf("no log message names raw_gpa: %q", msgs)
}

func TestUnitStrings(t *testing.T) {
	if StateRunning.String() != "running" || EventStopped.String() != "stopped" || ExitIO.String() != "io" {
		t.Fatalf("%v %v %v", StateRunning, EventStopped, ExitIO)
	}
	if StopDebugExit.String() == "" || StopReason(999).String() == "" {
		t.Fatal("StopReason names")
	}
}

// Under ctest the test binary runs the build tree's library (KVMHOST_GO_EXPECT_LIBRARY names it), not an
// installed one: the pkg-config file ctest points at links it with an rpath.
func TestUnitLibraryIsTheBuildTrees(t *testing.T) {
	want := os.Getenv("KVMHOST_GO_EXPECT_LIBRARY")
	if want == "" {
		t.Skip("KVMHOST_GO_EXPECT_LIBRARY is not set (ctest sets it)")
	}
	Version() // the library is mapped
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	wantReal, err := filepath.EvalSymlinks(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(filepath.Base(f[5]), "libkvmhost.so") {
			continue
		}
		got, err := filepath.EvalSymlinks(f[5])
		if err != nil || got != wantReal {
			t.Fatalf("loaded %s, want %s", f[5], wantReal)
		}
		return
	}
	t.Fatal("no libkvmhost.so in /proc/self/maps")
}

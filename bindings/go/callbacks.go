package kvmhost

// This file holds the functions C calls; a file with //export may only declare C functions in its preamble.

/*
#include <stdint.h>
#include <kvmhost/machine.h>
*/
import "C"

import "runtime/cgo"

//export khGoMachineEvent
func khGoMachineEvent(h C.uintptr_t, ev *C.struct_kvmhost_machine_event) {
	s, ok := cgo.Handle(h).Value().(*eventSink)
	if !ok || s.fn == nil {
		return
	}
	s.fn(eventFromC(ev))
}

//export khGoLog
func khGoLog(level C.int, msg *C.char) {
	logMu.RLock()
	fn := logFn
	logMu.RUnlock()
	if fn != nil {
		fn(LogLevel(level), C.GoString(msg))
	}
}

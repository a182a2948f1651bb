package kvmhost

/*
#include "shim.h"
*/
import "C"

import "sync"

// LogLevel is an enum kvmhost_log_level: lower is more severe.
type LogLevel int

// Log levels.
const (
	LogError LogLevel = C.KVMHOST_LOG_ERROR
	LogWarn  LogLevel = C.KVMHOST_LOG_WARN
	LogInfo  LogLevel = C.KVMHOST_LOG_INFO
	LogDebug LogLevel = C.KVMHOST_LOG_DEBUG
)

var (
	logMu sync.RWMutex
	logFn func(LogLevel, string)
)

// SetLogger installs the process-wide log function (kvmhost_set_log_callback): the library's messages up to
// max go to fn, called in whatever thread logs (the library's vCPU and I/O threads included), so fn must be
// safe for concurrent use. A nil fn drops every message (the default).
func SetLogger(fn func(level LogLevel, msg string), max LogLevel) error {
	on := C.int(0)
	if fn != nil {
		on = 1
	}
	logMu.Lock()
	old := logFn
	logFn = fn // before the C call: the library may log from another thread at once
	logMu.Unlock()
	if _, err := call("kvmhost_set_log_callback", func() C.int { return C.kh_set_log(on, C.int(max)) }); err != nil {
		logMu.Lock()
		logFn = old
		logMu.Unlock()
		return err
	}
	return nil
}

package kvmhost

/*
#include "shim.h"
*/
import "C"

import "reflect"

// cStructs are the C structs whose cgo view (field offsets, size) this package reads or writes, for the layout
// test (layout_test.go), which compares them with what layout/layout.c, compiled by the C compiler with the
// project's flags, prints. Every other C struct is only passed through as an opaque pointer.
func cStructs() map[string]reflect.Type {
	return map[string]reflect.Type{
		"kvmhost_system_options":      reflect.TypeOf(C.struct_kvmhost_system_options{}),
		"kvmhost_vm_options":          reflect.TypeOf(C.struct_kvmhost_vm_options{}),
		"kvmhost_memory_options":      reflect.TypeOf(C.struct_kvmhost_memory_options{}),
		"kvmhost_machine_serial":      reflect.TypeOf(C.struct_kvmhost_machine_serial{}),
		"kvmhost_machine_options":     reflect.TypeOf(C.struct_kvmhost_machine_options{}),
		"kvmhost_machine_x86_options": reflect.TypeOf(C.struct_kvmhost_machine_x86_options{}),
		"kvmhost_machine_stop_info":   reflect.TypeOf(C.struct_kvmhost_machine_stop_info{}),
		"kvmhost_machine_event":       reflect.TypeOf(C.struct_kvmhost_machine_event{}),
		"kvmhost_machine_vcpu_stats":  reflect.TypeOf(C.struct_kvmhost_machine_vcpu_stats{}),
		"kvmhost_migration_options":   reflect.TypeOf(C.struct_kvmhost_migration_options{}),
		"kvmhost_migration_stats":     reflect.TypeOf(C.struct_kvmhost_migration_stats{}),
		"kh_exit_flat":                reflect.TypeOf(C.struct_kh_exit_flat{}),
	}
}

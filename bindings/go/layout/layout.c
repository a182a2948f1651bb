/*
 * Prints, as JSON, sizeof and the offset of every field of each C struct whose cgo view the Go binding reads or
 * writes (layout.go's cStructs); layout_test.go compares it with the Go types cgo made. Built by CMake
 * (kvmhost_go_layout) with the project's compiler and flags. Add a struct there and here.
 */
#include <stddef.h>
#include <stdio.h>
#include "../shim.h"

static int first_struct = 1, first_field;

static void begin(const char *name, size_t size)
{
	printf("%s\n \"%s\": {\"size\": %zu, \"fields\": {", first_struct ? "{" : ",", name, size);
	first_struct = 0;
	first_field = 1;
}

static void field(const char *name, size_t off)
{
	printf("%s\"%s\": %zu", first_field ? "" : ", ", name, off);
	first_field = 0;
}

#define S(s)	begin(#s, sizeof(struct s))
#define F(s, f) field(#f, offsetof(struct s, f))
#define E()	printf("}}")

int main(void)
{
	S(kvmhost_system_options);
	F(kvmhost_system_options, size);
	F(kvmhost_system_options, device_path);
	F(kvmhost_system_options, kick_signal);
	F(kvmhost_system_options, flags);
	E();

	S(kvmhost_vm_options);
	F(kvmhost_vm_options, size);
	F(kvmhost_vm_options, type);
	F(kvmhost_vm_options, name);
	E();

	S(kvmhost_memory_options);
	F(kvmhost_memory_options, size);
	F(kvmhost_memory_options, guest_phys_addr);
	F(kvmhost_memory_options, length);
	F(kvmhost_memory_options, backing);
	F(kvmhost_memory_options, flags);
	F(kvmhost_memory_options, fd);
	F(kvmhost_memory_options, fd_offset);
	F(kvmhost_memory_options, host_addr);
	F(kvmhost_memory_options, hugepage_size);
	F(kvmhost_memory_options, name);
	E();

	S(kvmhost_machine_serial);
	F(kvmhost_machine_serial, size);
	F(kvmhost_machine_serial, in_fd);
	F(kvmhost_machine_serial, out_fd);
	E();

	S(kvmhost_machine_options);
	F(kvmhost_machine_options, size);
	F(kvmhost_machine_options, name);
	F(kvmhost_machine_options, kernel_path);
	F(kvmhost_machine_options, kernel);
	F(kvmhost_machine_options, kernel_size);
	F(kvmhost_machine_options, kernel_format);
	F(kvmhost_machine_options, initrd_path);
	F(kvmhost_machine_options, initrd);
	F(kvmhost_machine_options, initrd_size);
	F(kvmhost_machine_options, cmdline);
	F(kvmhost_machine_options, ram_size);
	F(kvmhost_machine_options, ram_backing);
	F(kvmhost_machine_options, ram_flags);
	F(kvmhost_machine_options, ram_path);
	F(kvmhost_machine_options, hugepage_size);
	F(kvmhost_machine_options, vcpu_count);
	F(kvmhost_machine_options, flags);
	F(kvmhost_machine_options, vcpus);
	F(kvmhost_machine_options, vcpu_size);
	F(kvmhost_machine_options, serial);
	F(kvmhost_machine_options, devices);
	F(kvmhost_machine_options, device_count);
	F(kvmhost_machine_options, transport);
	F(kvmhost_machine_options, device_size);
	F(kvmhost_machine_options, on_reset);
	F(kvmhost_machine_options, on_event);
	F(kvmhost_machine_options, event_opaque);
	F(kvmhost_machine_options, arch_options);
	E();

	S(kvmhost_machine_x86_options);
	F(kvmhost_machine_x86_options, size);
	F(kvmhost_machine_x86_options, flags);
	F(kvmhost_machine_x86_options, debug_exit_port);
	F(kvmhost_machine_x86_options, reserved0);
	F(kvmhost_machine_x86_options, mmio_hole_start);
	F(kvmhost_machine_x86_options, cpuid_edits);
	F(kvmhost_machine_x86_options, cpuid_edit_count);
	F(kvmhost_machine_x86_options, raw_mode);
	F(kvmhost_machine_x86_options, cpuid_edit_size);
	F(kvmhost_machine_x86_options, raw_gpa);
	F(kvmhost_machine_x86_options, hyperv);
	E();

	S(kvmhost_machine_stop_info);
	F(kvmhost_machine_stop_info, size);
	F(kvmhost_machine_stop_info, reason);
	F(kvmhost_machine_stop_info, vcpu);
	F(kvmhost_machine_stop_info, error);
	F(kvmhost_machine_stop_info, exit_reason);
	F(kvmhost_machine_stop_info, kvm_exit_reason);
	F(kvmhost_machine_stop_info, suberror);
	F(kvmhost_machine_stop_info, system_event);
	F(kvmhost_machine_stop_info, fail_entry_cpu);
	F(kvmhost_machine_stop_info, hardware_reason);
	F(kvmhost_machine_stop_info, pc);
	F(kvmhost_machine_stop_info, debug_exit_status);
	F(kvmhost_machine_stop_info, insn_len);
	F(kvmhost_machine_stop_info, insn);
	F(kvmhost_machine_stop_info, message);
	E();

	S(kvmhost_machine_event);
	F(kvmhost_machine_event, size);
	F(kvmhost_machine_event, type);
	F(kvmhost_machine_event, reason);
	F(kvmhost_machine_event, vcpu);
	F(kvmhost_machine_event, index);
	F(kvmhost_machine_event, sequence);
	F(kvmhost_machine_event, device);
	E();

	S(kvmhost_machine_vcpu_stats);
	F(kvmhost_machine_vcpu_stats, size);
	F(kvmhost_machine_vcpu_stats, runs);
	F(kvmhost_machine_vcpu_stats, exits);
	E();

	S(kvmhost_migration_options);
	F(kvmhost_migration_options, size);
	F(kvmhost_migration_options, flags);
	F(kvmhost_migration_options, downtime_limit_ms);
	F(kvmhost_migration_options, max_bandwidth);
	F(kvmhost_migration_options, max_iterations);
	F(kvmhost_migration_options, timeout_ms);
	F(kvmhost_migration_options, throttle_initial);
	F(kvmhost_migration_options, throttle_increment);
	F(kvmhost_migration_options, throttle_max);
	F(kvmhost_migration_options, throttle_after);
	F(kvmhost_migration_options, progress);
	F(kvmhost_migration_options, progress_opaque);
	E();

	S(kvmhost_migration_stats);
	F(kvmhost_migration_stats, size);
	F(kvmhost_migration_stats, bytes);
	F(kvmhost_migration_stats, data_pages);
	F(kvmhost_migration_stats, zero_pages);
	F(kvmhost_migration_stats, sections);
	F(kvmhost_migration_stats, vcpus);
	F(kvmhost_migration_stats, passes);
	F(kvmhost_migration_stats, throttle_percent);
	F(kvmhost_migration_stats, total_us);
	F(kvmhost_migration_stats, downtime_us);
	F(kvmhost_migration_stats, expected_downtime_us);
	F(kvmhost_migration_stats, state_bytes);
	F(kvmhost_migration_stats, last_pass_pages);
	F(kvmhost_migration_stats, dirty_rate);
	F(kvmhost_migration_stats, bandwidth);
	F(kvmhost_migration_stats, log_start_us);
	F(kvmhost_migration_stats, pass_pages);
	E();

	S(kh_exit_flat);
	F(kh_exit_flat, reason);
	F(kh_exit_flat, kvm_exit_reason);
	F(kh_exit_flat, io_port);
	F(kh_exit_flat, io_size);
	F(kh_exit_flat, io_is_write);
	F(kh_exit_flat, io_count);
	F(kh_exit_flat, io_data);
	F(kh_exit_flat, mmio_addr);
	F(kh_exit_flat, mmio_len);
	F(kh_exit_flat, mmio_is_write);
	F(kh_exit_flat, mmio_data);
	E();

	printf("\n}\n");
	return 0;
}

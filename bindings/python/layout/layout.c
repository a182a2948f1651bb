/*
 * Prints, as JSON, sizeof and the offset of every field of each C struct the
 * Python binding declares (kvmhost/_structs.py); tests/test_layout.py
 * compares it with ctypes' sizes and offsets. Add a struct there and here.
 */
#include <stddef.h>
#include <stdio.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/machine.h>
#include <kvmhost/machine_x86.h>

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

static void end(void)
{
	printf("}}");
}

#define S(s)	begin(#s, sizeof(struct s))
#define F(s, f) field(#f, offsetof(struct s, f))
#define E()	end()

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

	S(kvmhost_bus_range);
	F(kvmhost_bus_range, size);
	F(kvmhost_bus_range, base);
	F(kvmhost_bus_range, length);
	F(kvmhost_bus_range, read);
	F(kvmhost_bus_range, write);
	F(kvmhost_bus_range, opaque);
	F(kvmhost_bus_range, name);
	E();

	S(kvmhost_exit);
	F(kvmhost_exit, reason);
	F(kvmhost_exit, kvm_exit_reason);
	F(kvmhost_exit, io.port);
	F(kvmhost_exit, io.size);
	F(kvmhost_exit, io.is_write);
	F(kvmhost_exit, io.count);
	F(kvmhost_exit, io.data);
	F(kvmhost_exit, mmio.addr);
	F(kvmhost_exit, mmio.len);
	F(kvmhost_exit, mmio.is_write);
	F(kvmhost_exit, mmio.data);
	F(kvmhost_exit, system_event.type);
	F(kvmhost_exit, system_event.ndata);
	F(kvmhost_exit, system_event.data);
	F(kvmhost_exit, internal.suberror);
	F(kvmhost_exit, internal.ndata);
	F(kvmhost_exit, internal.data);
	F(kvmhost_exit, internal.insn_len);
	F(kvmhost_exit, internal.insn);
	F(kvmhost_exit, fail_entry.hardware_reason);
	F(kvmhost_exit, fail_entry.cpu);
	F(kvmhost_exit, hypercall.nr);
	F(kvmhost_exit, hypercall.args);
	F(kvmhost_exit, hypercall.ret);
	F(kvmhost_exit, msr.index);
	F(kvmhost_exit, msr.error);
	F(kvmhost_exit, msr.data);
	F(kvmhost_exit, eoi.vector);
	E();

	S(kvmhost_machine_vcpu);
	F(kvmhost_machine_vcpu, affinity);
	F(kvmhost_machine_vcpu, affinity_size);
	E();

	S(kvmhost_machine_serial);
	F(kvmhost_machine_serial, size);
	F(kvmhost_machine_serial, in_fd);
	F(kvmhost_machine_serial, out_fd);
	E();

	S(kvmhost_machine_device);
	F(kvmhost_machine_device, type);
	F(kvmhost_machine_device, flags);
	F(kvmhost_machine_device, id);
	F(kvmhost_machine_device, path);
	F(kvmhost_machine_device, in_fd);
	F(kvmhost_machine_device, out_fd);
	F(kvmhost_machine_device, mac);
	F(kvmhost_machine_device, num_queues);
	F(kvmhost_machine_device, ops);
	F(kvmhost_machine_device, opaque);
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

	S(kvmhost_machine_x86_cpuid_edit);
	F(kvmhost_machine_x86_cpuid_edit, function);
	F(kvmhost_machine_x86_cpuid_edit, index);
	F(kvmhost_machine_x86_cpuid_edit, reg);
	F(kvmhost_machine_x86_cpuid_edit, set);
	F(kvmhost_machine_x86_cpuid_edit, clear);
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

	S(kvmhost_machine_device_stats);
	F(kvmhost_machine_device_stats, size);
	F(kvmhost_machine_device_stats, notifies);
	F(kvmhost_machine_device_stats, bad_accesses);
	F(kvmhost_machine_device_stats, broken);
	E();

	printf("\n}\n");
	return 0;
}

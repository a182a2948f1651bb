/*
 * Exit decoding: turn the kvm_run page KVM filled into a struct
 * kvmhost_exit, and name exit reasons. Pointers in the decoded exit point
 * into the kvm_run page, so an embedder answers reads (IN, MMIO loads, RDMSR,
 * hypercalls) by writing through them before the next run, with no copy.
 */
#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "kvm_internal.h"
#include "vcpu_internal.h"

static void kh_decode_internal_error(struct kvmhost_exit *e, struct kvm_run *run)
{
	uint32_t ndata = run->internal.ndata;

	e->internal.suberror = run->internal.suberror;
	/* ndata counts u64s after suberror/ndata; never trust it past the array. */
	if (ndata > KH_ARRAY_SIZE(run->internal.data))
		ndata = KH_ARRAY_SIZE(run->internal.data);
	e->internal.ndata = ndata;
	e->internal.data = (const uint64_t *)(const void *)run->internal.data;
	e->internal.insn_len = 0;
	memset(e->internal.insn, 0, sizeof(e->internal.insn));
	/* emulation_failure overlays internal: data[0] = flags, data[1..2] =
	 * insn_size and insn_bytes[15]. Valid only if ndata covers them. */
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		uint8_t len = run->emulation_failure.insn_size;

		if (len > sizeof(e->internal.insn))
			len = sizeof(e->internal.insn);
		e->internal.insn_len = len;
		memcpy(e->internal.insn, run->emulation_failure.insn_bytes, len);
	}
}

static void kh_log_exit(const struct kvmhost_vcpu *vcpu, const struct kvmhost_exit *e)
{
	const char *vm = vcpu->vm->name;

	switch (e->reason) {
	case KVMHOST_EXIT_IO:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit io: %s port 0x%x size %u count %u", vm, vcpu->id,
		       e->io.is_write ? "out" : "in", e->io.port, e->io.size, e->io.count);
		break;
	case KVMHOST_EXIT_MMIO:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit mmio: %s 0x%llx len %u", vm, vcpu->id,
		       e->mmio.is_write ? "write" : "read", (unsigned long long)e->mmio.addr, e->mmio.len);
		break;
	case KVMHOST_EXIT_INTERNAL_ERROR: {
		char insn[3 * 15 + 1] = "";

		for (unsigned i = 0; i < e->internal.insn_len; i++)
			snprintf(insn + 3 * i, sizeof(insn) - 3 * i, " %02x", e->internal.insn[i]);
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit internal_error: suberror %u ndata %u%s%s", vm, vcpu->id,
		       e->internal.suberror, e->internal.ndata, e->internal.insn_len ? " insn" : "", insn);
		break;
	}
	case KVMHOST_EXIT_FAIL_ENTRY:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit fail_entry: reason 0x%llx cpu %u", vm, vcpu->id,
		       (unsigned long long)e->fail_entry.hardware_reason, e->fail_entry.cpu);
		break;
	case KVMHOST_EXIT_SYSTEM_EVENT:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit system_event: type %u", vm, vcpu->id, e->system_event.type);
		break;
	case KVMHOST_EXIT_X86_RDMSR:
	case KVMHOST_EXIT_X86_WRMSR:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit %s: msr 0x%x", vm, vcpu->id,
		       kvmhost_exit_reason_name(e->reason), e->msr.index);
		break;
	default:
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit %s (KVM exit %u)", vm, vcpu->id,
		       kvmhost_exit_reason_name(e->reason), e->kvm_exit_reason);
		break;
	}
}

void kh_vcpu_decode_exit(struct kvmhost_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct kvmhost_exit *e = &vcpu->exit;

	e->kvm_exit_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		e->reason = KVMHOST_EXIT_IO;
		e->io.port = run->io.port;
		e->io.size = run->io.size;
		e->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		e->io.count = run->io.count;
		e->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		e->reason = KVMHOST_EXIT_MMIO;
		e->mmio.addr = run->mmio.phys_addr;
		e->mmio.len = run->mmio.len;
		e->mmio.is_write = run->mmio.is_write;
		e->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		e->reason = KVMHOST_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->reason = KVMHOST_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT: {
		uint32_t ndata = run->system_event.ndata;

		e->reason = KVMHOST_EXIT_SYSTEM_EVENT;
		e->system_event.type = run->system_event.type;
		if (ndata > KH_ARRAY_SIZE(run->system_event.data))
			ndata = KH_ARRAY_SIZE(run->system_event.data);
		e->system_event.ndata = ndata;
		e->system_event.data = (const uint64_t *)(const void *)run->system_event.data;
		break;
	}
	case KVM_EXIT_INTERNAL_ERROR:
		e->reason = KVMHOST_EXIT_INTERNAL_ERROR;
		kh_decode_internal_error(e, run);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->reason = KVMHOST_EXIT_FAIL_ENTRY;
		e->fail_entry.hardware_reason = run->fail_entry.hardware_entry_failure_reason;
		e->fail_entry.cpu = run->fail_entry.cpu;
		break;
	case KVM_EXIT_INTR:
		e->reason = KVMHOST_EXIT_KICKED;
		break;
	case KVM_EXIT_DEBUG:
		e->reason = KVMHOST_EXIT_DEBUG; /* details: kvm_run->debug.arch */
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		e->reason = KVMHOST_EXIT_IRQ_WINDOW_OPEN;
		break;
	case KVM_EXIT_HYPERCALL:
		e->reason = KVMHOST_EXIT_HYPERCALL;
		e->hypercall.nr = run->hypercall.nr;
		e->hypercall.args = (const uint64_t *)(const void *)run->hypercall.args;
		e->hypercall.ret = (uint64_t *)(void *)&run->hypercall.ret;
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		e->reason = run->exit_reason == KVM_EXIT_X86_RDMSR ? KVMHOST_EXIT_X86_RDMSR : KVMHOST_EXIT_X86_WRMSR;
		e->msr.index = run->msr.index;
		e->msr.error = &run->msr.error;
		e->msr.data = (uint64_t *)(void *)&run->msr.data;
		break;
	case KVM_EXIT_IOAPIC_EOI:
		e->reason = KVMHOST_EXIT_IOAPIC_EOI;
		e->eoi.vector = run->eoi.vector;
		break;
	default:
		/* Exceptions, TPR access, dirty-ring full, bus lock, notify...:
		 * the embedder reads kvm_run itself. */
		e->reason = KVMHOST_EXIT_UNKNOWN;
		break;
	}
	if (kh_log_enabled(KVMHOST_LOG_DEBUG))
		kh_log_exit(vcpu, e);
}

void kh_vcpu_set_kicked_exit(struct kvmhost_vcpu *vcpu)
{
	vcpu->exit.reason = KVMHOST_EXIT_KICKED;
	vcpu->exit.kvm_exit_reason = KVM_EXIT_INTR;
	if (kh_log_enabled(KVMHOST_LOG_DEBUG))
		kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u exit kicked", vcpu->vm->name, vcpu->id);
}

KVMHOST_API const char *kvmhost_exit_reason_name(enum kvmhost_exit_reason reason)
{
	switch (reason) {
	case KVMHOST_EXIT_UNKNOWN:
		return "unknown";
	case KVMHOST_EXIT_IO:
		return "io";
	case KVMHOST_EXIT_MMIO:
		return "mmio";
	case KVMHOST_EXIT_HLT:
		return "hlt";
	case KVMHOST_EXIT_SHUTDOWN:
		return "shutdown";
	case KVMHOST_EXIT_SYSTEM_EVENT:
		return "system_event";
	case KVMHOST_EXIT_INTERNAL_ERROR:
		return "internal_error";
	case KVMHOST_EXIT_FAIL_ENTRY:
		return "fail_entry";
	case KVMHOST_EXIT_KICKED:
		return "kicked";
	case KVMHOST_EXIT_DEBUG:
		return "debug";
	case KVMHOST_EXIT_IRQ_WINDOW_OPEN:
		return "irq_window_open";
	case KVMHOST_EXIT_HYPERCALL:
		return "hypercall";
	case KVMHOST_EXIT_X86_RDMSR:
		return "x86_rdmsr";
	case KVMHOST_EXIT_X86_WRMSR:
		return "x86_wrmsr";
	case KVMHOST_EXIT_IOAPIC_EOI:
		return "ioapic_eoi";
	}
	return "invalid";
}

/**
 * @file kvmhost.h
 * @brief Umbrella header: includes every public header of libkvmhost.
 *
 * Including the one header you need is fine too; each is self-contained.
 */
#ifndef KVMHOST_KVMHOST_H
#define KVMHOST_KVMHOST_H

/* core, system, VM, memory, vCPU */
#include <kvmhost/version.h>
#include <kvmhost/error.h>
#include <kvmhost/system.h>
#include <kvmhost/vm.h>
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
/* events and buses */
#include <kvmhost/events.h>
#include <kvmhost/loop.h>
#include <kvmhost/bus.h>
#include <kvmhost/irq_line.h>
/* devices */
#include <kvmhost/device_registry.h>
#include <kvmhost/devices/uart16550.h>
#include <kvmhost/devices/i8042.h>
#include <kvmhost/devices/cmos_rtc.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/fw_cfg.h>
/* virtio */
#include <kvmhost/virtio/queue.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/rng.h>
#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/net.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/pci.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/wiring.h>
#include <kvmhost/machine.h> /* arch-neutral */
#include <kvmhost/migration.h>
/* arm64 guests' device tree and Image loader: pure code, on every architecture */
#include <kvmhost/arm64_fdt.h>
#include <kvmhost/arm64_boot.h>
#if defined(__x86_64__)
/* x86 machine */
#include <kvmhost/x86.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/x86_platform.h>
#include <kvmhost/machine_x86.h>
#endif

#endif

/**
 * @file kvmhost.h
 * @brief Umbrella header: includes every public header of libkvmhost.
 */
#ifndef KVMHOST_KVMHOST_H
#define KVMHOST_KVMHOST_H

#include <kvmhost/version.h>
#include <kvmhost/error.h>
#include <kvmhost/system.h>
#include <kvmhost/vm.h>
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
#include <kvmhost/events.h>
#include <kvmhost/loop.h>
#include <kvmhost/bus.h>
#if defined(__x86_64__)
#include <kvmhost/x86.h>
#endif

#endif

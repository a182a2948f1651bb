/**
 * @file export.h
 * @brief Symbol visibility macro. Only declarations marked KVMHOST_API are
 * exported from the shared library (built with -fvisibility=hidden), and each
 * must also be listed in lib/libkvmhost.map.
 */
#ifndef KVMHOST_EXPORT_H
#define KVMHOST_EXPORT_H

#if defined(KVMHOST_BUILDING) && defined(__GNUC__)
#define KVMHOST_API __attribute__((visibility("default")))
#else
#define KVMHOST_API
#endif

#endif

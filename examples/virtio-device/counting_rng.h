/*
 * counting-rng: an example virtio device written against libkvmhost's
 * public API only (include/kvmhost/virtio/device.h and queue.h), the way an
 * embedder writes a device of their own.
 *
 * It is a virtio entropy device (device id 4, one queue "requestq", no
 * config space, no device features) that fills every buffer the driver
 * gives it with a running byte counter: 0, 1, 2, ... 255, 0, ... It is NOT
 * random: it exists to show the moving parts (ops table, popping chains,
 * filling writable buffers, pushing them back with the byte count,
 * interrupting the driver, notification suppression while draining,
 * reporting a driver error, reset and migration state) in a device whose
 * output a test can predict. A Linux guest's virtio-rng driver would read
 * its bytes happily.
 *
 * A transport (virtio-mmio, virtio-pci) is attached to
 * counting_rng_device() by the embedder; the unit test next to this file
 * plays both the transport and the guest driver on fake guest memory.
 */
#ifndef COUNTING_RNG_H
#define COUNTING_RNG_H

#include <stdint.h>

struct kvmhost_memory;
struct kvmhost_virtio_device;
struct counting_rng;

/** Create the device on guest memory @p mem: 0 or a negative errno. */
int counting_rng_create(struct kvmhost_memory *mem, struct counting_rng **out);
/** Destroy it (NULL is ignored). */
void counting_rng_destroy(struct counting_rng *rng);
/** The framework device, for the transport. */
struct kvmhost_virtio_device *counting_rng_device(struct counting_rng *rng);
/** Bytes produced since power-on or the last reset. */
uint64_t counting_rng_bytes(struct counting_rng *rng);

#endif

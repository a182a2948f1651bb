/**
 * @file virtio/net.h
 * @brief virtio-net (virtio device id 1) on a TAP device or any packet fds.
 *
 * One queue pair: 0 is the receiveq (host to guest), 1 the transmitq. No
 * control queue, no multiqueue. Config space (12 bytes): mac[6],
 * status (le16), max_virtqueue_pairs (le16, 1), mtu (le16).
 *
 * Every packet on the rings starts with the 12-byte virtio 1.x header
 * (struct virtio_net_hdr_mrg_rxbuf: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers).
 *
 * Backends:
 *  - TAP: a tap fd opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (by
 *    kvmhost_virtio_net_tap_open() or by the embedder). The device sets its
 *    vnet header size to 12 (TUNSETVNETHDRSZ), and when the driver is ready
 *    tells the kernel which offloads the guest accepts (TUNSETOFFLOAD, see
 *    kvmhost_virtio_net_tun_offloads()); a reset sets them back to none.
 *  - FDS: any pair of packet-preserving fds (both may be the same fd): a
 *    SOCK_SEQPACKET or SOCK_DGRAM socket, a packet socket (not a byte
 *    stream: each read must return one packet, each write send one). With
 *    KVMHOST_VIRTIO_NET_VNET_HDR each
 *    packet on them carries the 12-byte header before the Ethernet frame
 *    (as on a tap with IFF_VNET_HDR); without it they carry bare frames (the
 *    device adds and strips the header, and offers no offloads). No ioctls.
 * The device sets O_NONBLOCK on the backend fds; it never closes them.
 *
 * Features offered: MAC (when the options give one), STATUS, MRG_RXBUF, MTU
 * (when given), and with a header-carrying backend the offloads: CSUM,
 * HOST_TSO4, HOST_TSO6, HOST_ECN (the backend takes such packets from the
 * guest) and GUEST_CSUM, GUEST_TSO4, GUEST_TSO6, GUEST_ECN, GUEST_UFO (it
 * may send such packets to the guest, once negotiated; on a TAP, GUEST_UFO
 * only if the kernel accepts TUN_F_UFO). The ring
 * features the framework implements are offered too. The options'
 * disable_features removes any of these. Feature sets the spec forbids
 * (GUEST_TSO4 without GUEST_CSUM, HOST_ECN without HOST_TSO4/6, ...) are
 * refused at FEATURES_OK.
 *
 * Transmit (the transmitq kick, in the notifying thread): each request's
 * readable bytes (header + frame) go to the backend with one writev(); a
 * request shorter than the header is malformed (the queue breaks:
 * DEVICE_NEEDS_RESET). When the backend is full (EAGAIN) the request stays
 * on the queue and the device asks for KVMHOST_LOOP_OUT: call
 * kvmhost_virtio_net_tx() once the tx fd is writable. Other write errors
 * drop the packet (counted); a socket tx fd is written with MSG_NOSIGNAL, so
 * a closed peer gives no SIGPIPE.
 *
 * Receive is driven by the host side: call kvmhost_virtio_net_rx() when the
 * rx fd is readable (from an event loop or a worker thread; never needed on
 * a vCPU thread). It reads packets straight into the guest's posted buffers
 * (readv), with MRG_RXBUF spreading a packet over as many buffers as it
 * needs (num_buffers in the first header). Without MRG_RXBUF a packet too
 * big for one buffer is dropped (counted). Buffers with no room for the
 * header (or, with MRG_RXBUF, any buffer smaller than the header) are
 * malformed. When the guest has no buffers posted, rx() leaves packets in
 * the backend and stops asking for KVMHOST_LOOP_IN; the ready callback asks
 * again when the guest posts buffers.
 *
 * The event-loop contract: watch the rx fd for input while
 * kvmhost_virtio_net_wants() includes KVMHOST_LOOP_IN and the tx fd for
 * output while it includes KVMHOST_LOOP_OUT; start again when the ready
 * callback names the event. After you stop watching, call wants() once
 * more: the callback may have run just before.
 *
 * Thread safety: kicks (any thread), rx(), tx(), wants(), set_link() and
 * get_stats() may run concurrently. Destroy must not race anything.
 */
#ifndef KVMHOST_VIRTIO_NET_H
#define KVMHOST_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;
struct kvmhost_virtio_device;

/** Opaque virtio-net device. */
struct kvmhost_virtio_net;

/* Feature bits of virtio-net (bit numbers). */
#define KVMHOST_VIRTIO_NET_F_CSUM	0  /**< the device takes packets with partial checksums */
#define KVMHOST_VIRTIO_NET_F_GUEST_CSUM 1  /**< the driver takes packets with partial checksums */
#define KVMHOST_VIRTIO_NET_F_MTU	3  /**< mtu in config space */
#define KVMHOST_VIRTIO_NET_F_MAC	5  /**< mac in config space */
#define KVMHOST_VIRTIO_NET_F_GUEST_TSO4 7  /**< the driver takes TSOv4 packets */
#define KVMHOST_VIRTIO_NET_F_GUEST_TSO6 8  /**< the driver takes TSOv6 packets */
#define KVMHOST_VIRTIO_NET_F_GUEST_ECN	9  /**< the driver takes TSO packets with ECN */
#define KVMHOST_VIRTIO_NET_F_GUEST_UFO	10 /**< the driver takes UFO packets */
#define KVMHOST_VIRTIO_NET_F_HOST_TSO4	11 /**< the device takes TSOv4 packets */
#define KVMHOST_VIRTIO_NET_F_HOST_TSO6	12 /**< the device takes TSOv6 packets */
#define KVMHOST_VIRTIO_NET_F_HOST_ECN	13 /**< the device takes TSO packets with ECN */
#define KVMHOST_VIRTIO_NET_F_HOST_UFO	14 /**< the device takes UFO packets (not offered) */
#define KVMHOST_VIRTIO_NET_F_MRG_RXBUF	15 /**< a received packet may span several buffers */
#define KVMHOST_VIRTIO_NET_F_STATUS	16 /**< status in config space */

/** Link status bit in config space. */
#define KVMHOST_VIRTIO_NET_S_LINK_UP 1

/** Queue indices. */
#define KVMHOST_VIRTIO_NET_RXQ 0
#define KVMHOST_VIRTIO_NET_TXQ 1 /**< index of the transmit queue */

/** Bytes of the virtio-net header before each frame. */
#define KVMHOST_VIRTIO_NET_HDR_SIZE 12
/** Bytes of config space. */
#define KVMHOST_VIRTIO_NET_CONFIG_SIZE 12

/** Options flags. @{ */
/** FDS backend: packets carry the 12-byte virtio-net header. */
#define KVMHOST_VIRTIO_NET_VNET_HDR 0x1u
/** Start with the link down (see kvmhost_virtio_net_set_link()). */
#define KVMHOST_VIRTIO_NET_LINK_DOWN 0x2u
/** @} */

/** Where packets go and come from. */
enum kvmhost_virtio_net_backend {
	KVMHOST_VIRTIO_NET_BACKEND_TAP = 1, /**< a tap fd with IFF_VNET_HDR (rx_fd) */
	KVMHOST_VIRTIO_NET_BACKEND_FDS = 2, /**< any packet fds: rx_fd and tx_fd */
};

/**
 * Called when the device wants the embedder to watch a backend fd again:
 * KVMHOST_LOOP_IN (the guest posted receive buffers after rx() had found
 * none: watch the rx fd and call kvmhost_virtio_net_rx()) or
 * KVMHOST_LOOP_OUT (a transmit found the backend full: watch the tx fd and
 * call kvmhost_virtio_net_tx()). Runs in the thread that noticed it (often
 * a vCPU's notify), without the device's locks held.
 */
typedef void (*kvmhost_virtio_net_ready_fn)(void *opaque, uint32_t events);

/** Options for kvmhost_virtio_net_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_net_options {
	size_t size;				 /**< sizeof(struct kvmhost_virtio_net_options) */
	enum kvmhost_virtio_net_backend backend; /**< required */
	int rx_fd;				 /**< TAP: the tap fd; FDS: where packets are read */
	int tx_fd;				 /**< FDS: where packets are written (may be rx_fd); TAP: ignored */
	uint32_t flags;				 /**< KVMHOST_VIRTIO_NET_VNET_HDR, _LINK_DOWN */
	uint8_t mac[6];				 /**< all zero: VIRTIO_NET_F_MAC not offered (the guest picks one) */
	uint16_t mtu;				 /**< 0: VIRTIO_NET_F_MTU not offered; else 68 to 65535 */
	uint32_t queue_size;			 /**< largest queue size, 1 to 1024; 0: 256 */
	uint64_t disable_features;		 /**< feature bits not to offer */
	kvmhost_virtio_net_ready_fn ready;	 /**< optional, see kvmhost_virtio_net_ready_fn */
	void *ready_opaque;			 /**< passed to ready */
	const char *name;			 /**< for messages; copied; NULL: "virtio-net" */
};

/** Counters of a virtio-net device, filled by kvmhost_virtio_net_get_stats(). */
struct kvmhost_virtio_net_stats {
	size_t size;	     /**< set by the caller to sizeof(struct kvmhost_virtio_net_stats) */
	uint64_t rx_packets; /**< packets delivered to the guest */
	uint64_t rx_bytes;   /**< their bytes, headers excluded */
	uint64_t rx_buffers; /**< receive buffers they used (more than packets with MRG_RXBUF) */
	uint64_t rx_dropped; /**< packets read but not delivered: too big for the buffers, truncated, runts */
	uint64_t tx_packets; /**< packets written to the backend */
	uint64_t tx_bytes;   /**< their bytes, headers excluded */
	uint64_t tx_dropped; /**< packets the backend refused or that were too large */
	uint64_t tx_blocked; /**< times a transmit found the backend full */
};

/**
 * Open a tap device for the TAP backend: /dev/net/tun with IFF_TAP |
 * IFF_NO_PI | IFF_VNET_HDR, O_NONBLOCK and O_CLOEXEC. The caller owns the
 * fd (and brings the interface up, adds it to a bridge, ...).
 * @param ifname the interface name (an existing tap, or one to create);
 *        NULL or "": the kernel picks one (tapN)
 * @param name_out receives the interface name (may be NULL)
 * @param name_len size of @p name_out (16 is enough)
 * @return the fd; -EINVAL (a name too long, @p name_out with
 *         @p name_len 0); open(2)'s or TUNSETIFF's error (-ENOENT without
 *         /dev/net/tun, -EPERM without CAP_NET_ADMIN, -EBUSY ...).
 */
KVMHOST_API int kvmhost_virtio_net_tap_open(const char *ifname, char *name_out, size_t name_len);

/**
 * Translate negotiated virtio-net features into the TUN_F_* flags for
 * TUNSETOFFLOAD: GUEST_CSUM gives TUN_F_CSUM, and only with it GUEST_TSO4
 * TUN_F_TSO4, GUEST_TSO6 TUN_F_TSO6, GUEST_ECN (with TSO4 or TSO6)
 * TUN_F_TSO_ECN and GUEST_UFO TUN_F_UFO. Other bits are ignored.
 * @param features the negotiated virtio-net feature bits
 * @return the flags (0 for none).
 */
KVMHOST_API uint32_t kvmhost_virtio_net_tun_offloads(uint64_t features);

/**
 * Create a virtio-net device on guest memory @p mem (which must outlive it).
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_virtio_net_options; size rules as every options struct)
 * @param out receives the new virtio-net device
 * @return 0 and *out set; -EINVAL (NULL arguments, an unknown backend, a
 *         negative or closed fd, a TAP fd without IFF_VNET_HDR or that is
 *         not a tap, a bad mtu or queue size, unknown flags), -E2BIG
 *         (options), -ENOMEM; the tap ioctls' errors.
 */
KVMHOST_API int kvmhost_virtio_net_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_net_options *opts,
					  struct kvmhost_virtio_net **out);

/** Destroy the device and its framework device (not the backend fds).
 * NULL is ignored.
 * @param net the virtio-net device
 */
KVMHOST_API void kvmhost_virtio_net_destroy(struct kvmhost_virtio_net *net);

/** Return the framework device (for the transport), or NULL for NULL. It
 * lives as long as @p net.
 * @param net the virtio-net device
 * @return the framework device (for the transport), or NULL for NULL.
 */
KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_net_device(struct kvmhost_virtio_net *net);

/**
 * Return the fd packets are read from (the tap fd for TAP), or -EINVAL for NULL.
 * @param net the virtio-net device
 * @return the fd packets are read from (the tap fd for TAP), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_net_rx_fd(struct kvmhost_virtio_net *net);
/**
 * Return the fd packets are written to (the tap fd for TAP), or -EINVAL for NULL.
 * @param net the virtio-net device
 * @return the fd packets are written to (the tap fd for TAP), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_net_tx_fd(struct kvmhost_virtio_net *net);

/**
 * Move packets from the backend into the guest's receive buffers, without
 * blocking, up to 64 packets per call (call again while the fd stays
 * readable). Does nothing until the device is live.
 * @param net the virtio-net device
 * @return packets delivered (0 or more: none waiting, no buffers posted,
 *         or the device is not live); -EINVAL for NULL; -EPIPE when the rx
 *         fd reached end of file; readv(2)'s negative errno.
 */
KVMHOST_API int kvmhost_virtio_net_rx(struct kvmhost_virtio_net *net);

/**
 * Send the transmit requests the guest has posted, as a kick does (after
 * KVMHOST_LOOP_OUT: once the tx fd is writable).
 * @param net the virtio-net device
 * @return packets sent (0 or more); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_net_tx(struct kvmhost_virtio_net *net);

/**
 * Return what the embedder should watch now: KVMHOST_LOOP_IN on the rx fd
 * unless receive is stalled (no buffers posted, or the device not live),
 * KVMHOST_LOOP_OUT on the tx fd while a transmit waits for room. -EINVAL
 * for NULL.
 * @param net the virtio-net device
 * @return what the embedder should watch now: KVMHOST_LOOP_IN on the rx fd unless receive is stalled (no buffers
 * posted, or the device not live), KVMHOST_LOOP_OUT on the tx fd while a transmit waits for room.
 */
KVMHOST_API int kvmhost_virtio_net_wants(struct kvmhost_virtio_net *net);

/**
 * Set the link status in config space (VIRTIO_NET_S_LINK_UP) and announce
 * the change (config generation and interrupt).
 * @param net the virtio-net device
 * @param up 1: link up; 0: down
 * @return 0; -EINVAL for NULL or @p up other than 0 or 1.
 */
KVMHOST_API int kvmhost_virtio_net_set_link(struct kvmhost_virtio_net *net, int up);

/**
 * Copy the counters. @p stats->size must be set; a smaller (older) struct
 * gets the fields it has room for.
 * @param net the virtio-net device
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL for NULL or a size smaller than the size field.
 */
KVMHOST_API int kvmhost_virtio_net_get_stats(struct kvmhost_virtio_net *net, struct kvmhost_virtio_net_stats *stats);

#ifdef __cplusplus
}
#endif

#endif

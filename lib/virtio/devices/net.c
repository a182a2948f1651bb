/*
 * virtio-net (virtio/net.h): a framework device with one receive and one
 * transmit queue, on a TAP fd (vnet header, offloads through TUNSETOFFLOAD)
 * or on any pair of packet fds (with or without the vnet header).
 *
 * Receive reads each packet with one readv() straight into the first posted
 * buffer, with a bounce buffer as the last iovec to catch what does not fit;
 * with MRG_RXBUF that overflow is then copied into further buffers, which
 * are all pushed together once the packet is placed (num_buffers written
 * into the first header). If the guest runs out of buffers mid-packet, the
 * packet stays "pending" with its buffers held until more are posted.
 *
 * Locks: rx_lock guards the receive side (pending packet, held chains,
 * bounce buffer, rx counters); tx_lock the transmit side. Neither is held
 * while calling the ready callback. Order: (the framework's state lock),
 * rx_lock or tx_lock, then queue locks.
 */
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include <kvmhost/loop.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/net.h>

#include "../../core/internal.h"

#define RXQ    KVMHOST_VIRTIO_NET_RXQ
#define TXQ    KVMHOST_VIRTIO_NET_TXQ
#define HDR    KVMHOST_VIRTIO_NET_HDR_SIZE
#define BIT(b) KVMHOST_VIRTIO_BIT(b)

#define KH_NET_QUEUE_SIZE     256u
#define KH_NET_QUEUE_SIZE_MAX 1024u
/* Larger than any packet a backend delivers (12 + 64 KiB GSO + L2 headers):
 * a read that fills the first buffer and all of this was truncated. */
#define KH_NET_BOUNCE (68u * 1024u)
/* Packets one rx() delivers at most. */
#define KH_NET_RX_BUDGET 64
/* Offset of num_buffers in the header. */
#define KH_NET_NUM_BUFFERS_OFF 10

#define KH_NET_GUEST_OFFLOADS                                                                                          \
	(BIT(KVMHOST_VIRTIO_NET_F_GUEST_CSUM) | BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO4) |                                 \
	 BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO6) | BIT(KVMHOST_VIRTIO_NET_F_GUEST_ECN) |                                  \
	 BIT(KVMHOST_VIRTIO_NET_F_GUEST_UFO))
#define KH_NET_HOST_OFFLOADS                                                                                           \
	(BIT(KVMHOST_VIRTIO_NET_F_CSUM) | BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO4) | BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO6) |  \
	 BIT(KVMHOST_VIRTIO_NET_F_HOST_ECN))
#define KH_NET_RING_FEATURES                                                                                           \
	(BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) | BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |                             \
	 BIT(KVMHOST_VIRTIO_F_RING_PACKED))

struct kvmhost_virtio_net {
	struct kvmhost_virtio_device *dev;
	char name[64];

	/* Set at create. */
	enum kvmhost_virtio_net_backend backend;
	int rx_fd, tx_fd;
	int vnet;    /* backend packets carry the header */
	int tx_sock; /* tx_fd is a socket: sendmsg(MSG_NOSIGNAL), no SIGPIPE */
	uint8_t mac[6];
	uint16_t mtu;
	uint64_t offer; /* device-specific features offered */
	kvmhost_virtio_net_ready_fn ready;
	void *ready_opaque;

	_Atomic uint16_t status;   /* config status */
	_Atomic uint64_t features; /* negotiated, while active */

	pthread_mutex_t rx_lock;
	int rx_waiting; /* receive stalled for buffers: ready(IN) at the next receiveq kick */
	int mrg;	/* MRG_RXBUF negotiated */
	uint8_t *bounce;
	struct iovec *rx_iov; /* IOV_MAX */
	/* The packet being placed: held[0..nheld) popped and filled, the rest
	 * of it in bounce[bounce_off, bounce_len). */
	int pending;
	size_t bounce_off, bounce_len;
	uint64_t plen;
	const struct kvmhost_virtq_chain **held;
	uint32_t *held_len;
	uint32_t nheld, held_cap;
	int held_stale; /* a reset orphaned held[]: release them at activate */
	struct kvmhost_virtio_net_stats rx_stats;

	pthread_mutex_t tx_lock;
	int tx_blocked;
	uint8_t *tx_bounce;
	struct iovec *tx_iov; /* IOV_MAX */
	struct kvmhost_virtio_net_stats tx_stats;
};

/* ---- helpers ---- */

KVMHOST_API uint32_t kvmhost_virtio_net_tun_offloads(uint64_t features)
{
	uint32_t f = 0;

	/* TUNSETOFFLOAD ignores TSO without CSUM, and refuses ECN without TSO. */
	if (!(features & BIT(KVMHOST_VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= TUN_F_CSUM;
	if (features & BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (features & BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((features & BIT(KVMHOST_VIRTIO_NET_F_GUEST_ECN)) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (features & BIT(KVMHOST_VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}

/* Whether the driver runs the device (DRIVER_OK, not FAILED, no reset pending). */
static int kh_net_live(struct kvmhost_virtio_net *n)
{
	int st = kvmhost_virtio_device_get_status(n->dev);

	return (st & KVMHOST_VIRTIO_STATUS_DRIVER_OK) &&
	       !(st & (KVMHOST_VIRTIO_STATUS_FAILED | KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}

/* Up to @max iovecs of @src from byte @skip on, into @dst; *bytes gets what
 * they cover. */
static int kh_net_iov_slice(const struct iovec *src, uint32_t count, size_t skip, struct iovec *dst, int max,
			    size_t *bytes)
{
	int k = 0;

	*bytes = 0;
	for (uint32_t i = 0; i < count && k < max; i++) {
		size_t len = src[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[k].iov_len = len - skip;
		*bytes += len - skip;
		skip = 0;
		k++;
	}
	return k;
}

/* Tell the TAP which offloads the guest accepts (best effort: the kernel
 * then simply sends fewer offloaded packets). */
static void kh_net_set_offload(struct kvmhost_virtio_net *n, uint32_t flags)
{
	if (n->backend != KVMHOST_VIRTIO_NET_BACKEND_TAP)
		return;
	if (ioctl(n->rx_fd, TUNSETOFFLOAD, (unsigned long)flags) == 0)
		return;
	if ((flags & TUN_F_UFO) && ioctl(n->rx_fd, TUNSETOFFLOAD, (unsigned long)(flags & ~TUN_F_UFO)) == 0)
		return;
	if (kh_log_enabled(KVMHOST_LOG_WARN))
		kh_log(KVMHOST_LOG_WARN, "%s: TUNSETOFFLOAD 0x%x failed (%s)", n->name, flags,
		       kvmhost_strerror(-errno));
}

/* ---- receive ---- */

/* With rx_lock held: give the held buffers of a packet that cannot be
 * delivered back to the queue (which is broken or reset: they are only
 * released). */
static void kh_net_drop_pending(struct kvmhost_virtio_net *n, struct kvmhost_virtq *q)
{
	for (uint32_t i = 0; i < n->nheld; i++)
		(void)kvmhost_virtq_push(q, n->held[i], 0);
	n->nheld = 0;
	n->pending = 0;
	n->held_stale = 0;
}

/* A receive buffer the spec does not allow: break the queue. */
static void kh_net_rx_malformed(struct kvmhost_virtio_net *n, struct kvmhost_virtq *q,
				const struct kvmhost_virtq_chain *c)
{
	kvmhost_virtq_set_broken(q, c->readable_count ? "receive buffer with device-readable parts"
						      : "receive buffer smaller than the virtio-net header");
	(void)kvmhost_virtq_push(q, c, 0); /* released: the queue is broken */
	kh_net_drop_pending(n, q);
}

static int kh_net_hold(struct kvmhost_virtio_net *n, const struct kvmhost_virtq_chain *c, uint32_t len)
{
	if (n->nheld == n->held_cap) {
		uint32_t cap = n->held_cap ? n->held_cap * 2 : 16;
		const struct kvmhost_virtq_chain **h = realloc(n->held, cap * sizeof(*h));
		uint32_t *l;

		if (!h)
			return -ENOMEM;
		n->held = h;
		l = realloc(n->held_len, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		n->held_len = l;
		n->held_cap = cap;
	}
	n->held[n->nheld] = c;
	n->held_len[n->nheld] = len;
	n->nheld++;
	return 0;
}

/*
 * With rx_lock held: place the rest of the pending packet into more buffers
 * and, once it is all placed, push them. 1: delivered; 0: the guest has no
 * more buffers (still pending); -1: dropped (the queue broke).
 */
static int kh_net_rx_continue(struct kvmhost_virtio_net *n, struct kvmhost_virtq *q)
{
	const struct kvmhost_virtq_chain *c;
	uint16_t nb;

	while (n->bounce_off < n->bounce_len) {
		size_t k;
		int r = kvmhost_virtq_pop(q, &c);

		if (r == 0)
			return 0;
		if (r < 0) {
			if (r == -ENOMEM)
				return 0;
			kh_net_drop_pending(n, q);
			return -1;
		}
		if (c->readable_count || c->writable_len < HDR) {
			kh_net_rx_malformed(n, q, c);
			return -1;
		}
		k = (size_t)KH_MIN((uint64_t)(n->bounce_len - n->bounce_off), c->writable_len);
		if (kh_net_hold(n, c, (uint32_t)k) < 0) {
			(void)kvmhost_virtq_unpop(q, c);
			return 0; /* no memory now: try again later */
		}
		(void)kvmhost_virtq_chain_write(c, 0, n->bounce + n->bounce_off, k);
		n->bounce_off += k;
		if (n->bounce_off < n->bounce_len && n->nheld >= kvmhost_virtq_size(q)) {
			/* Every buffer the queue can hold is held and the packet
			 * still does not fit: it never will. */
			kvmhost_virtq_set_broken(q, "receive buffers too small for a packet");
			kh_net_drop_pending(n, q);
			return -1;
		}
	}
	nb = htole16((uint16_t)n->nheld);
	(void)kvmhost_virtq_chain_write(n->held[0], KH_NET_NUM_BUFFERS_OFF, &nb, sizeof(nb));
	for (uint32_t i = 0; i < n->nheld; i++)
		(void)kvmhost_virtq_push(q, n->held[i], n->held_len[i]);
	n->rx_stats.rx_packets++;
	n->rx_stats.rx_bytes += n->plen - HDR;
	n->rx_stats.rx_buffers += n->nheld;
	n->nheld = 0;
	n->pending = 0;
	return 1;
}

/*
 * With rx_lock held: read packets into posted buffers, up to the budget.
 * Returns 0 or a negative errno (read error, end of file); *delivered counts.
 */
static int kh_net_rx_locked(struct kvmhost_virtio_net *n, int *delivered, const char *func)
{
	static const uint8_t zero_hdr[HDR];
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(n->dev, RXQ);
	const struct kvmhost_virtq_chain *c;
	size_t skip = n->vnet ? 0 : HDR;

	*delivered = 0;
	if (!kh_net_live(n)) {
		n->rx_waiting = 1;
		return 0;
	}
	if (n->pending) {
		int r = kh_net_rx_continue(n, q);

		if (r == 0) {
			n->rx_waiting = 1;
			return 0;
		}
		if (r > 0)
			(*delivered)++;
	}
	while (*delivered < KH_NET_RX_BUDGET) {
		size_t iov_cap, direct, spill, k0;
		ssize_t got;
		int cnt, r, err;

		r = kvmhost_virtq_pop(q, &c);
		if (r != 1) {
			if (r == 0)
				n->rx_waiting = 1;
			break;
		}
		if (c->readable_count || c->writable_len < HDR) {
			kh_net_rx_malformed(n, q, c);
			break;
		}
		cnt = kh_net_iov_slice(c->writable, c->writable_count, skip, n->rx_iov, IOV_MAX - 1, &iov_cap);
		n->rx_iov[cnt].iov_base = n->bounce;
		n->rx_iov[cnt].iov_len = KH_NET_BOUNCE;
		got = KH_RETRY_EINTR(readv(n->rx_fd, n->rx_iov, cnt + 1));
		if (got <= 0) {
			err = got < 0 ? errno : EPIPE;
			(void)kvmhost_virtq_unpop(q, c);
			if (err == EAGAIN || err == EWOULDBLOCK)
				break;
			if (err == EPIPE)
				return kh_fail(EPIPE, func, "%s: end of file on rx fd %d", n->name, n->rx_fd);
			return kh_fail(err, func, "%s: read of rx fd %d failed", n->name, n->rx_fd);
		}
		if ((size_t)got == iov_cap + KH_NET_BOUNCE || (n->vnet && got < HDR)) {
			/* Truncated, or a runt without its header. */
			(void)kvmhost_virtq_unpop(q, c);
			n->rx_stats.rx_dropped++;
			continue;
		}
		n->plen = (uint64_t)got + skip;
		if (n->plen > c->writable_len && !n->mrg) {
			/* Without MRG_RXBUF a packet must fit one buffer. */
			(void)kvmhost_virtq_unpop(q, c);
			n->rx_stats.rx_dropped++;
			continue;
		}
		if (!n->vnet)
			(void)kvmhost_virtq_chain_write(c, 0, zero_hdr, HDR);
		direct = skip + KH_MIN((size_t)got, iov_cap);
		spill = (size_t)n->plen - direct;
		/* What readv() put in the bounce buffer goes first to the rest
		 * of this buffer (iovecs beyond IOV_MAX), then to others. */
		k0 = (size_t)KH_MIN((uint64_t)spill, c->writable_len - direct);
		if (k0)
			(void)kvmhost_virtq_chain_write(c, direct, n->bounce, k0);
		n->nheld = 0;
		if (kh_net_hold(n, c, (uint32_t)(direct + k0)) < 0) {
			(void)kvmhost_virtq_unpop(q, c);
			n->rx_stats.rx_dropped++;
			break;
		}
		n->pending = 1;
		n->bounce_off = k0;
		n->bounce_len = spill;
		r = kh_net_rx_continue(n, q);
		if (r == 0) {
			n->rx_waiting = 1;
			break;
		}
		if (r < 0)
			break;
		(*delivered)++;
	}
	return 0;
}

KVMHOST_API int kvmhost_virtio_net_rx(struct kvmhost_virtio_net *net)
{
	int delivered = 0, err;

	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	pthread_mutex_lock(&net->rx_lock);
	net->rx_waiting = 0;
	err = kh_net_rx_locked(net, &delivered, __func__);
	pthread_mutex_unlock(&net->rx_lock);
	if (delivered)
		(void)kvmhost_virtio_device_notify_used(net->dev, RXQ);
	return err < 0 ? err : delivered;
}

/* The guest posted receive buffers: finish a pending packet, and wake the
 * embedder if receive had stalled. */
static void kh_net_rx_kick(struct kvmhost_virtio_net *n)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(n->dev, RXQ);
	int wake = 0, delivered = 0;

	pthread_mutex_lock(&n->rx_lock);
	if (n->pending) {
		int r = kh_net_rx_continue(n, q);

		delivered = r > 0;
		if (r == 0) {
			pthread_mutex_unlock(&n->rx_lock);
			return; /* still short of buffers */
		}
	}
	wake = n->rx_waiting;
	n->rx_waiting = 0;
	pthread_mutex_unlock(&n->rx_lock);
	if (delivered)
		(void)kvmhost_virtio_device_notify_used(n->dev, RXQ);
	if (wake && n->ready)
		n->ready(n->ready_opaque, KVMHOST_LOOP_IN);
}

/* ---- transmit ---- */

/* With tx_lock held: send what the guest posted. Returns packets sent;
 * *blocked set when the backend was full. */
static int kh_net_tx_locked(struct kvmhost_virtio_net *n, int *blocked)
{
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(n->dev, TXQ);
	const struct kvmhost_virtq_chain *c;
	size_t skip = n->vnet ? 0 : HDR;
	int sent = 0, stop = 0;

	*blocked = 0;
	if (!kh_net_live(n))
		return 0;
	while (!stop) {
		/* No kicks while draining; re-check after enabling them. */
		if (kvmhost_virtq_set_notify(q, 0) < 0)
			break;
		while (kvmhost_virtq_pop(q, &c) == 1) {
			uint64_t frame = c->readable_len >= HDR ? c->readable_len - HDR : 0;
			size_t bytes;
			ssize_t w;
			int cnt;

			if (c->readable_len < HDR) {
				kvmhost_virtq_set_broken(q, "transmit request shorter than the virtio-net header");
				(void)kvmhost_virtq_push(q, c, 0);
				stop = 1;
				break;
			}
			if (frame == 0 || frame > KH_NET_BOUNCE) {
				n->tx_stats.tx_dropped++;
				(void)kvmhost_virtq_push(q, c, 0);
				sent++;
				continue;
			}
			if (c->readable_count > IOV_MAX) {
				/* Too many pieces for one writev(): linearise. */
				(void)kvmhost_virtq_chain_read(c, skip, n->tx_bounce, (size_t)(c->readable_len - skip));
				n->tx_iov[0].iov_base = n->tx_bounce;
				n->tx_iov[0].iov_len = (size_t)(c->readable_len - skip);
				cnt = 1;
			} else {
				cnt =
				    kh_net_iov_slice(c->readable, c->readable_count, skip, n->tx_iov, IOV_MAX, &bytes);
			}
			if (n->tx_sock) {
				struct msghdr mh = {.msg_iov = n->tx_iov, .msg_iovlen = (size_t)cnt};

				w = KH_RETRY_EINTR(sendmsg(n->tx_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL));
			} else {
				w = KH_RETRY_EINTR(writev(n->tx_fd, n->tx_iov, cnt));
			}
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
				(void)kvmhost_virtq_unpop(q, c);
				n->tx_stats.tx_blocked++;
				*blocked = 1;
				stop = 1;
				break;
			}
			if (w < 0) {
				if (kh_log_enabled(KVMHOST_LOG_DEBUG))
					kh_log(KVMHOST_LOG_DEBUG, "%s: tx fd %d refused a packet: %s", n->name,
					       n->tx_fd, kvmhost_strerror(-errno));
				n->tx_stats.tx_dropped++;
			} else {
				n->tx_stats.tx_packets++;
				n->tx_stats.tx_bytes += frame;
			}
			(void)kvmhost_virtq_push(q, c, 0);
			sent++;
		}
		if (stop) {
			(void)kvmhost_virtq_set_notify(q, 1);
			break;
		}
		if (kvmhost_virtq_set_notify(q, 1) != 1)
			break;
	}
	return sent;
}

static int kh_net_tx(struct kvmhost_virtio_net *n)
{
	int sent, blocked, was;

	pthread_mutex_lock(&n->tx_lock);
	was = n->tx_blocked;
	sent = kh_net_tx_locked(n, &blocked);
	n->tx_blocked = blocked;
	pthread_mutex_unlock(&n->tx_lock);
	if (sent)
		(void)kvmhost_virtio_device_notify_used(n->dev, TXQ);
	if (blocked && !was && n->ready)
		n->ready(n->ready_opaque, KVMHOST_LOOP_OUT);
	return sent;
}

KVMHOST_API int kvmhost_virtio_net_tx(struct kvmhost_virtio_net *net)
{
	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	return kh_net_tx(net);
}

KVMHOST_API int kvmhost_virtio_net_wants(struct kvmhost_virtio_net *net)
{
	int w = 0;

	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	pthread_mutex_lock(&net->rx_lock);
	if (!net->rx_waiting)
		w |= KVMHOST_LOOP_IN;
	pthread_mutex_unlock(&net->rx_lock);
	pthread_mutex_lock(&net->tx_lock);
	if (net->tx_blocked)
		w |= KVMHOST_LOOP_OUT;
	pthread_mutex_unlock(&net->tx_lock);
	return w;
}

/* ---- device ops ---- */

static uint64_t kh_net_get_features(void *opaque)
{
	return ((struct kvmhost_virtio_net *)opaque)->offer;
}

static int kh_net_validate_features(void *opaque, uint64_t f)
{
	(void)opaque;
	/* virtio 1.x 5.1.3.1: offloads need what they build on. */
	if ((f & (BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO4) | BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO6) |
		  BIT(KVMHOST_VIRTIO_NET_F_GUEST_UFO))) &&
	    !(f & BIT(KVMHOST_VIRTIO_NET_F_GUEST_CSUM)))
		return -EINVAL;
	if ((f & BIT(KVMHOST_VIRTIO_NET_F_GUEST_ECN)) &&
	    !(f & (BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO4) | BIT(KVMHOST_VIRTIO_NET_F_GUEST_TSO6))))
		return -EINVAL;
	if ((f & (BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO4) | BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO6) |
		  BIT(KVMHOST_VIRTIO_NET_F_HOST_UFO))) &&
	    !(f & BIT(KVMHOST_VIRTIO_NET_F_CSUM)))
		return -EINVAL;
	if ((f & BIT(KVMHOST_VIRTIO_NET_F_HOST_ECN)) &&
	    !(f & (BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO4) | BIT(KVMHOST_VIRTIO_NET_F_HOST_TSO6))))
		return -EINVAL;
	return 0;
}

static int kh_net_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct kvmhost_virtio_net *n = opaque;
	uint8_t cfg[KVMHOST_VIRTIO_NET_CONFIG_SIZE];
	uint16_t status = atomic_load(&n->status);

	memcpy(cfg, n->mac, 6);
	cfg[6] = (uint8_t)status;
	cfg[7] = (uint8_t)(status >> 8);
	cfg[8] = 1; /* max_virtqueue_pairs */
	cfg[9] = 0;
	cfg[10] = (uint8_t)n->mtu;
	cfg[11] = (uint8_t)(n->mtu >> 8);
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int kh_net_activate(void *opaque, struct kvmhost_virtio_device *dev, uint64_t features)
{
	struct kvmhost_virtio_net *n = opaque;
	struct kvmhost_virtq *q = kvmhost_virtio_device_queue(dev, RXQ);

	atomic_store(&n->features, features);
	pthread_mutex_lock(&n->rx_lock);
	/* DRIVER_OK always follows a reset: a packet still held is from before
	 * it (an rx() that raced the reset), and its chains are stale: pushing
	 * them only releases them (-ESTALE). */
	if (n->pending || n->held_stale || n->nheld)
		kh_net_drop_pending(n, q);
	n->mrg = (features & BIT(KVMHOST_VIRTIO_NET_F_MRG_RXBUF)) != 0;
	pthread_mutex_unlock(&n->rx_lock);
	kh_net_set_offload(n, kvmhost_virtio_net_tun_offloads(features));
	return 0;
}

static void kh_net_reset(void *opaque, struct kvmhost_virtio_device *dev)
{
	struct kvmhost_virtio_net *n = opaque;

	(void)dev;
	atomic_store(&n->features, 0);
	pthread_mutex_lock(&n->rx_lock);
	/* The queues are reset right after this: held chains become stale.
	 * Keep them until activate so that nothing pushes them before. */
	if (n->pending)
		n->held_stale = 1;
	n->pending = 0;
	n->mrg = 0;
	pthread_mutex_unlock(&n->rx_lock);
	pthread_mutex_lock(&n->tx_lock);
	n->tx_blocked = 0;
	pthread_mutex_unlock(&n->tx_lock);
	kh_net_set_offload(n, 0);
}

static void kh_net_queue_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	(void)dev;
	if (queue == TXQ)
		(void)kh_net_tx(opaque);
	else if (queue == RXQ)
		kh_net_rx_kick(opaque);
}

/* Migration: u8 version (1), u8 link up, u16 zero. */
#define KH_NET_STATE_SIZE 4

static size_t kh_net_state_size(void *opaque)
{
	(void)opaque;
	return KH_NET_STATE_SIZE;
}

static int kh_net_save_state(void *opaque, void *buf, size_t len)
{
	struct kvmhost_virtio_net *n = opaque;
	uint8_t *p = buf;

	if (len != KH_NET_STATE_SIZE)
		return -EINVAL;
	p[0] = 1;
	p[1] = (atomic_load(&n->status) & KVMHOST_VIRTIO_NET_S_LINK_UP) ? 1 : 0;
	p[2] = p[3] = 0;
	return 0;
}

static int kh_net_restore_state(void *opaque, const void *buf, size_t len)
{
	struct kvmhost_virtio_net *n = opaque;
	const uint8_t *p = buf;

	if (len != KH_NET_STATE_SIZE || p[0] != 1 || p[1] > 1 || p[2] || p[3])
		return -EINVAL;
	atomic_store(&n->status, p[1] ? KVMHOST_VIRTIO_NET_S_LINK_UP : 0);
	return 0;
}

static const struct kvmhost_virtio_device_ops kh_net_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = kh_net_get_features,
    .validate_features = kh_net_validate_features,
    .config_read = kh_net_config_read,
    .activate = kh_net_activate,
    .reset = kh_net_reset,
    .queue_notify = kh_net_queue_notify,
    .state_size = kh_net_state_size,
    .save_state = kh_net_save_state,
    .restore_state = kh_net_restore_state,
};

/* ---- objects ---- */

KVMHOST_API int kvmhost_virtio_net_tap_open(const char *ifname, char *name_out, size_t name_len)
{
	struct ifreq ifr;
	int fd;

	if (name_out && !name_len)
		return KH_FAIL(EINVAL, "name_out with name_len 0");
	if (ifname && strlen(ifname) >= IFNAMSIZ)
		return KH_FAIL(EINVAL, "interface name '%s' is longer than %d bytes", ifname, IFNAMSIZ - 1);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ifname)
		memcpy(ifr.ifr_name, ifname, strlen(ifname));
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return KH_FAIL_ERRNO("cannot open /dev/net/tun");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = errno ? errno : EIO;

		close(fd);
		return kh_fail(err, __func__, "TUNSETIFF %s", ifname && *ifname ? ifname : "(any)");
	}
	if (name_out)
		snprintf(name_out, name_len, "%s", ifr.ifr_name);
	return fd;
}

static int kh_net_nonblock(int fd, const char *what, const char *func)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return kh_fail(EINVAL, func, "%s %d is not an open fd", what, fd);
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return kh_fail(errno ? errno : EIO, func, "%s %d: cannot set O_NONBLOCK", what, fd);
	return 0;
}

/* Check a TAP fd and set it up; *ufo says whether TUN_F_UFO is accepted. */
static int kh_net_tap_setup(int fd, int *ufo, const char *func)
{
	struct ifreq ifr;
	int sz = HDR;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return kh_fail(EINVAL, func, "rx_fd %d is not a tap (TUNGETIFF: %s)", fd, kvmhost_strerror(-errno));
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_NO_PI) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR))
		return kh_fail(EINVAL, func, "tap %s (fd %d) needs IFF_TAP, IFF_NO_PI and IFF_VNET_HDR (flags 0x%x)",
			       ifr.ifr_name, fd, (unsigned)ifr.ifr_flags & 0xffff);
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return kh_fail(errno ? errno : EIO, func, "tap %s: TUNSETVNETHDRSZ %d", ifr.ifr_name, sz);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	{
		int le = 1;

		if (ioctl(fd, TUNSETVNETLE, &le) < 0)
			return kh_fail(errno ? errno : EIO, func, "tap %s: TUNSETVNETLE", ifr.ifr_name);
	}
#endif
	*ufo = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_UFO)) == 0;
	/* No offloads until the guest accepts some. */
	if (ioctl(fd, TUNSETOFFLOAD, 0ul) < 0)
		return kh_fail(errno ? errno : EIO, func, "tap %s: TUNSETOFFLOAD 0", ifr.ifr_name);
	return 0;
}

static int kh_net_alloc(struct kvmhost_virtio_net *n)
{
	n->bounce = malloc(KH_NET_BOUNCE);
	n->tx_bounce = malloc(KH_NET_BOUNCE);
	n->rx_iov = calloc(IOV_MAX, sizeof(struct iovec));
	n->tx_iov = calloc(IOV_MAX, sizeof(struct iovec));
	return n->bounce && n->tx_bounce && n->rx_iov && n->tx_iov ? 0 : -ENOMEM;
}

static void kh_net_free(struct kvmhost_virtio_net *n)
{
	free(n->bounce);
	free(n->tx_bounce);
	free(n->rx_iov);
	free(n->tx_iov);
	free(n->held);
	free(n->held_len);
	free(n);
}

KVMHOST_API int kvmhost_virtio_net_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_net_options *opts,
					  struct kvmhost_virtio_net **out)
{
	static const uint8_t no_mac[6];
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_virtio_net_options o;
	struct kvmhost_virtio_net *n;
	int err, ufo = 1;

	if (out)
		*out = NULL;
	if (!mem || !opts || !out)
		return KH_FAIL(EINVAL, "mem, opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (o.backend != KVMHOST_VIRTIO_NET_BACKEND_TAP && o.backend != KVMHOST_VIRTIO_NET_BACKEND_FDS)
		return KH_FAIL(EINVAL, "unknown backend %d", (int)o.backend);
	if (o.flags & ~(KVMHOST_VIRTIO_NET_VNET_HDR | KVMHOST_VIRTIO_NET_LINK_DOWN))
		return KH_FAIL(EINVAL, "unknown flags 0x%x", o.flags);
	if (o.mtu && o.mtu < 68)
		return KH_FAIL(EINVAL, "mtu %u is below 68", o.mtu);
	if (o.queue_size > KH_NET_QUEUE_SIZE_MAX)
		return KH_FAIL(EINVAL, "queue_size %u is above %u", o.queue_size, KH_NET_QUEUE_SIZE_MAX);
	if (o.rx_fd < 0)
		return KH_FAIL(EINVAL, "rx_fd %d is invalid", o.rx_fd);
	if (o.backend == KVMHOST_VIRTIO_NET_BACKEND_TAP) {
		o.tx_fd = o.rx_fd;
		o.flags |= KVMHOST_VIRTIO_NET_VNET_HDR;
	} else if (o.tx_fd < 0) {
		return KH_FAIL(EINVAL, "tx_fd %d is invalid", o.tx_fd);
	}
	if ((err = kh_net_nonblock(o.rx_fd, "rx_fd", __func__)) < 0 ||
	    (err = kh_net_nonblock(o.tx_fd, "tx_fd", __func__)) < 0)
		return err;
	if (o.backend == KVMHOST_VIRTIO_NET_BACKEND_TAP && (err = kh_net_tap_setup(o.rx_fd, &ufo, __func__)) < 0)
		return err;

	n = calloc(1, sizeof(*n));
	if (!n)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-net device");
	if (kh_net_alloc(n) < 0) {
		kh_net_free(n);
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-net device");
	}
	snprintf(n->name, sizeof(n->name), "%s", o.name ? o.name : "virtio-net");
	n->backend = o.backend;
	n->rx_fd = o.rx_fd;
	n->tx_fd = o.tx_fd;
	{
		struct stat sb;

		n->tx_sock = fstat(o.tx_fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
	}
	n->vnet = (o.flags & KVMHOST_VIRTIO_NET_VNET_HDR) != 0;
	memcpy(n->mac, o.mac, 6);
	n->mtu = o.mtu;
	n->ready = o.ready;
	n->ready_opaque = o.ready_opaque;
	atomic_store(&n->status, (o.flags & KVMHOST_VIRTIO_NET_LINK_DOWN) ? 0 : KVMHOST_VIRTIO_NET_S_LINK_UP);
	n->offer = BIT(KVMHOST_VIRTIO_NET_F_STATUS) | BIT(KVMHOST_VIRTIO_NET_F_MRG_RXBUF) | KH_NET_RING_FEATURES;
	if (memcmp(o.mac, no_mac, 6) != 0)
		n->offer |= BIT(KVMHOST_VIRTIO_NET_F_MAC);
	if (o.mtu)
		n->offer |= BIT(KVMHOST_VIRTIO_NET_F_MTU);
	if (n->vnet) {
		n->offer |= KH_NET_GUEST_OFFLOADS | KH_NET_HOST_OFFLOADS;
		if (!ufo)
			n->offer &= ~BIT(KVMHOST_VIRTIO_NET_F_GUEST_UFO);
	}
	n->offer &= ~o.disable_features;
	n->rx_stats.size = n->tx_stats.size = sizeof(n->rx_stats);
	pthread_mutex_init(&n->rx_lock, NULL);
	pthread_mutex_init(&n->tx_lock, NULL);
	dopts.device_id = KVMHOST_VIRTIO_ID_NET;
	dopts.num_queues = 2;
	dopts.queue_max_size = o.queue_size ? o.queue_size : KH_NET_QUEUE_SIZE;
	dopts.config_size = KVMHOST_VIRTIO_NET_CONFIG_SIZE;
	dopts.ops = &kh_net_ops;
	dopts.opaque = n;
	dopts.name = n->name;
	err = kvmhost_virtio_device_create(mem, &dopts, &n->dev);
	if (err < 0) {
		pthread_mutex_destroy(&n->rx_lock);
		pthread_mutex_destroy(&n->tx_lock);
		kh_net_free(n);
		return err;
	}
	*out = n;
	return 0;
}

KVMHOST_API void kvmhost_virtio_net_destroy(struct kvmhost_virtio_net *net)
{
	if (!net)
		return;
	kvmhost_virtio_device_destroy(net->dev); /* frees held chains with its queues */
	pthread_mutex_destroy(&net->rx_lock);
	pthread_mutex_destroy(&net->tx_lock);
	kh_net_free(net);
}

KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_net_device(struct kvmhost_virtio_net *net)
{
	return net ? net->dev : NULL;
}

KVMHOST_API int kvmhost_virtio_net_rx_fd(struct kvmhost_virtio_net *net)
{
	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	return net->rx_fd;
}

KVMHOST_API int kvmhost_virtio_net_tx_fd(struct kvmhost_virtio_net *net)
{
	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	return net->tx_fd;
}

KVMHOST_API int kvmhost_virtio_net_set_link(struct kvmhost_virtio_net *net, int up)
{
	if (!net)
		return KH_FAIL(EINVAL, "net is NULL");
	if (up != 0 && up != 1)
		return KH_FAIL(EINVAL, "%s: up is %d, not 0 or 1", net->name, up);
	atomic_store(&net->status, up ? KVMHOST_VIRTIO_NET_S_LINK_UP : 0);
	return kvmhost_virtio_device_config_changed(net->dev);
}

KVMHOST_API int kvmhost_virtio_net_get_stats(struct kvmhost_virtio_net *net, struct kvmhost_virtio_net_stats *stats)
{
	struct kvmhost_virtio_net_stats s;
	size_t size;

	if (!net || !stats)
		return KH_FAIL(EINVAL, "net or stats is NULL");
	size = stats->size;
	if (size < sizeof(size_t) || size > 65536)
		return KH_FAIL(EINVAL, "%s: stats size %zu is invalid", net->name, size);
	pthread_mutex_lock(&net->rx_lock);
	s = net->rx_stats;
	pthread_mutex_unlock(&net->rx_lock);
	pthread_mutex_lock(&net->tx_lock);
	s.tx_packets = net->tx_stats.tx_packets;
	s.tx_bytes = net->tx_stats.tx_bytes;
	s.tx_dropped = net->tx_stats.tx_dropped;
	s.tx_blocked = net->tx_stats.tx_blocked;
	pthread_mutex_unlock(&net->tx_lock);
	s.size = sizeof(s);
	memcpy(stats, &s, KH_MIN(size, sizeof(s)));
	if (size > sizeof(s))
		memset((char *)stats + sizeof(s), 0, size - sizeof(s));
	stats->size = size;
	return 0;
}

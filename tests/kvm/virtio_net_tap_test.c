/*
 * virtio-net on a real TAP device (no /dev/kvm needed; it lives in this tier
 * because it needs /dev/net/tun and CAP_NET_ADMIN, and skips without them):
 * kvmhost_virtio_net_tap_open(), the TAP backend's setup, TUNSETOFFLOAD
 * following the negotiated guest offloads (seen as the interface's TSO
 * feature, on at DRIVER_OK and off again after a reset), a frame the guest
 * transmits showing up on the interface (read with an AF_PACKET socket), and
 * a frame sent on the interface arriving in the guest's receive buffer with
 * its vnet header (num_buffers 1).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/virtio/net.h>

#include "kvm/kvm_test_util.h"
#include "unit/virtio_dev_fixture.h"

#define ETHERTYPE_TEST 0x88b5 /* IEEE local experimental */
#define HDR	       KVMHOST_VIRTIO_NET_HDR_SIZE
#define NB(b)	       KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_NET_F_##b)

static int tso_on(int sock, const char *ifname)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_GTSO};
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0)
		return -1;
	return ev.data != 0;
}

/* A test frame: broadcast, source @src, our ethertype, a payload. */
static size_t make_frame(uint8_t *f, const uint8_t src[6], uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	for (int i = 0; i < 86; i++)
		f[14 + i] = (uint8_t)(seed + i);
	return 100;
}

int main(void)
{
	static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01};
	static const uint8_t host_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02};
	struct kvmhost_virtio_net_options o = {.size = sizeof(o)};
	struct kvmhost_virtio_net_stats st = {.size = sizeof(st)};
	struct kvmhost_virtio_net *net = NULL;
	struct sockaddr_ll sll;
	struct ifreq ifr;
	struct vdf *f;
	char ifname[IFNAMSIZ];
	uint8_t frame[128], got[2048];
	int tap, sock, pkt, ifindex, found;
	uint64_t addr_of[64];
	uint32_t id, len;

	tap = kvmhost_virtio_net_tap_open(NULL, ifname, sizeof(ifname));
	if (tap == -ENOENT || tap == -ENODEV || tap == -ENXIO)
		SKIP("no /dev/net/tun (%s)", kvmhost_last_error());
	if (tap == -EPERM || tap == -EACCES)
		SKIP("no permission to create a tap (%s)", kvmhost_last_error());
	CHECK(tap >= 0);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(sock >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	CHECK(ioctl(sock, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		SKIP("cannot bring %s up: %s", ifname, strerror(errno));
	ifindex = (int)if_nametoindex(ifname);
	CHECK(ifindex > 0);
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE_TEST));
	if (pkt < 0)
		SKIP("no AF_PACKET socket: %s", strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_TEST);
	sll.sll_ifindex = ifindex;
	CHECK(bind(pkt, (struct sockaddr *)&sll, sizeof(sll)) == 0);

	f = calloc(1, sizeof(*f));
	CHECK(f && vd_mem_init(&f->m) == 0);
	o.backend = KVMHOST_VIRTIO_NET_BACKEND_TAP;
	o.rx_fd = tap;
	memcpy(o.mac, guest_mac, 6);
	CHECK_OK(kvmhost_virtio_net_create(f->m.mem, &o, &net));
	CHECK_OK(vdf_attach(f, kvmhost_virtio_net_device(net)));
	CHECK(kvmhost_virtio_net_rx_fd(net) == tap && kvmhost_virtio_net_tx_fd(net) == tap);
	CHECK(kvmhost_virtio_device_offered_features(f->dev) & NB(GUEST_TSO4));
	CHECK(tso_on(sock, ifname) == 0);

	/* DRIVER_OK with guest offloads: the kernel may now send TSO packets. */
	CHECK_OK(vdf_start(f,
			   NB(GUEST_CSUM) | NB(GUEST_TSO4) | NB(GUEST_TSO6) | NB(CSUM) | NB(HOST_TSO4) | NB(MRG_RXBUF) |
			       NB(MAC) | NB(STATUS),
			   2, 0, 64));
	CHECK(tso_on(sock, ifname) == 1);

	/* Guest -> host. */
	memset(vd_host(&f->m, VDF_BUF), 0, HDR);
	make_frame(frame, guest_mac, 1);
	memcpy(vd_host(&f->m, VDF_BUF + HDR), frame, 100);
	vdf_post1(f, KVMHOST_VIRTIO_NET_TXQ, VDF_BUF, HDR + 100, 0);
	CHECK_OK(vdf_kick(f, KVMHOST_VIRTIO_NET_TXQ));
	CHECK(vdf_used(f, KVMHOST_VIRTIO_NET_TXQ, &id, &len) == 1);
	CHECK_OK(kvmhost_virtio_net_get_stats(net, &st));
	CHECK(st.tx_packets == 1 && st.tx_dropped == 0);
	found = 0;
	for (int i = 0; i < 20 && !found; i++) {
		struct pollfd p = {.fd = pkt, .events = POLLIN};
		socklen_t sl = sizeof(sll);
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(pkt, got, sizeof(got), 0, (struct sockaddr *)&sll, &sl);
		if (n == 100 && sll.sll_pkttype != PACKET_OUTGOING && memcmp(got, frame, 100) == 0)
			found = 1;
	}
	CHECK(found);

	/* Host -> guest: a frame sent out of the interface reaches the tap fd. */
	for (int i = 0; i < 8; i++) {
		uint64_t a = 0x20000 + 0x1000ull * i;

		addr_of[vdf_post1(f, KVMHOST_VIRTIO_NET_RXQ, a, 2048, 1)] = a;
	}
	make_frame(frame, host_mac, 7);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memset(sll.sll_addr, 0xff, 6);
	CHECK(sendto(pkt, frame, 100, 0, (struct sockaddr *)&sll, sizeof(sll)) == 100);
	found = 0;
	for (int i = 0; i < 20 && !found; i++) {
		struct pollfd p = {.fd = tap, .events = POLLIN};

		if (poll(&p, 1, 100) <= 0)
			continue;
		CHECK(kvmhost_virtio_net_rx(net) >= 0);
		/* Other traffic (IPv6 autoconfiguration...) may come first. */
		while (vdf_used(f, KVMHOST_VIRTIO_NET_RXQ, &id, &len) == 1) {
			uint64_t a = addr_of[id];
			uint8_t *b = vd_host(&f->m, a);

			if (len == HDR + 100 && memcmp(b + HDR, frame, 100) == 0) {
				CHECK((b[10] | b[11] << 8) == 1); /* num_buffers */
				found = 1;
			}
			addr_of[vdf_post1(f, KVMHOST_VIRTIO_NET_RXQ, a, 2048, 1)] = a;
		}
	}
	CHECK(found);

	/* A reset turns the offloads off again. */
	kvmhost_virtio_device_reset(f->dev);
	CHECK(tso_on(sock, ifname) == 0);

	kvmhost_virtio_net_destroy(net);
	vd_mem_fini(&f->m);
	free(f);
	close(pkt);
	close(sock);
	close(tap);
	printf("virtio-net on tap %s: offloads, tx and rx OK\n", ifname);
	return TEST_PASS;
}

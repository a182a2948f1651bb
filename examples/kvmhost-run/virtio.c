/*
 * kvmhost-run's virtio devices: --disk (virtio-blk), --net (virtio-net on a TAP), --console (virtio-console),
 * --rng (virtio-rng), all on the transport --transport names.
 *
 * virtio-mmio (the default): device n sits at VIRTIO_MMIO_BASE + n * 4 KiB with GSI 16 + n, and the ACPI DSDT
 * describes it as an "LNRO0005" device (what Linux's virtio_mmio driver binds on ACPI machines, as QEMU's microvm
 * and Firecracker do). Not on the kernel command line: this machine is hardware-reduced ACPI, where Linux maps no
 * legacy IRQ by itself, so a virtio_mmio.device=...:IRQ line would name an interrupt Linux never set up (COM1
 * showed the same: without its DSDT entry it got no interrupt). Kicks arrive through ioeventfds, interrupts leave
 * through an irqfd on the device's GSI (edge-triggered, as the DSDT says).
 * virtio-pci: each device is a function on bus 0 of a PCI host bridge (type-1 configuration ports, BARs in the
 * 32-bit MMIO hole) that the DSDT describes; interrupts are MSI-X vectors, each an irqfd with a KVM MSI route.
 *
 * Work never runs on a vCPU thread: the main thread's event loop serves every queue's ioeventfd, the TAP fd and
 * the console's input; block I/O runs on the device's own io_uring threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <kvmhost/kvmhost.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/pci.h>
#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/console.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/net.h>
#include <kvmhost/virtio/pci.h>
#include <kvmhost/virtio/rng.h>
#include <kvmhost/virtio/wiring.h>
#include "kvmhost-run.h"

#define VIRTIO_MMIO_BASE     0xd0000000ull /* in the 32-bit MMIO hole, below the PCI window (0xe0000000) */
#define VIRTIO_MMIO_STRIDE   0x1000u
#define VIRTIO_MMIO_GSI_BASE 16u /* GSIs 16-23: the IOAPIC pins no ISA device uses */

static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct vdev {
	struct vmm *vmm;
	char what[48]; /* for messages, e.g. "--disk /tmp/a.img" */
	char err[96];  /* why a step outside the library failed; empty: kvmhost_last_error() says */
	struct kvmhost_virtio_device *dev;
	struct kvmhost_virtio_blk *blk;
	struct kvmhost_virtio_net *net;
	struct kvmhost_virtio_console *con;
	struct kvmhost_virtio_rng *rng;
	struct kvmhost_virtio_mmio *mmio;
	struct kvmhost_virtio_pci *pci;
	struct kvmhost_virtio_wiring *wiring;
	struct kvmhost_irq_line *intx; /* pci: this function's INTA */
	int fd;			       /* owned: the TAP fd (net), the listening socket (console socket:) */
	int wake_fd;		       /* eventfd the device's ready callback signals (net, console); -1: none */
	int watched_fd;		       /* the fd in the loop now (net: fd; console: its input fd); -1: none */
	uint32_t watched;	       /* the events it is watched for */
	bool input_done;	       /* no more input: the console's reached end of file, the TAP failed */
	const char *unlink;	       /* console socket: the path to remove at the end */
};

/* ---- flags ---- */

static int count_devices(const struct virtio_config *c)
{
	return (int)c->ndisks + (c->tap != NULL) + (c->console != NULL) + c->rng;
}

static int room_for_one(struct vmm *v, const char *flag)
{
	if (count_devices(&v->virtio) >= MAX_VIRTIO)
		return usage_error("%s: at most %d virtio devices", flag, MAX_VIRTIO);
	return 0;
}

int virtio_parse_transport(struct vmm *v, const char *arg)
{
	if (!strcmp(arg, "mmio"))
		v->virtio.transport = TRANSPORT_MMIO;
	else if (!strcmp(arg, "mmio-cmdline"))
		v->virtio.transport = TRANSPORT_MMIO_CMDLINE;
	else if (!strcmp(arg, "pci"))
		v->virtio.transport = TRANSPORT_PCI;
	else
		return usage_error("--transport %s: want mmio, mmio-cmdline or pci", arg);
	return 0;
}

int virtio_parse_disk(struct vmm *v, const char *arg)
{
	struct virtio_config *c = &v->virtio;
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	struct stat st;
	char *path;
	int r;

	if ((r = room_for_one(v, "--disk")))
		return r;
	if (len == 0 || (comma && strcmp(comma, ",ro")))
		return usage_error("--disk %s: want PATH or PATH,ro (a path without commas)", arg);
	if (!(path = strndup(arg, len)))
		return usage_error("--disk: out of memory");
	c->disk[c->ndisks].readonly = comma != NULL;
	if (access(path, c->disk[c->ndisks].readonly ? R_OK : R_OK | W_OK) < 0 || stat(path, &st) < 0) {
		r = usage_error("--disk %s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = usage_error("--disk %s: not a regular file or a block device", path);
		free(path);
		return r;
	}
	c->disk[c->ndisks++].path = path; /* lives as long as the process */
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6 ||
	    (b[0] & 1)) /* a multicast address is no station address */
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int virtio_parse_net(struct vmm *v, const char *arg)
{
	struct virtio_config *c = &v->virtio;
	const char *comma = strchr(arg, ',');
	size_t len;
	int r;

	if (c->tap)
		return usage_error("--net %s: one --net only", arg);
	if ((r = room_for_one(v, "--net")))
		return r;
	if (strncmp(arg, "tap=", 4) || (len = comma ? (size_t)(comma - arg - 4) : strlen(arg + 4)) == 0 ||
	    len > 15) /* IFNAMSIZ - 1 */
		return usage_error("--net %s: want tap=NAME[,mac=XX:XX:XX:XX:XX:XX], NAME up to 15 characters", arg);
	if (comma && (strncmp(comma, ",mac=", 5) || parse_mac(comma + 5, c->mac) < 0))
		return usage_error("--net %s: want mac=XX:XX:XX:XX:XX:XX (a unicast address) after the tap name", arg);
	if (!comma)
		memcpy(c->mac, default_mac, 6);
	if (!(c->tap = strndup(arg + 4, len)))
		return usage_error("--net: out of memory");
	return 0;
}

/* The file or socket is made later, when the device is; a directory it cannot be made in is a usage error now. */
static int check_parent_dir(const char *flag, const char *arg, const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	if (access(dir, W_OK | X_OK) < 0)
		return usage_error("%s=%s: %s: %s", flag, arg, dir, strerror(errno));
	return 0;
}

int virtio_parse_console(struct vmm *v, const char *arg)
{
	int r;

	if (v->virtio.console)
		return usage_error("--console: one --console only");
	if ((r = room_for_one(v, "--console")))
		return r;
	arg = arg ? arg : "stdio";
	if (strcmp(arg, "stdio") && (strncmp(arg, "file:", 5) || !arg[5]) && (strncmp(arg, "socket:", 7) || !arg[7]))
		return usage_error("--console=%s: want stdio, file:PATH or socket:PATH", arg);
	if (!strncmp(arg, "socket:", 7) && strlen(arg + 7) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return usage_error("--console=%s: the socket path is too long", arg);
	if (strcmp(arg, "stdio") && (r = check_parent_dir("--console", arg, strchr(arg, ':') + 1)))
		return r;
	v->virtio.console = arg;
	return 0;
}

int virtio_parse_rng(struct vmm *v, const char *arg)
{
	int r;

	(void)arg;
	if (v->virtio.rng)
		return 0;
	if ((r = room_for_one(v, "--rng")))
		return r;
	v->virtio.rng = true;
	return 0;
}

int virtio_check_args(struct vmm *v)
{
	if (!v->virtio.console || strcmp(v->virtio.console, "stdio"))
		return 0;
	if (v->serial_given && !strcmp(v->serial, "stdio"))
		return usage_error("--console takes stdio: give --serial file:PATH or none");
	if (!v->serial_given)
		v->serial = "none";
	return 0;
}

/* ---- host side: the main loop's handlers ---- */

static void watch(struct vdev *d, int fd, uint32_t events, kvmhost_loop_fn fn)
{
	if (fd == d->watched_fd && events == d->watched)
		return;
	if (d->watched_fd >= 0)
		kvmhost_loop_remove(d->vmm->loop, d->watched_fd);
	d->watched_fd = -1;
	d->watched = 0;
	if (fd >= 0 && events && kvmhost_loop_add(d->vmm->loop, fd, events, fn, d) == 0) {
		d->watched_fd = fd;
		d->watched = events;
	}
}

/* The TAP fd: watched for what the device wants (input while the guest has receive buffers, output while a
 * transmit waits for room). The device's ready callback signals wake_fd when that changes. */
static void on_net(int fd, uint32_t events, void *opaque);

static void net_rewatch(struct vdev *d)
{
	int w = kvmhost_virtio_net_wants(d->net);

	uint32_t mask = d->input_done ? KVMHOST_LOOP_OUT : KVMHOST_LOOP_IN | KVMHOST_LOOP_OUT;

	watch(d, d->fd, w < 0 ? 0 : (uint32_t)w & mask, on_net);
}

static void on_net(int fd, uint32_t events, void *opaque)
{
	struct vdev *d = opaque;
	int r;

	(void)fd;
	if ((events & ~KVMHOST_LOOP_OUT) && (r = kvmhost_virtio_net_rx(d->net)) < 0 && r != -EAGAIN && r != -EINTR) {
		say(0, "%s: receive: %s; no more input from the tap", d->what, strerror(-r));
		kvmhost_virtio_net_set_link(d->net, 0);
		d->input_done = true;
	}
	if (events & KVMHOST_LOOP_OUT)
		kvmhost_virtio_net_tx(d->net);
	net_rewatch(d);
}

/* The console's input fd (stdin, or the socket's client or listening fd): watched while the guest has posted
 * receive buffers; the rx_ready callback signals wake_fd when it posts some again. */
static void on_console_input(int fd, uint32_t events, void *opaque);

static void console_rewatch(struct vdev *d, bool want)
{
	watch(d, want && !d->input_done ? kvmhost_virtio_console_input_fd(d->con) : -1, KVMHOST_LOOP_IN,
	      on_console_input);
}

static void on_console_input(int fd, uint32_t events, void *opaque)
{
	struct vdev *d = opaque;
	int r = kvmhost_virtio_console_pump(d->con);

	(void)fd;
	(void)events;
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		d->input_done = true; /* end of file (-EPIPE) or a read error: no more input */
	console_rewatch(d, !(r == 0 && kvmhost_virtio_console_rx_room(d->con) == 0));
}

static void on_wake(int fd, uint32_t events, void *opaque)
{
	struct vdev *d = opaque;
	uint64_t n;

	(void)events;
	kvmhost_eventfd_consume(fd, &n);
	if (d->net)
		net_rewatch(d);
	else
		console_rewatch(d, true);
}

/* The devices' ready callbacks run in whichever thread noticed (a vCPU's register access, the loop's notify):
 * hand the news to the main loop, which alone changes what it watches. */
static void net_ready(void *opaque, uint32_t events)
{
	(void)events;
	kvmhost_eventfd_signal(((struct vdev *)opaque)->wake_fd, 1);
}

static void console_ready(void *opaque)
{
	kvmhost_eventfd_signal(((struct vdev *)opaque)->wake_fd, 1);
}

/* ---- devices ---- */

static struct vdev *new_vdev(struct vmm *v, const char *fmt, const char *arg)
{
	struct vdev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->vmm = v;
	d->fd = d->wake_fd = d->watched_fd = -1;
	snprintf(d->what, sizeof(d->what), fmt, arg);
	v->virtio.dev[v->virtio.ndev++] = d;
	return d;
}

static int make_disk(struct vmm *v, uint32_t i)
{
	struct kvmhost_virtio_blk_options o = {
	    .size = sizeof(o),
	    .path = v->virtio.disk[i].path,
	    .flags = v->virtio.disk[i].readonly ? KVMHOST_VIRTIO_BLK_READONLY : 0,
	    .num_queues =
		(uint16_t)(v->ncpus < KVMHOST_VIRTIO_BLK_MAX_QUEUES ? v->ncpus : KVMHOST_VIRTIO_BLK_MAX_QUEUES),
	};
	struct vdev *d = new_vdev(v, "--disk %s", o.path);

	if (!d)
		return -ENOMEM;
	o.name = d->what;
	if (kvmhost_virtio_blk_create(kvmhost_vm_memory(v->vm), &o, &d->blk) < 0)
		return -1;
	d->dev = kvmhost_virtio_blk_device(d->blk);
	return 0;
}

static int make_net(struct vmm *v)
{
	struct kvmhost_virtio_net_options o = {
	    .size = sizeof(o), .backend = KVMHOST_VIRTIO_NET_BACKEND_TAP, .ready = net_ready};
	struct vdev *d = new_vdev(v, "--net tap=%s", v->virtio.tap);

	if (!d)
		return -ENOMEM;
	if ((d->fd = kvmhost_virtio_net_tap_open(v->virtio.tap, NULL, 0)) < 0 ||
	    kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &d->wake_fd) < 0)
		return -1;
	memcpy(o.mac, v->virtio.mac, 6);
	o.rx_fd = d->fd;
	o.ready_opaque = d;
	o.name = d->what;
	if (kvmhost_virtio_net_create(kvmhost_vm_memory(v->vm), &o, &d->net) < 0)
		return -1;
	d->dev = kvmhost_virtio_net_device(d->net);
	return 0;
}

static int listen_unix(struct vdev *d, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path); /* a socket left by an earlier run */
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		snprintf(d->err, sizeof(d->err), "socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	d->unlink = path;
	return d->fd = fd;
}

static int make_console(struct vmm *v)
{
	const char *c = v->virtio.console;
	struct kvmhost_virtio_console_options o = {
	    .size = sizeof(o), .in_fd = -1, .out_fd = -1, .sock_fd = -1, .rx_ready = console_ready};
	struct vdev *d = new_vdev(v, "--console=%s", c);

	if (!d)
		return -ENOMEM;
	if (!strcmp(c, "stdio")) {
		o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_STDIO;
		o.in_fd = STDIN_FILENO;
		o.out_fd = STDOUT_FILENO;
	} else if (!strncmp(c, "file:", 5)) {
		o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_FILE;
		o.path = c + 5;
	} else {
		o.backend = KVMHOST_VIRTIO_CONSOLE_BACKEND_SOCKET;
		if ((o.sock_fd = listen_unix(d, c + 7)) < 0)
			return -1;
	}
	if (kvmhost_eventfd_create(KVMHOST_EVENTFD_NONBLOCK, &d->wake_fd) < 0)
		return -1;
	o.rx_ready_opaque = d;
	o.name = d->what;
	if (kvmhost_virtio_console_create(kvmhost_vm_memory(v->vm), &o, &d->con) < 0)
		return -1;
	d->dev = kvmhost_virtio_console_device(d->con);
	return 0;
}

static int make_rng(struct vmm *v)
{
	struct kvmhost_virtio_rng_options o = {.size = sizeof(o), .name = "--rng"};
	struct vdev *d = new_vdev(v, "%s", "--rng");

	if (!d)
		return -ENOMEM;
	if (kvmhost_virtio_rng_create(kvmhost_vm_memory(v->vm), &o, &d->rng) < 0)
		return -1;
	d->dev = kvmhost_virtio_rng_device(d->rng);
	return 0;
}

/* ---- transports ---- */

/* mmio-cmdline: ISA IRQs no legacy device of this machine uses (COM1 has 4, the PIT 0, the RTC 8, the i8042 1/12). */
static const uint8_t isa_irqs[MAX_VIRTIO] = {5, 6, 7, 9, 10, 11, 14, 15};

static int attach_mmio(struct vmm *v, struct vdev *d, uint32_t n)
{
	struct virtio_config *c = &v->virtio;
	struct kvmhost_virtio_mmio_options mo = {.size = sizeof(mo), .name = d->what};
	struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo),
						 .loop = v->loop,
						 .flags = KVMHOST_VIRTIO_WIRE_IRQFD,
						 .gsi = c->transport == TRANSPORT_MMIO ? VIRTIO_MMIO_GSI_BASE + n
										       : isa_irqs[n]};
	uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)n * VIRTIO_MMIO_STRIDE, window;
	size_t used = strlen(c->cmdline);

	if (kvmhost_virtio_mmio_create(d->dev, &mo, &d->mmio) < 0 ||
	    kvmhost_virtio_mmio_attach(d->mmio, v->mmio, base) < 0 ||
	    kvmhost_virtio_mmio_get_window(d->mmio, NULL, &window) < 0 ||
	    kvmhost_virtio_mmio_wire(v->vm, d->mmio, &wo, &d->wiring) < 0)
		return -1;
	if (c->transport == TRANSPORT_MMIO) {
		v->acpi_dev[v->acpi_count++] = (struct kvmhost_x86_acpi_device){
		    .hid = "LNRO0005", .uid = n, .mmio_base = base, .mmio_length = window, .irq = wo.gsi};
		return 0;
	}
	if (used + 2 > sizeof(c->cmdline)) { /* room for the space and the NUL at least */
		snprintf(d->err, sizeof(d->err), "no room left for virtio_mmio.device= words");
		return -1;
	}
	c->cmdline[used] = ' ';
	return kvmhost_virtio_mmio_cmdline(d->mmio, wo.gsi, c->cmdline + used + 1, sizeof(c->cmdline) - used - 1) < 0
		   ? -1
		   : 0;
}

/* INTx (for guests without MSI-X, e.g. Linux with pci=nomsi): the DSDT's _PRT gives pin INTA of slot s the GSI
 * PCI_INTX_GSI_BASE + s % 4, level-triggered. Functions in slots s and s + 4 share one, so the VMM ORs them. */
#define PCI_INTX_GSI_BASE 16u

static int intx_set(void *opaque, int level)
{
	struct intx_pin *p = opaque;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	p->asserted += level ? 1 : -1; /* a line passes on changes only: each call flips one function's level */
	if (p->asserted == !!level)    /* the first function up, or the last one down */
		r = kvmhost_vm_set_irq_line(p->vm, p->gsi, level);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int setup_pci_host(struct vmm *v)
{
	struct virtio_config *c = &v->virtio;
	struct kvmhost_pci_host_options ho = {.size = sizeof(ho), .mmio = v->mmio, .name = "pci"};
	struct kvmhost_msi_router_options ro = {.size = sizeof(ro), .flags = KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS};

	/* The windows are the defaults of both the host bridge and its DSDT description. */
	c->acpi_pci = (struct kvmhost_x86_acpi_pci_host){.size = sizeof(c->acpi_pci)};
	for (uint32_t k = 0; k < 4; k++) {
		c->acpi_pci.intx_gsi[k] = PCI_INTX_GSI_BASE + k;
		c->intx[k] = (struct intx_pin){.vm = v->vm, .gsi = PCI_INTX_GSI_BASE + k};
		pthread_mutex_init(&c->intx[k].lock, NULL);
	}
	if (kvmhost_pci_host_create(&ho, &c->pci_host) < 0 || kvmhost_pci_host_attach_pio(c->pci_host, v->pio) < 0 ||
	    kvmhost_msi_router_create(v->vm, &ro, &c->router) < 0)
		return -1;
	return 0;
}

/* Device n goes to slot n + 1 (00:00.0 is the host bridge). */
static int attach_pci(struct vmm *v, struct vdev *d, uint32_t n)
{
	uint32_t slot = n + 1;
	struct intx_pin *pin = &v->virtio.intx[slot % 4];
	struct kvmhost_irq_line_options lo = {
	    .size = sizeof(lo), .set_level = intx_set, .opaque = pin, .name = d->what};
	struct kvmhost_virtio_pci_options po = {
	    .size = sizeof(po), .interrupt_line = (uint8_t)pin->gsi, .name = d->what};
	struct kvmhost_virtio_wire_options wo = {.size = sizeof(wo), .loop = v->loop, .router = v->virtio.router};

	if (kvmhost_irq_line_create(&lo, &d->intx) < 0)
		return -1;
	po.intx = d->intx;
	if (kvmhost_virtio_pci_create(d->dev, &po, &d->pci) < 0 ||
	    kvmhost_pci_host_add_device(v->virtio.pci_host, kvmhost_virtio_pci_device(d->pci), (int)slot) < 0 ||
	    kvmhost_virtio_pci_wire(v->vm, d->pci, &wo, &d->wiring) < 0)
		return -1;
	return 0;
}

int virtio_add(struct vmm *v)
{
	struct virtio_config *c = &v->virtio;
	const char *what = "virtio";
	struct vdev *bad = NULL;
	int r = 0;

	if (!count_devices(c))
		return 0;
	for (uint32_t i = 0; i < c->ndisks && !r; i++)
		r = make_disk(v, i);
	if (!r && c->tap)
		r = make_net(v);
	if (!r && c->console)
		r = make_console(v);
	if (!r && c->rng)
		r = make_rng(v);
	if (r && c->ndev) /* the device made last failed */
		bad = c->dev[c->ndev - 1];
	else if (!r && c->transport == TRANSPORT_PCI && (r = setup_pci_host(v)))
		what = "PCI host bridge";
	for (uint32_t i = 0; i < c->ndev && !r; i++)
		if ((r = c->transport == TRANSPORT_PCI ? attach_pci(v, c->dev[i], i) : attach_mmio(v, c->dev[i], i)))
			bad = c->dev[i];
	if (r)
		return say(EXIT_HOST, "%s: %s", bad ? bad->what : what,
			   r == -ENOMEM		? "out of memory"
			   : bad && bad->err[0] ? bad->err
						: kvmhost_last_error());
	/* The host side starts: the TAP as the device wants it, the console's input, the ready eventfds. */
	for (uint32_t i = 0; i < c->ndev; i++) {
		struct vdev *d = c->dev[i];

		if (d->wake_fd >= 0 && kvmhost_loop_add(v->loop, d->wake_fd, KVMHOST_LOOP_IN, on_wake, d) < 0)
			return say(EXIT_HOST, "%s: event loop: %s", d->what, kvmhost_last_error());
		if (d->net)
			net_rewatch(d);
		if (d->con)
			console_rewatch(d, true);
	}
	return 0;
}

void virtio_quiesce(struct vmm *v)
{
	for (uint32_t i = 0; i < v->virtio.ndev; i++) {
		struct vdev *d = v->virtio.dev[i];

		if (d->blk)
			kvmhost_virtio_blk_drain(d->blk); /* requests in flight reach the file */
		for (int t = 0; d->con && t < 10 && kvmhost_virtio_console_flush(d->con) > 0; t++)
			usleep(100 * 1000);
	}
}

void virtio_teardown(struct vmm *v)
{
	struct virtio_config *c = &v->virtio;

	for (uint32_t i = 0; i < c->ndev; i++) {
		struct vdev *d = c->dev[i];

		kvmhost_virtio_wiring_destroy(d->wiring);
		if (d->watched_fd >= 0)
			kvmhost_loop_remove(v->loop, d->watched_fd);
		if (d->wake_fd >= 0) {
			kvmhost_loop_remove(v->loop, d->wake_fd);
			close(d->wake_fd);
		}
		if (d->pci)
			kvmhost_pci_host_remove_device(c->pci_host, kvmhost_virtio_pci_device(d->pci));
		kvmhost_virtio_pci_destroy(d->pci);
		kvmhost_irq_line_destroy(d->intx);
		kvmhost_virtio_mmio_destroy(d->mmio);
		kvmhost_virtio_blk_destroy(d->blk);
		kvmhost_virtio_net_destroy(d->net);
		kvmhost_virtio_console_destroy(d->con);
		kvmhost_virtio_rng_destroy(d->rng);
		if (d->fd >= 0)
			close(d->fd);
		if (d->unlink)
			unlink(d->unlink);
		free(d);
	}
	c->ndev = 0;
	kvmhost_pci_host_destroy(c->pci_host);
	kvmhost_msi_router_destroy(c->router);
	if (c->pci_host)
		for (uint32_t k = 0; k < 4; k++)
			pthread_mutex_destroy(&c->intx[k].lock);
}

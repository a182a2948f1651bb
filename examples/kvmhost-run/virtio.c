/*
 * kvmhost-run's virtio flags: --disk (virtio-blk), --net (virtio-net on a TAP), --console (virtio-console),
 * --rng (virtio-rng) and --transport, turned into the machine's device array (kvmhost/machine.h). Only the
 * syntax is checked here; the files are checked by kvmhost_machine_check(), before KVM is opened. The guest sees
 * the disks first, in the order given, then the net, console and rng devices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvmhost-run.h"

static int room_for_one(struct vmm *v, const char *flag)
{
	if (v->ndisks + !!v->net.type + !!v->console.type + !!v->rng.type >= KVMHOST_MACHINE_MAX_DEVICES)
		return usage_error("%s: at most %u virtio devices", flag, KVMHOST_MACHINE_MAX_DEVICES);
	return 0;
}

static struct kvmhost_machine_device device(uint32_t type)
{
	return (struct kvmhost_machine_device){.type = type, .in_fd = -1, .out_fd = -1};
}

int virtio_parse_transport(struct vmm *v, const char *arg)
{
	static const char *const names[] = {"mmio", "pci", "mmio-cmdline"}; /* enum kvmhost_machine_transport */

	for (uint32_t i = 0; i < 3; i++)
		if (!strcmp(arg, names[i]))
			return v->opts.transport = i, 0;
	return usage_error("--transport %s: want mmio, mmio-cmdline or pci", arg);
}

int virtio_parse_disk(struct vmm *v, const char *arg)
{
	const char *comma = strchr(arg, ',');
	struct kvmhost_machine_device *d = &v->dev[v->ndisks];
	int r;

	if ((r = room_for_one(v, "--disk")))
		return r;
	if (comma == arg || !*arg || (comma && strcmp(comma, ",ro")))
		return usage_error("--disk %s: want PATH or PATH,ro (a path without commas)", arg);
	*d = device(KVMHOST_MACHINE_DEVICE_BLK);
	d->flags = comma ? KVMHOST_MACHINE_DEVICE_READONLY : 0;
	if (!(d->path = strndup(arg, comma ? (size_t)(comma - arg) : strlen(arg))) ||
	    asprintf(&v->dev_what[v->ndisks], "--disk %s", d->path) < 0)
		return usage_error("--disk: out of memory");
	v->ndisks++;
	return 0;
}

int virtio_parse_net(struct vmm *v, const char *arg)
{
	const char *comma = strchr(arg, ',');
	unsigned b[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	size_t len;
	char end;
	int r;

	if (v->net.type)
		return usage_error("--net %s: one --net only", arg);
	if ((r = room_for_one(v, "--net")))
		return r;
	if (strncmp(arg, "tap=", 4) || (len = comma ? (size_t)(comma - arg - 4) : strlen(arg + 4)) == 0 ||
	    len > 15) /* IFNAMSIZ - 1 */
		return usage_error("--net %s: want tap=NAME[,mac=XX:XX:XX:XX:XX:XX], NAME up to 15 characters", arg);
	if (comma &&
	    (strncmp(comma, ",mac=", 5) ||
	     sscanf(comma + 5, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6 ||
	     (b[0] & 1))) /* a multicast address is no station address */
		return usage_error("--net %s: want mac=XX:XX:XX:XX:XX:XX (a unicast address) after the tap name", arg);
	v->net = device(KVMHOST_MACHINE_DEVICE_NET);
	for (int i = 0; i < 6; i++)
		v->net.mac[i] = (uint8_t)b[i];
	if (!(v->net.path = strndup(arg + 4, len)))
		return usage_error("--net: out of memory");
	return 0;
}

int virtio_parse_console(struct vmm *v, const char *arg)
{
	int r;

	if (v->console.type)
		return usage_error("--console: one --console only");
	if ((r = room_for_one(v, "--console")))
		return r;
	v->console_arg = arg = arg ? arg : "stdio";
	v->console = device(KVMHOST_MACHINE_DEVICE_CONSOLE);
	if (!strcmp(arg, "stdio")) {
		v->console.in_fd = STDIN_FILENO;
		v->console.out_fd = STDOUT_FILENO;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		v->console.path = arg + 5;
	} else if (!strncmp(arg, "socket:", 7) && arg[7]) {
		v->console.path = arg + 7;
		v->console.flags = KVMHOST_MACHINE_DEVICE_SOCKET;
	} else {
		return usage_error("--console=%s: want stdio, file:PATH or socket:PATH", arg);
	}
	return 0;
}

int virtio_parse_rng(struct vmm *v, const char *arg)
{
	int r;

	(void)arg;
	if (!v->rng.type && (r = room_for_one(v, "--rng")))
		return r;
	v->rng = device(KVMHOST_MACHINE_DEVICE_RNG);
	return 0;
}

int virtio_devices(struct vmm *v)
{
	struct kvmhost_machine_device *more[] = {&v->net, &v->console, &v->rng};
	char *what[3] = {NULL, NULL, "--rng"};

	if ((v->net.type && asprintf(&what[0], "--net tap=%s", v->net.path) < 0) ||
	    (v->console.type && asprintf(&what[1], "--console=%s", v->console_arg) < 0))
		return usage_error("out of memory");
	v->opts.device_count = v->ndisks;
	for (uint32_t i = 0; i < 3; i++)
		if (more[i]->type) {
			v->dev_what[v->opts.device_count] = what[i];
			v->dev[v->opts.device_count++] = *more[i];
		}
	v->opts.devices = v->dev;
	v->opts.device_size = sizeof(v->dev[0]);
	return 0;
}

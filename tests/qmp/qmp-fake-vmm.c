/*
 * qmp-fake-vmm SOCKET: the QMP server on the fake VM (qmp_fake_vm.c), serving SOCKET until a client sends `quit`
 * (or SIGTERM, or 60 s), so that tests/qmp/qmp-shapes.sh can take its shapes as it takes QEMU's. Exit 0 after
 * quit, 1 on a failure (said on stderr).
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "qmp_fake_vm.h"

int main(int argc, char **argv)
{
	struct qmp_fake_vm vm;
	struct qmp_server *server;
	time_t end = time(NULL) + 60;
	int r;

	if (argc != 2) {
		fputs("usage: qmp-fake-vmm SOCKET\n", stderr);
		return 2;
	}
	qmp_fake_vm_init(&vm);
	if ((r = qmp_server_create(&server, argv[1], &qmp_fake_vm_ops, &vm)) < 0) {
		fprintf(stderr, "qmp-fake-vmm: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	vm.server = server;
	while (!vm.quit_requested && time(NULL) < end) {
		struct pollfd p = {.fd = qmp_server_fd(server), .events = POLLIN};

		if (poll(&p, 1, 100) > 0 && (r = qmp_server_dispatch(server)) < 0) {
			fprintf(stderr, "qmp-fake-vmm: dispatch: %s\n", strerror(-r));
			break;
		}
	}
	qmp_server_destroy(server);
	return vm.quit_requested ? 0 : 1;
}

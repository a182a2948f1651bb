/* An outside program built against the installed library (check_install.sh). */
#include <stdio.h>
#include <kvmhost/kvmhost.h>

int main(void)
{
	struct kvmhost_system *sys;

	if (kvmhost_version() != KVMHOST_VERSION_NUMBER) {
		fprintf(stderr, "header %s, library %s\n", KVMHOST_VERSION_STRING, kvmhost_version_string());
		return 1;
	}
	/* An error path works without KVM: a bad device path fails cleanly. */
	struct kvmhost_system_options o = {.size = sizeof(o), .device_path = "/nonexistent/kvm"};
	if (kvmhost_system_open(&o, &sys) >= 0 || kvmhost_last_error()[0] == '\0')
		return 1;
	printf("outside program: libkvmhost %s\n", kvmhost_version_string());
	return 0;
}

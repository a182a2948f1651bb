/* Run-time version of the loaded library. */
#include <kvmhost/version.h>

KVMHOST_API int kvmhost_version(void)
{
	return KVMHOST_VERSION_NUMBER;
}

KVMHOST_API const char *kvmhost_version_string(void)
{
	return KVMHOST_VERSION_STRING;
}

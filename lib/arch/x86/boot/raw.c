/*
 * Raw binary loader: copy an image to a guest address and report it as the
 * entry point. No boot protocol, so nothing else is handed over; the caller
 * picks the CPU mode.
 */
#include <string.h>

#include "boot_internal.h"

static int raw_plan(struct kh_boot *b, const uint8_t *img, size_t size, uint64_t gpa, struct kvmhost_x86_boot_info *res)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	int r;

	if (!size)
		return KH_BOOT_FAIL(b, EINVAL, "image_size is 0");
	if (o->cmdline)
		return KH_BOOT_FAIL(b, EINVAL, "a raw binary cannot receive a command line");
	if (o->initrd || o->module_count)
		return KH_BOOT_FAIL(b, EINVAL, "a raw binary cannot receive an initrd or modules");
	r = kh_boot_claim(b, gpa, size, "the image", EINVAL);
	if (r >= 0)
		r = kh_boot_write(b, gpa, img, size);
	if (r < 0)
		return r;
	memset(res, 0, sizeof(*res));
	res->format = KVMHOST_X86_BOOT_RAW;
	res->kind = KVMHOST_X86_ENTRY_RAW;
	res->entry = gpa;
	res->kernel_start = gpa;
	res->kernel_end = gpa + size;
	res->identity_map_end = gpa + size;
	return 0;
}

KVMHOST_API int kvmhost_x86_boot_load_raw(struct kvmhost_memory *mem, const void *image, size_t image_size,
					  uint64_t gpa, const struct kvmhost_x86_boot_options *opts,
					  struct kvmhost_x86_boot_info *info)
{
	struct kvmhost_x86_boot_info res;
	struct kh_boot b;
	int r;

	r = kh_boot_begin(&b, __func__, mem, image, opts, info);
	if (r < 0)
		return r;
	r = raw_plan(&b, image, image_size, gpa, &res);
	if (r >= 0)
		r = kh_boot_commit(&b);
	if (r >= 0) {
		kh_boot_info_out(&res, info);
		kh_boot_log_success(&b, &res);
	}
	kh_boot_end(&b);
	return r < 0 ? r : 0;
}

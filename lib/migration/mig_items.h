/*
 * The items of an architecture's VM and vCPU state payloads (migration_arch.h, docs/migration.md): each is an
 * 8-byte little-endian header (2-byte tag, 2 reserved bytes that are 0, 4-byte length) and its data. Tags start
 * at 1 and rise strictly within a payload, so an item is never there twice. Shared by
 * lib/arch/<arch>/migration_<arch>.c; the decoder checks every header byte and never reads past the payload.
 */
#ifndef KVMHOST_MIGRATION_MIG_ITEMS_H
#define KVMHOST_MIGRATION_MIG_ITEMS_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

#define KH_MIG_ITEM_HEADER 8u

/* Appends an item's header to @b (errors stay in b->err); its @len data bytes are the caller's to append. */
void kh_mig_item_head(struct kh_buf *b, uint32_t tag, size_t len);
/* Appends a whole item: its header and @len bytes from @data. */
void kh_mig_item_put(struct kh_buf *b, uint32_t tag, const void *data, size_t len);

/* A payload being read: {data, data + len, 0, "what"} (@what names it in the messages). */
struct kh_mig_items {
	const uint8_t *p, *end;
	uint32_t last; /* the last tag read, 0 at the start */
	const char *what;
};

/* The next item: 1 and its tag, data and length; 0 at the end; -EINVAL (KH_FAIL) when the header is cut short,
 * its reserved bytes are not 0, the tag is 0, over @max_tag or not above the last one, or the length runs past
 * the payload. */
int kh_mig_items_next(struct kh_mig_items *it, uint32_t *tag, const uint8_t **data, size_t *len, uint32_t max_tag);

#endif

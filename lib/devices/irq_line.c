/*
 * Interrupt lines (irq_line.h): the one interface through which device
 * models raise interrupts. A line is a callback plus the level it last
 * passed on; changes only are forwarded, under a per-line lock so that two
 * threads' changes reach the target in the order the cached level took them.
 *
 * This file sits at the machine-helper level: the GSI and irqfd constructors
 * may call vm.h/events.h, the devices above the bus never do.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmhost/events.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/vm.h>

#include "../core/internal.h"

struct kvmhost_irq_line {
	pthread_mutex_t lock;
	int level;
	kvmhost_irq_line_set_fn set_level;
	void *opaque;
	/* Targets of the ready-made constructors; opaque points back here. */
	struct kvmhost_vm *vm;
	uint32_t gsi;
	int fd;
	char name[48];
};

static int kh_irq_line_new(kvmhost_irq_line_set_fn fn, void *opaque, const char *name, struct kvmhost_irq_line **out)
{
	struct kvmhost_irq_line *line = calloc(1, sizeof(*line));

	if (!line)
		return KH_FAIL(ENOMEM, "out of memory");
	pthread_mutex_init(&line->lock, NULL);
	line->set_level = fn;
	line->opaque = opaque;
	line->fd = -1;
	snprintf(line->name, sizeof(line->name), "%s", name ? name : "irq-line");
	*out = line;
	return 0;
}

KVMHOST_API int kvmhost_irq_line_create(const struct kvmhost_irq_line_options *opts, struct kvmhost_irq_line **out)
{
	struct kvmhost_irq_line_options o;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	return kh_irq_line_new(o.set_level, o.opaque, o.name, out);
}

static int kh_irq_line_gsi_set(void *opaque, int level)
{
	struct kvmhost_irq_line *line = opaque;

	return kvmhost_vm_set_irq_line(line->vm, line->gsi, level);
}

KVMHOST_API int kvmhost_irq_line_create_gsi(struct kvmhost_vm *vm, uint32_t gsi, struct kvmhost_irq_line **out)
{
	char name[32];
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	snprintf(name, sizeof(name), "gsi%u", gsi);
	r = kh_irq_line_new(kh_irq_line_gsi_set, NULL, name, out);
	if (r < 0)
		return r;
	(*out)->opaque = *out;
	(*out)->vm = vm;
	(*out)->gsi = gsi;
	return 0;
}

/* An irqfd injects an edge per signal: only rising edges are passed on. */
static int kh_irq_line_irqfd_set(void *opaque, int level)
{
	struct kvmhost_irq_line *line = opaque;

	return level ? kvmhost_eventfd_signal(line->fd, 1) : 0;
}

KVMHOST_API int kvmhost_irq_line_create_irqfd(int fd, struct kvmhost_irq_line **out)
{
	char name[32];
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (fd < 0)
		return KH_FAIL(EINVAL, "fd %d is negative", fd);
	snprintf(name, sizeof(name), "irqfd%d", fd);
	r = kh_irq_line_new(kh_irq_line_irqfd_set, NULL, name, out);
	if (r < 0)
		return r;
	(*out)->opaque = *out;
	(*out)->fd = fd;
	return 0;
}

KVMHOST_API void kvmhost_irq_line_destroy(struct kvmhost_irq_line *line)
{
	if (!line)
		return;
	pthread_mutex_destroy(&line->lock);
	free(line);
}

KVMHOST_API int kvmhost_irq_line_set(struct kvmhost_irq_line *line, int level)
{
	int r = 0;

	if (!line)
		return KH_FAIL(EINVAL, "line is NULL");
	if (level != 0 && level != 1)
		return KH_FAIL(EINVAL, "%s: level %d is not 0 or 1", line->name, level);
	pthread_mutex_lock(&line->lock);
	if (line->level != level) {
		if (line->set_level)
			r = line->set_level(line->opaque, level);
		if (r > 0)
			r = 0;
		if (r == 0)
			line->level = level;
	}
	pthread_mutex_unlock(&line->lock);
	/* The library's own targets left a message naming the ioctl/write. */
	if (r < 0 && line->set_level != kh_irq_line_gsi_set && line->set_level != kh_irq_line_irqfd_set)
		return KH_FAIL(-r, "%s: callback refused level %d", line->name, level);
	return r;
}

KVMHOST_API int kvmhost_irq_line_level(struct kvmhost_irq_line *line)
{
	int level;

	if (!line)
		return KH_FAIL(EINVAL, "line is NULL");
	pthread_mutex_lock(&line->lock);
	level = line->level;
	pthread_mutex_unlock(&line->lock);
	return level;
}

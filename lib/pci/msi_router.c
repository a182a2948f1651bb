/*
 * A VM's GSI routing table shared by every MSI user (pci.h): KVM's
 * KVM_SET_GSI_ROUTING replaces the whole table, so one object keeps the
 * base entries (irqchip pins) and every MSI route, hands out GSIs, and
 * pushes the full table whenever a route changes. This file sits at the
 * machine-helper level: it calls vm.h, device models never do.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include <kvmhost/pci.h>
#include <kvmhost/vm.h>

#include "../core/internal.h"

#define KH_ROUTER_FIRST_GSI_DEFAULT 24u

struct kh_msi_route {
	uint32_t gsi;
	int routed;
	uint64_t address;
	uint32_t data;
};

struct kvmhost_msi_router {
	pthread_mutex_t lock;
	struct kvmhost_vm *vm;
	struct kvm_irq_routing_entry *base;
	uint32_t base_count;
	uint32_t first_gsi;
	struct kh_msi_route *routes; /* handed-out GSIs */
	uint32_t count, cap;
	struct kvm_irq_routing_entry *table; /* scratch for pushes */
	uint32_t table_cap;
};

#if defined(__x86_64__) || defined(__i386__)
/* KVM's own default table for a FULL irqchip (arch/x86/kvm/irq_comm.c):
 * GSI 0-15 to the IOAPIC pin of the same number and to the PIC, 16-23 to
 * the IOAPIC only. */
static uint32_t kh_router_x86_defaults(struct kvm_irq_routing_entry *e)
{
	uint32_t n = 0;

	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi;
		n++;
		if (gsi < 16) {
			memset(&e[n], 0, sizeof(e[n]));
			e[n].gsi = gsi;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = gsi % 8;
			n++;
		}
	}
	return n;
}
#define KH_ROUTER_DEFAULTS 40u
#endif

KVMHOST_API int kvmhost_msi_router_create(struct kvmhost_vm *vm, const struct kvmhost_msi_router_options *opts,
					  struct kvmhost_msi_router **out)
{
	struct kvmhost_msi_router_options o;
	struct kvmhost_msi_router *r;
	uint32_t extra = 0;
	int err;

	if (out)
		*out = NULL;
	if (!vm || !out)
		return KH_FAIL(EINVAL, "vm or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (o.flags & ~KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", o.flags);
	if (o.base_count && !o.base)
		return KH_FAIL(EINVAL, "base_count %u without base entries", o.base_count);
	if (o.base_count > 65536)
		return KH_FAIL(EINVAL, "%u base entries is absurd", o.base_count);
	if (o.first_gsi == 0)
		o.first_gsi = KH_ROUTER_FIRST_GSI_DEFAULT;
	for (uint32_t i = 0; i < o.base_count; i++)
		if (o.base[i].gsi >= o.first_gsi)
			return KH_FAIL(EINVAL, "base entry %u routes GSI %u, not below first_gsi %u", i, o.base[i].gsi,
				       o.first_gsi);
	if (o.flags & KVMHOST_MSI_ROUTER_IRQCHIP_DEFAULTS) {
#ifdef KH_ROUTER_DEFAULTS
		extra = KH_ROUTER_DEFAULTS;
		if (o.first_gsi < 24)
			return KH_FAIL(EINVAL, "first_gsi %u is below the 24 IOAPIC pins the defaults route",
				       o.first_gsi);
#else
		return KH_FAIL(ENOTSUP, "IRQCHIP_DEFAULTS is only known for x86");
#endif
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return KH_FAIL(ENOMEM, "cannot allocate an MSI router");
	r->base = calloc((size_t)o.base_count + extra + 1, sizeof(*r->base));
	if (!r->base) {
		free(r);
		return KH_FAIL(ENOMEM, "cannot allocate an MSI router");
	}
	if (o.base_count)
		memcpy(r->base, o.base, (size_t)o.base_count * sizeof(*r->base));
	r->base_count = o.base_count;
#ifdef KH_ROUTER_DEFAULTS
	if (extra)
		r->base_count += kh_router_x86_defaults(r->base + o.base_count);
#endif
	pthread_mutex_init(&r->lock, NULL);
	r->vm = vm;
	r->first_gsi = o.first_gsi;
	*out = r;
	return 0;
}

KVMHOST_API void kvmhost_msi_router_destroy(struct kvmhost_msi_router *router)
{
	if (!router)
		return;
	pthread_mutex_destroy(&router->lock);
	free(router->base);
	free(router->routes);
	free(router->table);
	free(router);
}

/* With the lock held: push base + routed entries. */
static int kh_router_push(struct kvmhost_msi_router *r, const char *func)
{
	uint32_t n = r->base_count + r->count;
	uint32_t k = r->base_count;
	int err;

	if (n > r->table_cap) {
		struct kvm_irq_routing_entry *t = realloc(r->table, (size_t)n * sizeof(*t));

		if (!t)
			return kh_fail(ENOMEM, func, "cannot allocate a routing table of %u entries", n);
		r->table = t;
		r->table_cap = n;
	}
	if (r->base_count)
		memcpy(r->table, r->base, (size_t)r->base_count * sizeof(*r->table));
	for (uint32_t i = 0; i < r->count; i++) {
		struct kvm_irq_routing_entry *e;

		if (!r->routes[i].routed)
			continue;
		e = &r->table[k++];
		memset(e, 0, sizeof(*e));
		e->gsi = r->routes[i].gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)r->routes[i].address;
		e->u.msi.address_hi = (uint32_t)(r->routes[i].address >> 32);
		e->u.msi.data = r->routes[i].data;
	}
	(void)func;
	err = kvmhost_vm_set_gsi_routing(r->vm, k ? r->table : NULL, k);
	return err < 0 ? err : 0; /* the message is KVM_SET_GSI_ROUTING's */
}

static struct kh_msi_route *kh_router_find(struct kvmhost_msi_router *r, uint32_t gsi)
{
	for (uint32_t i = 0; i < r->count; i++)
		if (r->routes[i].gsi == gsi)
			return &r->routes[i];
	return NULL;
}

KVMHOST_API int kvmhost_msi_router_alloc(struct kvmhost_msi_router *router, uint32_t *gsi)
{
	int max, err = 0;
	uint32_t g;

	if (!router || !gsi)
		return KH_FAIL(EINVAL, "router or gsi is NULL");
	max = kvmhost_vm_check_extension(router->vm, KVM_CAP_IRQ_ROUTING);
	if (max <= 0)
		return KH_FAIL(ENOTSUP, "KVM has no IRQ routing");
	pthread_mutex_lock(&router->lock);
	if (router->base_count + router->count + 1 > (uint32_t)max) {
		err = KH_FAIL(ENOSPC, "KVM's routing table holds %d entries, all taken", max);
		goto out;
	}
	for (g = router->first_gsi; g < (uint32_t)max && kh_router_find(router, g); g++)
		;
	if (g >= (uint32_t)max) {
		err = KH_FAIL(ENOSPC, "no free GSI below %d", max);
		goto out;
	}
	if (router->count == router->cap) {
		uint32_t cap = router->cap ? 2 * router->cap : 16;
		struct kh_msi_route *n = realloc(router->routes, (size_t)cap * sizeof(*n));

		if (!n) {
			err = KH_FAIL(ENOMEM, "cannot grow the route list");
			goto out;
		}
		router->routes = n;
		router->cap = cap;
	}
	memset(&router->routes[router->count], 0, sizeof(router->routes[0]));
	router->routes[router->count++].gsi = g;
	*gsi = g;
out:
	pthread_mutex_unlock(&router->lock);
	return err;
}

KVMHOST_API int kvmhost_msi_router_set(struct kvmhost_msi_router *router, uint32_t gsi, uint64_t address, uint32_t data)
{
	struct kh_msi_route *rt, old;
	int err = 0;

	if (!router)
		return KH_FAIL(EINVAL, "router is NULL");
	pthread_mutex_lock(&router->lock);
	rt = kh_router_find(router, gsi);
	if (!rt) {
		err = KH_FAIL(ENOENT, "GSI %u was not handed out by this router", gsi);
	} else if (!rt->routed || rt->address != address || rt->data != data) {
		old = *rt;
		rt->routed = 1;
		rt->address = address;
		rt->data = data;
		err = kh_router_push(router, __func__);
		if (err < 0)
			*rt = old;
	}
	pthread_mutex_unlock(&router->lock);
	return err;
}

static int kh_router_clear_locked(struct kvmhost_msi_router *r, struct kh_msi_route *rt, const char *func)
{
	int err;

	if (!rt->routed)
		return 0;
	rt->routed = 0;
	err = kh_router_push(r, func);
	if (err < 0)
		rt->routed = 1;
	return err;
}

KVMHOST_API int kvmhost_msi_router_clear(struct kvmhost_msi_router *router, uint32_t gsi)
{
	struct kh_msi_route *rt;
	int err;

	if (!router)
		return KH_FAIL(EINVAL, "router is NULL");
	pthread_mutex_lock(&router->lock);
	rt = kh_router_find(router, gsi);
	err = rt ? kh_router_clear_locked(router, rt, __func__)
		 : KH_FAIL(ENOENT, "GSI %u was not handed out by this router", gsi);
	pthread_mutex_unlock(&router->lock);
	return err;
}

KVMHOST_API int kvmhost_msi_router_free(struct kvmhost_msi_router *router, uint32_t gsi)
{
	struct kh_msi_route *rt;
	int err;

	if (!router)
		return KH_FAIL(EINVAL, "router is NULL");
	pthread_mutex_lock(&router->lock);
	rt = kh_router_find(router, gsi);
	if (!rt) {
		err = KH_FAIL(ENOENT, "GSI %u was not handed out by this router", gsi);
	} else {
		err = kh_router_clear_locked(router, rt, __func__);
		*rt = router->routes[--router->count];
	}
	pthread_mutex_unlock(&router->lock);
	return err;
}

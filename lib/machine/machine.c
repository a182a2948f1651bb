/*
 * Creating, checking and destroying a machine (machine.h), and its
 * accessors. Create goes in a fixed order, each step undone by destroy in
 * reverse: the checks (options, kernel and initrd mapped, the other files,
 * the kernel image through the loader's dry run: everything that needs no
 * KVM, which is all kvmhost_machine_check() runs), KVM system and VM, buses, event loop and event queue, the registry,
 * the platform (arch create), the virtio devices, the boot (arch boot: tables, kernel, vCPUs). A failed step leaves the
 * machine half-built, and destroy takes that apart too, so nothing is left.
 */
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kvmhost/bus.h>
#include <kvmhost/loop.h>
#include <kvmhost/memory.h>
#include <kvmhost/system.h>
#include <kvmhost/vm.h>

#include "../core/internal.h"
#include "machine_internal.h"

static int map_file(const char *func, const char *what, const char *path, void **data, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kh_fail(errno, func, "%s %s", what, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return kh_fail(EINVAL, func, "%s %s: not a regular file with something in it", what, path);
	}
	*data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*data == MAP_FAILED) {
		*data = NULL;
		return kh_fail(errno, func, "%s %s: mmap", what, path);
	}
	*size = (size_t)st.st_size;
	return 0;
}

static int open_files(struct kvmhost_machine *m)
{
	struct kh_machine_config *c = &m->cfg;
	int r;

	if (c->kernel_path) {
		if ((r = map_file(c->func, "kernel", c->kernel_path, &m->kernel_map, &m->kernel_map_size)) < 0)
			return r;
		c->kernel = m->kernel_map;
		c->kernel_size = m->kernel_map_size;
	}
	if (c->initrd_path) {
		if ((r = map_file(c->func, "initrd", c->initrd_path, &m->initrd_map, &m->initrd_map_size)) < 0)
			return r;
		c->initrd = m->initrd_map;
		c->initrd_size = m->initrd_map_size;
	}
	return 0;
}

static int init_locks(struct kvmhost_machine *m)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->ctl_lock, NULL);
	pthread_mutex_init(&m->watch_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

/* Everything that needs no KVM. */
static int check(struct kvmhost_machine *m)
{
	int r;

	if ((r = kh_machine_arch_check(m)) < 0 || (r = open_files(m)) < 0 || (r = kh_machine_check_files(m)) < 0)
		return r;
	return kh_machine_arch_check_boot(m);
}

static int build(struct kvmhost_machine *m)
{
	struct kvmhost_vm_options vo = {.size = sizeof(vo), .name = m->cfg.name};
	int r;

	if ((r = check(m)) < 0)
		return r;
	if ((r = kvmhost_system_open(NULL, &m->sys)) < 0)
		return r;
	if ((r = kvmhost_system_max_vcpus(m->sys)) > 0 && m->cfg.vcpu_count > (uint32_t)r)
		return KH_FAIL(EINVAL, "vcpu_count %u: this KVM allows at most %d", m->cfg.vcpu_count, r);
	if ((r = kvmhost_vm_create(m->sys, &vo, &m->vm)) < 0)
		return r;
	if ((r = kvmhost_bus_create("pio", &m->pio)) < 0 || (r = kvmhost_bus_create("mmio", &m->mmio)) < 0 ||
	    (r = kvmhost_loop_create(&m->loop)) < 0 || (r = kh_events_init(&m->events)) < 0 ||
	    (r = kh_machine_registry_create(m)) < 0)
		return r;
	m->cpu = calloc(m->cfg.vcpu_count, sizeof(*m->cpu));
	if (!m->cpu)
		return KH_FAIL(ENOMEM, "cannot allocate the vCPUs");
	m->ncpus = m->cfg.vcpu_count;
	for (uint32_t i = 0; i < m->ncpus; i++) {
		m->cpu[i].m = m;
		m->cpu[i].index = i;
	}
	m->io_quiet = 1; /* nothing is served before start */
	if ((r = kh_machine_arch_create(m)) < 0 || (r = kh_machine_virtio_create(m)) < 0)
		return r;
	return kh_machine_arch_boot(m);
}

static struct kvmhost_machine *new_machine(void)
{
	struct kvmhost_machine *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->events.fd = m->ram_fd = m->uart.rx_fd = -1;
	init_locks(m);
	m->state = KVMHOST_MACHINE_CREATED;
	m->stop.vcpu = UINT32_MAX;
	return m;
}

/* Destroy a machine that failed @func with @r, and fail with its message. */
static int failed(struct kvmhost_machine *m, int r, const char *func)
{
	char msg[512], name[sizeof(m->cfg.name)];

	snprintf(msg, sizeof(msg), "%s", kvmhost_last_error()); /* teardown may overwrite it */
	snprintf(name, sizeof(name), "%s", m->cfg.name[0] ? m->cfg.name : "(unnamed)");
	kvmhost_machine_destroy(m);
	return kh_fail(-r, func, "machine %s: %s", name, msg);
}

KVMHOST_API int kvmhost_machine_check(const struct kvmhost_machine_options *opts)
{
	struct kvmhost_machine *m = new_machine();
	int r;

	if (!m)
		return KH_FAIL(ENOMEM, "cannot allocate a machine");
	r = kh_machine_config_load(&m->cfg, opts, __func__);
	if (r == 0)
		r = check(m);
	if (r < 0)
		return failed(m, r, __func__);
	kvmhost_machine_destroy(m); /* unmaps the files; nothing else was made */
	return 0;
}

KVMHOST_API int kvmhost_machine_create(const struct kvmhost_machine_options *opts, struct kvmhost_machine **out)
{
	struct kvmhost_machine *m;
	int r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	m = new_machine();
	if (!m)
		return KH_FAIL(ENOMEM, "cannot allocate a machine");
	r = kh_machine_config_load(&m->cfg, opts, __func__);
	if (r == 0)
		r = build(m);
	if (r < 0)
		return failed(m, r, __func__);
	m->built = 1;
	kh_log(KVMHOST_LOG_DEBUG, "machine %s: created (%u vCPUs, %llu MiB, %u devices)", m->cfg.name, m->ncpus,
	       (unsigned long long)(m->cfg.ram_size >> 20), m->cfg.device_count);
	*out = m;
	return 0;
}

KVMHOST_API void kvmhost_machine_destroy(struct kvmhost_machine *m)
{
	if (!m)
		return;
	if (kh_machine_is_self(m)) {
		KH_FAIL(EDEADLK, "machine %s: destroy from its own thread or event callback is ignored", m->cfg.name);
		kh_log(KVMHOST_LOG_ERROR, "%s", kvmhost_last_error());
		return;
	}
	kh_machine_shutdown(m);
	if (m->loop)
		kh_io_destroy(m);
	kh_machine_registry_destroy(m); /* calls no op: the devices go below */
	kh_machine_virtio_destroy(m);	/* before the buses, the loop and the VM it is wired into */
	kh_machine_arch_destroy(m);
	kh_machine_ram_destroy(m);
	kh_mig_diff_free(m);
	kvmhost_bus_destroy(m->pio);
	kvmhost_bus_destroy(m->mmio);
	kvmhost_vm_destroy(m->vm); /* with its vCPUs and RAM */
	kvmhost_system_close(m->sys);
	kvmhost_loop_destroy(m->loop);
	kh_events_destroy(&m->events);
	if (m->kernel_map)
		munmap(m->kernel_map, m->kernel_map_size);
	if (m->initrd_map)
		munmap(m->initrd_map, m->initrd_map_size);
	free(m->cpu);
	kh_machine_config_free(&m->cfg);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->ctl_lock);
	pthread_mutex_destroy(&m->watch_lock);
	free(m);
}

KVMHOST_API const char *kvmhost_machine_name(const struct kvmhost_machine *m)
{
	return m ? m->cfg.name : NULL;
}

KVMHOST_API struct kvmhost_vm *kvmhost_machine_vm(struct kvmhost_machine *m)
{
	return m ? m->vm : NULL;
}

KVMHOST_API struct kvmhost_memory *kvmhost_machine_memory(struct kvmhost_machine *m)
{
	return m ? kvmhost_vm_memory(m->vm) : NULL;
}

KVMHOST_API uint32_t kvmhost_machine_vcpu_count(const struct kvmhost_machine *m)
{
	return m ? m->ncpus : 0;
}

KVMHOST_API long kvmhost_machine_vcpu_thread_id(struct kvmhost_machine *m, uint32_t index)
{
	if (!m)
		return KH_FAIL(EINVAL, "machine is NULL");
	if (index >= m->ncpus)
		return KH_FAIL(ERANGE, "vCPU %u: machine %s has %u", index, m->cfg.name, m->ncpus);
	return atomic_load(&m->cpu[index].tid);
}

KVMHOST_API struct kvmhost_vcpu *kvmhost_machine_vcpu(struct kvmhost_machine *m, uint32_t index)
{
	return m && index < m->ncpus ? m->cpu[index].vcpu : NULL;
}

KVMHOST_API struct kvmhost_virtio_device *kvmhost_machine_virtio_device(struct kvmhost_machine *m, uint32_t index)
{
	return m ? kh_machine_virtio_device(m, index) : NULL;
}

KVMHOST_API struct kvmhost_device_registry *kvmhost_machine_registry(struct kvmhost_machine *m)
{
	return m ? m->registry : NULL;
}

KVMHOST_API int kvmhost_machine_get_device_stats(struct kvmhost_machine *m, uint32_t index,
						 struct kvmhost_machine_device_stats *stats)
{
	if (!m || !stats)
		return KH_FAIL(EINVAL, "%s is NULL", !m ? "machine" : "stats");
	if (stats->size < sizeof(size_t) || stats->size > 65536)
		return KH_FAIL(EINVAL, "stats->size %zu: set it to sizeof(struct kvmhost_machine_device_stats)",
			       stats->size);
	if (index >= m->nvdev)
		return KH_FAIL(ERANGE, "device %u: machine %s has %u", index, m->cfg.name, m->nvdev);
	return kh_machine_virtio_stats(m, index, stats);
}

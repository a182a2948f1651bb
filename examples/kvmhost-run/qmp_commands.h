/*
 * qmp_commands: the QMP commands a VMM answers (everything but qmp_capabilities, which is the protocol's), each
 * building QEMU's reply shape from the values the VM's callbacks (struct qmp_ops) give. Internal to qmp.c; the
 * protocol (greeting, negotiation, checking a request, errors, events) is there.
 */
#ifndef KVMHOST_RUN_QMP_COMMANDS_H
#define KVMHOST_RUN_QMP_COMMANDS_H

#include <stddef.h>
#include <jansson.h>
#include "qmp.h"

struct qmp_command;

/* The command named @name, or NULL when it does not exist or @ops has no callback for it. */
const struct qmp_command *qmp_command_find(const struct qmp_ops *ops, const char *name);
/*
 * Run @cmd with @args (the request's "arguments" object, or NULL), which it checks as QEMU does (a command that
 * takes none: "Parameter 'X' is unexpected"; a missing or mistyped one: QEMU's texts). Returns the "return"
 * value (a new reference), or NULL with the GenericError's text in @why (which a callback may have written
 * already, through qmp_server_set_error(); it starts as "").
 */
json_t *qmp_command_run(const struct qmp_command *cmd, const struct qmp_ops *ops, void *opaque, json_t *args, char *why,
			size_t why_size);
/* @text as a JSON string, with each byte that is not valid UTF-8 replaced by '?' (host paths are bytes). */
json_t *qmp_json_string_lossy(const char *text);

#endif

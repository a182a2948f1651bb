#!/bin/sh
# qmp-shapes.sh SOCKET: the shapes (kvmhostctl --shape: keys and JSON types, an error's class, an event's name) of
# a QMP server's greeting, of its replies to the commands a VMM answers, two errors, and the events the actions
# send, one "# name" section each, in an order that works on a VM paused before its start (QEMU -S, the fake
# VM): the queries, cont (RESUME), stop (STOP), the migration commands (a migration of the paused VM to
# $QMP_SHAPES_MIGRATE_URI, default a file:, MIGRATION), system_reset (RESET), system_powerdown (POWERDOWN), quit
# (SHUTDOWN). The same list against QEMU and against kvmhost-run gives two texts to diff.
# kvmhostctl is $KVMHOSTCTL, or the one in PATH. Exit 1 (after all of them) when a reply did not parse or was not
# the return or error expected; the server has quit at the end either way.
set -u
sock=$1
ctl=${KVMHOSTCTL:-kvmhostctl}
status=0
mig_file=
if [ -z "${QMP_SHAPES_MIGRATE_URI:-}" ]; then
	mig_file=$(mktemp /tmp/qmp-shapes-mig.XXXXXX)
	QMP_SHAPES_MIGRATE_URI=file:$mig_file
fi

# section NAME WANTED-EXIT KVMHOSTCTL-ARGS...
section() {
	name=$1 want=$2
	shift 2
	echo "# $name"
	"$ctl" --shape --timeout 10 "$@"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "qmp-shapes.sh: $name: kvmhostctl exited $rc, not $want" >&2
		status=1
	fi
}

section greeting 0 --greeting "$sock"
section query-version 0 "$sock" query-version
section "query-status (before cont)" 0 "$sock" query-status
section query-cpus-fast 0 "$sock" query-cpus-fast
section query-block 0 "$sock" query-block
section "unknown command" 1 "$sock" no-such-command
section "unexpected argument" 1 "$sock" query-status '{"verbose": true}'
section "cont, RESUME" 0 --event RESUME "$sock" cont
section "query-status (running)" 0 "$sock" query-status
section "stop, STOP" 0 --event STOP "$sock" stop
section "query-migrate (none yet)" 0 "$sock" query-migrate
section migrate-set-capabilities 0 "$sock" migrate-set-capabilities \
	'{"capabilities": [{"capability": "events", "state": true}]}'
section migrate-set-parameters 0 "$sock" migrate-set-parameters '{"downtime-limit": 300, "max-bandwidth": 134217728}'
section "migrate (unknown protocol)" 1 "$sock" migrate '{"uri": "nope:x"}'
section "migrate, MIGRATION" 0 --event MIGRATION "$sock" migrate "{\"uri\": \"$QMP_SHAPES_MIGRATE_URI\"}"
i=0
until "$ctl" --compact --timeout 10 "$sock" query-migrate 2>/dev/null | grep -q '"completed"'; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "qmp-shapes.sh: the migration to $QMP_SHAPES_MIGRATE_URI did not complete" >&2; status=1; break; }
	sleep 0.1
done
section "query-migrate (completed)" 0 "$sock" query-migrate
section "migrate_cancel (nothing to cancel)" 0 "$sock" migrate_cancel
[ -n "$mig_file" ] && rm -f "$mig_file"
section "system_reset, RESET" 0 --event RESET "$sock" system_reset
section "system_powerdown, POWERDOWN" 0 --event POWERDOWN "$sock" system_powerdown
section "quit, SHUTDOWN" 0 --event SHUTDOWN "$sock" quit
exit $status

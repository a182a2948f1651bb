#!/bin/sh
# shellcheck disable=SC2015 # "check && ok || bad": ok never fails
# kvm tier: kvmhost-run's migration (--incoming, and --control's migrate, query-migrate, migrate_cancel,
# migrate-set-parameters) on a tiny Multiboot kernel that counts, mb_tick (tests/guests-multiboot/mb_tick.S: it
# writes the digit k % 10 on COM1 each time its counter reaches k * 65536, so the digits say where the counter is).
#   kvmhost-run-migrate-test.sh KVMHOST_RUN GUEST_DIR [KVMHOSTCTL]   (GUEST_DIR holds mb_tick.bin; KVMHOSTCTL
#   defaults to ../kvmhostctl/kvmhostctl or kvmhostctl-static beside KVMHOST_RUN)
# Usage errors first (no KVM needed): every bad --incoming URI gives status 2 and one line. Then, on /dev/kvm
# (skipped, 77, without one):
#   snapshot: a paused guest is saved with `migrate file:`, resumed, and runs on; two fresh kvmhost-run
#     --incoming file: restore it from the same file and its counter goes on from where it was saved;
#   damage: a corrupted and a truncated snapshot file end kvmhost-run --incoming with status 10 and one line;
#     a destination that refuses the stream (another RAM size) ends with 10 and the source runs on;
#   cancel: a snapshot slowed by max-bandwidth is cancelled: status "cancelled", no file left, the guest runs on;
#   live: the guest migrates over a Unix socket to another kvmhost-run (the source exits 0, the counter goes on
#     there), then back over TCP on 127.0.0.1;
#   same-host: query-migrate-capabilities lists x-ignore-shared, migrate-set-capabilities turns it on; a migrate
#     is then refused with a QMP error for RAM that is not a memfd, and for tcp: and file:; with --memory-backend
#     memfd the guest is handed over on unix: (the counter goes on; only the state is sent: no page, under 1 MiB).
run=$1 guests=$2 ctl=$3
[ -n "$ctl" ] || for c in "$(dirname "$run")/../kvmhostctl/kvmhostctl" "$(dirname "$run")/kvmhostctl-static"; do
	[ -x "$c" ] && ctl=$c && break
done
tick=$guests/mb_tick.bin
for f in "$run" "$tick"; do
	[ -r "$f" ] || { echo "FAIL: $f is missing (build everything first: ninja)"; exit 1; }
done
tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ---- usage errors ----
expect_usage() { # NEEDLE ARGS...
	needle=$1
	shift
	timeout 30 "$run" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$needle" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "status 2: $(cat "$tmp/err")"
	else
		bad "kvmhost-run $*: want status 2 and one line naming '$needle', got status $rc, stderr: $(cat "$tmp/err")"
	fi
}
long=$(printf '%0120d' 0)
expect_usage "--incoming bogus:x: want unix:PATH" --kernel "$tick" --incoming bogus:x
expect_usage "--incoming unix:: want" --kernel "$tick" --incoming unix:
expect_usage "--incoming unix:/$long" --kernel "$tick" --incoming "unix:/$long"
expect_usage "--incoming tcp:1.2.3.4: want tcp:HOST:PORT" --kernel "$tick" --incoming tcp:1.2.3.4
expect_usage "--incoming tcp::0: the port" --kernel "$tick" --incoming tcp::0
expect_usage "--incoming tcp::65536: the port" --kernel "$tick" --incoming tcp::65536
expect_usage "no-such-host is not an IPv4 or IPv6 address" --kernel "$tick" --incoming tcp:no-such-host:4444
expect_usage "--incoming fd:x1: want fd:N" --kernel "$tick" --incoming fd:x1
expect_usage "--incoming fd:917: fd 917 is not open" --kernel "$tick" --incoming fd:917
expect_usage "--incoming file:/nonexistent/snap: No such file" --kernel "$tick" --incoming file:/nonexistent/snap
expect_usage "--incoming unix:/nonexistent/dir/s: No such file" --kernel "$tick" --incoming unix:/nonexistent/dir/s
expect_usage "--incoming needs a value" --kernel "$tick" --incoming
expect_usage "--kernel is required" --incoming "file:$tmp"
expect_usage "--memory-backend shm: want anonymous or memfd" --kernel "$tick" --memory-backend shm
if "$run" --help 2>&1 | grep -q -- '--incoming URI'; then ok "--help lists --incoming"; else bad "--help has no --incoming"; fi

if [ ! -c /dev/kvm ] || ! : 2>/dev/null <>/dev/kvm; then
	[ "$fails" -eq 0 ] || { echo "kvmhost_run_migrate_test: $fails failures"; exit 1; }
	echo "SKIP: /dev/kvm is missing or not usable (the usage checks passed)"
	exit 77
fi
if [ ! -x "$ctl" ]; then
	[ "$fails" -eq 0 ] || { echo "kvmhost_run_migrate_test: $fails failures"; exit 1; }
	echo "SKIP: no kvmhostctl (give it as the third argument): the migration is driven through --control"
	exit 77
fi

# ---- helpers ----
# start NAME ARGS...: kvmhost-run on mb_tick, COM1 to $tmp/NAME.out, --control $tmp/NAME.sock; sets pid_NAME.
start() {
	name=$1
	shift
	rm -f "$tmp/$name.out" "$tmp/$name.sock"
	"$run" --kernel "$tick" --serial "file:$tmp/$name.out" --control "$tmp/$name.sock" "$@" </dev/null \
		2>"$tmp/$name.err" &
	eval "pid_$name=$!"
	pids="$pids $!"
	_i=0
	while [ "$_i" -lt 100 ] && [ ! -S "$tmp/$name.sock" ]; do sleep 0.05; _i=$((_i + 1)); done
}
pid() { eval "echo \$pid_$1"; }
q() { timeout 10 "$ctl" --compact "$tmp/$1.sock" "$2" ${3:+"$3"} 2>&1; } # NAME COMMAND [ARGS]
digits() { wc -c <"$tmp/$1.out" 2>/dev/null || echo 0; }
wait_digits() { # NAME N: until NAME's COM1 has N digits (20 s at most)
	_i=0
	while [ "$_i" -lt 400 ] && [ "$(digits "$1")" -lt "$2" ]; do sleep 0.05; _i=$((_i + 1)); done
	[ "$(digits "$1")" -ge "$2" ]
}
wait_migration() { # NAME: poll query-migrate until the migration ends; print its status
	_i=0
	while [ "$_i" -lt 200 ]; do
		s=$(q "$1" query-migrate | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
		case $s in completed | failed | cancelled) echo "$s"; return ;; esac
		[ -z "$s" ] && ! kill -0 "$(pid "$1")" 2>/dev/null && { echo gone; return; }
		sleep 0.05
		_i=$((_i + 1))
	done
	echo "still-$s"
}
wait_exit() { # NAME WANT: NAME's kvmhost-run ends (10 s at most) with status WANT
	_i=0
	while [ "$_i" -lt 200 ] && kill -0 "$(pid "$1")" 2>/dev/null; do sleep 0.05; _i=$((_i + 1)); done
	kill "$(pid "$1")" 2>/dev/null
	wait "$(pid "$1")"
	rc=$?
	if [ "$rc" -eq "$2" ]; then ok "$1 ended with status $rc"; else bad "$1 ended with status $rc, want $2: $(cat "$tmp/$1.err")"; fi
}
# follows NAME COUNT: NAME's COM1 starts with the digits after COUNT digits: COUNT+1, COUNT+2, ... (mod 10)
follows() {
	want=
	for i in 1 2 3; do want="$want$(((${2} + i) % 10))"; done
	got=$(head -c 3 "$tmp/$1.out")
	if [ "$got" = "$want" ]; then ok "$1's counter went on from digit $2: $got"; else bad "$1 printed '$got' first, want '$want' (the digits after $2)"; fi
}
# pause_at NAME: wait until NAME has printed 3 or more digits, a count whose next digit is not 1 (as a fresh boot's
# first), then stop it; print the count.
pause_at() {
	_i=0
	while [ "$_i" -lt 400 ]; do
		c=$(digits "$1")
		[ "$c" -ge 3 ] && [ $((c % 10)) -ge 2 ] && [ $((c % 10)) -le 7 ] && break
		sleep 0.02
		_i=$((_i + 1))
	done
	q "$1" stop >/dev/null
	digits "$1"
}
expect_qmp() { # NEEDLE NAME COMMAND [ARGS]
	r=$(q "$2" "$3" "$4")
	if printf '%s' "$r" | grep -qF -- "$1"; then ok "$2: $3 $4: $r"; else bad "$2: $3 $4: want '$1', got: $r"; fi
}

# ---- snapshot to a file, restored twice ----
start a
wait_digits a 3 || bad "a printed no digits: $(cat "$tmp/a.err")"
count=$(pause_at a)
expect_qmp '"status": "paused"' a query-status
expect_qmp '{"return": {}}' a query-migrate
expect_qmp '{"return": {}}' a migrate-set-parameters '{"downtime-limit": 200, "max-bandwidth": 0}'
expect_qmp '{"return": {}}' a migrate "{\"uri\": \"file:$tmp/snap\"}"
s=$(wait_migration a)
[ "$s" = completed ] && ok "a: snapshot to file: $s ($(wc -c <"$tmp/snap") bytes)" || bad "a: snapshot to file: $s: $(q a query-migrate)"
expect_qmp '"status": "paused"' a query-status # a snapshot leaves the guest as it was
expect_qmp '"downtime"' a query-migrate
q a cont >/dev/null
if wait_digits a $((count + 2)); then ok "a runs on after the snapshot ($(digits a) digits)"; else bad "a did not run on after the snapshot"; fi
for b in b1 b2; do
	start "$b" --incoming "file:$tmp/snap"
	wait_digits "$b" 3 || bad "$b printed nothing after --incoming file: $(cat "$tmp/$b.err")"
	follows "$b" "$count"
	expect_qmp '"status": "running"' "$b" query-status
	expect_qmp '"status": "completed"' "$b" query-migrate
	q "$b" quit >/dev/null
	wait_exit "$b" 0
done

# ---- a damaged snapshot, and a destination that refuses the stream ----
size=$(wc -c <"$tmp/snap")
head -c $((size / 2)) "$tmp/snap" >"$tmp/truncated"
cp "$tmp/snap" "$tmp/corrupted"
printf 'XXXXXXXX' | dd of="$tmp/corrupted" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
for what in truncated:ends corrupted:damaged; do
	f=${what%:*}
	timeout 30 "$run" --kernel "$tick" --serial none --incoming "file:$tmp/$f" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 10 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "--incoming file:$tmp/$f: .*${what#*:}" "$tmp/err"; then
		ok "a $f snapshot: status 10: $(cat "$tmp/err")"
	else
		bad "a $f snapshot: want status 10 and one line saying it ${what#*:}, got $rc: $(cat "$tmp/err")"
	fi
done
"$run" --kernel "$tick" --serial none --mem 128M --incoming "unix:$tmp/refuse.sock" </dev/null 2>"$tmp/refuse.err" &
refuse=$!
pids="$pids $refuse"
i=0
while [ $i -lt 100 ] && [ ! -S "$tmp/refuse.sock" ]; do sleep 0.05; i=$((i + 1)); done
expect_qmp '{"return": {}}' a migrate "{\"uri\": \"unix:$tmp/refuse.sock\"}"
s=$(wait_migration a)
[ "$s" = failed ] && ok "a: migration to a destination with another RAM size: $s" || bad "a: to a refusing destination: $s"
wait "$refuse"
rc=$?
if [ "$rc" -eq 10 ] && grep -q "RAM" "$tmp/refuse.err"; then ok "the refusing destination: status 10: $(cat "$tmp/refuse.err")"; else bad "the refusing destination: status $rc: $(cat "$tmp/refuse.err")"; fi
c=$(digits a)
expect_qmp '"status": "running"' a query-status
if wait_digits a $((c + 2)); then ok "a runs on after the failed migration"; else bad "a stopped after the failed migration"; fi

# ---- cancel ----
expect_qmp '{"return": {}}' a migrate-set-parameters '{"max-bandwidth": 1000}'
expect_qmp '{"return": {}}' a migrate "{\"uri\": \"file:$tmp/slow\"}"
expect_qmp '"status": "active"' a query-migrate
expect_qmp 'There' a migrate "{\"uri\": \"file:$tmp/slow2\"}"
expect_qmp '{"return": {}}' a migrate_cancel
s=$(wait_migration a)
[ "$s" = cancelled ] && [ ! -e "$tmp/slow" ] && ok "a: a slow snapshot cancelled, its file removed" || bad "a: cancel: $s, file: $(ls "$tmp/slow" 2>&1)"
expect_qmp '{"return": {}}' a migrate-set-parameters '{"max-bandwidth": 0}'
expect_qmp 'valid migration protocol' a migrate '{"uri": "exec:cat"}'
expect_qmp "Parameter 'uri' is missing" a migrate '{}'
expect_qmp "expects an integer in the range" a migrate-set-parameters '{"downtime-limit": 2000001}'
expect_qmp '{"return": {}}' a migrate_cancel # nothing to cancel

# ---- live: over a Unix socket, then back over TCP ----
start c --incoming "unix:$tmp/mig.sock"
expect_qmp '"status": "inmigrate"' c query-status
expect_qmp '{"return": {}}' a migrate "{\"uri\": \"unix:$tmp/mig.sock\"}"
wait_exit a 0
count=$(digits a)
wait_digits c 3 || bad "c printed nothing after the migration: $(cat "$tmp/c.err")"
follows c "$count"
expect_qmp '"status": "completed"' c query-migrate
expect_qmp '"status": "running"' c query-status
port=$((40000 + $$ % 20000))
ip link show lo 2>/dev/null | grep -q UP || ip link set lo up 2>/dev/null # the lab's L1 starts with lo down
start d --incoming "tcp:127.0.0.1:$port"
expect_qmp '{"return": {}}' c migrate "{\"uri\": \"tcp:127.0.0.1:$port\"}"
wait_exit c 0
count=$((count + $(digits c)))
wait_digits d 3 || bad "d printed nothing after the migration over TCP: $(cat "$tmp/d.err")"
follows d "$count"

# ---- same-host hand-over: x-ignore-shared, memfd RAM ----
on='{"capabilities": [{"capability": "x-ignore-shared", "state": true}]}'
expect_qmp '{"capability": "x-ignore-shared", "state": false}' d query-migrate-capabilities
expect_qmp "Parameter 'capabilities[0].state' is missing" d migrate-set-capabilities \
	'{"capabilities": [{"capability": "x-ignore-shared"}]}'
expect_qmp '{"return": {}}' d migrate-set-capabilities "$on"
expect_qmp '{"capability": "x-ignore-shared", "state": true}' d query-migrate-capabilities
expect_qmp "the guest's RAM is not shared: start kvmhost-run with --memory-backend memfd" d migrate \
	"{\"uri\": \"unix:$tmp/none.sock\"}"
expect_qmp '"status": "running"' d query-status # (refused before anything started)
q d quit >/dev/null
wait_exit d 0
start e --memory-backend memfd
wait_digits e 3 || bad "e (memfd RAM) printed no digits: $(cat "$tmp/e.err")"
expect_qmp '{"return": {}}' e migrate-set-capabilities "$on"
expect_qmp "needs unix:PATH, not tcp:" e migrate '{"uri": "tcp:127.0.0.1:1"}'
expect_qmp "needs unix:PATH, not file:" e migrate "{\"uri\": \"file:$tmp/same.snap\"}"
start f --memory-backend memfd --incoming "unix:$tmp/same.sock"
expect_qmp '{"return": {}}' f migrate-set-capabilities "$on" # allowed on a destination that waits, as QEMU's
expect_qmp '{"return": {}}' e migrate "{\"uri\": \"unix:$tmp/same.sock\"}"
wait_exit e 0
count=$(digits e)
wait_digits f 3 || bad "f printed nothing after the same-host hand-over: $(cat "$tmp/f.err")"
follows f "$count"
r=$(q f query-migrate)
sent=$(printf '%s' "$r" | sed -n 's/.*"transferred": \([0-9]*\).*/\1/p')
# (a copy of this tiny guest is small too: what says "handed over" is that no page went, not even a zero range)
if printf '%s' "$r" | grep -q '"status": "completed"' && printf '%s' "$r" | grep -q '"duplicate": 0, ' &&
	printf '%s' "$r" | grep -q '"normal": 0, ' && [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$sent" -lt 1048576 ]; then
	ok "f: same-host hand-over completed, $sent bytes sent and no page (the state only: the RAM was passed)"
else
	bad "f: same-host hand-over: want completed, no page sent and under 1 MiB, got: $r"
fi
q f quit >/dev/null
wait_exit f 0
for f in a b1 b2 c d e f; do
	[ -s "$tmp/$f.err" ] && bad "$f wrote on stderr: $(cat "$tmp/$f.err")"
done

if [ "$fails" -ne 0 ]; then
	echo "kvmhost_run_migrate_test: $fails failures"
	exit 1
fi
echo "kvmhost_run_migrate_test: pass"

#!/bin/sh
# kvm tier: examples/kvmhost-run as a user runs it, on tiny Multiboot kernels.
#   kvmhost-run-test.sh KVMHOST_RUN GUEST_DIR [KVMHOSTCTL]   (GUEST_DIR holds mb_hello.bin and mb_echo.bin;
#   KVMHOSTCTL, a QMP client for --control, defaults to ../kvmhostctl/kvmhostctl or kvmhostctl-static beside it)
# Usage errors first (they need no KVM): every bad flag, value, file or image must give status 2, exactly one
# line on stderr naming the flag or path, and nothing on stdout. Then, on /dev/kvm (skipped, status 77, when
# it is missing): the serial output and debug-exit status of mb_hello (tests/guests-multiboot/mb_hello.S) with
# 1 to 4 vCPUs, RAM above the 32-bit hole and each --serial kind; stdin reaching the guest through COM1 (mb_echo,
# from a pipe and from a regular file); SIGINT and SIGTERM stopping a halted guest with 130 and 143; --control's
# QMP socket (status, stop/cont, vCPUs, disks, system_reset ending it with 4, quit with 0), when KVMHOSTCTL is there.
run=$1 guests=$2 ctl=$3
[ -n "$ctl" ] || for c in "$(dirname "$run")/../kvmhostctl/kvmhostctl" "$(dirname "$run")/kvmhostctl-static"; do
	[ -x "$c" ] && ctl=$c && break
done
hello=$guests/mb_hello.bin echo_guest=$guests/mb_echo.bin
for f in "$run" "$hello" "$echo_guest"; do
	[ -r "$f" ] || { echo "FAIL: $f is missing (build everything first: ninja)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
printf 'plain text, no kernel\n' >"$tmp/text"
: >"$tmp/empty"
expect_usage --bogus --bogus --kernel "$hello"
expect_usage -q -q
expect_usage "--kernel is required"
expect_usage --kernel --kernel
expect_usage /nonexistent/kernel --kernel /nonexistent/kernel
expect_usage "$tmp" --kernel "$tmp"
expect_usage "$tmp/empty" --kernel "$tmp/empty"
expect_usage "$tmp/text" --kernel "$tmp/text"
expect_usage "$tmp/text" --multiboot --kernel "$tmp/text"
expect_usage /nonexistent/initrd --kernel "$hello" --initrd /nonexistent/initrd
expect_usage "--mem 12Q" --kernel "$hello" --mem 12Q
expect_usage "--mem 0" --kernel "$hello" --mem 0
expect_usage "--mem 1M" --kernel "$hello" --mem 1M
expect_usage "--mem 4097K" --kernel "$hello" --mem 4097K
expect_usage "--cpus 0" --kernel "$hello" --cpus 0
expect_usage "--cpus 255" --kernel "$hello" --cpus 255
expect_usage "--cpus two" --kernel "$hello" --cpus two
expect_usage "--serial tty" --kernel "$hello" --serial tty
expect_usage /nonexistent/dir/out --kernel "$hello" --serial file:/nonexistent/dir/out
expect_usage --debug-exit=0x10000 --kernel "$hello" --debug-exit=0x10000
expect_usage --multiboot=yes --kernel "$hello" --multiboot=yes
expect_usage stray --kernel "$hello" stray
: >"$tmp/disk"
printf 'x' >"$tmp/small"
expect_usage /nonexistent/disk --kernel "$hello" --disk /nonexistent/disk
expect_usage "--disk $tmp/disk,rw" --kernel "$hello" --disk "$tmp/disk,rw"
expect_usage "--disk ,ro" --kernel "$hello" --disk ,ro
expect_usage "--net eth0" --kernel "$hello" --net eth0
expect_usage "--net tap=" --kernel "$hello" --net tap=
expect_usage "--net tap=a_name_longer_than_15" --kernel "$hello" --net tap=a_name_longer_than_15
expect_usage "mac=" --kernel "$hello" --net tap=t0,mac=01:02:03:04:05:06
expect_usage "mac=" --kernel "$hello" --net tap=t0,mac=52:54:00:12:34
expect_usage "one --net" --kernel "$hello" --net tap=t0 --net tap=t1
expect_usage "--console=tty" --kernel "$hello" --console=tty
expect_usage "--console=file:" --kernel "$hello" --console=file:
expect_usage "--serial file:PATH or none" --kernel "$hello" --console --serial stdio
expect_usage "--transport usb" --kernel "$hello" --transport usb
expect_usage "$tmp: not a regular file" --kernel "$hello" --disk "$tmp"
expect_usage "--console=file:/nonexistent/dir/hvc" --kernel "$hello" --console=file:/nonexistent/dir/hvc
expect_usage "--console=socket:/nonexistent/dir/s" --kernel "$hello" --console=socket:/nonexistent/dir/s
expect_usage "$tmp/text is there and is not a socket" --kernel "$hello" --console="socket:$tmp/text"
expect_usage "$tmp/small is smaller than one 512-byte sector" --kernel "$hello" --disk "$tmp/small"
expect_usage "--control needs a value" --kernel "$hello" --control
expect_usage "--control /nonexistent/dir/q.sock" --kernel "$hello" --control /nonexistent/dir/q.sock
expect_usage "--control $tmp/text" --kernel "$hello" --control "$tmp/text"
# What only the loader knew used to be found after KVM was opened; it is checked before now (2 on any host).
head -c $((3 << 20)) /dev/zero >"$tmp/big"
expect_usage "--kernel $hello: " --kernel "$hello" --mem 2M --initrd "$tmp/big"
printf 'Qmodule' >"$tmp/module"
expect_usage "--kernel $tmp/text: " --multiboot --kernel "$tmp/text" --initrd "$tmp/module"
expect_usage "at most 8" --kernel "$hello" --rng --disk "$tmp/disk" --disk "$tmp/disk" --disk "$tmp/disk" \
	--disk "$tmp/disk" --disk "$tmp/disk" --disk "$tmp/disk" --disk "$tmp/disk" --disk "$tmp/disk"
if "$run" --help 2>&1 | grep -q -- '--debug-exit'; then ok "--help lists the flags"; else bad "--help"; fi

# ---- on KVM ----
if [ ! -c /dev/kvm ] || ! : 2>/dev/null <>/dev/kvm; then
	# Without a KVM, a good command line fails only at KVM, as a host failure (8) with one line saying so.
	timeout 30 "$run" --kernel "$hello" --debug-exit </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 8 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "KVM" "$tmp/err"; then
		ok "no KVM: status 8: $(cat "$tmp/err")"
	else
		bad "no KVM: want status 8 and one line about KVM, got status $rc, stderr: $(cat "$tmp/err")"
	fi
	[ "$fails" -eq 0 ] || { echo "kvmhost_run_test: $fails failures"; exit 1; }
	echo "SKIP: /dev/kvm is missing or not usable (the usage checks passed)"
	exit 77
fi

printf 'Qmodule' >"$tmp/module"
expect_run() { # STATUS EXPECTED_OUTPUT_FILE ARGS...: run with stdin from /dev/null, compare stdout
	want=$1 want_out=$2
	shift 2
	timeout 60 "$run" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq "$want" ] && cmp -s "$tmp/out" "$want_out" && [ ! -s "$tmp/err" ]; then
		ok "status $rc, output '$(tr '\n' ' ' <"$tmp/out")': $*"
	else
		bad "kvmhost-run $*: want status $want and '$(cat "$want_out")', got status $rc, output '$(cat "$tmp/out")', stderr: $(cat "$tmp/err")"
	fi
}
printf 'MB:ZQ\n' >"$tmp/hello.out"
: >"$tmp/nothing"
# debug-exit: mb_hello writes 0 when every check of its Multiboot information passed: status (0 << 1) | 1.
expect_run 1 "$tmp/hello.out" --multiboot --kernel "$hello" --initrd "$tmp/module" --cmdline Zx --debug-exit
expect_run 1 "$tmp/hello.out" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit=0xf4 --cpus 4 --mem 64M
# RAM above the 32-bit hole: 5G is 3 GiB below it and 2 GiB from 4 GiB up. The host must be able to map that
# (the lab's L1 has 2 GiB, and the kernel's overcommit heuristic refuses a 3 GiB mapping there).
if [ "$(awk '/^MemTotal:/ { print int($2 / 1048576) }' /proc/meminfo)" -ge 6 ]; then
	expect_run 1 "$tmp/hello.out" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit --mem 5G --cpus 2
else
	ok "--mem 5G not tried: this host has less than 6 GiB of memory"
fi
# Without a module its check 6 fails: status (6 << 1) | 1, and it prints nothing.
expect_run 13 "$tmp/nothing" --multiboot --kernel "$hello" --cmdline Z --debug-exit
expect_run 1 "$tmp/nothing" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit --serial none
expect_run 1 "$tmp/nothing" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit --serial "file:$tmp/com1"
if cmp -s "$tmp/com1" "$tmp/hello.out"; then ok "--serial file: wrote the guest's output"; else bad "--serial file: got '$(cat "$tmp/com1")'"; fi

# Every virtio device on each transport: the machine builds (DSDT entries, PCI functions, ioeventfds, irqfds,
# MSI routes), the guest runs as before (mb_hello has no virtio driver) and everything is torn down cleanly.
# The TAP needs /dev/net/tun and CAP_NET_ADMIN; without them the run goes without --net.
dd if=/dev/zero of="$tmp/disk" bs=64k count=16 2>/dev/null
cp "$tmp/disk" "$tmp/disk2"
net=
if [ -c /dev/net/tun ] && [ "$(id -u)" -eq 0 ]; then net="--net tap=khrun$$"; fi
for transport in mmio mmio-cmdline pci; do
	# shellcheck disable=SC2086 # $net is two words or none
	expect_run 1 "$tmp/nothing" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit --serial none \
		--transport $transport --disk "$tmp/disk" --disk "$tmp/disk2,ro" --rng --console="file:$tmp/hvc" $net
done
expect_run 1 "$tmp/hello.out" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --debug-exit \
	--console="socket:$tmp/hvc.sock" --rng --transport pci --cpus 2
if [ ! -e "$tmp/hvc.sock" ]; then ok "--console=socket: removed its socket at the end"; else bad "--console=socket: left $tmp/hvc.sock"; fi

# stdin -> COM1: mb_echo reads one byte at a time (FIFO off) and echoes it upper-cased up to a newline.
line="hello from stdin, longer than the sixteen bytes of a 16550 FIFO"
printf 'ECHO:%s\n' "$(echo "$line" | tr '[:lower:]' '[:upper:]')" >"$tmp/echo.out"
printf '%s\nnot read\n' "$line" >"$tmp/input"
for how in pipe file; do
	if [ $how = pipe ]; then
		# shellcheck disable=SC2002 # a pipe is the point
		cat "$tmp/input" | timeout 60 "$run" --kernel "$echo_guest" --debug-exit >"$tmp/out" 2>"$tmp/err"
	else
		timeout 60 "$run" --kernel "$echo_guest" --debug-exit <"$tmp/input" >"$tmp/out" 2>"$tmp/err"
	fi
	rc=$?
	if [ "$rc" -eq 1 ] && cmp -s "$tmp/out" "$tmp/echo.out"; then
		ok "stdin from a $how reached the guest: $(cat "$tmp/out")"
	else
		bad "stdin from a $how: status $rc, output '$(cat "$tmp/out")', stderr: $(cat "$tmp/err")"
	fi
done

# Signals: mb_hello without --debug-exit halts for ever after printing; SIGINT and SIGTERM end the VMM cleanly.
for sig in INT:130 TERM:143; do
	rm -f "$tmp/sig.out" # so that the wait below sees this run's output, not the last one's
	"$run" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --cpus 2 --serial "file:$tmp/sig.out" </dev/null 2>"$tmp/err" &
	pid=$!
	n=0
	while [ "$n" -lt 100 ] && ! grep -q MB: "$tmp/sig.out" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
	kill -"${sig%:*}" "$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" -eq "${sig#*:}" ] && [ ! -s "$tmp/err" ]; then ok "SIG${sig%:*} after the guest's output: status $rc"; else bad "SIG${sig%:*}: status $rc, stderr: $(cat "$tmp/err")"; fi
done

# --control: a QMP socket on the running machine (a halted mb_hello with 2 vCPUs and a read-only disk).
qmp() { # NEEDLE COMMAND: one request; its compact reply must hold NEEDLE
	if r=$(timeout 10 "$ctl" --compact "$tmp/q.sock" "$2" 2>&1) && printf '%s' "$r" | grep -qF -- "$1"; then
		ok "--control $2: $r"
	else
		bad "--control $2: want '$1', got: $r"
	fi
}
if [ -x "$ctl" ]; then
	for how in system_reset:4 quit:0; do
		"$run" --kernel "$hello" --initrd "$tmp/module" --cmdline Z --cpus 2 --serial none --disk "$tmp/disk,ro" \
			--control "$tmp/q.sock" </dev/null 2>"$tmp/err" &
		pid=$!
		n=0
		while [ "$n" -lt 100 ] && [ ! -S "$tmp/q.sock" ]; do sleep 0.1; n=$((n + 1)); done
		qmp '"status": "running"' query-status
		qmp '{"return": {}}' stop
		qmp '"status": "paused"' query-status
		qmp '{"return": {}}' cont
		qmp '"cpu-index": 1' query-cpus-fast
		qmp "\"file\": \"$tmp/disk\", \"node-name\"" query-block
		qmp '"package": "kvmhost-run' query-version
		qmp '{"return": {}}' "${how%:*}"
		wait "$pid"
		rc=$?
		if [ "$rc" -eq "${how#*:}" ] && [ ! -s "$tmp/err" ] && [ ! -e "$tmp/q.sock" ]; then
			ok "--control ${how%:*}: status $rc, socket removed"
		else
			bad "--control ${how%:*}: status $rc (want ${how#*:}), socket $(ls "$tmp/q.sock" 2>&1), stderr: $(cat "$tmp/err")"
		fi
	done
else
	ok "--control not exercised: no kvmhostctl (give it as the third argument)"
fi

if [ "$fails" -ne 0 ]; then
	echo "kvmhost_run_test: $fails failures"
	exit 1
fi
echo "kvmhost_run_test: pass"

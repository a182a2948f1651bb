#!/bin/sh
# without-kvm.sh COMMAND [ARGS...]: run COMMAND on this machine as if it had no /dev/kvm at all, the way a
# fresh machine of ours was found on 2026-12-07 (no kvm misc device registered). In a mount namespace of its
# own, /dev is replaced by a copy that lacks kvm (device nodes, symlinks and directories copied; /dev/pts,
# /dev/shm and the like bound in), so open("/dev/kvm") fails with ENOENT there and nowhere else.
# Needs root (mknod on a tmpfs); scripts/test.sh uses it to prove the kvm tier's skips on a machine with a KVM.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
	echo "without-kvm.sh: needs root (it builds a /dev without kvm in a mount namespace)" >&2
	exit 2
fi
# shellcheck disable=SC2016 # the inner script expands its own variables
exec unshare --mount --propagation private sh -euc '
	d=$(mktemp -d /tmp/without-kvm.XXXXXX)
	mount -t tmpfs -o mode=755 without-kvm "$d"
	for e in $(ls -A /dev); do
		case $e in
		kvm) ;;
		pts | shm | mqueue | hugepages) mkdir "$d/$e"; mount --rbind "/dev/$e" "$d/$e" ;;
		*) cp -a "/dev/$e" "$d/" ;;
		esac
	done
	mount --move "$d" /dev
	rmdir "$d" 2>/dev/null || true
	exec "$@"' without-kvm "$@"

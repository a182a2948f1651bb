#!/bin/sh
# shellcheck disable=SC2012,SC2013 # ls only names devices in a message; /proc/cmdline is read by words
# L2 guest test "vbench", for the virtio benchmark (tests/lab/l1/virtio-bench.sh). The guest sets up eth0
# (virtio-net on a tap in L1), prints VBENCH-READY, then runs the measurements L1 asks for, one command line at a
# time on the serial console ("SEQ PHASE SECS"), with lab_vbench (tests/lab/programs):
#   seq-write / seq-read   sequential O_DIRECT writes / reads of /dev/vda (the raw disk, virtio-blk), 1 MiB blocks
#   rand-read              4 KiB O_DIRECT reads at random offsets of /dev/vda (fixed seed), queue depth 1
#   tcp-send               TCP to the L1 host (vbench.host:vbench.port), which counts what arrives
#   quit                   end the test (the guest then powers off)
# Each command prints "VBENCH-CMD SEQ PHASE", lab_vbench's VBENCH-BEGIN / VBENCH-END lines (L1 stamps them with
# its clock), and "VBENCH-DONE SEQ rc=STATUS". L1 thus interleaves short phases of two VMs that run side by side.
# Kernel command line: vbench.ip=A.B.C.D (this guest, /24), vbench.host=A.B.C.D, vbench.port=N.
ip=10.0.2.2 host=10.0.2.1 port=5201
for a in $(cat /proc/cmdline); do
	case $a in
	vbench.ip=*) ip=${a#vbench.ip=} ;;
	vbench.host=*) host=${a#vbench.host=} ;;
	vbench.port=*) port=${a#vbench.port=} ;;
	esac
done
# What the devices offer and the driver took (virtio feature bits, bit 0 first): the figures depend on it.
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d/features" ] && echo "VBENCH-INFO virtio ${d##*/} device=$(cat "$d/device") features=$(cat "$d/features")"
done
rc=0
[ -b /dev/vda ] || { echo "VBENCH-INFO no /dev/vda (block devices: $(ls /sys/block | tr '\n' ' '))"; rc=1; }
if [ -e /sys/class/net/eth0 ]; then
	ip link set lo up
	ip addr add "$ip/24" dev eth0 && ip link set eth0 up || rc=1
else
	echo "VBENCH-INFO no eth0 (interfaces: $(ls /sys/class/net | tr '\n' ' '))"
	rc=1
fi
stty -echo 2>/dev/null # the commands need not come back on the console
echo "VBENCH-READY rc=$rc"
while read -r seq cmd secs; do
	echo "VBENCH-CMD $seq $cmd"
	case $cmd in
	seq-write | seq-read) lab_vbench "$cmd" /dev/vda "$secs" ;;
	rand-read) lab_vbench rand-read /dev/vda "$secs" 1 ;;
	tcp-send)
		lab_vbench tcp-send "$host" "$port" "$secs"
		r=$?
		# Retransmissions tell whether packets were lost (the file has a header line, then the values).
		awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 } else for (i = 2; i <= NF; i++) v[n[i]] = $i }
			END { print "VBENCH-INFO tcp out_segs=" v["OutSegs"] " retrans_segs=" v["RetransSegs"] " in_segs=" v["InSegs"] }' /proc/net/snmp
		(exit $r) ;;
	quit) echo "VBENCH-DONE $seq rc=0"; break ;;
	*) echo "VBENCH-INFO unknown command: $seq $cmd $secs"; false ;;
	esac
	r=$?
	[ $r -eq 0 ] || rc=1
	echo "VBENCH-DONE $seq rc=$r"
done
exit $rc

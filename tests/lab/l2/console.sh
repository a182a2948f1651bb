#!/bin/sh
# L2 guest test "console", for kvmhost-run's lab tests (tests/lab/l1/kvmhost-run-boot.sh): it reports the memory
# and CPUs the guest was given, then reads one command line from the serial console and runs it, so that the
# VMM's console input path is proven end to end. The host side answers KVMHOST-CONSOLE-READY with the command.
mem_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
echo "KVMHOST-SYSINFO mem_kb=$mem_kb cpus=$(grep -c '^processor' /proc/cpuinfo) online=$(cat /sys/devices/system/cpu/online)"
echo "KVMHOST-CONSOLE-READY"
if ! read -r -t 60 line; then
	echo "KVMHOST-CONSOLE: no command came in on the console within 60 s"
	exit 1
fi
eval "$line"

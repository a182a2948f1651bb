#!/bin/sh
# L2 guest test "panic": a guest kernel that panics, for the lab's negative self-test neg/l2_panic.
# The lab must report the failure with the guest console's tail instead of hanging.
echo "panic test: crashing the kernel through sysrq"
echo c >/proc/sysrq-trigger

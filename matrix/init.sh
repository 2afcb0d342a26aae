#!/bin/busybox sh
# /init of a matrix VM: mount what BPF needs, run the cases, print results on
# the console, power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# Modules the cases need, when this kernel builds them as modules.
if [ -f /modules/order ]; then
	for m in $(cat /modules/order); do insmod "/modules/$m" 2>/dev/null; done
fi
ip link set lo up 2>/dev/null
echo "UNIBPF-VM-BEGIN release=$(uname -r) machine=$(uname -m)"
. /cases.env
# The host's own settings (USERSPACE=1 on a host without eBPF), when it has any.
[ ! -f /host.env ] || . /host.env
UNIBPF=/unibpf/unibpf PROGRAMS=/programs CASES_SH=/cases.sh
. /cases.sh
run_cases $(cat /cases.list)
echo "UNIBPF-VM-END"
poweroff -f

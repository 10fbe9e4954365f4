#!/bin/busybox sh
# /init of the qemu guest built by run_qemu.sh: mount the basics, load the
# TUN driver, run the TOA test program, dump the kernel log, power off.
# Everything goes to the serial console, which the host parses.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

echo "TOA-GUEST-BOOT $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
# Dependencies first, as listed by the host.
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "TOA-RESULT insmod_$m FAIL"
done </lib/modules/load.list

/bin/toa_guest /lib/modules/toa.ko
echo "TOA-GUEST-EXIT rc=$?"

echo "TOA-DMESG-BEGIN"
dmesg
echo "TOA-DMESG-END"
echo "TOA-GUEST-DONE"
poweroff -f

#!/bin/sh
# Workload 3 with dmsetup: N status reads of one device.
#   status.sh NAME N
set -eu
name=$1 n=$2
i=0
while [ "$i" -lt "$n" ]; do
  dmsetup status "$name" > /dev/null
  i=$((i + 1))
done

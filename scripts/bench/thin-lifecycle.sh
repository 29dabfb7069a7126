#!/bin/sh
# Workload 4 with dmsetup, step for step what run.lua's stslua side does:
# a pool; THINS thin volumes, each made by message and activated; as many
# snapshots of them, each made by message and activated; every volume
# removed, every id deleted by message; the pool removed.
#   thin-lifecycle.sh POOL PREFIX METADATA DATA DATA_SECTORS THINS
set -eu
pool=$1 prefix=$2 meta=$3 data=$4 sectors=$5 thins=$6
dmsetup create "$pool" --table "0 $sectors thin-pool $meta $data 128 0"
# the pool by number: without udev, dmsetup makes no /dev/mapper nodes
dev=$(dmsetup info -c --noheadings -o major,minor --separator : "$pool")
i=0
while [ "$i" -lt "$thins" ]; do
  dmsetup message "$pool" 0 "create_thin $i"
  dmsetup create "$prefix$i" --table "0 2048 thin $dev $i"
  i=$((i + 1))
done
i=0
while [ "$i" -lt "$thins" ]; do
  s=$((thins + i))
  dmsetup message "$pool" 0 "create_snap $s $i"
  dmsetup create "$prefix$s" --table "0 2048 thin $dev $s"
  i=$((i + 1))
done
i=0
while [ "$i" -lt $((2 * thins)) ]; do
  dmsetup remove "$prefix$i"
  i=$((i + 1))
done
i=0
while [ "$i" -lt $((2 * thins)) ]; do
  dmsetup message "$pool" 0 "delete $i"
  i=$((i + 1))
done
dmsetup remove "$pool"

#!/bin/sh
# Workload 1 as the seed's library does it: one dmsetup per operation.
#   create-remove.sh PREFIX N BACKING
# creates PREFIX1..PREFIXN, each "0 1 linear BACKING 0", then removes them.
set -eu
prefix=$1 n=$2 backing=$3
i=1
while [ "$i" -le "$n" ]; do
  dmsetup create "$prefix$i" --table "0 1 linear $backing 0"
  i=$((i + 1))
done
i=1
while [ "$i" -le "$n" ]; do
  dmsetup remove "$prefix$i"
  i=$((i + 1))
done

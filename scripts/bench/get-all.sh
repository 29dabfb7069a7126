#!/bin/sh
# Workload 2 as the seed's library does it: `dmsetup ls`, then per device
# `dmsetup info` and `dmsetup table` (their output read, then dropped).
set -eu
dmsetup ls | while read -r name _; do
  dmsetup info "$name" > /dev/null
  dmsetup table "$name" > /dev/null
done

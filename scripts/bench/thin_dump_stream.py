#!/usr/bin/env python3
"""The Python side of make bench's thin_dump_stream workload.

Reads a thin_dump XML file with xml.etree.ElementTree.iterparse the way a
constant-memory reader is written in Python (each mapping's attributes read
as integers at its start event, the elements dropped as they end) and does
the same work as scripts/bench/thin_dump_stream.lua: count the mappings,
sum their lengths and fold every field into a checksum. (each_mapping
also joins a mapping that carries a run on; the bench's dumps have no such
runs, so the counts agree without it here.) Prints one line:
  mappings=N blocks=N checksum=N cpu_s=X wall_s=X peak_rss_mb=X
"""
import sys
import time
import xml.etree.ElementTree as ET

MOD = 1000000007


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def main(path):
    cpu0, wall0 = time.process_time(), time.monotonic()
    count = blocks = checksum = 0
    dev_id = -1
    device = None
    for event, el in ET.iterparse(path, events=("start", "end")):
        tag = el.tag
        if event == "start":
            if tag == "single_mapping":
                a = el.attrib
                origin, data, length, t = int(a["origin_block"]), int(a["data_block"]), 1, int(a["time"])
            elif tag == "range_mapping":
                a = el.attrib
                origin, data, length, t = (int(a["origin_begin"]), int(a["data_begin"]),
                                           int(a["length"]), int(a["time"]))
            else:
                if tag == "device":
                    dev_id = int(el.attrib["dev_id"])
                    device = el
                continue
            count += 1
            blocks += length
            checksum = (checksum * 31 + dev_id + origin * 7 + data * 13 + length * 17 + t) % MOD
        elif device is not None and tag in ("single_mapping", "range_mapping"):
            device.clear()  # drop the mapping elements read so far
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    print("mappings=%d blocks=%d checksum=%d cpu_s=%.3f wall_s=%.3f peak_rss_mb=%.1f"
          % (count, blocks, checksum, cpu, wall, peak_rss_mb()))


if __name__ == "__main__":
    main(sys.argv[1])

-- Writes to a snapshot stay in the snapshot: 1 MiB written through a
-- writable snapshot reads back from it, the origin keeps its data, and
-- the COW store grows by at least that much. Modelled on
-- device-mapper-test-suite's snapshot tests ("write to snapshot") and
-- snapshot.rst.
-- requires: target snapshot
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "sw", 0))
  local snap = o.snapshot(4)
  local before = suite.status(snap).allocated_sectors
  assert(suite.write_blocks(snap.path, 512, 256, "sw", 1))
  check(suite.status(snap).allocated_sectors - before >= 2048, "the COW store grew by at least 1 MiB")
  suite.check_blocks(snap.path, 512, 256, "sw", 1, "the snapshot reads its own write")
  suite.check_blocks(snap.path, 0, 512, "sw", 0, "and the shared data around it")
  suite.check_blocks(o.path, 0, 1024, "sw", 0, "the origin is unchanged")
end
os.exit(suite.report())

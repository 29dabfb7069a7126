-- Persistent and transient snapshots: both keep the old data while the
-- origin is overwritten; the persistent one keeps its exceptions on disk
-- (metadata sectors in the typed status) and, taken down and set up again
-- over the same COW device, still reads the old data; the transient one
-- has no metadata and, set up again, starts from the current origin.
-- Modelled on device-mapper-test-suite's snapshot tests and snapshot.rst
-- (persistent "P" / transient "N").
-- requires: target snapshot
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local dm = require "sts.dm"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "pt", 0))
  local p = o.snapshot(8, "P")
  local n = o.snapshot(8, "N")
  assert(suite.write_blocks(o.path, 0, 512, "pt", 1))
  local sp, sn = suite.status(p), suite.status(n)
  print(("persistent: %d allocated, %d metadata; transient: %d allocated, %d metadata"):format(
    sp.allocated_sectors, sp.metadata_sectors, sn.allocated_sectors, sn.metadata_sectors))
  check(sp.metadata_sectors > 0, "the persistent snapshot keeps metadata")
  check(sn.metadata_sectors == 0, "the transient one keeps none")
  suite.check_blocks(p.path, 0, 1024, "pt", 0, "persistent snapshot reads the old data")
  suite.check_blocks(n.path, 0, 1024, "pt", 0, "transient snapshot reads the old data")
  -- take both down and set them up again over the same COW devices
  local function again(snap, kind)
    local fields = snap:targets()[1]:params()
    assert(o.dev:suspend())
    assert(snap:remove())
    local d = dm.create(testkit.prefix .. "again-" .. kind, dm.SnapshotTarget(fields))
    assert(o.dev:resume())
    for i, s in ipairs(o.snaps) do if s == snap then o.snaps[i] = d end end
    return d
  end
  local p2, n2 = again(p, "P"), again(n, "N")
  suite.check_blocks(p2.path, 0, 1024, "pt", 0, "the persistent snapshot, set up again, still reads the old data")
  suite.check_blocks(n2.path, 0, 512, "pt", 1, "the transient one, set up again, reads the origin as it is now")
end
os.exit(suite.report())

-- Writing to the origin while a merge runs: the merge of a snapshot that
-- differs from the origin in 3 MiB is started, and during it the origin
-- takes a new write to its last MiB; when the merge completes the origin
-- reads the snapshot's data everywhere except that MiB, which holds the
-- write made during the merge. Modelled on lvm2's
-- test/shell/snapshot-merge.sh and snapshot.rst ("snapshot-merge": the
-- origin stays usable during the merge).
-- requires: target snapshot-merge
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "mw", 0))
  local snap = o.snapshot(8)
  assert(suite.write_blocks(o.path, 0, 768, "mw", 1))                    -- 3 MiB differ
  local fields = snap:targets()[1]:params()
  assert(snap:remove())
  o.snaps = {}
  suite.reload(o.dev, dm.SnapshotMergeTarget(fields))
  local during = suite.status(o.dev)
  print(("merge started: %d allocated, %d metadata"):format(during.allocated_sectors, during.metadata_sectors))
  check(suite.write_blocks(o.path, 768, 256, "mw", 3), "a write to the origin during the merge succeeds")
  local ok = suite.poll(o.dev, function(s)
    return s.allocated_sectors ~= nil and s.allocated_sectors == s.metadata_sectors end, 40000)
  check(ok, "the merge completed")
  suite.check_blocks(o.path, 0, 768, "mw", 0, "the origin reads the snapshot's data where it differed")
  suite.check_blocks(o.path, 768, 256, "mw", 3, "and the write made during the merge in the last MiB")
  suite.reload(o.dev, dm.SnapshotOriginTarget{size = o.sectors, origin = o.real.path})
end
os.exit(suite.report())

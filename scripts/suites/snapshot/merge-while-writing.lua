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
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "mw", 0))
  local snap = o.snapshot(8)
  assert(suite.write_blocks(o.path, 0, 768, "mw", 1))                    -- 3 MiB differ
  suite.start_merge(o, snap)
  local during = suite.status(o.dev)
  print(("merge started: %d allocated, %d metadata"):format(during.allocated_sectors, during.metadata_sectors))
  check(suite.write_blocks(o.path, 768, 256, "mw", 3), "a write to the origin during the merge succeeds")
  local ok = suite.wait_merged(o.dev)
  check(ok, "the merge completed")
  suite.check_blocks(o.path, 0, 768, "mw", 0, "the origin reads the snapshot's data where it differed")
  suite.check_blocks(o.path, 768, 256, "mw", 3, "and the write made during the merge in the last MiB")
  suite.end_merge(o)
end
os.exit(suite.report())

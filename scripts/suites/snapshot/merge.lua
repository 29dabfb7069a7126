-- snapshot-merge to completion: a snapshot is taken, the origin is
-- overwritten in its first MiB and the snapshot in its third; the
-- snapshot is merged back (the origin's table swapped for snapshot-merge
-- over the same COW device); the typed status counts down until only
-- metadata is left, and the origin then reads exactly what the snapshot
-- held: generation 0 where the origin had been overwritten, the
-- snapshot's own writes in the third MiB. Modelled on
-- device-mapper-test-suite's snapshot merge tests, lvm2's
-- test/shell/snapshot-merge.sh and snapshot.rst ("snapshot-merge").
-- requires: target snapshot-merge
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "mg", 0))
  local snap = o.snapshot(8)
  assert(suite.write_blocks(o.path, 0, 256, "mg", 1))
  assert(suite.write_blocks(snap.path, 512, 256, "mg", 2))
  suite.start_merge(o, snap, suite.mutate("no-merge"))
  local ok, st = suite.wait_merged(o.dev)
  check(ok, "the merge completed: only metadata left in the COW store")
  if ok then print(("after the merge: %d/%d allocated, %d metadata"):format(st.allocated_sectors,
    st.total_sectors, st.metadata_sectors)) end
  suite.check_blocks(o.path, 0, 256, "mg", 0, "the origin's overwritten MiB is back to generation 0")
  suite.check_blocks(o.path, 256, 256, "mg", 0, "the untouched MiB is generation 0")
  suite.check_blocks(o.path, 512, 256, "mg", 2, "the snapshot's own writes are in the origin now")
  suite.check_blocks(o.path, 768, 256, "mg", 0, "the last MiB is generation 0")
  suite.end_merge(o)
  suite.check_blocks(o.path, 512, 256, "mg", 2, "the merged data stays after the merge target is gone")
end
os.exit(suite.report())

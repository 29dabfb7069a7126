-- Copy-on-write under origin writes: a snapshot of a 4 MiB origin keeps
-- reading the data of the moment it was taken while 2 MiB of the origin
-- are overwritten; the origin reads the new data; the typed status shows
-- the COW store holding at least the copied 2 MiB. Modelled on
-- device-mapper-test-suite's snapshot tests ("origin writes copy") and
-- Documentation/admin-guide/device-mapper/snapshot.rst.
-- requires: target snapshot
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "cow", 0))
  local snap = o.snapshot(8)
  local st0 = suite.status(snap)
  if not suite.mutate("no-origin-write") then
    assert(suite.write_blocks(o.path, 256, 512, "cow", 1))               -- MiB 1 and 2
  end
  local st = suite.status(snap)
  print(("COW store: %d/%d sectors allocated, %d metadata"):format(st.allocated_sectors,
    st.total_sectors, st.metadata_sectors))
  check(st.allocated_sectors - st0.allocated_sectors >= 4096, "typed status: at least 2 MiB copied into the COW store")
  suite.check_blocks(snap.path, 0, 1024, "cow", 0, "the snapshot reads the old data everywhere")
  suite.check_blocks(o.path, 256, 512, "cow", 1, "the origin reads the new data")
  suite.check_blocks(o.path, 0, 256, "cow", 0, "and the old data around it")
  suite.check_blocks(o.path, 768, 256, "cow", 0, "on both sides")
end
os.exit(suite.report())

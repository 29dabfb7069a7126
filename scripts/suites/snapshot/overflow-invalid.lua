-- A snapshot whose COW store overflows is dropped: overwriting 4 MiB of
-- the origin under a snapshot with a 1 MiB store makes the typed status
-- say Invalid, reads of the snapshot fail, and the origin keeps working
-- and reads the new data. Modelled on device-mapper-test-suite's snapshot
-- tests ("snapshot overflow") and lvm2's test/shell/snapshot-autoumount-dmeventd.sh.
-- requires: target snapshot
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(8)
  assert(suite.write_blocks(o.path, 0, 2048, "ov", 0))
  local snap = o.snapshot(1)
  check(not suite.status(snap).invalid, "the snapshot starts valid")
  assert(suite.write_blocks(o.path, 0, 1024, "ov", 1))                   -- 4 MiB > 1 MiB store
  local st = suite.status(snap)
  print("snapshot status: " .. snap:status())
  check(st.invalid == true, "typed status: Invalid")
  check(not suite.read_at(snap.path, 0, 4096), "reads of the invalid snapshot fail")
  suite.check_blocks(o.path, 0, 1024, "ov", 1, "the origin reads the new data")
  suite.check_blocks(o.path, 1024, 1024, "ov", 0, "and its untouched half")
  check(suite.write_blocks(o.path, 1024, 16, "ov", 2), "the origin takes more writes")
end
os.exit(suite.report())

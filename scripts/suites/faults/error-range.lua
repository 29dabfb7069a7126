-- An error range in the middle of a device: with sectors 4-6 MiB of a
-- linear device swapped for the error target (testkit.inject), reads and
-- writes there fail while the rest of the device reads and writes
-- normally; restored, the range works again and nothing outside it
-- changed. Modelled on xfstests' dm-error helpers (common/dmerror) and
-- lvm2's test/lib/aux.sh (error_dev).
-- requires: target error
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 8)
  local lin <close> = testkit.linear(los[1])
  assert(suite.write_blocks(lin.path, 0, 2048, "er", 0))
  do
    local fault <close> = testkit.inject(lin, {type = "error", start = 8192, size = 4096})
    check(lin.dev:status_table()[2].type == "error", "the middle target is the error target")
    check(not suite.read_at(lin.path, 4 * suite.MiB, 4096), "a read inside the range fails")
    check(not suite.write_blocks(lin.path, 1100, 1, "er", 1), "a write inside the range fails")
    suite.check_blocks(lin.path, 0, 1024, "er", 0, "below the range reads")
    suite.check_blocks(lin.path, 1536, 512, "er", 0, "above it reads")
    check(suite.write_blocks(lin.path, 1600, 16, "er", 2), "a write above it succeeds")
    fault:restore()
  end
  suite.check_blocks(lin.path, 1024, 512, "er", 0, "restored: the range reads its old data")
  suite.check_blocks(lin.path, 1600, 16, "er", 2, "the write made during the fault is there")
end
os.exit(suite.report())

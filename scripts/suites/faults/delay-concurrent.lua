-- dm-delay under concurrent I/O: with reads delayed 400 ms, one 4 KiB
-- read takes at least 400 ms, four concurrent reads of different blocks
-- are delayed together rather than one after another (the batch takes
-- well under four delays), and every read returns the right data.
-- Modelled on Documentation/admin-guide/device-mapper/delay.rst and
-- xfstests' common/dmdelay.
-- requires: target delay
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local time = require "sts.time"
local dm = require "sts.dm"
local check = suite.start()

local DELAY = 400
do
  local los <close> = testkit.loop_devices(1, 4)
  assert(suite.write_blocks(los[1].path, 0, 64, "dl", 0))
  local d <close> = suite.device("delay", dm.DelayTarget{size = los[1].size // 512, device = los[1].path,
    delay = DELAY, write = {device = los[1].path, offset = 0, delay = 0}})
  local t0 = time.now_ms()
  suite.check_blocks(d.path, 1, 1, "dl", 0, "a delayed read returns the right data")
  local one = time.now_ms() - t0
  local argvs = {}
  for i = 1, 4 do
    argvs[i] = {"dd", "if=" .. d.path, "of=/dev/null", "bs=4096", "count=1", "skip=" .. (10 * i), "iflag=direct"}
  end
  t0 = time.now_ms()
  local rcs = suite.parallel(argvs)
  local four = time.now_ms() - t0
  print(("one read: %d ms; four concurrent reads: %d ms"):format(one, four))
  check(one >= DELAY, "one read waited at least the delay")
  check(rcs[1] == 0 and rcs[2] == 0 and rcs[3] == 0 and rcs[4] == 0, "all four reads succeeded")
  check(four >= DELAY and four < 3 * DELAY + one, "the four were delayed together, not in turn")
  local bad = 0
  for i = 1, 4 do bad = bad + suite.verify_blocks(d.path, 10 * i, 1, "dl", 0) end
  check(bad == 0, "each read block holds its data")
end
os.exit(suite.report())

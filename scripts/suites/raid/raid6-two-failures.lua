-- raid6 (zero-restart) over four legs survives two failed legs: after the
-- initial sync, data written reads back even with two legs' data devices
-- failing at once, and the typed status counts two dead legs. Modelled on
-- lvm2's test/shell/lvcreate-raid.sh (raid6) and dm-raid.rst.
-- requires: target raid
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local legs <close> = suite.raid_legs(4, 6)
  local per_leg = legs.sectors - 2048
  local r <close> = suite.device("r6", dm.RaidTarget{size = 2 * per_leg, raid_type = "raid6_zr",
    chunk_size = 64, features = {{"region_size", 1024}}, devices = legs.devices})
  local ok, st = suite.wait_in_sync(r)
  check(ok and st.health == "AAAA", "initial sync done: health " .. st.health)
  assert(suite.write_blocks(r.path, 0, 1024, "r6", 0))
  do
    local f1 <close> = testkit.inject(legs[1].data, {type = "error"})
    local f3 <close> = testkit.inject(legs[3].data, {type = "error"})
    suite.check_blocks(r.path, 0, 1024, "r6", 0, "with two legs failing, every byte reads back")
    local okd, std = suite.poll(r, function(s) return s.failed_devices == 2 end, 10000)
    check(okd, "typed status: two dead legs, health " .. std.health)
  end
end
os.exit(suite.report())

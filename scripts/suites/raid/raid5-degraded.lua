-- raid5 (left-symmetric) over three legs: the initial sync finishes with
-- health AAA, data written reads back, and with one leg's data device
-- failing the set reads every byte from the survivors (parity) and the
-- typed status shows the dead leg. Modelled on lvm2's
-- test/shell/lvcreate-raid.sh (raid5) and dm-raid.rst.
-- requires: target raid
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local legs <close> = suite.raid_legs(3, 6)
  local per_leg = legs.sectors - 2048                       -- leave room for the data offset
  local r <close> = suite.device("r5", dm.RaidTarget{size = 2 * per_leg, raid_type = "raid5_ls",
    chunk_size = 64, features = {{"region_size", 1024}}, devices = legs.devices})
  local ok, st = suite.wait_in_sync(r)
  check(ok and st.health == "AAA", "initial sync done: health " .. st.health)
  assert(suite.write_blocks(r.path, 0, 1024, "r5", 0))
  suite.check_blocks(r.path, 0, 1024, "r5", 0, "the data reads back")
  do
    local fault <close> = testkit.inject(legs[2].data, {type = "error"})
    if suite.mutate("two-legs") then testkit.inject(legs[3].data, {type = "error"}) end
    suite.check_blocks(r.path, 0, 1024, "r5", 0, "with leg 2 failing, every byte reads back from parity")
    local okd, std = suite.poll(r, function(s) return s.health:find("D") ~= nil end, 10000)
    check(okd, "typed status: a dead leg, health " .. std.health)
    fault:restore()
  end
end
os.exit(suite.report())

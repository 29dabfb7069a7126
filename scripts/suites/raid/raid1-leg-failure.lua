-- A raid1 leg failing and coming back: with leg 2's data device swapped
-- for the error target, writes still succeed and the typed status marks
-- the leg dead (health AD); the device is restored and the set reloaded
-- with `rebuild 1`; recovery runs to idle, health is AA again and leg 2
-- holds every byte written while it was gone. Modelled on lvm2's
-- test/shell/lvconvert-raid.sh and lvchange-raid.sh (refresh after a
-- transient failure) and dm-raid.rst ("rebuild").
-- requires: target raid
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local legs <close> = suite.raid_legs(2, 8)
  local function target(features)
    return dm.RaidTarget{size = legs.sectors - 2048, raid_type = "raid1", chunk_size = 0,
      features = features, devices = legs.devices}
  end
  local r <close> = suite.device("r1f", target({{"region_size", 1024}}))
  assert(suite.wait_in_sync(r), "initial resync")
  assert(suite.write_blocks(r.path, 0, 256, "lf", 0))
  do
    local fault <close> = testkit.inject(legs[2].data, {type = "error"})
    check(suite.write_blocks(r.path, 256, 256, "lf", 1), "a write with one leg failing succeeds")
    local ok, st = suite.poll(r, function(s) return s.health == "AD" end, 10000)
    check(ok, "typed status: leg 2 dead, health " .. st.health .. ", " .. st.failed_devices .. " failed")
    suite.check_blocks(r.path, 256, 256, "lf", 1, "the set reads what was written while degraded")
    fault:restore()
  end
  suite.reload(r, target({{"region_size", 1024}, {"rebuild", 1}}))
  local ok, st = suite.wait_in_sync(r)
  check(ok, "recovery finished: health " .. st.health .. ", action " .. st.sync_action)
  check(st.health == "AA", "typed status: AA again")
  local off = (st.data_offset or 0) * 512
  local want = suite.blocks("lf", 0, 0, 256) .. suite.blocks("lf", 1, 256, 256)
  check(suite.read_at(legs[2].data.path, off, 2 * suite.MiB) == want, "leg 2 holds what was written while it was gone")
  check(suite.read_at(legs[1].data.path, off, 2 * suite.MiB) == want, "leg 1 too")
end
os.exit(suite.report())

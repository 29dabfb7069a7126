-- A new raid1 set resyncs from empty: the typed status goes from
-- resyncing to idle with every region in sync and both legs healthy
-- (health AA); data written through the set then lands identically on
-- both legs' data devices. Modelled on lvm2's test/shell/lvcreate-raid.sh
-- and Documentation/admin-guide/device-mapper/dm-raid.rst.
-- requires: target raid
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local dm = require "sts.dm"
local check = suite.start()

do
  local legs <close> = suite.raid_legs(2, 8)
  local r <close> = suite.device("r1", dm.RaidTarget{size = legs.sectors - 2048, raid_type = "raid1",
    chunk_size = 0, features = {{"region_size", 1024}}, devices = legs.devices})
  local st0 = suite.status(r)
  print(("at start: health %s, %d/%d, action %s"):format(st0.health, st0.sync_current, st0.sync_total, st0.sync_action))
  local ok, st = suite.wait_in_sync(r)
  check(ok, "the resync finished: health " .. st.health .. ", " .. st.sync_current .. "/" .. st.sync_total)
  check(st.health == "AA" and st.sync_action == "idle", "typed status: AA, idle")
  check(st.mismatch_count == 0, "no mismatches")
  assert(suite.write_blocks(r.path, 0, 1024, "r1", 0))
  suite.check_blocks(r.path, 0, 1024, "r1", 0, "the raid1 device reads the data")
  local off = st.data_offset or 0
  local a = suite.read_at(legs[1].data.path, off * 512, 4 * suite.MiB)
  local b = suite.read_at(legs[2].data.path, off * 512, 4 * suite.MiB)
  check(a == suite.blocks("r1", 0, 0, 1024), "leg 1 holds the data at the data offset")
  check(a == b, "leg 2 holds the same bytes")
end
os.exit(suite.report())

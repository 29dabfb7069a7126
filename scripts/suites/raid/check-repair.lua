-- raid1 scrubbing: one leg is corrupted behind the set's back; the
-- `check` sync action finds mismatches (typed status mismatch_count > 0),
-- `repair` rewrites them, and a second `check` finds none; afterwards both
-- legs hold the same bytes. Modelled on lvm2's test/shell/lvchange-raid.sh
-- (syncaction check/repair) and dm-raid.rst ("check", "repair").
-- requires: target raid
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local dm = require "sts.dm"
local check = suite.start()

local function scrub(r, action)
  suite.message(r, action)
  -- the action starts asynchronously: wait for it to leave idle, then to end
  -- (up to 10 s: on a loaded machine it may start late, and a wait for
  -- idle before it started would end at once)
  suite.poll(r, function(s) return s.sync_action == action end, 10000)
  return suite.poll(r, function(s) return s.sync_action == "idle" end, 50000)
end

do
  local legs <close> = suite.raid_legs(2, 8)
  local r <close> = suite.device("r1c", dm.RaidTarget{size = legs.sectors - 2048, raid_type = "raid1",
    chunk_size = 0, features = {{"region_size", 1024}}, devices = legs.devices})
  local ok, st = suite.wait_in_sync(r)
  assert(ok, "initial resync")
  assert(suite.write_blocks(r.path, 0, 512, "cr", 0))
  local off = (st.data_offset or 0) * 512
  if not suite.mutate("no-corruption") then
    assert(suite.write_at(legs[2].data.path, off + suite.MiB, string.rep("X", 65536)))
  end
  local _, s1 = scrub(r, "check")
  print(("after check: mismatch_count %d, action %s"):format(s1.mismatch_count, s1.sync_action))
  check(s1.mismatch_count > 0, "check finds the corrupted leg: " .. s1.mismatch_count .. " mismatched sectors")
  scrub(r, "repair")
  local _, s2 = scrub(r, "check")
  check(s2.mismatch_count == 0, "a check after repair finds none: " .. s2.mismatch_count)
  local a = suite.read_at(legs[1].data.path, off, 2 * suite.MiB)
  check(a == suite.read_at(legs[2].data.path, off, 2 * suite.MiB), "both legs hold the same bytes")
  suite.check_blocks(r.path, 0, 512, "cr", 0, "the set reads the data")
end
os.exit(suite.report())

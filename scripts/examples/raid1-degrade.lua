-- raid1 degrade and recover: a two-leg dm-raid set syncs, loses a leg
-- (its devices start failing I/O), keeps serving the data degraded, gets
-- the leg back and recovers it. Self-checking: exits 0 only when all held.
--
--   scripts/sts-vm run scripts/examples/raid1-degrade.lua
local testkit = require "sts.testkit"
local sio = require "sts.io"

local check, report = testkit.checks()

do
  local r <close> = testkit.raid{level = "raid1", legs = 2, leg_mb = 16}
  local st = r:wait_sync()
  check(st.health == "AA" and st.sync_action == "idle", "initial sync done: " .. st.health)
  check(sio.write_pattern(r.dev, {seed = 11}), "pattern written")

  st = r:fail_leg(2)
  print(("leg 2 failed: health %s, %d failed device(s)"):format(st.health, st.failed_devices))
  check(st.health_chars[2] == "D" and st.failed_devices == 1, "status shows leg 2 dead")
  check(sio.verify_pattern(r.dev, {seed = 11}), "degraded set still reads the data")
  check(sio.write_pattern(r.dev, {seed = 11, generation = 2}), "degraded set takes writes")

  r:restore_leg(2)
  st = r:wait_sync()
  print(("recovered: health %s, %d/%d synced"):format(st.health, st.sync_current, st.sync_total))
  check(st.health == "AA" and st.failed_devices == 0, "both legs alive again")
  check(st.mismatch_count == 0, "no mismatches")
  check(sio.verify_pattern(r.dev, {seed = 11, generation = 2}), "data intact after recovery")
  -- the recovered leg alone holds the data: fail the other one
  st = r:fail_leg(1)
  check(st.health_chars[1] == "D", "leg 1 failed")
  check(sio.verify_pattern(r.dev, {seed = 11, generation = 2}), "the recovered leg serves the data")
end
os.exit(report())

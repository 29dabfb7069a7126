-- A thin device over an external (read-only) origin: reads of blocks the
-- thin has not written come from the origin, writes go to the pool and
-- leave the origin untouched, and only written blocks use pool space.
-- Modelled on device-mapper-test-suite's thin ExternalOriginTests and
-- Documentation/admin-guide/device-mapper/thin-provisioning.rst
-- ("External snapshots").
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 8)
  local origin_rw <close> = testkit.linear(los[1])
  assert(suite.write_blocks(origin_rw.path, 0, 2048, "origin", 0))       -- all 8 MiB
  local origin <close> = suite.device("ext-origin", dm.LinearTarget{size = los[1].size // 512,
    device = los[1].path}, {readonly = true})
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  suite.message(pool, "create_thin 1")
  local thin <close> = suite.device("ext-thin", dm.ThinTarget{size = origin.size // 512,
    pool_dev = pool.dev.path, dev_id = 1, external_origin_dev = origin.path})
  suite.check_blocks(thin.path, 0, 2048, "origin", 0, "the thin reads the external origin's data")
  check(pool:status().used_data_blocks == 0, "reads use no pool space")
  assert(suite.write_blocks(thin.path, 160, 32, "thin", 1))              -- two pool blocks
  check(pool:status().used_data_blocks == 2, "two written pool blocks mapped: " .. pool:status().used_data_blocks)
  suite.check_blocks(thin.path, 160, 32, "thin", 1, "the thin reads its own writes")
  suite.check_blocks(thin.path, 0, 160, "origin", 0, "below them the origin still shows through")
  suite.check_blocks(thin.path, 192, 2048 - 192, "origin", 0, "above them too")
  suite.check_blocks(origin.path, 0, 2048, "origin", 0, "the origin itself is unchanged")
  local ts = suite.status(thin)
  check(ts.mapped_sectors == 2 * 128, "thin status: 256 sectors mapped, got " .. tostring(ts.mapped_sectors))
end
os.exit(suite.report())

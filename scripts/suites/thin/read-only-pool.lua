-- A pool switched to read-only (its table reloaded with read_only): the
-- typed status says ro, a thin still reads its data, a write to a new
-- block fails, and after switching back the writes go through. Modelled on
-- device-mapper-test-suite's thin ReadOnlyTests and thin-provisioning.rst
-- (read_only).
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

local function set_features(pool, features)
  local fields = pool.dev:targets()[1]:params()
  fields.features = features
  suite.reload(pool, dm.ThinPoolTarget(fields))
end

do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128}
  local thin = pool:create_thin(1, 8 * 2048)
  assert(suite.write_blocks(thin.path, 0, 256, "ro", 0))
  set_features(pool, {"read_only"})
  local st = pool:status()
  check(st.mode == "ro", "typed status: ro, got " .. tostring(st.mode))
  suite.check_blocks(thin.path, 0, 256, "ro", 0, "the thin reads its data from a read-only pool")
  local ok, msg = suite.write_blocks(thin.path, 512, 16, "ro", 1)
  print("write to a new block: " .. tostring(ok or msg))
  check(not ok, "a write needing a new block fails")
  check(pool:status().used_data_blocks == 16, "nothing was provisioned")
  check(not pool.dev:message(0, "create_thin 2"), "metadata changes are refused too")
  set_features(pool, {})
  check(pool:status().mode == "rw", "back to rw")
  check(suite.write_blocks(thin.path, 512, 16, "ro", 1), "the write now succeeds")
  suite.check_blocks(thin.path, 512, 16, "ro", 1, "and reads back")
end
os.exit(suite.report())

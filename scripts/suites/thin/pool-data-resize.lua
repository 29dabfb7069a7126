-- Growing a live pool's data device: an 8 MiB pool fills up under
-- error_if_no_space, its data device is extended with a second loop
-- device and the pool's table reloaded with the new length; the typed
-- status shows the new total and rw mode, the writes that failed now
-- succeed, and both old and new data read back. Modelled on
-- device-mapper-test-suite's thin PoolResizeTests (resize_data_dev) and
-- lvm2's test/shell/lvextend-thin.sh.
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local extra <close> = testkit.loop_devices(1, 8)
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"error_if_no_space"}}
  local thin = pool:create_thin(1, 32 * 2048)
  assert(suite.write_blocks(thin.path, 0, 2048, "grow", 0))             -- fills all 8 MiB
  local st = pool:status()
  check(st.used_data_blocks == 128 and st.total_data_blocks == 128, "the 128-block pool is full")
  check(not suite.write_blocks(thin.path, 2048, 256, "grow", 1), "a write past the end of space fails")
  local old = pool.data.size // 512
  suite.reload(pool.data, {
    dm.LinearTarget{start = 0, size = old, device = pool.data_scratch.loop.path},
    dm.LinearTarget{start = old, size = extra[1].size // 512, device = extra[1].path}})
  local fields = pool.dev:targets()[1]:params()
  fields.size = old + extra[1].size // 512
  suite.reload(pool, dm.ThinPoolTarget(fields))
  st = pool:status()
  check(st.total_data_blocks == 256, "typed status: 256 data blocks after the resize, got " .. st.total_data_blocks)
  check(st.mode == "rw", "pool mode rw, got " .. tostring(st.mode))
  check(suite.write_blocks(thin.path, 2048, 1024, "grow", 1), "4 MiB more now fits")
  check(pool:status().used_data_blocks == 192, "192 blocks used")
  suite.check_blocks(thin.path, 0, 2048, "grow", 0, "the first 8 MiB read back")
  suite.check_blocks(thin.path, 2048, 1024, "grow", 1, "the new 4 MiB read back")
end
os.exit(suite.report())

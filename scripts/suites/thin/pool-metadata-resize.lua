-- Growing a live pool's metadata device: the metadata device (a linear
-- device over a 2 MiB loop) gets a second loop appended and the pool is
-- suspended and resumed; the typed status shows more metadata blocks, the
-- pool stays rw and keeps serving and taking data, and thin_check passes.
-- Modelled on device-mapper-test-suite's thin MetadataResizeTests and
-- lvm2's test/shell/lvresize-thin-metadata.sh.
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local extra <close> = testkit.loop_devices(1, 4)
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 2, block_size = 128}
  local thin = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(thin.path, 0, 512, "meta", 0))
  local before = pool:status().total_metadata_blocks
  local old = pool.metadata.size // 512
  suite.reload(pool.metadata, {
    dm.LinearTarget{start = 0, size = old, device = pool.meta_scratch.loop.path},
    dm.LinearTarget{start = old, size = extra[1].size // 512, device = extra[1].path}})
  assert(pool.dev:suspend())
  assert(pool.dev:resume())
  local st = pool:status()
  print(("metadata blocks: %d before, %d after"):format(before, st.total_metadata_blocks))
  check(before == 512, "2 MiB of metadata is 512 blocks of 4 KiB")
  check(st.total_metadata_blocks == 1536, "typed status: 1536 metadata blocks after growing to 6 MiB")
  check(st.mode == "rw", "pool rw")
  suite.check_blocks(thin.path, 0, 512, "meta", 0, "the data written before reads back")
  check(suite.write_blocks(thin.path, 512, 512, "meta", 1), "new writes succeed")
  suite.check_blocks(thin.path, 512, 512, "meta", 1, "and read back")
  check(pool:check().succeeded, "thin_check passes on the grown metadata")
end
os.exit(suite.report())

-- Block zeroing (the pool's default): over a data device full of stale
-- bytes, a 4 KiB write into a fresh 64 KiB pool block leaves the other
-- 60 KiB of that block reading zeros, and unprovisioned blocks read
-- zeros. Modelled on device-mapper-test-suite's thin ZeroingTests and
-- Documentation/admin-guide/device-mapper/thin-provisioning.rst
-- (skip_block_zeroing).
-- requires: target thin-pool; tool thin_check
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local pool <close> = testkit.thin_pool{data_mb = 4, metadata_mb = 4, block_size = 128}
  -- stale content under the pool: the pool has no blocks mapped, so this
  -- only changes what a provisioned but unwritten block would expose
  suite.fill(pool.data.path, "\xAA", 4 * suite.MiB)
  local thin = pool:create_thin(1, 8 * 2048)
  check(suite.is_zero(suite.read_at(thin.path, 0, 256 * 1024)), "unprovisioned blocks read zeros")
  assert(suite.write_blocks(thin.path, 5, 1, "zero", 0))               -- 4 KiB inside pool block 0
  check(pool:status().used_data_blocks == 1, "one pool block provisioned")
  suite.check_blocks(thin.path, 5, 1, "zero", 0, "the written 4 KiB reads back")
  local rest = suite.read_at(thin.path, 0, 5 * 4096) .. suite.read_at(thin.path, 6 * 4096, 10 * 4096)
  check(suite.is_zero(rest), "the rest of the provisioned block reads zeros, not the stale bytes")
end
os.exit(suite.report())

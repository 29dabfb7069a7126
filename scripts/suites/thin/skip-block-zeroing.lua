-- skip_block_zeroing: over a data device full of stale bytes, a 4 KiB
-- write into a fresh 64 KiB pool block leaves the rest of the block as
-- it was on the data device (the pool did not zero it), while blocks
-- never provisioned still read zeros. Modelled on device-mapper-test-suite's
-- thin ZeroingTests and thin-provisioning.rst (skip_block_zeroing).
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local pool <close> = testkit.thin_pool{data_mb = 4, metadata_mb = 4, block_size = 128,
    features = {"skip_block_zeroing"}}
  suite.fill(pool.data.path, "\xAA", 4 * suite.MiB)
  local thin = pool:create_thin(1, 8 * 2048)
  check(suite.is_zero(suite.read_at(thin.path, 0, 256 * 1024)), "unprovisioned blocks read zeros")
  assert(suite.write_blocks(thin.path, 5, 1, "zero", 0))
  check(pool:status().used_data_blocks == 1, "one pool block provisioned")
  suite.check_blocks(thin.path, 5, 1, "zero", 0, "the written 4 KiB reads back")
  local rest = suite.read_at(thin.path, 0, 5 * 4096)
  check(rest == string.rep("\xAA", 5 * 4096), "the rest of the block shows the stale bytes: no zeroing")
  check(suite.is_zero(suite.read_at(thin.path, 16 * 4096, 16 * 4096)), "the next, unprovisioned block reads zeros")
end
os.exit(suite.report())

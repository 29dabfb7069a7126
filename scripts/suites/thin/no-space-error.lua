-- Out of data space under error_if_no_space: writing 12 MiB into an 8 MiB
-- pool fails at once, the typed status says out_of_data_space with the
-- error_if_no_space policy, every block is used, the data that fitted is
-- intact, and the thins still read. Modelled on device-mapper-test-suite's
-- thin PoolResizeTests/"out of data space" (error_if_no_space) and
-- thin-provisioning.rst.
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"error_if_no_space"}}
  local a = pool:create_thin(1, 16 * 2048)
  local b = pool:create_thin(2, 16 * 2048)
  assert(suite.write_blocks(a.path, 0, 1024, "a", 0))                   -- 4 MiB
  local ok, msg = suite.write_blocks(b.path, 0, 2048, "b", 0)             -- 8 MiB: only 4 fit
  print("writing 8 MiB into the 4 MiB left: " .. tostring(ok or msg))
  check(not ok, "the write that does not fit fails")
  local st = pool:status()
  check(st.mode == "out_of_data_space", "typed status: out_of_data_space, got " .. tostring(st.mode))
  check(st.no_space_policy == "error_if_no_space", "typed status: error_if_no_space")
  check(st.used_data_blocks == st.total_data_blocks, "all 128 blocks used")
  suite.check_blocks(a.path, 0, 1024, "a", 0, "thin 1's 4 MiB are intact")
  suite.check_blocks(b.path, 0, 1024, "b", 0, "thin 2's first 4 MiB (what fitted) read back")
  check(suite.write_blocks(a.path, 0, 16, "a", 1), "overwriting a provisioned block still works")
  suite.check_blocks(a.path, 0, 16, "a", 1, "and reads back")
end
os.exit(suite.report())

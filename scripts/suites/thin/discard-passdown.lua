-- Discard with passdown (the pool's default): discarding 2 MiB of a thin
-- that has 4 MiB written frees exactly those pool blocks (typed status),
-- the range reads zeros, and the discard reaches the data device, whose
-- freed blocks no longer hold the data. Modelled on
-- device-mapper-test-suite's thin DiscardTests (discard_passdown) and
-- lvm2's test/shell/discards-thin.sh.
-- requires: target thin-pool; tool blkdiscard; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

local MiB = suite.MiB
do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128}
  local thin = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(thin.path, 0, 1024, "disc", 0))             -- 4 MiB = 64 pool blocks
  local st = pool:status()
  check(st.discard_mode == "discard_passdown", "typed status: discard_passdown, got " .. tostring(st.discard_mode))
  check(st.used_data_blocks == 64, "64 blocks mapped before the discard")
  check(suite.count_containing(pool.data.path, 8 * MiB, 65536, "sts disc") == 64,
    "the data device holds 64 blocks of data")
  if not suite.mutate("skip-discard") then
    local rc, msg = suite.discard(thin.path, MiB, 2 * MiB)
    check(rc == 0, "blkdiscard of 2 MiB succeeded " .. msg)
  end
  st = pool:status()
  check(st.used_data_blocks == 32, "32 blocks freed: " .. st.used_data_blocks .. " used")
  check(suite.is_zero(suite.read_at(thin.path, MiB, 2 * MiB)), "the discarded range reads zeros")
  suite.check_blocks(thin.path, 0, 256, "disc", 0, "the first MiB is intact")
  suite.check_blocks(thin.path, 768, 256, "disc", 0, "the last MiB is intact")
  local left = suite.count_containing(pool.data.path, 8 * MiB, 65536, "sts disc")
  check(left == 32, "passed down: the data device kept only 32 blocks of data, has " .. left)
end
os.exit(suite.report())

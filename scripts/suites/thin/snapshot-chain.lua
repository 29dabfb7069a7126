-- A chain of snapshots of snapshots, every generation's data verified:
-- thin 0 gets generation 0 in 8 blocks; snapshot k is taken of snapshot
-- k-1 and overwrites block k with generation k. Each device must read
-- generation j in block j for j <= its own k, generation 0 elsewhere, and
-- the pool must have allocated exactly one new pool block per
-- generation. Modelled on device-mapper-test-suite's thin SnapshotTests
-- ("many snapshots of snapshots", "snapshot chain").
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

local GENS = 5
local PB = 16                                -- 4 KiB blocks per 64 KiB pool block
do
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  local devs = {[0] = pool:create_thin(0, 4 * 2048)}
  -- generation 0: 8 pool blocks
  assert(suite.write_blocks(devs[0].path, 0, 8 * PB, "chain", 0))
  for k = 1, GENS do
    devs[k] = pool:create_snapshot(k - 1, k)
    assert(suite.write_blocks(devs[k].path, k * PB, PB, "chain", k))
  end
  local st = pool:status()
  check(st.used_data_blocks == 8 + GENS, ("8 blocks + one copy per generation: %d"):format(st.used_data_blocks))
  for k = 0, GENS do
    local bad = 0
    for j = 0, 7 do
      local gen = (j >= 1 and j <= k) and j or 0
      bad = bad + suite.verify_blocks(devs[k].path, j * PB, PB, "chain", gen)
    end
    check(bad == 0, ("device of generation %d reads generations 0..%d in the right blocks (%d bad)"):format(k, k, bad))
  end
end
os.exit(suite.report())

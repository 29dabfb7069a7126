-- Discards ignored (ignore_discard): the pool advertises no discard
-- support, a discard of a thin range frees nothing (typed status) and the
-- data stays readable. Modelled on device-mapper-test-suite's thin
-- DiscardTests (ignore_discard) and lvm2's test/shell/discards-thin.sh.
-- requires: target thin-pool; tool blkdiscard; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

local MiB = suite.MiB
do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"ignore_discard"}}
  local thin = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(thin.path, 0, 1024, "disc", 0))
  local st = pool:status()
  check(st.discard_mode == "ignore_discard", "typed status: ignore_discard, got " .. tostring(st.discard_mode))
  local rc, msg = suite.discard(thin.path, MiB, 2 * MiB)
  print("blkdiscard: rc " .. rc .. " " .. msg)
  check(rc ~= 0, "the thin refuses discards (no discard support advertised)")
  st = pool:status()
  check(st.used_data_blocks == 64, "nothing freed: " .. st.used_data_blocks .. " blocks used")
  suite.check_blocks(thin.path, 0, 1024, "disc", 0, "all 4 MiB still read back")
end
os.exit(suite.report())

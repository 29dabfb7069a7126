-- Out of data space under queue_if_no_space with the no-space timeout:
-- with dm_thin_pool's no_space_timeout at 2 s, writes past the end of an
-- 8 MiB pool are held, then failed when the timeout fires, and the pool's
-- typed status switches its policy from queue_if_no_space to
-- error_if_no_space. Data that fitted is intact. Modelled on
-- device-mapper-test-suite's thin "out of data space" queue tests and
-- thin-provisioning.rst (no_space_timeout).
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local time = require "sts.time"
local check = suite.start()

local PARAM = "/sys/module/dm_thin_pool/parameters/no_space_timeout"
if not suite.read_file(PARAM) then suite.skip("no " .. PARAM) end
do
  local old = suite.set_param(PARAM, 2)
  local _ <close> = suite.defer(function() suite.set_param(PARAM, old) end)
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128}
  local thin = pool:create_thin(1, 16 * 2048)
  check(pool:status().no_space_policy == "queue_if_no_space", "the pool queues when out of space")
  local t0 = time.now_ms()
  local ok = suite.write_blocks(thin.path, 0, 2304, "q", 0)              -- 9 MiB into 8
  local held = time.now_ms() - t0
  print(("the write returned after %d ms: %s"):format(held, ok and "ok" or "failed"))
  check(not ok, "the write past the end fails once the timeout fires")
  check(held >= 1500, "it was held about 2 s first (" .. held .. " ms)")
  local st = pool:status()
  check(st.mode == "out_of_data_space", "typed status: out_of_data_space")
  check(st.no_space_policy == "error_if_no_space", "typed status: the policy switched to error_if_no_space, got " ..
    tostring(st.no_space_policy))
  suite.check_blocks(thin.path, 0, 2048, "q", 0, "the 8 MiB that fitted read back")
end
os.exit(suite.report())

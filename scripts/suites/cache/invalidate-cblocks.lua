-- invalidate_cblocks drops cache blocks: blocks promoted by a writethrough
-- cache, which is then reloaded in passthrough mode (no dirty blocks), are
-- invalidated by message; used cache blocks fall by exactly the range,
-- and the device still reads the origin's data. Modelled on
-- device-mapper-test-suite's cache InvalidateCBlocksTests and cache.rst
-- ("invalidate_cblocks").
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writethrough"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 1024, "inv", 0))
  for _ = 1, 6 do suite.verify_blocks(c.path, 0, 1024, "inv", 0) end
  local used = c:status().used_cache_blocks
  print("cache blocks used after writing and rereading 4 MiB: " .. used)
  check(used >= 8, "at least 8 blocks cached")
  local fields = c.dev:targets()[1]:params()
  fields.features = {"passthrough"}
  suite.reload(c, dm.CacheTarget(fields))
  check(c:status().io_mode == "passthrough", "reloaded in passthrough mode")
  check(c.dev:message(0, "invalidate_cblocks 0-8"), "invalidate_cblocks 0-8 accepted")
  local st = c:status()
  print(("after invalidate_cblocks 0-8: %d used"):format(st.used_cache_blocks))
  check(st.used_cache_blocks == used - 8, "exactly 8 cache blocks dropped")
  suite.check_blocks(c.path, 0, 1024, "inv", 0, "the device still reads the right data")
end
os.exit(suite.report())

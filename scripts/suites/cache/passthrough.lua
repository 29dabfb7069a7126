-- A passthrough cache: I/O goes straight to the origin, nothing is
-- promoted however often a block is read, the typed status says
-- passthrough with no cache blocks used, and the origin holds the data.
-- Modelled on device-mapper-test-suite's cache IOModeTests (passthrough)
-- and cache.rst ("passthrough").
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"passthrough"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 512, "pt", 0))
  for _ = 1, 4 do suite.verify_blocks(c.path, 0, 512, "pt", 0) end
  local st = c:status()
  print(("passthrough: %d used, %d promotions, %d read hits, %d read misses"):format(
    st.used_cache_blocks, st.promotions, st.read_hits, st.read_misses))
  check(st.io_mode == "passthrough", "typed status: passthrough")
  check(st.used_cache_blocks == 0 and st.promotions == 0, "nothing promoted")
  check(st.dirty == 0, "nothing dirty")
  suite.check_blocks(c.origin.path, 0, 512, "pt", 0, "the origin holds the data")
  suite.check_blocks(c.path, 0, 512, "pt", 0, "the cache device reads it")
end
os.exit(suite.report())

-- The smq policy promotes hot blocks: a 2 MiB region read over and over
-- through a writethrough cache gets promoted (promotions and used cache
-- blocks grow), later passes hit the cache, and the data stays right.
-- Modelled on device-mapper-test-suite's cache PolicyTests (smq) and
-- Documentation/admin-guide/device-mapper/cache-policies.rst.
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writethrough"}, policy = "smq"}
  assert(suite.write_at(c.origin.path, 0, suite.blocks("hot", 0, 0, 512)))   -- behind the cache
  local first = c:status()
  local bad = 0
  for _ = 1, 8 do bad = bad + suite.verify_blocks(c.path, 0, 512, "hot", 0) end
  local st = c:status()
  print(("after 8 passes: %d promotions, %d used, %d read hits, %d read misses"):format(
    st.promotions, st.used_cache_blocks, st.read_hits, st.read_misses))
  check(st.policy == "smq", "typed status: policy smq")
  check(st.promotions > first.promotions and st.used_cache_blocks > 0, "hot blocks were promoted")
  check(st.read_hits > 0, "later passes hit the cache")
  check(bad == 0, "every pass read the right data")
end
os.exit(suite.report())

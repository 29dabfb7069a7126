-- A writethrough cache: every write reaches the origin before it
-- completes, so the typed status never shows a dirty block, the origin
-- holds the data at once, and the cache device reads it back; rereading
-- it is served by the cache (read hits). Modelled on
-- device-mapper-test-suite's cache IOModeTests (writethrough) and
-- Documentation/admin-guide/device-mapper/cache.rst ("writethrough").
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writethrough"}, policy = "smq"}
  check(c:status().io_mode == "writethrough", "typed status: writethrough")
  assert(suite.write_blocks(c.path, 0, 1024, "wt", 0))                  -- 4 MiB
  local st = c:status()
  print(("after 4 MiB: %d/%d cache blocks, %d dirty, %d write hits, %d write misses"):format(
    st.used_cache_blocks, st.total_cache_blocks, st.dirty, st.write_hits, st.write_misses))
  check(st.dirty == 0, "no dirty blocks in writethrough mode")
  suite.check_blocks(c.origin.path, 0, 1024, "wt", 0, "the origin already holds every block")
  suite.check_blocks(c.path, 0, 1024, "wt", 0, "the cache device reads them back")
  for _ = 1, 3 do suite.verify_blocks(c.path, 0, 1024, "wt", 0) end
  st = c:status()
  check(st.read_hits > 0, "rereads hit the cache: " .. st.read_hits .. " read hits")
  check(st.dirty == 0, "still nothing dirty")
end
os.exit(suite.report())

-- A writeback cache: full-block writes into an empty cache are promoted
-- and stay dirty; the typed status counts them, the cache device reads the
-- new data while the origin lacks exactly the dirty blocks (origin blocks
-- with the data + dirty = blocks written). Modelled on
-- device-mapper-test-suite's cache IOModeTests (writeback) and cache.rst.
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writeback"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 1024, "wb", 0, 65536))                -- 64 cache blocks
  -- smq writes dirty blocks back when idle: hold it still while comparing
  assert(c.dev:suspend())
  local _ <close> = suite.defer(function() c.dev:resume() end)
  local st = c:status()
  print(("after 4 MiB: %d used, %d dirty, %d promotions"):format(st.used_cache_blocks, st.dirty, st.promotions))
  check(st.io_mode == "writeback", "typed status: writeback")
  check(st.dirty > 0, "dirty blocks: " .. st.dirty)
  check(st.dirty <= st.used_cache_blocks, "dirty blocks are cached blocks")
  local on_origin = suite.count_intact(c.origin.path, 64, 16, "wb", 0)
  print(("origin blocks holding the data: %d"):format(on_origin))
  check(on_origin + st.dirty == 64, "the origin lacks exactly the dirty blocks")
  assert(c.dev:resume())
  suite.check_blocks(c.path, 0, 1024, "wb", 0, "the cache device reads all 4 MiB back")
end
os.exit(suite.report())

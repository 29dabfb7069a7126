-- Growing the cache (fast) device of a live cache: its linear device gets
-- a second loop appended and the cache's table reloaded; the typed
-- status shows the larger total of cache blocks, the blocks cached before
-- are still cached and every byte reads back. Modelled on
-- device-mapper-test-suite's cache ResizeTests (resize_cache_dev) and
-- lvm2's test/shell/lvresize-cache.sh.
-- requires: target cache
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local extra <close> = testkit.loop_devices(1, 4)
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 4, metadata_mb = 4, block_size = 128,
    features = {"writeback"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 512, "rs", 0))
  local before = c:status()
  check(before.total_cache_blocks == 64, "4 MiB of cache is 64 blocks, got " .. before.total_cache_blocks)
  local cache_scratch = c.scratch[2]
  local old = c.cache.size // 512
  suite.reload(c.cache, {
    dm.LinearTarget{start = 0, size = old, device = cache_scratch.loop.path},
    dm.LinearTarget{start = old, size = extra[1].size // 512, device = extra[1].path}})
  -- dm-cache only grows into a bigger cache device through a table reload
  -- ("unable to extend cache due to missing cache table reload")
  if not suite.mutate("no-reload") then suite.reload(c, c.dev:targets()) else
    assert(c.dev:suspend()); c.dev:resume() end
  local st = c:status()
  print(("cache blocks: %d -> %d total, %d used, %d dirty"):format(before.total_cache_blocks,
    st.total_cache_blocks, st.used_cache_blocks, st.dirty))
  check(st.total_cache_blocks == 128, "typed status: 128 cache blocks after growing to 8 MiB")
  check(st.used_cache_blocks == before.used_cache_blocks, "what was cached stayed cached")
  check(st.dirty <= before.dirty, "no block became dirty by the resize (smq may write some back meanwhile)")
  suite.check_blocks(c.path, 0, 512, "rs", 0, "every byte reads back")
  assert(suite.write_blocks(c.path, 512, 1024, "rs", 1))
  suite.check_blocks(c.path, 512, 1024, "rs", 1, "new writes into the larger cache read back")
end
os.exit(suite.report())

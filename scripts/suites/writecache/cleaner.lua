-- dm-writecache's cleaner mode: reloading the table with the cleaner
-- feature starts writing the cached blocks back (typed status: free
-- blocks grow) and new writes no longer enter the cache (they reach the
-- origin at once, free blocks do not fall); a flush message then finishes
-- the writeback, every block is free and the origin holds all the data.
-- Seen on 6.1: the cleaner started by the reload writes back one batch
-- (256 blocks here) and stops, so the scenario does not wait for it to
-- drain alone. Modelled on lvm2's test/shell/writecache.sh (cleaner) and
-- Documentation/admin-guide/device-mapper/writecache.rst ("cleaner").
-- requires: target writecache >= 1.3
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(2, 8)
  local origin, cache = los[1], los[2]
  local function target(features)
    return dm.WritecacheTarget{size = origin.size // 512, cache_type = "s", origin_dev = origin.path,
      cache_dev = cache.path, block_size = 4096, features = features}
  end
  local wc <close> = suite.device("wcc", target({}))
  assert(suite.write_blocks(wc.path, 0, 512, "wcc", 0))
  -- commit them: SSD-mode writecache keeps writes no flush covered only
  -- until the table is replaced
  suite.flush_device(wc.path)
  local st = suite.status(wc)
  check(st.free_blocks == st.total_blocks - 512, "the cache holds the 2 MiB: " .. st.free_blocks .. " free")
  if not suite.mutate("no-cleaner") then suite.reload(wc, target({"cleaner"})) end
  local ok, mid = suite.poll(wc, function(s) return s.free_blocks > st.free_blocks and s.writeback_blocks == 0 end, 10000)
  check(ok, ("the cleaner wrote blocks back: %d free now"):format(mid.free_blocks))
  assert(suite.write_blocks(wc.path, 1024, 64, "wcc", 1))
  local after = suite.status(wc)
  check(after.free_blocks >= mid.free_blocks, "new writes do not enter the cache")
  suite.check_blocks(origin.path, 1024, 64, "wcc", 1, "they reach the origin at once")
  suite.message(wc, "flush")
  local okf, fin = suite.poll(wc, function(s) return s.free_blocks == s.total_blocks and s.writeback_blocks == 0 end, 20000)
  check(okf, ("after flush: every block free (%d/%d)"):format(fin.free_blocks, fin.total_blocks))
  suite.check_blocks(origin.path, 0, 512, "wcc", 0, "the origin holds the data")
  suite.check_blocks(wc.path, 0, 512, "wcc", 0, "and the device reads it")
end
os.exit(suite.report())

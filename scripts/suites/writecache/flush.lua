-- dm-writecache in SSD mode holds writes and `flush` writes them back:
-- 1 MiB written through the cache uses 256 of its blocks (typed status
-- free_blocks), the origin does not have the data yet, and after the
-- flush message no block is waiting for writeback and the origin holds
-- every block. Modelled on lvm2's test/shell/writecache.sh and
-- Documentation/admin-guide/device-mapper/writecache.rst ("flush").
-- requires: target writecache
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(2, 8)
  local origin, cache = los[1], los[2]
  local wc <close> = suite.device("wc", dm.WritecacheTarget{size = origin.size // 512, cache_type = "s",
    origin_dev = origin.path, cache_dev = cache.path, block_size = 4096})
  local st0 = suite.status(wc)
  assert(suite.write_blocks(wc.path, 0, 256, "wc", 0))
  local st = suite.status(wc)
  print(("writecache: %d total, %d free before, %d free after 1 MiB, %d in writeback"):format(
    st.total_blocks, st0.free_blocks, st.free_blocks, st.writeback_blocks))
  check(st0.free_blocks - st.free_blocks == 256, "typed status: 256 cache blocks taken")
  check(suite.count_intact(origin.path, 256, 1, "wc", 0) == 0, "the origin does not have the data yet")
  suite.check_blocks(wc.path, 0, 256, "wc", 0, "the writecache device reads it")
  if not suite.mutate("no-flush") then suite.message(wc, "flush") end
  st = suite.status(wc)
  check(st.writeback_blocks == 0 and st.error == false, "after flush: nothing in writeback, no error")
  suite.check_blocks(origin.path, 0, 256, "wc", 0, "the origin holds every block")
end
os.exit(suite.report())

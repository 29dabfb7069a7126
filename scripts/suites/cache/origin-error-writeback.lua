-- An origin failing under a writeback cache: with the origin's table
-- swapped for the error target, dirty cached blocks still read their new
-- data and can be rewritten, reads of blocks that are not cached fail;
-- once the origin is back the cleaner policy writes everything back and
-- the origin holds it. Modelled on device-mapper-test-suite's cache
-- "origin io errors" tests and cache.rst.
-- requires: target cache
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writeback"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 256, "oe", 0, 65536))
  -- smq writes dirty blocks back when idle: hold it still while comparing
  assert(c.dev:suspend())
  local st = c:status()
  check(st.dirty > 0, "dirty blocks: " .. st.dirty)
  local on_origin = suite.count_intact(c.origin.path, 16, 16, "oe", 0)
  assert(c.dev:resume())
  check(on_origin + st.dirty == 16, "the origin lacks exactly the dirty blocks")
  do
    local fault <close> = testkit.inject(c.origin, {type = "error"})
    local data = suite.read_at(c.path, 0, suite.MiB)
    local good = 0
    for i = 0, 15 do
      if data and data:sub(i * 65536 + 1, i * 65536 + 4096) == suite.block("oe", 0, i * 16) then good = good + 1 end
    end
    print(("with the origin failing: whole-MiB read %s"):format(data and "ok" or "failed"))
    local cached_ok = 0
    for i = 0, 15 do
      if suite.verify_blocks(c.path, i * 16, 16, "oe", 0) == 0 then cached_ok = cached_ok + 1 end
    end
    check(cached_ok >= st.dirty, ("the %d dirty blocks still read their data (%d blocks readable)"):format(st.dirty, cached_ok))
    check(not suite.read_at(c.path, 8 * suite.MiB, 65536), "a block that is not cached fails to read")
    fault:restore()
  end
  local fields = c.dev:targets()[1]:params()
  fields.policy, fields.policy_args = "cleaner", {}
  suite.reload(c, dm.CacheTarget(fields))
  local ok = pcall(testkit.wait_for, c, function(s) return s.dirty == 0 end, 30000)
  check(ok, "with the origin back, the cleaner writes every dirty block")
  suite.check_blocks(c.origin.path, 0, 256, "oe", 0, "the origin holds all the data")
  check(c:status().mode == "rw", "the cache stayed rw")
end
os.exit(suite.report())

-- The cleaner policy writes every dirty block back: a writeback cache
-- with dirty blocks is reloaded with policy cleaner, dirty reaches 0 in
-- the typed status, the origin holds the data, and once the cache is
-- down cache_check passes and cache_dump agrees with the status (as many
-- mappings as used cache blocks, none dirty). Modelled on
-- device-mapper-test-suite's cache CleanerTests and cache-policies.rst
-- ("cleaner").
-- requires: target cache; tool cache_check; tool cache_dump
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local dmpd = require "sts.dmpd"
local check = suite.start()

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writeback"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 1024, "cl", 0, 65536))
  check(c:status().dirty > 0, "dirty blocks before cleaning: " .. c:status().dirty)
  local fields = c.dev:targets()[1]:params()
  fields.policy, fields.policy_args = "cleaner", {}
  if not suite.mutate("no-cleaner") then suite.reload(c, dm.CacheTarget(fields)) end
  local ok, st = pcall(testkit.wait_for, c, function(s) return s.dirty == 0 end, 30000)
  check(ok, "dirty reached 0 under the cleaner policy")
  st = c:status()
  check(st.policy == "cleaner", "typed status: policy cleaner")
  suite.check_blocks(c.origin.path, 0, 1024, "cl", 0, "the origin holds all the data")
  local used = st.used_cache_blocks
  assert(c.dev:remove())
  local chk = dmpd.cache_check(c.metadata.path)
  check(chk.succeeded, "cache_check passes")
  local dump = dmpd.parse_cache_dump(dmpd.cache_dump(c.metadata.path))
  local dirty = 0
  for _, m in ipairs(dump.mappings) do if m.dirty then dirty = dirty + 1 end end
  print(("cache_dump: %d mappings, %d dirty; status had %d used"):format(#dump.mappings, dirty, used))
  check(#dump.mappings == used, "cache_dump lists as many mappings as the status used")
  check(dirty == 0, "cache_dump: no dirty mapping")
end
os.exit(suite.report())

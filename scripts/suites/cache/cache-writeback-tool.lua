-- cache_writeback on a stopped cache: a writeback cache with dirty blocks
-- is taken down; the origin lacks the dirty data; cache_writeback copies
-- the dirty blocks from the fast device to the origin and the metadata is
-- marked clean, after which the origin holds every block, cache_dump lists
-- no dirty mapping, cache_check passes and the cache restarted over it
-- has nothing dirty. thin-provisioning-tools 0.9's cache_writeback crashes
-- (SIGSEGV) while updating the metadata after copying, so with 0.9 the
-- copy runs with --no-metadata-update and the dirty flags are cleared
-- through cache_dump/cache_restore; 1.x updates the metadata itself. Modelled on device-mapper-test-suite's
-- cache_writeback tests and thin-provisioning-tools' cache_writeback man page.
-- requires: target cache; tool cache_writeback; tool cache_dump; tool cache_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local dm = require "sts.dm"
local check = suite.start()

local function dirty_of(dump)
  local n = 0
  for _, m in ipairs(dump.mappings) do if m.dirty then n = n + 1 end end
  return n
end

do
  local c <close> = testkit.cache{origin_mb = 16, cache_mb = 8, metadata_mb = 4, block_size = 128,
    features = {"writeback"}, policy = "smq"}
  assert(suite.write_blocks(c.path, 0, 1024, "cwb", 0, 65536))
  -- smq writes dirty blocks back when idle: freeze the count first
  assert(c.dev:suspend())
  local dirty = c:status().dirty
  check(dirty > 0, "dirty blocks: " .. dirty)
  local target_fields = c.dev:targets()[1]:params()
  assert(c.dev:remove())
  local before = dmpd.parse_cache_dump(dmpd.cache_dump(c.metadata.path))
  check(dirty_of(before) == dirty, "the stopped cache's metadata has the dirty mappings")
  local on_origin = suite.count_intact(c.origin.path, 64, 16, "cwb", 0)
  check(on_origin + dirty == 64, "the origin lacks exactly them")
  local old_tool = suite.tool_version("cache_writeback"):match("^0%.") ~= nil
  local fields = {metadata_device = c.metadata.path, origin_device = c.origin.path,
    fast_device = c.cache.path, no_metadata_update = old_tool}
  if suite.mutate("no-writeback") then fields.origin_device = "/dev/null" end
  local r = dmpd.cache_writeback(fields)
  check(r.succeeded, "cache_writeback ran: " .. r.command .. " " .. r.stderr:sub(1, 200))
  suite.check_blocks(c.origin.path, 0, 1024, "cwb", 0, "the origin now holds every block")
  if old_tool then
    -- the 0.9 tool copied but left the flags: clear them through the XML
    local xml = dmpd.cache_dump(c.metadata.path).stdout:gsub('dirty="true"', 'dirty="false"')
    local tmp = os.tmpname()
    local _ <close> = suite.defer(function() os.remove(tmp) end)
    local f = assert(io.open(tmp, "w")); f:write(xml); f:close()
    check(dmpd.cache_restore({input = tmp, output = c.metadata.path}).succeeded, "flags cleared by cache_restore")
  end
  local after = dmpd.parse_cache_dump(dmpd.cache_dump(c.metadata.path))
  check(dirty_of(after) == 0, "cache_dump: no dirty mapping left")
  check(dmpd.cache_check(c.metadata.path).succeeded, "cache_check passes")
  local again <close> = suite.device("cwbagain", dm.CacheTarget(target_fields))
  local st = suite.status(again)
  check(st.dirty == 0 and st.used_cache_blocks == 64, ("restarted: %d cached, %d dirty"):format(st.used_cache_blocks, st.dirty))
  suite.check_blocks(again.path, 0, 1024, "cwb", 0, "and reads every block")
end
os.exit(suite.report())

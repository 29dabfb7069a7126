--- sts.status.cache: status of the cache, era and writecache targets.
-- Internal to sts.status; the public API is in sts.status.

local M = {}

-- Feature words that say how writes are cached. A cache status without one
-- comes from a kernel that printed only non-default features, and the
-- default there is writeback.
local IO_MODES = {writeback = true, writethrough = true, passthrough = true}

--- cache:
--   <metadata block size> <used>/<total metadata blocks> <cache block size>
--   <used>/<total cache blocks> <read hits> <read misses> <write hits>
--   <write misses> <demotions> <promotions> <dirty> <#features> <features>*
--   <#core args> <core args>* <policy name> <#policy args> <policy args>*
--   <rw|ro> <needs_check|->
-- The metadata mode and needs_check came later than the rest; a status
-- without them leaves those fields nil.
function M.cache(r, st)
  st.metadata_block_size = r:integer("metadata_block_size")
  st.used_metadata_blocks, st.total_metadata_blocks = r:ratio("metadata blocks used/total")
  st.cache_block_size = r:integer("cache_block_size")
  st.used_cache_blocks, st.total_cache_blocks = r:ratio("cache blocks used/total")
  st.read_hits = r:integer("read_hits")
  st.read_misses = r:integer("read_misses")
  st.write_hits = r:integer("write_hits")
  st.write_misses = r:integer("write_misses")
  st.demotions = r:integer("demotions")
  st.promotions = r:integer("promotions")
  st.dirty = r:integer("dirty")

  st.features = r:counted("features")
  st.metadata2, st.discard_passdown = false, true
  for _, f in ipairs(st.features) do
    if IO_MODES[f] then
      if st.io_mode then r:fail("two io modes in features: %q and %q", st.io_mode, f) end
      st.io_mode = f
    elseif f == "metadata2" then
      st.metadata2 = true
    elseif f == "no_discard_passdown" then
      st.discard_passdown = false
    end
  end
  st.io_mode = st.io_mode or "writeback"

  st.core_args = r:pairs_table(r:counted("core args"), "core args")
  st.policy = r:word("policy name")
  st.policy_args = r:pairs_table(r:counted("policy args"), "policy args")
  if r:more() then st.mode = r:choice("metadata mode", {"rw", "ro"}) end
  if r:more() then st.needs_check = r:choice("needs_check", {"needs_check", "-"}) == "needs_check" end
  r:finish()
  return st
end

--- era: <metadata block size> <used>/<total metadata blocks> <current era>
--   <held metadata root | ->
function M.era(r, st)
  st.metadata_block_size = r:integer("metadata_block_size")
  st.used_metadata_blocks, st.total_metadata_blocks = r:ratio("metadata blocks used/total")
  st.current_era = r:integer("current_era")
  st.held_root = r:integer_or_dash("held_root")
  r:finish()
  return st
end

-- The counters newer kernels print after the first four writecache fields,
-- in their order on the line.
local WRITECACHE_COUNTERS = {
  "reads", "read_hits", "writes", "write_hits_uncommitted", "write_hits_committed",
  "writes_around", "writes_allocate", "writes_blocked_on_freelist", "flushes", "discards",
}
M.WRITECACHE_COUNTERS = WRITECACHE_COUNTERS

--- writecache: <error> <total blocks> <free blocks> <blocks under writeback>
--   [<the ten counters above>]
-- The first field is 0, or the error the cache hit (an errno, as the
-- kernel stores it): error_code keeps it, error says whether it is set.
function M.writecache(r, st)
  st.error_code = r:signed("error indicator")
  st.error = st.error_code ~= 0
  st.total_blocks = r:integer("total_blocks")
  st.free_blocks = r:integer("free_blocks")
  st.writeback_blocks = r:integer("writeback_blocks")
  if r:more() then
    for _, name in ipairs(WRITECACHE_COUNTERS) do st[name] = r:integer(name) end
  end
  r:finish()
  return st
end

return M

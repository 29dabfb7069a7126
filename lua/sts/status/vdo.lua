--- sts.status.vdo: the status of the targets 6.12 added or Debian's
-- kernels leave out: vdo (and its `stats` message), clone and zoned.
-- Formats from the kernel's Documentation/admin-guide/device-mapper/
-- (vdo.rst, dm-clone.rst, dm-zoned.rst) and drivers/md/dm-zoned-target.c.
-- Internal to sts.status; the public API is in sts.status.

local M = {}

--- vdo: <device> <operating mode> <in recovery> <index state>
--- <compression state> <physical blocks used> <total physical blocks>
-- Blocks are 4096 bytes. `recovering` is true while the volume rebuilds.
function M.vdo(r, st)
  st.device = r:word("device")
  st.mode = r:choice("operating mode", {"normal", "recovering", "read-only"})
  st.read_only = st.mode == "read-only"
  st.recovering = r:choice("in recovery", {"recovering", "-"}) == "recovering"
  st.index_state = r:choice("index state",
    {"closed", "closing", "error", "offline", "online", "opening", "unknown"})
  st.compression_state = r:choice("compression state", {"offline", "online"})
  st.used_physical_blocks = r:integer("physical blocks used")
  st.total_physical_blocks = r:integer("total physical blocks")
  r:finish()
  return st
end

--- clone: <metadata block size> <used>/<total metadata blocks> <region size>
--- <hydrated>/<total regions> <hydrating regions> <#features> <feature>*
--- <#core args> <core arg>* <rw|ro>
function M.clone(r, st)
  st.metadata_block_size = r:integer("metadata block size")
  st.used_metadata_blocks, st.total_metadata_blocks = r:ratio("metadata blocks used/total")
  st.region_size = r:integer("region size")
  st.hydrated_regions, st.total_regions = r:ratio("regions hydrated/total")
  st.hydrating_regions = r:integer("hydrating regions")
  st.features = r:counted("features")
  st.core_args = r:pairs_table(r:counted("core args"), "core args")
  st.mode = r:choice("metadata mode", {"rw", "ro"})
  st.read_only = st.mode == "ro"
  st.hydrated = st.hydrated_regions == st.total_regions
  r:finish()
  return st
end

--- zoned: <nr_zones> zones <unmapped>/<total> cache, then per device
--- <unmapped>/<total> random <unmapped>/<total> sequential
-- Kernels before the cache zones (5.8) print no "cache" pair; each device
-- of a multi-device target gets its own random/sequential pairs, in
-- `devices` (the first also as the top-level fields).
function M.zoned(r, st)
  st.nr_zones = r:integer("number of zones")
  r:choice("word after the number of zones", {"zones"})
  local a, b = r:ratio("zones unmapped/total")
  if r:peek() == "cache" then
    r:word("cache")
    st.unmapped_cache_zones, st.cache_zones = a, b
    a, b = nil, nil
  end
  st.devices = {}
  while a or r:more() do
    local dev = {}
    if a then
      dev.unmapped_random_zones, dev.random_zones = a, b
      a, b = nil, nil
    else
      dev.unmapped_random_zones, dev.random_zones = r:ratio("random zones unmapped/total")
    end
    r:choice("zone kind", {"random"})
    dev.unmapped_sequential_zones, dev.sequential_zones = r:ratio("sequential zones unmapped/total")
    r:choice("zone kind", {"sequential"})
    st.devices[#st.devices + 1] = dev
  end
  local first = st.devices[1]
  if first then
    for k, v in pairs(first) do st[k] = v end
  end
  return st
end

-- a value of the stats message: an integer when spelled as one
local function stats_value(text)
  if text:match("^%-?%d+$") then return math.tointeger(tonumber(text)) or text end
  return text
end

--- The reply to a vdo target's `stats` message ("{ key : value, key : {
-- ... }, ... }") as nested tables; integers as integers, other values as
-- the words they are. Raises a ValueError on text of another shape.
-- @tparam string text the message's reply
-- @treturn table e.g. {dataBlocksUsed = 10, hashLock = {dedupeAdviceValid = 3, ...}, ...}
function M.vdo_stats(text)
  local errors = require "sts.errors"
  local pos = 1
  local function fail(what)
    errors.raise("ValueError", ("vdo stats: %s at byte %d of %q"):format(what, pos, text:sub(1, 200)))
  end
  local function skip() pos = text:find("[^%s,]", pos) or #text + 1 end
  local parse_object
  function parse_object()
    skip()
    if text:sub(pos, pos) ~= "{" then fail("expected {") end
    pos = pos + 1
    local obj = {}
    while true do
      skip()
      if pos > #text then fail("unterminated {") end
      if text:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      local key, after = text:match("^([%w_]+)%s*:%s*()", pos)
      if not key then fail("expected a key") end
      pos = after
      if text:sub(pos, pos) == "{" then
        obj[key] = parse_object()
      else
        local value, rest = text:match("^([^,}]-)%s*()[,}]", pos)
        if not value then fail("expected a value for " .. key) end
        obj[key] = stats_value(value)
        pos = rest
      end
    end
  end
  local obj = parse_object()
  skip()
  if pos <= #text then fail("text after the closing }") end
  return obj
end

return M

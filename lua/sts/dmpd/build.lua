--- Builders of the tools' XML from Lua tables shaped like the parse results,
-- so a test describes a pool's metadata in a few lines and restores it.

local errors = require("sts.errors")
local xml = require("sts.dmpd.xml")

local build = {}

local function bad(path, what)
  errors.raise("ValueError", ("%s: %s"):format(path, what))
end

local function need_table(v, path)
  if type(v) ~= "table" then bad(path, "table expected, got " .. type(v)) end
  return v
end

-- a non-negative integer field, `default` when absent (required when nil)
local function uint(t, key, path, default)
  local v = t[key]
  if v == nil then
    if default == nil then bad(path .. "." .. key, "required") end
    return default
  end
  local n = type(v) == "number" and math.tointeger(v)
  if not n or n < 0 then
    bad(path .. "." .. key, "must be a non-negative integer, got " .. tostring(v))
  end
  return n
end

local function str(t, key, path, default)
  local v = t[key]
  if v == nil then return default end
  if type(v) ~= "string" then bad(path .. "." .. key, "must be a string, got " .. type(v)) end
  return v
end

local function bool(t, key, path, default)
  local v = t[key]
  if v == nil then return default end
  if type(v) ~= "boolean" then bad(path .. "." .. key, "must be a boolean, got " .. type(v)) end
  return v
end

local function list(t, key, path)
  local v = t[key]
  if v == nil then return {} end
  need_table(v, path .. "." .. key)
  return v
end

-- the field checks, for the streaming writer (sts.dmpd.writer)
build.check = {need_table = need_table, uint = uint, str = str}

--- Thin pool metadata XML (for thin_restore) from a table shaped like
-- parse_thin_dump's result: {data_block_size=, nr_data_blocks=, uuid="",
-- time=0, transaction=0, flags=0, version=2, devices = {{dev_id=,
-- transaction=0, creation_time=0, snap_time=0, mapped_blocks=(the sum of
-- the lengths), mappings = {{origin=, data=, length=1, time=0}, ...}}}}.
-- Raises ValueError naming the first bad field.
function build.thin_xml(t)
  need_table(t, "thin_xml")
  local out = {}
  out[#out + 1] = xml.tag("superblock", {
    {"uuid", str(t, "uuid", "superblock", "")},
    {"time", uint(t, "time", "superblock", 0)},
    {"transaction", uint(t, "transaction", "superblock", 0)},
    {"flags", uint(t, "flags", "superblock", 0)},
    {"version", uint(t, "version", "superblock", 2)},
    {"data_block_size", uint(t, "data_block_size", "superblock")},
    {"nr_data_blocks", uint(t, "nr_data_blocks", "superblock")},
  })
  for i, d in ipairs(list(t, "devices", "superblock")) do
    local dpath = ("devices[%d]"):format(i)
    need_table(d, dpath)
    local maps = list(d, "mappings", dpath)
    local lines, total = {}, 0
    for j, m in ipairs(maps) do
      local mpath = ("%s.mappings[%d]"):format(dpath, j)
      need_table(m, mpath)
      local origin, data = uint(m, "origin", mpath), uint(m, "data", mpath)
      local length, time = uint(m, "length", mpath, 1), uint(m, "time", mpath, 0)
      if length == 0 then bad(mpath .. ".length", "must be at least 1") end
      total = total + length
      if length == 1 then
        lines[j] = "    " .. xml.tag("single_mapping", {
          {"origin_block", origin}, {"data_block", data}, {"time", time}}, true)
      else
        lines[j] = "    " .. xml.tag("range_mapping", {
          {"origin_begin", origin}, {"data_begin", data}, {"length", length}, {"time", time}}, true)
      end
    end
    out[#out + 1] = "  " .. xml.tag("device", {
      {"dev_id", uint(d, "dev_id", dpath)},
      {"mapped_blocks", uint(d, "mapped_blocks", dpath, total)},
      {"transaction", uint(d, "transaction", dpath, 0)},
      {"creation_time", uint(d, "creation_time", dpath, 0)},
      {"snap_time", uint(d, "snap_time", dpath, 0)},
    })
    table.move(lines, 1, #lines, #out + 1, out)
    out[#out + 1] = "  </device>"
  end
  out[#out + 1] = "</superblock>\n"
  return table.concat(out, "\n")
end

--- Cache metadata XML (for cache_restore) from a table shaped like
-- parse_cache_dump's result: {block_size=, nr_cache_blocks=, uuid="",
-- policy="smq", hint_width=4, mappings = {{cache_block=, origin_block=,
-- dirty=false}}, hints = {{cache_block=, data="base64"}}, discards = {}}
-- (a non-empty discards list is refused: no cache_restore takes it).
function build.cache_xml(t)
  need_table(t, "cache_xml")
  local out = {}
  out[#out + 1] = xml.tag("superblock", {
    {"uuid", str(t, "uuid", "superblock", "")},
    {"block_size", uint(t, "block_size", "superblock")},
    {"nr_cache_blocks", uint(t, "nr_cache_blocks", "superblock")},
    {"policy", str(t, "policy", "superblock", "smq")},
    {"hint_width", uint(t, "hint_width", "superblock", 4)},
  })
  out[#out + 1] = "  <mappings>"
  for i, m in ipairs(list(t, "mappings", "superblock")) do
    local p = ("mappings[%d]"):format(i)
    need_table(m, p)
    out[#out + 1] = "    " .. xml.tag("mapping", {
      {"cache_block", uint(m, "cache_block", p)},
      {"origin_block", uint(m, "origin_block", p)},
      {"dirty", tostring(bool(m, "dirty", p, false))}}, true)
  end
  out[#out + 1] = "  </mappings>"
  out[#out + 1] = "  <hints>"
  for i, h in ipairs(list(t, "hints", "superblock")) do
    local p = ("hints[%d]"):format(i)
    need_table(h, p)
    local data = str(h, "data", p)
    if data == nil then bad(p .. ".data", "required") end
    if not data:match("^[%w+/]*=*$") then bad(p .. ".data", "must be base64") end
    out[#out + 1] = "    " .. xml.tag("hint", {
      {"cache_block", uint(h, "cache_block", p)}, {"data", data}}, true)
  end
  out[#out + 1] = "  </hints>"
  -- neither generation's cache_restore takes <discards> (0.9: "bitset
  -- index out of bounds", 1.x: "unknown start tag"), so none are written
  if #list(t, "discards", "superblock") > 0 then
    bad("discards", "cache_restore (0.9 and 1.x) cannot restore discards: leave the list empty")
  end
  out[#out + 1] = "</superblock>\n"
  return table.concat(out, "\n")
end

-- Writesets as the kernel leaves them: one per era from the oldest kept
-- to current_era, no gap (1.x's era_dump refuses metadata that has one:
-- "Writeset of era N is not present"; 0.9 dumps it).
local function check_writeset_eras(writesets, current_era)
  local eras, seen = {}, {}
  for i, w in ipairs(writesets) do
    local era = uint(need_table(w, ("writesets[%d]"):format(i)), "era", ("writesets[%d]"):format(i))
    if seen[era] then bad(("writesets[%d].era"):format(i), "era " .. era .. " given twice") end
    seen[era] = true
    eras[#eras + 1] = era
  end
  if #eras == 0 then return end
  table.sort(eras)
  if eras[#eras] ~= current_era then
    bad("writesets", ("the newest writeset must be of current_era %d, got %d"):format(current_era, eras[#eras]))
  end
  for i = 2, #eras do
    if eras[i] ~= eras[i - 1] + 1 then
      bad("writesets", ("no writeset of era %d between %d and %d (one per era up to current_era)")
          :format(eras[i - 1] + 1, eras[1], current_era))
    end
  end
end

--- Era metadata XML (for era_restore) from a table shaped like
-- parse_era_dump's result: {block_size=, nr_blocks=, current_era=,
-- uuid="", writesets = {{era=, nr_bits=(nr_blocks), blocks = {set block
-- numbers}}}, era_array = {{block=, era=}}}. Blocks not listed have era 0
-- and writeset bits not listed are clear. Writesets, when given, must be
-- one per era from the oldest up to current_era (as the kernel keeps
-- them; both generations dump that), and the era array should hold only
-- eras older than the oldest writeset (the kernel moves a writeset into
-- the array when it drops it; 1.x's era_invalidate reads the array only
-- for those eras).
function build.era_xml(t)
  need_table(t, "era_xml")
  local nr_blocks = uint(t, "nr_blocks", "superblock")
  check_writeset_eras(list(t, "writesets", "superblock"), uint(t, "current_era", "superblock"))
  local out = {}
  out[#out + 1] = xml.tag("superblock", {
    {"uuid", str(t, "uuid", "superblock", "")},
    {"block_size", uint(t, "block_size", "superblock")},
    {"nr_blocks", nr_blocks},
    {"current_era", uint(t, "current_era", "superblock")},
  })
  for i, w in ipairs(list(t, "writesets", "superblock")) do
    local p = ("writesets[%d]"):format(i)
    need_table(w, p)
    local nr_bits = uint(w, "nr_bits", p, nr_blocks)
    out[#out + 1] = "  " .. xml.tag("writeset", {{"era", uint(w, "era", p)}, {"nr_bits", nr_bits}})
    for j, b in ipairs(list(w, "blocks", p)) do
      local n = type(b) == "number" and math.tointeger(b)
      if not n or n < 0 or n >= nr_bits then
        bad(("%s.blocks[%d]"):format(p, j), "must be a block number below nr_bits, got " .. tostring(b))
      end
      out[#out + 1] = "    " .. xml.tag("bit", {{"block", n}, {"value", "true"}}, true)
    end
    out[#out + 1] = "  </writeset>"
  end
  out[#out + 1] = "  <era_array>"
  for i, e in ipairs(list(t, "era_array", "superblock")) do
    local p = ("era_array[%d]"):format(i)
    need_table(e, p)
    out[#out + 1] = "    " .. xml.tag("era", {{"block", uint(e, "block", p)}, {"era", uint(e, "era", p)}}, true)
  end
  out[#out + 1] = "  </era_array>"
  out[#out + 1] = "</superblock>\n"
  return table.concat(out, "\n")
end

return build

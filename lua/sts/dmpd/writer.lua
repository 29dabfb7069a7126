--- Streaming writer of thin_restore XML: large synthetic thin metadata
-- without the XML (or the mappings) in memory. Devices and their mappings
-- may come from iterators, so a test can describe millions of mappings in
-- a loop and restore them.

local errors = require("sts.errors")
local xml = require("sts.dmpd.xml")
local check = require("sts.dmpd.build").check

local writer = {}

-- mapped_blocks of a device whose mappings come from an iterator is known
-- only at its end: the tag gets room for the widest count (blanks between
-- attributes are plain XML) and the count is written into it afterwards
local COUNT_WIDTH = 20

local function bad(path, what)
  errors.raise("ValueError", ("%s: %s"):format(path, what))
end

-- a list, or an iterator function, as one iterator over its items
local function items(v, path)
  if type(v) == "function" then return v end
  if v == nil then return function() return nil end end
  if type(v) ~= "table" then bad(path, "a list or an iterator function expected, got " .. type(v)) end
  local i = 0
  return function()
    i = i + 1
    return v[i]
  end
end

local function uint_value(v, path)
  if math.type(v) ~= "integer" or v < 0 then
    bad(path, "must be a non-negative integer, got " .. tostring(v))
  end
  return v
end

-- writes the mappings of one device; returns how many and their blocks
local function write_mappings(f, next_mapping, dpath)
  local count, blocks = 0, 0
  while true do
    local origin, data, length, time = next_mapping()
    if origin == nil then break end
    count = count + 1
    if type(origin) == "table" then
      local m = origin
      origin, data, length, time = m.origin, m.data, m.length, m.time
    end
    -- the common case checked inline: this loop runs per mapping
    if math.type(origin) ~= "integer" or origin < 0 or math.type(data) ~= "integer" or data < 0 then
      local mpath = ("%s.mappings[%d]"):format(dpath, count)
      uint_value(origin, mpath .. ".origin")
      uint_value(data, mpath .. ".data")
    end
    length, time = length or 1, time or 0
    if math.type(length) ~= "integer" or length < 1 or math.type(time) ~= "integer" or time < 0 then
      local mpath = ("%s.mappings[%d]"):format(dpath, count)
      if math.type(length) == "integer" and length == 0 then bad(mpath .. ".length", "must be at least 1") end
      uint_value(length, mpath .. ".length")
      uint_value(time, mpath .. ".time")
    end
    blocks = blocks + length
    local ok, err
    if length == 1 then
      ok, err = f:write('    <single_mapping origin_block="', origin, '" data_block="', data,
                        '" time="', time, '"/>\n')
    else
      ok, err = f:write('    <range_mapping origin_begin="', origin, '" data_begin="', data,
                        '" length="', length, '" time="', time, '"/>\n')
    end
    if not ok then errors.raise("DmpdError", "write_thin_xml: cannot write: " .. tostring(err)) end
  end
  return count, blocks
end

local function write_device(f, d, dpath)
  check.need_table(d, dpath)
  local dev_id = check.uint(d, "dev_id", dpath)
  local given = check.uint(d, "mapped_blocks", dpath, false)
  local maps = d.mappings
  if given == false and type(maps) == "table" then
    -- a list: its count is known up front, so the tag needs no room
    given = 0
    for j, m in ipairs(maps) do
      check.need_table(m, ("%s.mappings[%d]"):format(dpath, j))
      local length = m.length or 1
      if math.type(length) == "integer" then given = given + length end  -- else refused below
    end
  end
  f:write('  <device dev_id="', dev_id, '" mapped_blocks="')
  local count_at
  if given == false then
    count_at = f:seek()
    f:write(string.rep(" ", COUNT_WIDTH + 1))
  else
    f:write(given, '"')
  end
  f:write(' transaction="', check.uint(d, "transaction", dpath, 0),
          '" creation_time="', check.uint(d, "creation_time", dpath, 0),
          '" snap_time="', check.uint(d, "snap_time", dpath, 0), '">\n')
  local count, blocks = write_mappings(f, items(maps, dpath .. ".mappings"), dpath)
  if count_at then
    local here = f:seek()
    f:seek("set", count_at)
    f:write(blocks, '"')
    f:seek("set", here)
  end
  f:write("  </device>\n")
  return count, blocks
end

local function write_all(f, sb, devices)
  check.need_table(sb, "superblock")
  f:write("<superblock")
  for _, kv in ipairs({
    {"uuid", check.str(sb, "uuid", "superblock", "")},
    {"time", check.uint(sb, "time", "superblock", 0)},
    {"transaction", check.uint(sb, "transaction", "superblock", 0)},
    {"flags", check.uint(sb, "flags", "superblock", 0)},
    {"version", check.uint(sb, "version", "superblock", 2)},
    {"data_block_size", check.uint(sb, "data_block_size", "superblock")},
    {"nr_data_blocks", check.uint(sb, "nr_data_blocks", "superblock")},
  }) do
    f:write(" ", kv[1], '="', xml.escape(kv[2]), '"')
  end
  f:write(">\n")
  local summary = {devices = 0, mappings = 0, mapped_blocks = 0}
  local next_device = items(devices, "devices")
  while true do
    local d = next_device()
    if d == nil then break end
    summary.devices = summary.devices + 1
    local count, blocks = write_device(f, d, ("devices[%d]"):format(summary.devices))
    summary.mappings = summary.mappings + count
    summary.mapped_blocks = summary.mapped_blocks + blocks
  end
  f:write("</superblock>\n")
  return summary
end

--- Writes thin metadata XML (thin_restore's input) to a file, streaming.
-- `superblock` holds the fields of dmpd.thin_xml's table but `devices`
-- (uuid="", time=0, transaction=0, flags=0, version=2, data_block_size,
-- nr_data_blocks); `devices` is a list of device tables or an iterator
-- function returning one per call (nil at the end). A device is
-- {dev_id=, transaction=0, creation_time=0, snap_time=0, mapped_blocks=,
-- mappings=} where `mappings` is a list of {origin=, data=, length=1,
-- time=0} or an iterator function returning such a table or the four
-- values `origin, data, length, time` per call. `mapped_blocks` defaults
-- to the sum of the lengths (counted as they are written when the
-- mappings come from an iterator). Nothing but the current mapping is held.
-- On bad input it raises ValueError naming the field and removes the file.
-- @tparam string path the file to write (created or truncated)
-- @tparam table superblock the superblock's fields
-- @tparam table|function devices a list or an iterator of device tables
-- @treturn table {devices=, mappings=, mapped_blocks=} written
function writer.write_thin_xml(path, superblock, devices)
  if type(path) ~= "string" or path == "" then
    errors.raise("ValueError", "write_thin_xml: path must be a file name, got " .. tostring(path))
  end
  local f, msg = io.open(path, "wb")
  if not f then errors.raise("DmpdError", "write_thin_xml: cannot create " .. msg) end
  f:setvbuf("full", 1 << 20)
  local ok, res = pcall(write_all, f, superblock, devices)
  local closed, cerr = f:close()
  if ok and not closed then
    ok, res = false, errors.new("DmpdError", "write_thin_xml: cannot write " .. path .. ": " .. tostring(cerr))
  end
  if not ok then
    os.remove(path)
    error(res, 0)
  end
  return res
end

return writer

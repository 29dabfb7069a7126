--- Parsers of the metadata tools' output into typed Lua tables.
-- Every parser takes either the text or a CommandResult (its stdout, or
-- the file it streamed to with `output_file`). They read what the tools
-- print, not how a given version words it: unknown lines, elements and
-- attributes are skipped or kept as they are, never an error.

local errors = require("sts.errors")
local sio = require("sts.io")
local xml = require("sts.dmpd.xml")
local command = require("sts.dmpd.command")
local stream = require("sts.dmpd.stream")

local parse = {}

local function read_file(path)
  local text, msg = sio.read_text(path)
  if not text then errors.raise("DmpdError", "cannot read the tool's output: " .. msg) end
  return text
end

-- the text a parser works on
local function text_of(input, who)
  if type(input) == "string" then return input end
  if type(input) == "table" and type(input.stdout) == "string" then
    if input.output_file and input.stdout == "" then return read_file(input.output_file) end
    return input.stdout
  end
  errors.raise("ValueError", ("%s: expected the tool's output (a string or a CommandResult), got %s")
               :format(who, type(input)))
end

-- an attribute value as an integer when it is one, else the string
local function typed(v)
  if v:match("^%-?%d+$") then
    local n = math.tointeger(tonumber(v))
    if n then return n end
  end
  return v
end

local function typed_attrs(attrs, strings)
  local t = {}
  for k, v in pairs(attrs) do
    if strings and strings[k] then t[k] = v else t[k] = typed(v) end
  end
  return t
end

local function int_attr(attrs, name, element)
  local v = attrs[name]
  local n = v and v:match("^%d+$") and math.tointeger(tonumber(v))
  if not n then
    errors.raise("DmpdError", ("<%s>: attribute '%s' missing or not a number (%s)")
                 :format(element, name, tostring(v)))
  end
  return n
end

local function bool_attr(attrs, name, element)
  local v = attrs[name]
  if v == "true" or v == "1" then return true end
  if v == "false" or v == "0" then return false end
  errors.raise("DmpdError", ("<%s>: attribute '%s' is not a boolean (%s)")
               :format(element, name, tostring(v)))
end

local function need_superblock(sb, who)
  if not sb then errors.raise("DmpdError", who .. ": no <superblock> element in the output") end
  return sb
end

-- the superblock's attributes; uuid (and any non-number) stays a string
local SB_STRINGS = {uuid = true, policy = true}

-- ----------------------------------------------------------------------
-- check

-- the sections 1.x's checkers announce (report titles and sub-titles,
-- printed bare on stderr; 1.0 to 1.3 use these words)
local STAGE_TITLES_1X = {
  ["device details tree"] = true, ["mapping tree"] = true,
  ["data space map"] = true, ["metadata space map"] = true,
}

-- a line naming the stage a checker is in: 0.9's "examining superblock",
-- "checking space map counts" (unindented, lower case); 1.x's "Checking
-- thin metadata" title and its sub-titles
local function is_stage_line(line)
  line = line:gsub("%s+$", "")
  if line:match("^examining ") or line:match("^checking ") then return true end
  if line:match("^Checking %a+ metadata$") then return true end
  return STAGE_TITLES_1X[line] == true
end

local function is_progress_line(line)
  return line:match("^Progress: %d+%%%s*$") ~= nil
end

--- Parses thin_check/cache_check/era_check output of either generation.
-- Returns {transaction_id=, metadata_free_blocks=, ... (every KEY=value
-- line, key lower-cased, numbers as integers), stages = {the stage lines
-- as printed: 0.9's "examining superblock", ...; 1.x's "Checking thin
-- metadata", "mapping tree", ...; 1.x's cache_check prints none},
-- messages = {other lines, trimmed}} plus `succeeded` when given a
-- CommandResult. Both stdout and stderr are read, since versions differ in
-- which stream gets what; 1.x's "Progress: N%" lines are left out.
function parse.check(input)
  local text, info
  if type(input) == "table" and type(input.stdout) == "string" then
    text = input.stdout .. "\n" .. (input.stderr or "")
    info = {succeeded = input.succeeded}
  else
    text = text_of(input, "parse_check")
    info = {}
  end
  info.stages, info.messages = {}, {}
  for line in text:gmatch("[^\n]+") do
    local key, value = line:match("^%s*([%a_][%w_]*)=(%S*)%s*$")
    if key then
      info[key:lower()] = typed(value)
    elseif line:match("^%s*$") then  -- luacheck: ignore 542
      -- blank
    elseif is_progress_line(line) then  -- luacheck: ignore 542
      -- 1.x's "Progress: N%" every few seconds of a long check
    elseif is_stage_line(line) then
      info.stages[#info.stages + 1] = line:gsub("%s+$", "")
    else
      info.messages[#info.messages + 1] = line:match("^%s*(.-)%s*$")
    end
  end
  return info
end

-- ----------------------------------------------------------------------
-- thin_ls

local THIN_LS_DEFAULT = {"DEV", "MAPPED", "CREATE_TIME", "SNAP_TIME"}
-- fields printed as human-readable sizes
-- (HIGHEST_MAPPED, 1.x only, is the last mapped byte, inclusive)
local HUMAN_FIELDS = {MAPPED = true, EXCLUSIVE = true, SHARED = true, HIGHEST_MAPPED = true}
-- row keys in the vocabulary every parser shares (dev_id as thin_dump's;
-- units in the name). The human-readable columns are rounded as printed,
-- so they are not the exact *_BYTES columns: "approx" says so. The other
-- columns are lower-cased (mapped_blocks, mapped_bytes, create_time, ...)
local THIN_LS_KEYS = {DEV = "dev_id", MAPPED = "mapped_approx_bytes",
  EXCLUSIVE = "exclusive_approx_bytes", SHARED = "shared_approx_bytes",
  HIGHEST_MAPPED = "highest_mapped_approx_byte"}

-- both generations' spellings: 1.x prints "0b" for nothing, and "Tib"
-- for tebibytes; 0.9 prints a bare "0"
local BINARY_UNITS = {B = 1, b = 1, s = 512,
                      KiB = 2^10, MiB = 2^20, GiB = 2^30, TiB = 2^40, Tib = 2^40, PiB = 2^50, EiB = 2^60,
                      kB = 1e3, KB = 1e3, MB = 1e6, GB = 1e9, TB = 1e12, PB = 1e15, EB = 1e18}

-- "7040KiB" -> 7208960; a size the tool rounded stays rounded
local function human_bytes(s)
  local num, unit = s:match("^(%d+%.?%d*)(%a*)$")
  if not num then return nil end
  local factor = unit == "" and 1 or BINARY_UNITS[unit]
  if not factor then return nil end
  return math.tointeger(math.floor(tonumber(num) * factor + 0.5))
end

local function field_list(spec)
  local list = {}
  for f in spec:gmatch("[^,%s]+") do list[#list + 1] = f:upper() end
  return list
end

-- the -o/--format list a CommandResult was run with
local function fields_from_argv(argv)
  for i, w in ipairs(argv or {}) do
    local v = w:match("^%-%-format=(.*)$")
    if v then return field_list(v) end
    if (w == "-o" or w == "--format") and argv[i + 1] then return field_list(argv[i + 1]) end
  end
  return nil
end

local function is_header(words)
  for _, w in ipairs(words) do
    if not w:match("^[%u][%u_]*$") then return false end
  end
  return #words > 0
end

--- Parses thin_ls output into a list of rows, one per device.
-- Row keys: DEV is `dev_id`; MAPPED, EXCLUSIVE, SHARED (printed
-- human-readable, so rounded) are `mapped_approx_bytes`,
-- `exclusive_approx_bytes`, `shared_approx_bytes`, and HIGHEST_MAPPED
-- (1.x) `highest_mapped_approx_byte`, integers of bytes; the other columns
-- are their names lower-cased (`mapped_blocks`, `mapped_sectors`,
-- `mapped_bytes`, `exclusive_*`, `shared_*`, `transaction`, `create_time`,
-- `snap_time`, `highest_block`, `highest_sector`, `highest_byte`), integers. The field list comes from the header line when
-- there is one, else from `fields` (a list or "A,B" string), else from the
-- -o/--format of the CommandResult, else thin_ls's default columns.
function parse.thin_ls(input, fields)
  local text = text_of(input, "parse_thin_ls")
  if type(fields) == "string" then
    fields = field_list(fields)
  elseif fields ~= nil and type(fields) ~= "table" then
    errors.raise("ValueError", "parse_thin_ls: fields must be a list or a string, got " .. type(fields))
  end
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    if line:match("%S") then lines[#lines + 1] = line end
  end
  local rows, first = {}, 1
  local names
  if lines[1] then
    local words = {}
    for w in lines[1]:gmatch("%S+") do words[#words + 1] = w end
    if is_header(words) then
      names, first = words, 2
    end
  end
  if not names then
    names = fields
      or (type(input) == "table" and fields_from_argv(input.argv))
      or THIN_LS_DEFAULT
  end
  for i = first, #lines do
    local words = {}
    for w in lines[i]:gmatch("%S+") do words[#words + 1] = w end
    if #words ~= #names then
      errors.raise("DmpdError", ("parse_thin_ls: line %d has %d columns, expected %d (%s)")
                   :format(i, #words, #names, table.concat(names, ",")))
    end
    local row = {}
    for j, name in ipairs(names) do
      local w = words[j]
      local v
      local column = name:upper()
      if HUMAN_FIELDS[column] then v = human_bytes(w) end
      if v == nil then v = typed(w) end
      row[THIN_LS_KEYS[column] or name:lower()] = v
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- ----------------------------------------------------------------------
-- thin_dump

-- What the kernel holds when a dump leaves an attribute out, so both
-- generations give one shape: 1.x writes `flags` only when needs_check
-- is set (flags="1") and its restore makes `version` 2 when absent; the
-- device and mapping fields default as a freshly created thin has them.
-- `metadata_snap` stays absent (nil) unless a dump names one: only 0.9
-- prints it, and only when a metadata snapshot is held.
local THIN_SUPERBLOCK_DEFAULTS = {uuid = "", time = 0, transaction = 0, flags = 0, version = 2}
local THIN_DEVICE_DEFAULTS = {transaction = 0, creation_time = 0, snap_time = 0}

local function fill_defaults(t, defaults)
  for k, v in pairs(defaults) do
    if t[k] == nil then t[k] = v end
  end
  return t
end

-- a <superblock> of a thin dump, with the kernel's defaults filled in
local function thin_superblock(attrs)
  local sb = fill_defaults(typed_attrs(attrs, SB_STRINGS), THIN_SUPERBLOCK_DEFAULTS)
  sb.devices = {}
  return sb
end

-- a <device>; a missing mapped_blocks is counted from its mappings when
-- the device ends (thin_device_end)
local function thin_device(attrs)
  local device = fill_defaults(typed_attrs(attrs), THIN_DEVICE_DEFAULTS)
  device.dev_id = int_attr(attrs, "dev_id", "device")
  device.mappings = {}
  return device
end

local function thin_device_end(device)
  if device.mapped_blocks == nil then
    local n = 0
    for _, m in ipairs(device.mappings) do n = n + m.length end
    device.mapped_blocks = n
  end
end

-- one {origin=, data=, length=, time=} from a <range_mapping> or a
-- <single_mapping> (length 1); `time` is 0 when absent
local function thin_mapping(name, attrs)
  local time = attrs.time and int_attr(attrs, "time", name) or 0
  if name == "range_mapping" then
    return {origin = int_attr(attrs, "origin_begin", name), data = int_attr(attrs, "data_begin", name),
            length = int_attr(attrs, "length", name), time = time}
  end
  return {origin = int_attr(attrs, "origin_block", name), data = int_attr(attrs, "data_block", name),
          length = 1, time = time}
end

-- appends mapping `m` to `list`, joined to the last one when it carries
-- the same run on (next origin and data block, same time): 0.9 prints a
-- run as one mapping, 1.x splits it where a shared subtree (<def>) ends,
-- and the kernel holds per-block mappings either way
local function append_mapping(list, m)
  local last = list[#list]
  if last and last.origin + last.length == m.origin and last.data + last.length == m.data
      and last.time == m.time then
    last.length = last.length + m.length
  else
    list[#list + 1] = m
  end
end

-- appends copies of the mappings of the <def> a <ref> names (1.x writes
-- subtrees shared between devices, a snapshot and its origin, once as a
-- <def> and a <ref> where each device uses it), so every device lists
-- all its mappings whatever the generation
local function expand_ref(defs, name, list)
  local shared = defs[name or ""]
  if not shared then
    errors.raise("DmpdError", "parse_thin_dump: <ref> to unknown <def> '" .. tostring(name) .. "'")
  end
  for _, m in ipairs(shared) do
    append_mapping(list, {origin = m.origin, data = m.data, length = m.length, time = m.time})
  end
end

--- Parses thin_dump XML of either generation into one shape.
-- Returns {uuid=, time=, transaction=, flags=, version=, data_block_size=,
-- nr_data_blocks=, [metadata_snap=], devices = {{dev_id=, mapped_blocks=,
-- transaction=, creation_time=, snap_time=, mappings = {{origin=, data=,
-- length=, time=}, ...}}, ...}}. Single mappings have length 1; shared
-- <def>/<ref> subtrees are expanded in place; a mapping that carries on
-- the run before it is joined to it; absent attributes get the kernel's
-- defaults (flags 0, version 2, times and transactions 0, mapped_blocks
-- counted). Reads through the streaming reader (sts.dmpd.stream), which
-- expands and joins; `input` may also be an open file.
-- @tparam string|table|file input the dump (text, CommandResult or file)
-- @treturn table the superblock with its devices and their mappings
function parse.thin_dump(input)
  local sb, device, maps, n
  stream.read(input, function(_, origin, data, length, time)
    n = n + 1
    maps[n] = {origin = origin, data = data, length = length, time = time}
  end, function(name, a)
    if name == "superblock" then
      sb = thin_superblock(a)
    else  -- a device: its mappings follow
      need_superblock(sb, "parse_thin_dump")
      device = thin_device(a)
      maps, n = device.mappings, 0
      sb.devices[#sb.devices + 1] = device
    end
  end, function()
    if device then thin_device_end(device) end
    device = nil
  end)
  return need_superblock(sb, "parse_thin_dump")
end

--- Parses thin_dump XML into the same tables as `thin_dump`, through the
-- pure-Lua tree reader (sts.dmpd.xml): the reference the streaming reader
-- is checked against, and a fallback that needs no C.
-- @tparam string|table input the dump (text or CommandResult)
-- @treturn table the superblock with its devices and their mappings
function parse.thin_dump_tree(input)
  local text = text_of(input, "parse_thin_dump")
  local sb, device, def
  local defs = {}
  xml.each(text, function(name, a)
    if name == "superblock" then
      sb = thin_superblock(a)
    elseif name == "device" then
      need_superblock(sb, "parse_thin_dump")
      device = thin_device(a)
      sb.devices[#sb.devices + 1] = device
    elseif name == "def" then
      def = {}
      defs[a.name or ""] = def
    elseif name == "range_mapping" or name == "single_mapping" then
      local list = def or (device and device.mappings)
      if not list then errors.raise("DmpdError", "parse_thin_dump: <" .. name .. "> outside a device") end
      append_mapping(list, thin_mapping(name, a))
    elseif name == "ref" then
      local list = def or (device and device.mappings)
      if not list then errors.raise("DmpdError", "parse_thin_dump: <ref> outside a device") end
      expand_ref(defs, a.name, list)
    end
  end, function(name)
    if name == "device" and device then
      thin_device_end(device)
      device = nil
    elseif name == "def" then
      def = nil
    end
  end)
  return need_superblock(sb, "parse_thin_dump")
end

-- ----------------------------------------------------------------------
-- cache_dump

--- Parses cache_dump XML.
-- Returns {uuid=, block_size=, nr_cache_blocks=, policy=, hint_width=,
-- mappings = {{cache_block=, origin_block=, dirty=bool}, ...},
-- hints = {{cache_block=, data="base64"}, ...},
-- discards = {{dbegin=, dend=}, ...}} (the lists may be empty).
function parse.cache_dump(input)
  local text = text_of(input, "parse_cache_dump")
  local sb
  xml.each(text, function(name, a)
    if name == "superblock" then
      sb = typed_attrs(a, SB_STRINGS)
      sb.mappings, sb.hints, sb.discards = {}, {}, {}
    elseif name == "mapping" then
      need_superblock(sb, "parse_cache_dump")
      sb.mappings[#sb.mappings + 1] = {cache_block = int_attr(a, "cache_block", name),
                                       origin_block = int_attr(a, "origin_block", name),
                                       dirty = bool_attr(a, "dirty", name)}
    elseif name == "hint" then
      need_superblock(sb, "parse_cache_dump")
      sb.hints[#sb.hints + 1] = {cache_block = int_attr(a, "cache_block", name), data = a.data or ""}
    elseif name == "discard" then
      need_superblock(sb, "parse_cache_dump")
      sb.discards[#sb.discards + 1] = {dbegin = int_attr(a, "dbegin", name),
                                       dend = int_attr(a, "dend", name)}
    end
  end)
  return need_superblock(sb, "parse_cache_dump")
end

-- ----------------------------------------------------------------------
-- era_dump

--- Parses era_dump XML.
-- Plain or `--logical`.
-- Returns {uuid=, block_size=, nr_blocks=, current_era=,
-- writesets = {{era=, nr_bits=, blocks = {set block numbers, ascending}}},
-- era_array = {{block=, era=}, ...}}. Only non-default entries are listed:
-- writeset bits that are set and era_array entries whose era is not 0, so
-- a dump compares equal to the few lines that described it.
function parse.era_dump(input)
  local text = text_of(input, "parse_era_dump")
  local sb, writeset
  xml.each(text, function(name, a)
    if name == "superblock" then
      sb = typed_attrs(a, SB_STRINGS)
      sb.writesets, sb.era_array = {}, {}
    elseif name == "writeset" then
      need_superblock(sb, "parse_era_dump")
      writeset = {era = int_attr(a, "era", name), nr_bits = int_attr(a, "nr_bits", name), blocks = {}}
      sb.writesets[#sb.writesets + 1] = writeset
    elseif name == "bit" then
      if not writeset then errors.raise("DmpdError", "parse_era_dump: <bit> outside a <writeset>") end
      if bool_attr(a, "value", name) then
        writeset.blocks[#writeset.blocks + 1] = int_attr(a, "block", name)
      end
    elseif name == "era" then
      need_superblock(sb, "parse_era_dump")
      local era = int_attr(a, "era", name)
      if era ~= 0 then
        sb.era_array[#sb.era_array + 1] = {block = int_attr(a, "block", name), era = era}
      end
    end
  end, function(name)
    if name == "writeset" then writeset = nil end
  end)
  return need_superblock(sb, "parse_era_dump")
end

-- ----------------------------------------------------------------------
-- thin_delta

local DELTA_KINDS = {same = true, different = true, left_only = true, right_only = true}

--- Parses thin_delta XML.
-- Plain or `--verbose`.
-- Returns the superblock fields plus {left=, right=, ranges = {{type=
-- "same"|"different"|"left_only"|"right_only", begin=, length=, and with
-- --verbose data_begin= or left_data_begin=/right_data_begin=}, ...},
-- blocks = {same=, different=, left_only=, right_only= (block counts)}}.
function parse.thin_delta(input)
  local text = text_of(input, "parse_thin_delta")
  local sb, section
  xml.each(text, function(name, a)
    if name == "superblock" then
      sb = typed_attrs(a, SB_STRINGS)
      sb.ranges = {}
      sb.blocks = {same = 0, different = 0, left_only = 0, right_only = 0}
    elseif name == "diff" then
      need_superblock(sb, "parse_thin_delta")
      sb.left, sb.right = int_attr(a, "left", name), int_attr(a, "right", name)
    elseif DELTA_KINDS[name] or (name == "range" and section) then
      need_superblock(sb, "parse_thin_delta")
      if name ~= "range" and a.begin == nil then
        section = name  -- --verbose: the ranges follow inside
        return
      end
      local r = typed_attrs(a)
      r.type = name == "range" and section or name
      r.begin, r.length = int_attr(a, "begin", name), int_attr(a, "length", name)
      sb.ranges[#sb.ranges + 1] = r
      sb.blocks[r.type] = sb.blocks[r.type] + r.length
    end
  end, function(name)
    if name == section then section = nil end
  end)
  return need_superblock(sb, "parse_thin_delta")
end

-- ----------------------------------------------------------------------
-- era_invalidate, thin_rmap

--- Parses era_invalidate XML: a list of {begin=, length=} block ranges
-- (a single <block> is a range of length 1), in the order printed.
function parse.era_invalidate(input)
  local text = text_of(input, "parse_era_invalidate")
  local ranges = {}
  xml.each(text, function(name, a)
    if name == "range" then
      local b, e = int_attr(a, "begin", name), int_attr(a, "end", name)
      ranges[#ranges + 1] = {begin = b, length = e - b}
    elseif name == "block" then
      ranges[#ranges + 1] = {begin = int_attr(a, "block", name), length = 1}
    end
  end)
  return ranges
end

--- Parses thin_rmap output ("data 0..10 -> thin(1) 0..10" lines) into a
-- list of {data_begin=, length=, dev_id=, origin_begin=}.
function parse.thin_rmap(input)
  local text = text_of(input, "parse_thin_rmap")
  local rows = {}
  for line in text:gmatch("[^\n]+") do
    local db, de, dev, ob = line:match("^%s*data%s+(%d+)%.%.(%d+)%s*%->%s*thin%((%d+)%)%s+(%d+)%.%.%d+")
    if db then
      db, de = math.tointeger(tonumber(db)), math.tointeger(tonumber(de))
      rows[#rows + 1] = {data_begin = db, length = de - db, dev_id = math.tointeger(tonumber(dev)),
                         origin_begin = math.tointeger(tonumber(ob))}
    end
  end
  return rows
end

-- ----------------------------------------------------------------------
-- metadata sizes

-- sectors per unit; lower case letters are powers of 1024, upper case of
-- 1000 (thin_metadata_size's convention), plus the spelled-out names
local UNIT_BYTES = {
  s = 512, sector = 512, sectors = 512,
  b = 1, byte = 1, bytes = 1,
  k = 2^10, m = 2^20, g = 2^30, t = 2^40, p = 2^50, e = 2^60,
  K = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15, E = 1e18,
  kibibytes = 2^10, mebibytes = 2^20, gibibytes = 2^30, tebibytes = 2^40,
  pebibytes = 2^50, exbibytes = 2^60,
  kilobytes = 1e3, megabytes = 1e6, gigabytes = 1e9, terabytes = 1e12,
  petabytes = 1e15, exabytes = 1e18,
}

--- Parses thin_metadata_size/cache_metadata_size output into sectors.
-- Understands "N sectors", "N<unit>" and a bare number (sectors); other
-- units are converted, rounding up. Raises DmpdError when no size is found.
function parse.metadata_size(input)
  local text = text_of(input, "parse_metadata_size")
  for line in text:gmatch("[^\n]+") do
    local num, unit = line:match("(%d+%.?%d*)%s*(%a*)")
    while num do
      local bytes = unit == "" and 512 or UNIT_BYTES[unit]
      if bytes then
        local sectors = tonumber(num) * bytes / 512
        return math.tointeger(math.ceil(sectors))
      end
      -- a number followed by something that is not a unit: keep looking
      local rest = line:match("%d+%.?%d*%s*%a*(.*)")
      line = rest or ""
      num, unit = line:match("(%d+%.?%d*)%s*(%a*)")
    end
  end
  errors.raise("DmpdError", "parse_metadata_size: no size in the output: " .. text:sub(1, 200))
end

--- Parses the version a tool prints, of either generation.
-- `tool -V` or `tool --version` prints "0.9.0", or the tool's name first:
-- "thin_check 1.1.0".
-- @tparam string|CommandResult input the output
-- @treturn table|nil {major=, minor=, patch= (integers; patch 0 when not
-- printed), text= (the version word as printed, "1.0.0-rc1" kept whole)},
-- or nil when the output holds no version
function parse.version(input)
  local text = text_of(input, "parse_version")
  for word in text:gmatch("%S+") do
    local major, minor, patch = word:match("^v?(%d+)%.(%d+)%.?(%d*)")
    if major then
      return {major = math.tointeger(tonumber(major)), minor = math.tointeger(tonumber(minor)),
              patch = math.tointeger(tonumber(patch ~= "" and patch or "0")), text = word}
    end
  end
  return nil
end

parse.is_result = command.is_result

return parse

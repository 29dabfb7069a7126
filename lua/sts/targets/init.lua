--- sts.targets: device-mapper table targets.
-- One constructor per kernel target type (LinearTarget, ThinPoolTarget, ...)
-- and DmTarget for any other type. Each typed constructor takes either the
-- raw form or a table of named fields:
--
--   LinearTarget(0, 2048, "7:0 0")
--   LinearTarget{start = 0, size = 2048, device = "/dev/loop0", offset = 0}
--
-- A target is a plain table {start=, size=, type=, args=}; tostring gives
-- its table line "start size type args". t:params() reads the named fields
-- back from the args. parse_table/format_table convert whole tables.
-- Errors in the input are sts ValueErrors naming what is wrong.

local K = require "sts.targets.fields"
local defs = require "sts.targets.defs"
local words = require "sts.words"

local targets = {}

local raise, show = K.raise, K.show

-- The kernel's limit on a target type name (DM_MAX_TYPE_NAME, with the NUL).
local MAX_TYPE_NAME = 15

local Target = {}            -- methods of every target
local def_of_meta = {}       -- metatable -> definition (nil for DmTarget)
local generic_meta           -- DmTarget's metatable
local classes = {}           -- type name -> constructor
local def_of_type = {}       -- type name -> definition

-- start and size --------------------------------------------------------------

-- An integer number of sectors below 2^63, or raises naming `what`.
local function check_sector(value, where, what)
  if type(value) ~= "number" then
    raise("%s: %s must be an integer number of sectors, got %s", where, what, type(value))
  end
  local n = K.as_integer(value)
  if n == nil then -- a float that is not an integer in range
    if value == value and value >= 2^63 then
      local shown = value < 1e20 and string.format("%.0f", value) or string.format("%g", value)
      raise("%s: %s %s is too large (sectors must be below 2^63)", where, what, shown)
    elseif value == value and value <= -1 then
      raise("%s: %s must not be negative, got %g", where, what, value)
    end
    raise("%s: %s must be an integer number of sectors, got %s", where, what, show(value))
  end
  if n < 0 then raise("%s: %s must not be negative, got %d", where, what, n) end
  return n
end

local function check_extent(start, size, where)
  start = check_sector(start, where, "start")
  size = check_sector(size, where, "size")
  if size == 0 then raise("%s: size must be positive, got 0", where) end
  if start > math.maxinteger - size then
    raise("%s: start %d + size %d ends beyond sector 2^63-1", where, start, size)
  end
  return start, size
end

-- The kinds for start and size inside a table of fields.
local start_kind = {check = function(v, cx) return check_sector(v, cx.where, "start") end}
local size_kind = {check = function(v, cx) return check_sector(v, cx.where, "size") end}
local EXTENT_FIELDS = {
  {name = "start", kind = start_kind, default = 0},
  {name = "size", kind = size_kind},
}

-- args --------------------------------------------------------------------------

-- One line's worth of args, whitespace runs folded to single spaces (the
-- kernel splits on whitespace anyway, and this makes args comparable).
local function clean_args(args, where)
  if args == nil then return "" end
  if type(args) ~= "string" then raise("%s: args must be a string, got %s", where, type(args)) end
  if args:find("\0", 1, true) then raise("%s: args contain a NUL byte: %s", where, show(args)) end
  if args:find("[\n\r]") then
    raise("%s: args contain a newline (a target's args are one line): %s", where, show(args))
  end
  return (args:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- objects -----------------------------------------------------------------------

-- secrets ---------------------------------------------------------------------------
--
-- Keys are hidden wherever a table is shown (tostring, d.table, the REPL),
-- as dmsetup does without --showkeys: a crypt key in the args becomes "-"
-- (a keyring reference ":<len>:<type>:<desc>" is no secret and stays), and
-- so does the key of integrity's internal_hash, journal_crypt and
-- journal_mac options ("internal_hash:hmac(sha256):-"). The target
-- objects keep their args, so a copied table still loads.

local INTEGRITY_KEYED = {internal_hash = true, journal_crypt = true, journal_mac = true}

local function hide_crypt(args)
  local cipher, key, rest = args:match("^(%S+) (%S+)(.*)$")
  if not key or key == "-" or key:sub(1, 1) == ":" then return args end
  return cipher .. " -" .. rest
end

local function hide_integrity(args)
  return (args:gsub("(%S+)", function(word)
    local name, alg = word:match("^([%w_]+):([^:]+):.")
    if name and INTEGRITY_KEYED[name] then return name .. ":" .. alg .. ":-" end
    return word
  end))
end

local HIDERS = {crypt = hide_crypt, integrity = hide_integrity}

--- The args of a target of type `target_type` with its keys shown as "-".
-- crypt: the key (a keyring key ":<len>:<type>:<desc>" stays as it is);
-- integrity: the keys of internal_hash, journal_crypt and journal_mac.
-- Other types' args come back as they are.
-- @tparam string target_type
-- @tparam string args
-- @treturn string
function targets.hide_keys(target_type, args)
  local hide = HIDERS[target_type]
  if hide == nil or type(args) ~= "string" then return args end
  return hide(args)
end

--- Table text (one "start size type args" line per target) with every
-- crypt and integrity key shown as "-".
-- @tparam string text
-- @treturn string
function targets.hide_table_keys(text)
  if type(text) ~= "string" or not (text:find(" crypt ", 1, true) or text:find(" integrity ", 1, true)) then
    return text
  end
  return (text:gsub("([^\n]+)", function(line)
    local head, ttype, args = line:match("^(%s*%d+%s+%d+%s+)(%S+)%s+(.*)$")
    if not head or HIDERS[ttype] == nil then return line end
    return head .. ttype .. " " .. HIDERS[ttype](args)
  end))
end

local function target_line(t, show_keys)
  local head = string.format("%s %s %s", tostring(t.start), tostring(t.size), tostring(t.type))
  if t.args == nil or t.args == "" then return head end
  if show_keys then return head .. " " .. t.args end
  return head .. " " .. targets.hide_keys(t.type, t.args)
end

local function target_tostring(t)
  return target_line(t, false)
end

local function same_target(a, b)
  return type(a) == "table" and type(b) == "table"
    and a.start == b.start and a.size == b.size and a.type == b.type
    and (a.args or "") == (b.args or "")
end

local function new_meta(class_name)
  return {
    __name = "sts." .. class_name,
    __index = Target,
    __tostring = target_tostring,
    __eq = same_target,
  }
end

--- True when value is a target made by this module.
function targets.is_target(value)
  local mt = getmetatable(value)
  return mt ~= nil and (def_of_meta[mt] ~= nil or mt == generic_meta)
end

local function make(meta, start, size, type_name, args)
  return setmetatable({start = start, size = size, type = type_name, args = args}, meta)
end

--- t:line{show_keys=} -> the table line "start size type args"; keys
-- show as "-" (as tostring(t) gives it) unless show_keys is true.
function Target:line(opts)
  return target_line(self, type(opts) == "table" and opts.show_keys == true)
end

--- t:equals(other) -> true when both have the same start, size, type and
-- args (whatever their classes).
function Target:equals(other)
  return same_target(self, other)
end

--- t:params() -> the named fields of the target, read back from its args,
-- with start and size and every default filled in; devices come back as
-- the strings in the args. XTarget(t:params()) gives the same args.
-- Raises ValueError naming the type when the args do not parse. For a
-- DmTarget: {start=, size=, type=, args=}.
function Target:params()
  local def = def_of_meta[getmetatable(self)]
  if def == nil then
    return {start = self.start, size = self.size, type = self.type, args = self.args}
  end
  local args = self.args or ""
  local r = K.reader(def.type, args)
  local p = def.parse(r)
  r:finish()
  p.start, p.size = self.start, self.size
  local cx = {where = string.format("%s target args %s", def.type, show(args))}
  local out = K.check_record(p, def.all_fields, cx)
  if def.normalize then def.normalize(out, cx) end
  return out
end

-- constructors ---------------------------------------------------------------------

-- The typed target of def from a table of named fields.
local function from_fields(def, fields)
  local cx = {where = def.type .. " target"}
  local p = K.check_record(fields, def.all_fields, cx)
  if def.normalize then def.normalize(p, cx) end
  local start, size = check_extent(p.start, p.size, cx.where)
  local words = {}
  def.build(p, words)
  return make(def.meta, start, size, def.type, table.concat(words, " "))
end

local function from_raw(def, start, size, args, where)
  where = where or def.type .. " target"
  start, size = check_extent(start, size, where)
  return make(def.meta, start, size, def.type, clean_args(args, where))
end

local function constructor(def)
  return function(first, size, args)
    if type(first) == "table" then
      if targets.is_target(first) then
        raise("%s: expected start, size, args or a table of fields, got a target"
          .. " (pass t:params() to copy one)", def.type .. " target")
      end
      return from_fields(def, first)
    end
    return from_raw(def, first, size, args)
  end
end

for _, def in ipairs(defs) do
  def.meta = new_meta(def.name)
  def_of_meta[def.meta] = def
  def.all_fields = {EXTENT_FIELDS[1], EXTENT_FIELDS[2]}
  table.move(def.fields, 1, #def.fields, 3, def.all_fields)
  local ctor = constructor(def)
  targets[def.name] = ctor
  classes[def.type] = ctor
  def_of_type[def.type] = def
end


-- The constructors, one per target type: NameTarget(start, size, args)
-- takes the table line's words as they are; NameTarget{...} takes named
-- fields (start=0 and size as well), checks them and computes the counts.
-- Both give a target object (start, size, type, args; t:params(),
-- tostring(t)); bad input raises ValueError naming the field.

--- A linear target from (start, size, args) or {start=0, size, device,
-- offset=0}.
-- @function LinearTarget

--- A striped target from (start, size, args) or {start=0, size, chunk_size,
-- stripes={{device, offset=0}, ...}}.
-- @function StripedTarget

--- A delay target from (start, size, args) or {start=0, size, device,
-- offset=0, delay, write={device?, offset?, delay?}?, flush={...}?}.
-- @function DelayTarget

--- An error target from (start, size) or {start=0, size}: no arguments.
-- @function ErrorTarget

--- A zero target from (start, size) or {start=0, size}: no arguments.
-- @function ZeroTarget

--- A flakey target from (start, size, args) or {start=0, size, device,
-- offset=0, up, down, features?}.
-- @function FlakeyTarget

--- A dust target from (start, size, args) or {start=0, size, device,
-- offset=0, block_size=512}.
-- @function DustTarget

--- A multipath target from (start, size, args) or {start=0, size,
-- features={}, hw_handler?, hw_handler_args?, groups={{selector=,
-- selector_args={}, paths={{device, args={}}}}}, initial_group=1}.
-- @function MultipathTarget

--- A thin-pool target from (start, size, args) or {start=0, size,
-- metadata_dev, data_dev, block_size, low_water_mark=0, features?}.
-- @function ThinPoolTarget

--- A thin target from (start, size, args) or {start=0, size, pool_dev,
-- dev_id, external_origin_dev?}.
-- @function ThinTarget

--- A cache target from (start, size, args) or {start=0, size, metadata_dev,
-- cache_dev, origin_dev, block_size, features={}, policy="default",
-- policy_args={}}.
-- @function CacheTarget

--- An era target from (start, size, args) or {start=0, size, metadata_dev,
-- origin_dev, block_size}.
-- @function EraTarget

--- A writecache target from (start, size, args) or {start=0, size,
-- cache_type="s", origin_dev, cache_dev, block_size=4096, features={}}.
-- @function WritecacheTarget

--- A snapshot target from (start, size, args) or {start=0, size, origin, cow,
-- persistent="P", chunk_size, features?}.
-- @function SnapshotTarget

--- A snapshot-merge target from (start, size, args) or {start=0, size,
-- origin, cow, persistent="P", chunk_size, features?}.
-- @function SnapshotMergeTarget

--- A snapshot-origin target from (start, size, args) or {start=0, size,
-- origin}.
-- @function SnapshotOriginTarget

--- A crypt target from (start, size, args) or {start=0, size, cipher, key,
-- iv_offset=0, device, offset=0, features?}.
-- @function CryptTarget

--- An integrity target from (start, size, args) or {start=0, size, device,
-- offset=0, tag_size="-", mode="J", features={}}.
-- @function IntegrityTarget

--- A verity target from (start, size, args) or {start=0, size, version=1,
-- data_dev, hash_dev, data_block_size=4096, hash_block_size=4096,
-- num_data_blocks, hash_start_block, algorithm="sha256", digest, salt="-",
-- features?}.
-- @function VerityTarget

--- A raid target from (start, size, args) or {start=0, size, raid_type,
-- chunk_size, features={}, devices={{metadata="-", data}, ...}}.
-- @function RaidTarget

--- A mirror target from (start, size, args) or {start=0, size,
-- log_type="core", region_size, log_device?, log_features?, log_args?,
-- mirrors={{device, offset=0}}, features?}.
-- @function MirrorTarget

--- A log-writes target from (start, size, args) or {start=0, size, device,
-- log_device}.
-- @function LogWritesTarget

--- A unstriped target from (start, size, args) or {start=0, size,
-- num_stripes, chunk_size, stripe, device, offset=0}.
-- @function UnstripedTarget

--- A switch target from (start, size, args) or {start=0, size,
-- region_size, features={}, paths={{device, offset=0}, ...}}.
-- @function SwitchTarget

--- An ebs target from (start, size, args) or {start=0, size, device,
-- offset=0, emulated_sector_size, underlying_sector_size?}.
-- @function EbsTarget

--- A zoned target from (start, size, args) or {start=0, size,
-- devices={{device}, ...}} (a regular device first, then zoned ones).
-- @function ZonedTarget

--- A clone target from (start, size, args) or {start=0, size,
-- metadata_dev, dest_dev, source_dev, region_size, features?, core_args?}.
-- @function CloneTarget

--- A vdo target from (start, size, args) or {start=0, size, version="V4",
-- storage_dev, storage_blocks, minimum_io_size=4096,
-- block_map_cache_blocks=32768, block_map_era_length=16380, options={}}.
-- @function VdoTarget

generic_meta = new_meta("DmTarget")

local function check_type_name(type_name, where)
  if type(type_name) ~= "string" then raise("%s: type must be a string, got %s", where, type(type_name)) end
  if not K.is_word(type_name) then
    raise("%s: type must be one word (no whitespace or control characters), got %s", where, show(type_name))
  end
  if #type_name > MAX_TYPE_NAME then
    raise("%s: type %s is longer than the kernel's %d bytes", where, show(type_name), MAX_TYPE_NAME)
  end
  return type_name
end

local GENERIC_FIELDS = {start = true, size = true, type = true, args = true}

local function generic(start, size, type_name, args, where)
  where = where or "DmTarget"
  type_name = check_type_name(type_name, where)
  start, size = check_extent(start, size, where)
  return make(generic_meta, start, size, type_name, clean_args(args, where))
end

--- DmTarget(start, size, type, args) or DmTarget{start=, size=, type=, args=}
-- -> a target of any type, its args taken as they are (start defaults to 0
-- and args to "" in the table form). Raises ValueError on bad input.
function targets.DmTarget(start, size, type_name, args)
  if type(start) == "table" and not targets.is_target(start) then
    local t = start
    for k in pairs(t) do
      if not GENERIC_FIELDS[k] then raise("DmTarget: unknown field %s", show(k)) end
    end
    if t.size == nil then raise("DmTarget: missing required field 'size'") end
    if t.type == nil then raise("DmTarget: missing required field 'type'") end
    local st = t.start
    if st == nil then st = 0 end
    return generic(st, t.size, t.type, t.args)
  end
  return generic(start, size, type_name, args)
end

--- Type name -> constructor, for every type with a typed class.
targets.classes = classes

--- types() -> the sorted list of type names with a typed class.
function targets.types()
  local list = {}
  for name in pairs(classes) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- tables ----------------------------------------------------------------------------

local function parse_line_at(line, where)
  local s = line:gsub("%s+$", "")
  if s:find("\0", 1, true) then raise("%s: contains a NUL byte: %s", where, show(line)) end
  if s:find("[\n\r]") then
    raise("%s: contains a line break (parse_table reads several lines): %s", where, show(line))
  end
  local start_w, size_w, type_name, rest = s:match("^%s*(%S+)%s+(%S+)%s+(%S+)%s*(.*)$")
  if not start_w then
    raise("%s: expected \"<start> <size> <type> [<args>]\"", where)
  end
  local function sector(w, what)
    local n, why = words.integer(w)
    if not n then raise("%s: %s must be a sector number, got %s (%s)", where, what, show(w), why) end
    return n
  end
  local start, size = sector(start_w, "start"), sector(size_w, "size")
  local def = def_of_type[type_name]
  if def then return from_raw(def, start, size, rest, where) end
  return generic(start, size, type_name, rest, where)
end

--- parse_line(line) -> the typed target of one table line
-- ("start size type args"); DmTarget for types without a class.
-- Raises ValueError naming the line when it is malformed.
function targets.parse_line(line)
  if type(line) ~= "string" then raise("parse_line: expected a string, got %s", type(line)) end
  return parse_line_at(line, "table line " .. show(line))
end

--- parse_table(text) -> list of typed targets, one per non-blank line
-- (as the kernel reports a table; a trailing newline is fine).
function targets.parse_table(text)
  if type(text) ~= "string" then raise("parse_table: expected a string, got %s", type(text)) end
  if text:find("\0", 1, true) then raise("parse_table: the table text contains a NUL byte") end
  local list, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find("%S") then
      list[#list + 1] = parse_line_at(line, string.format("table line %d %s", n, show(line)))
    end
  end
  return list
end

--- check_table(list) -> the total size in sectors, when the targets start
-- at sector 0 and each begins where the one before it ends. Raises
-- ValueError naming the positions of a gap or an overlap, or an item
-- that is not a target. Items only need start, size and type fields.
function targets.check_table(list)
  if type(list) ~= "table" then raise("check_table: expected a list of targets, got %s", type(list)) end
  local n = #list
  if n == 0 then raise("check_table: the table has no targets") end
  local next_start = 0
  for i = 1, n do
    local t = list[i]
    if type(t) ~= "table" or type(t.type) ~= "string" then
      raise("check_table: item %d is not a target (got %s)", i, type(t))
    end
    local where = string.format("check_table: target %d (%s)", i, t.type)
    local start, size = check_extent(t.start, t.size, where)
    if i == 1 and start ~= 0 then
      raise("check_table: target 1 (%s) starts at sector %d; a table must start at sector 0", t.type, start)
    elseif start > next_start then
      raise("check_table: gap of %d sectors between target %d (ends at sector %d) and target %d"
        .. " (starts at sector %d)", start - next_start, i - 1, next_start, i, start)
    elseif start < next_start then
      raise("check_table: target %d (starts at sector %d) overlaps target %d (ends at sector %d)",
        i, start, i - 1, next_start)
    end
    next_start = start + size
  end
  return next_start
end

--- format_table(list, {show_keys=}) -> the table text, one line per target
-- joined with "\n" (no trailing newline); "" for an empty list. A lone
-- target is taken as a list of one. Checks the list with check_table
-- first. Keys show as "-" unless show_keys is true.
function targets.format_table(list, opts)
  if type(list) ~= "table" then raise("format_table: expected a list of targets, got %s", type(list)) end
  if targets.is_target(list) then list = {list} end
  if #list == 0 then return "" end
  targets.check_table(list)
  local lines = {}
  local show_keys = type(opts) == "table" and opts.show_keys == true
  for i, t in ipairs(list) do lines[i] = target_line(t, show_keys) end
  return table.concat(lines, "\n")
end

return targets

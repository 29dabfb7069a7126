--- sts.status: typed status of device-mapper targets.
-- The kernel reports a target's status as one line of words whose format
-- depends on the target type. parse() turns that text into a table with
-- a `type` field and named fields: integers as Lua integers, flags as
-- booleans, lists as tables. The words some targets print instead of
-- their numbers when things go wrong become flags too (`fail`, `error`,
-- `out_of_metadata_space`; snapshot's `invalid`, `overflow`, ...), so a
-- caller never has to match text.
--
--   status.parse("thin", "2048 4095")
--     --> {type = "thin", mapped_sectors = 2048, highest_mapped_sector = 4095}
--   status.parse_line("0 2097152 thin 2048 4095")   -- adds start and size
--
-- Fields a kernel did not print (older kernels print shorter lines) are
-- nil. Status text that does not fit its type's format raises an sts
-- ValueError naming the type, the field and the word found. Types without
-- a parser give {type = t, raw = text}.

local errors = require "sts.errors"
local reader = require "sts.status.reader"
local thin = require "sts.status.thin"
local cache = require "sts.status.cache"
local snapshot = require "sts.status.snapshot"
local multipath = require "sts.status.multipath"
local raid = require "sts.status.raid"
local simple = require "sts.status.simple"
local vdo = require "sts.status.vdo"

local status = {}

-- target type -> function(reader, result table) -> result table
local parsers = {
  ["thin-pool"] = thin.thin_pool,
  thin = thin.thin,
  cache = cache.cache,
  era = cache.era,
  writecache = cache.writecache,
  snapshot = snapshot.snapshot,
  ["snapshot-merge"] = snapshot.snapshot,
  multipath = multipath.multipath,
  raid = raid.raid,
  mirror = raid.mirror,
  striped = raid.striped,
  integrity = simple.integrity,
  delay = simple.delay,
  dust = simple.dust,
  verity = simple.verity,
  ["log-writes"] = simple.log_writes,
  linear = simple.empty,
  crypt = simple.empty,
  flakey = simple.empty,
  zero = simple.empty,
  error = simple.empty,
  ["snapshot-origin"] = simple.empty,
  vdo = vdo.vdo,
  clone = vdo.clone,
  zoned = vdo.zoned,
  switch = simple.empty,
  unstriped = simple.empty,
  ebs = simple.empty,
}

-- The whole-status words of the targets with persistent metadata, and the
-- flag each one sets. The kernel prints "Fail" when the target has failed
-- for good (all I/O errors), "Error" when it could not read its own
-- metadata to report status.
local BARE_FORMS = {
  Fail = "fail",
  Error = "error",
  ["Out of metadata space"] = "out_of_metadata_space",
}
local HAS_BARE_FORMS = {["thin-pool"] = true, thin = true, cache = true, era = true, clone = true}

local function raise(fmt, ...)
  errors.raisef("ValueError", fmt, ...)
end

local function check_type(target_type, where)
  if type(target_type) ~= "string" then
    raise("%s: target_type must be a string, got %s", where, type(target_type))
  end
  if target_type == "" or target_type:find("[%s%c]") then
    raise("%s: target_type %q is not a target type name", where, target_type)
  end
end

--- status.parse(target_type, text) -> typed status table of one target.
-- `text` is the target's status words (what follows "start size type" on
-- a `dmsetup status` line). Raises a ValueError when the text does not fit
-- the type's format or an argument has the wrong type.
function status.parse(target_type, text)
  check_type(target_type, "status.parse")
  if type(text) ~= "string" then
    raise("status.parse: text must be a string, got %s", type(text))
  end
  if text:find("[\n\r]") then
    raise("status.parse: %s status text contains a newline (one target's status is one line;"
      .. " use status.parse_lines for several): %s", target_type, reader.quote(text))
  end
  local trimmed = text:match("^%s*(.-)%s*$")
  local parser = parsers[target_type]
  if parser == nil then return {type = target_type, raw = trimmed} end
  if HAS_BARE_FORMS[target_type] then
    local flag = BARE_FORMS[(trimmed:gsub("%s+", " "))]
    if flag then return {type = target_type, [flag] = true} end
  end
  return parser(reader.new(target_type, trimmed), {type = target_type})
end

--- status.parse_line(line) -> typed status with `start` and `size` (and
-- `name` when the line starts with "name: ", as `dmsetup status` prints
-- when listing every device). Raises a ValueError on a malformed line.
function status.parse_line(line)
  if type(line) ~= "string" then
    raise("status.parse_line: line must be a string, got %s", type(line))
  end
  local body = line:match("^%s*(.-)%s*$")
  local name, rest = body:match("^(%S+):%s+(%d.*)$")
  if name then body = rest end
  local start, size, target_type, text = body:match("^(%S+)%s+(%S+)%s+(%S+)%s*(.*)$")
  if start == nil then
    raise("status line: expected \"start size type [status...]\", got %s", reader.quote(line))
  end
  local s, why = reader.integer(start)
  if s == nil then raise("status line: bad start %q (%s) in %s", start, why, reader.quote(line)) end
  local n
  n, why = reader.integer(size)
  if n == nil then raise("status line: bad size %q (%s) in %s", size, why, reader.quote(line)) end
  local st = status.parse(target_type, text)
  st.start, st.size, st.name = s, n, name
  return st
end

--- status.parse_lines(text) -> list of typed statuses, one per non-blank
-- line (the whole output of `dmsetup status`, or d:status()). A bad line
-- raises a ValueError that starts with its line number.
function status.parse_lines(text)
  if type(text) ~= "string" then
    raise("status.parse_lines: text must be a string, got %s", type(text))
  end
  local list, number = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    number = number + 1
    line = line:gsub("\r$", "")
    if line:find("%S") then
      local ok, result = pcall(status.parse_line, line)
      if not ok then
        if errors.is(result, "ValueError") then
          raise("line %d: %s", number, result.message)
        end
        error(result, 0)
      end
      list[#list + 1] = result
    end
  end
  return list
end

--- status.types() -> sorted list of the target types with a parser.
function status.types()
  local list = {}
  for t in pairs(parsers) do list[#list + 1] = t end
  table.sort(list)
  return list
end

--- status.has_bare_forms(target_type) -> true for the types that may print
-- "Fail", "Error" or "Out of metadata space" instead of their fields.
function status.has_bare_forms(target_type)
  return HAS_BARE_FORMS[target_type] == true
end

--- Parses the reply to a vdo target's `stats` message (`d:message(0, "stats")`).
-- @tparam string text the reply, "{ key : value, key : { ... }, ... }"
-- @treturn table nested tables of its keys; integers as integers
status.parse_vdo_stats = vdo.vdo_stats

return status

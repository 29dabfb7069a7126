--- Readable text for any Lua value: the printer of the stslua REPL, and of
-- messages that show a value (a status that never came, say).
--
-- Tables print as Lua table constructors, sequence first, then the other
-- keys sorted, nested up to a depth (deeper tables as `{...}`), on one line
-- when that fits the width, else one entry per line. The sts objects print
-- as compact summaries: `DmDevice{dm_name="x", name="dm-3", size=1048576,
-- table="0 2048 linear 7:0 0"}`, `LinearTarget(0, 2048, "7:0 0")` (the
-- constructor call that makes it), typed status as a table with `type`,
-- `start` and `size` first, `CommandResult{command="thin_check ...", rc=0,
-- ...}`; other objects through their `__tostring`.
-- @module sts.inspect
local M = {}

local DEFAULTS = {depth = 3, width = 80}

-- how long a string may get inside a summary before it is cut
local SUMMARY_STRING = 60

local IDENTIFIER = "^[%a_][%w_]*$"
local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in
    local nil not or repeat return then true until while]]):gmatch("%a+") do
  KEYWORDS[word] = true
end

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
                 ["\t"] = "\\t", ["\0"] = "\\0"}

-- A string as a Lua literal in double quotes, control bytes escaped;
-- `limit` cuts it, saying how long it was.
local function quote(s, limit)
  local cut = ""
  if limit and #s > limit then
    cut = ("...(%d bytes)"):format(#s)
    s = s:sub(1, limit)
  end
  local body = s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\%03d"):format(c:byte())
  end)
  return '"' .. body .. '"' .. cut
end

local function is_identifier(s)
  return type(s) == "string" and s:match(IDENTIFIER) ~= nil and not KEYWORDS[s]
end

-- order of keys: strings, then numbers, then the rest by type and text
local TYPE_RANK = {string = 1, number = 2, boolean = 3}

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return (TYPE_RANK[ta] or 4) < (TYPE_RANK[tb] or 4) or
      ((TYPE_RANK[ta] or 4) == (TYPE_RANK[tb] or 4) and ta < tb)
  end
  if ta == "string" or ta == "number" then return a < b end
  return tostring(a) < tostring(b)
end

-- a metatable field read without running __index or __metatable
local function meta_field(value, name)
  local mt = debug.getmetatable(value)
  if type(mt) ~= "table" then return nil end
  return rawget(mt, name)
end

local function type_name(value)
  local name = meta_field(value, "__name")
  return type(name) == "string" and name or nil
end

-- the value's own text (through __tostring); never raises
local function plain(value)
  local ok, text = pcall(tostring, value)
  if ok and type(text) == "string" then return text end
  return "<" .. type(value) .. ": __tostring failed>"
end

local render

-- a summary `Name{k=v, ...}` of the given fields (in that order) read
-- through `get`; a field whose read raises shows the error's kind
local function summary(name, value, keys, get, opts)
  local parts = {}
  for _, key in ipairs(keys) do
    local ok, v = pcall(get, value, key)
    local text
    if not ok then
      text = "<" .. (type(v) == "table" and v.kind or "error") .. ">"
    elseif v == nil then
      text = nil
    elseif type(v) == "string" then
      text = quote(v, SUMMARY_STRING)
    else
      text = render(v, opts, 1, {})
    end
    if text then parts[#parts + 1] = key .. "=" .. text end
  end
  return name .. "{" .. table.concat(parts, ", ") .. "}"
end

local function index(value, key) return value[key] end

local DEVICE_FIELDS = {"dm_name", "name", "size", "table"}

local RESULT_FIELDS = {"command", "rc", "signal", "timed_out", "stdout", "stderr"}

-- a CommandResult's field, with timed_out only when it did
local function result_field(r, key)
  local v = rawget(r, key)
  if key == "timed_out" and not v then return nil end
  return v
end

-- summaries of the sts objects, by their metatable's __name
local SUMMARIES = {
  ["sts.DmDevice"] = function(value, opts)
    return summary("DmDevice", value, DEVICE_FIELDS, index, opts)
  end,
  ["sts.dmpd.CommandResult"] = function(value, opts)
    return summary("CommandResult", value, RESULT_FIELDS, result_field, opts)
  end,
}

-- a target: the constructor call that makes it again
local function target_summary(value, class)
  local start, size, ttype, args = rawget(value, "start"), rawget(value, "size"),
    rawget(value, "type"), rawget(value, "args")
  local head = plain(start) .. ", " .. plain(size)
  if class == "DmTarget" then head = head .. ", " .. quote(tostring(ttype)) end
  -- keys stay hidden here as in tostring (sts.targets loads on demand:
  -- only a target, which that module made, gets here)
  local shown = require("sts.targets").hide_keys(tostring(ttype), tostring(args or ""))
  return ("%s(%s, %s)"):format(class, head, quote(shown))
end

local function target_class(value)
  local name = type_name(value)
  if not name or type(value) ~= "table" then return nil end
  local class = name:match("^sts%.(%u%w*Target)$")
  if class and rawget(value, "start") ~= nil and rawget(value, "size") ~= nil then return class end
  return nil
end

-- typed status (from sts.status): a plain table with a string `type` and
-- integer `start` and `size`; those come first
local LEADING = {type = 1, start = 2, size = 3}

local function is_status(t)
  return debug.getmetatable(t) == nil and type(rawget(t, "type")) == "string"
    and math.type(rawget(t, "start")) == "integer" and math.type(rawget(t, "size")) == "integer"
end

-- The entries of a table as texts, each rendered at `level`; also how
-- many of them, from the first, may share lines (the sequence part, or all
-- of a typed status).
local function entries(t, opts, level, seen)
  local items, n = {}, 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
    items[#items + 1] = render(rawget(t, n), opts, level, seen)
  end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  local status = is_status(t)
  table.sort(keys, function(a, b)
    if status then
      local ra, rb = LEADING[a], LEADING[b]
      if ra or rb then return (ra or 99) < (rb or 99) end
    end
    return key_less(a, b)
  end)
  for _, k in ipairs(keys) do
    local key = is_identifier(k) and k or ("[" .. render(k, opts, level, seen) .. "]")
    items[#items + 1] = key .. "=" .. render(rawget(t, k), opts, level, seen)
  end
  return items, status and #items or n
end

-- Lines of `inner`-indented items: the first `packed` items filled into
-- lines up to the width, the rest one per line.
local function layout(items, packed, inner, width)
  local lines, line = {}, nil
  for i, item in ipairs(items) do
    local fits = line and i <= packed and not item:find("\n", 1, true)
      and #line + 2 + #item + 1 <= width
    if fits then
      line = line .. ", " .. item
    else
      if line then lines[#lines + 1] = line .. "," end
      line = inner .. item
    end
    if i > packed or item:find("\n", 1, true) then
      lines[#lines + 1] = line .. (i < #items and "," or "")
      line = nil
    end
  end
  if line then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

local function render_table(t, opts, level, seen)
  if seen[t] then return "<cycle>" end
  if next(t) == nil then return "{}" end
  if level > opts.depth then return "{...}" end
  seen[t] = true
  local items, packed = entries(t, opts, level + 1, seen)
  seen[t] = nil
  local one_line = "{" .. table.concat(items, ", ") .. "}"
  local indent = ("  "):rep(level - 1)
  if #indent + #one_line <= opts.width and not one_line:find("\n", 1, true) then
    return one_line
  end
  return "{\n" .. layout(items, packed, indent .. "  ", opts.width) .. "\n" .. indent .. "}"
end

-- `level`: 1 for the value itself, one more per table it is inside
function render(value, opts, level, seen)
  local t = type(value)
  if t == "string" then return quote(value) end
  if t == "number" then
    -- floats as tostring gives them when that reads back the same number
    local text = tostring(value)
    if math.type(value) == "float" and value == value and tonumber(text) ~= value then
      text = ("%.17g"):format(value)
    end
    return text
  end
  if t ~= "table" and t ~= "userdata" then return plain(value) end
  local name = type_name(value)
  if name and SUMMARIES[name] then return SUMMARIES[name](value, opts) end
  if t == "table" then
    local class = target_class(value)
    if class then return target_summary(value, class) end
    if meta_field(value, "__tostring") == nil then return render_table(value, opts, level, seen) end
  end
  return plain(value)
end

--- Readable text for a value.
-- @param value any Lua value
-- @tparam[opt] table opts `depth`: how deep nested tables are shown
-- (default 3; deeper ones print as `{...}`); `width`: the line length a
-- table must fit to print on one line (default 80)
-- @treturn string the text; it never raises (a failing `__tostring` or
-- field read shows in the text instead)
function M.inspect(value, opts)
  -- sts.errors is required here, not at load: error messages may come to
  -- use this printer
  local errors = require "sts.errors"
  opts = errors.check_options(opts, {depth = "number", width = "number"}, "inspect")
  local o = {depth = DEFAULTS.depth, width = DEFAULTS.width}
  for k, v in pairs(opts) do
    if math.type(v) ~= "integer" or v < 0 then
      errors.raisef("ValueError", "inspect: %s must be a non-negative integer, got %s", k, tostring(v))
    end
    o[k] = v
  end
  return render(value, o, 1, {})
end

return M

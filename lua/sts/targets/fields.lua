--- sts.targets.fields: the value kinds target definitions are made of.
-- A kind knows three things about one field of a target's arguments:
--   check(value, cx, path) -> normalized value, or raises a ValueError
--                             naming cx.where and the field path;
--   read(r, path)          -> the value read from a word reader (raw form);
--   emit(value, out)       -> appends the value's words to the list out.
-- Records (a list of field specs) are checked with check_record, which
-- also rejects unknown field names and reports missing required ones.
-- Internal to sts.targets; the public API is in sts.targets.

local errors = require "sts.errors"
local words = require "sts.words"

local M = {}

local function raise(fmt, ...)
  errors.raisef("ValueError", fmt, ...)
end

--- Raises a ValueError with a formatted message.
-- @function raise
-- @tparam string fmt a string.format format, then its arguments
M.raise = raise

local function show(value)
  if type(value) == "string" then return string.format("%q", value) end
  return tostring(value)
end

--- How a value is shown inside an error message (strings quoted).
-- @function show
-- @param value any value
-- @treturn string
M.show = show

local function bad(cx, path, fmt, ...)
  raise("%s: field '%s' %s", cx.where, path, string.format(fmt, ...))
end

--- Raises a ValueError about field `path` of the target being read.
-- @function bad
-- @tparam table cx the reading context (`cx.where` names the target)
-- @tparam string path the field ("stripes[2].device")
-- @tparam string fmt a string.format format, then its arguments
M.bad = bad

local function int_word(n)
  return string.format("%d", n)
end

--- True when s is the canonical decimal spelling of an integer (so that
-- converting it to a number and back gives s again).
local function canonical_int(s)
  if not s:match("^%-?%d+$") or s == "-0" then return nil end
  if s:match("^%-?0%d") then return nil end
  local n = math.tointeger(tonumber(s))
  if n and int_word(n) == s then return n end
  return nil
end

--- A word as a feature argument: an integer when it is spelled as one.
function M.atom(word)
  return canonical_int(word) or word
end

local function as_integer(value)
  if math.type(value) == "integer" then return value end
  if math.type(value) == "float" then return math.tointeger(value) end
  return nil
end

--- An integral number as an integer (2048.0 gives 2048), or nil.
-- @function as_integer
-- @param value any value
-- @treturn integer|nil
M.as_integer = as_integer

local function is_word(s)
  return type(s) == "string" and s ~= "" and not s:find("[%s%c]")
end

--- True for one word of a table line.
-- A non-empty string with no whitespace, NUL or other control character.
-- @function is_word
-- @param s any value
-- @treturn boolean
M.is_word = is_word

-- devices -------------------------------------------------------------------

local function device_word_problem(s)
  if s == "" then return "is empty" end
  if s:find("[%s%c]") then return "contains whitespace or control characters" end
  if s:match("^%d+:%d+$") or s:sub(1, 1) == "/" then return nil end
  return "is neither an absolute path nor \"major:minor\""
end

-- Plain indexing inside pcall: device objects may be userdata whose
-- __index raises (a closed handle, say).
local function get(obj, key)
  local ok, value = pcall(function() return obj[key] end)
  if ok then return value end
  return nil
end

--- The table word for a device value, or nil and the reason it is not one.
-- Strings are paths or "major:minor"; tables and userdata give
-- "major:minor" from integer major and minor fields, else their path field.
function M.device_word(value)
  local tv = type(value)
  if tv == "string" then
    local problem = device_word_problem(value)
    if problem then return nil, show(value) .. " " .. problem end
    return value
  elseif tv == "table" or tv == "userdata" then
    local major, minor = as_integer(get(value, "major")), as_integer(get(value, "minor"))
    if major and minor and major >= 0 and minor >= 0 then
      return int_word(major) .. ":" .. int_word(minor)
    end
    local path = get(value, "path")
    if type(path) == "string" then
      local problem = device_word_problem(path)
      if problem then return nil, "has path " .. show(path) .. " that " .. problem end
      return path
    end
    return nil, "is a " .. tv .. " with neither integer major/minor fields nor a path field"
  end
  return nil, "must be a device (a path, \"major:minor\" or an object with major/minor or path), got " .. tv
end

-- kinds ----------------------------------------------------------------------

local function emit_word(value, out) out[#out + 1] = value end
local function emit_int(value, out) out[#out + 1] = int_word(value) end

M.device = {
  check = function(value, cx, path)
    local word, why = M.device_word(value)
    if not word then bad(cx, path, "%s", why) end
    return word
  end,
  read = function(r, path) return r:word(path) end,
  emit = emit_word,
}

--- A device, or "-" for none (raid's missing members).
M.device_or_dash = {
  check = function(value, cx, path)
    if value == "-" then return "-" end
    return M.device.check(value, cx, path)
  end,
  read = M.device.read,
  emit = emit_word,
}

local function check_integer(value, cx, path, min)
  local n = as_integer(value)
  if n == nil then
    if type(value) == "number" then
      bad(cx, path, "must be an integer, got %s", show(value))
    end
    bad(cx, path, "must be an integer, got %s", type(value))
  end
  if min and n < min then
    bad(cx, path, "must be %s, got %s", min == 0 and "non-negative" or ">= " .. min, show(n))
  end
  return n
end

M.uint = {
  check = function(value, cx, path) return check_integer(value, cx, path, 0) end,
  read = function(r, path) return r:uint(path) end,
  emit = emit_int,
}

M.word = {
  check = function(value, cx, path)
    if type(value) ~= "string" then bad(cx, path, "must be a string, got %s", type(value)) end
    if not is_word(value) then
      bad(cx, path, "must be one word (non-empty, no whitespace or control characters), got %s", show(value))
    end
    return value
  end,
  read = function(r, path) return r:word(path) end,
  emit = emit_word,
}

--- One of a fixed set of words.
function M.choice(allowed)
  local set = {}
  for _, w in ipairs(allowed) do set[w] = true end
  local list = table.concat(allowed, ", ")
  return {
    check = function(value, cx, path)
      if not set[value] then bad(cx, path, "must be one of %s, got %s", list, show(value)) end
      return value
    end,
    read = M.word.read,
    emit = emit_word,
  }
end

--- A non-negative integer or the word "-".
M.uint_or_dash = {
  check = function(value, cx, path)
    if value == "-" then return value end
    if type(value) == "string" then bad(cx, path, "must be a non-negative integer or \"-\", got %s", show(value)) end
    return check_integer(value, cx, path, 0)
  end,
  read = function(r, path)
    local w = r:word(path)
    if w == "-" then return w end
    return r:as_uint(w, path)
  end,
  emit = function(value, out)
    if value == "-" then out[#out + 1] = value else emit_int(value, out) end
  end,
}

-- One argument of a feature or a counted list: an integer, a word, or a
-- device object (which becomes its table word).
local function check_atom(value, cx, path)
  local tv = type(value)
  if tv == "number" then return check_integer(value, cx, path) end
  if tv == "string" then return M.word.check(value, cx, path) end
  if tv == "table" or tv == "userdata" then return M.device.check(value, cx, path) end
  bad(cx, path, "must be an integer, a word or a device, got %s", tv)
end

local function emit_atom(value, out)
  if math.type(value) == "integer" then emit_int(value, out) else out[#out + 1] = value end
end

local function check_sequence(value, cx, path)
  if type(value) ~= "table" then bad(cx, path, "must be a list (a table), got %s", type(value)) end
  local n = #value
  for k in pairs(value) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      bad(cx, path, "must be a plain list, but has the key %s", show(k))
    end
  end
  return n
end

--- A counted list of atoms: "<n> a1 .. an" (policy args, selector args).
-- opts.even: the count must be even (key/value pairs); a map is then
-- accepted too and written in sorted key order.
function M.atoms(opts)
  opts = opts or {}
  return {
    check = function(value, cx, path)
      if opts.even and type(value) == "table" and value[1] == nil and next(value) ~= nil then
        local keys = {}
        for k in pairs(value) do
          if type(k) ~= "string" then bad(cx, path, "map keys must be strings, got %s", type(k)) end
          keys[#keys + 1] = k
        end
        table.sort(keys)
        local flat = {}
        for _, k in ipairs(keys) do
          flat[#flat + 1] = M.word.check(k, cx, path .. "." .. k)
          flat[#flat + 1] = check_atom(value[k], cx, path .. "." .. k)
        end
        return flat
      end
      local n = check_sequence(value, cx, path)
      if opts.even and n % 2 ~= 0 then
        bad(cx, path, "must hold key/value pairs (an even number of items), got %d items", n)
      end
      local out = {}
      for i = 1, n do out[i] = check_atom(value[i], cx, path .. "[" .. i .. "]") end
      return out
    end,
    read = function(r, path)
      local words = r:counted(path)
      for i, w in ipairs(words) do words[i] = M.atom(w) end
      return words
    end,
    emit = function(value, out)
      emit_int(#value, out)
      for _, v in ipairs(value) do emit_atom(v, out) end
    end,
  }
end

--- A feature list: items are flags ("skip_block_zeroing") or tables of a
-- name and its arguments ({"corrupt_bio_byte", 32, "r", 1, 0}).
-- spec.nargs: name -> how many arguments the feature takes (names not
--   listed are flags when reading; any arity is accepted when writing);
-- spec.colon: "all" or "first" when a feature and its arguments form one
--   word joined by ':' (crypt, integrity), split at every colon or only the
--   first when reading; else each argument is a word of its own;
-- spec.count: "always" when the count word must be there even for no
--   features (nil value not allowed then); else a nil list writes nothing
--   and an empty one writes "0", so both kernel spellings round-trip.
function M.features(spec)
  local nargs = spec.nargs or {}
  local kind = {}

  -- "name:a:b" -> "name" or {"name", a, b}, as reading a colon-joined word
  local function split_colon(w)
    local parts = {}
    if spec.colon == "first" then
      local name, rest = w:match("^([^:]*):(.*)$")
      if name then parts = {name, rest} else parts = {w} end
    else
      for part in (w .. ":"):gmatch("([^:]*):") do parts[#parts + 1] = part end
    end
    if #parts == 1 then return parts[1] end
    for i = 2, #parts do parts[i] = M.atom(parts[i]) end
    return parts
  end

  local check_item
  function check_item(item, cx, path)
    if type(item) == "string" then
      M.word.check(item, cx, path)
      if spec.colon and item:find(":", 1, true) then
        -- a pre-joined "name:arg" word: normalize it as reading would
        return check_item(split_colon(item), cx, path)
      end
      local want = nargs[item]
      if want and want > 0 then
        bad(cx, path, "is feature '%s', which takes %d argument%s: write it as {\"%s\", ...}",
          item, want, want == 1 and "" or "s", item)
      end
      return item
    end
    if type(item) ~= "table" then
      bad(cx, path, "must be a feature name or a table {name, arg, ...}, got %s", type(item))
    end
    local n = check_sequence(item, cx, path)
    if n == 0 then bad(cx, path, "is an empty table; expected {name, arg, ...}") end
    local name = M.word.check(item[1], cx, path .. "[1]")
    local want = nargs[name]
    if want and want ~= n - 1 then
      bad(cx, path, "is feature '%s', which takes %d argument%s, got %d", name, want,
        want == 1 and "" or "s", n - 1)
    end
    if n == 1 then return name end
    local out = {name}
    for i = 2, n do
      local v = check_atom(item[i], cx, path .. "[" .. i .. "]")
      if spec.colon == "all" and type(v) == "string" and v:find(":", 1, true) then
        bad(cx, path .. "[" .. i .. "]", "cannot contain ':' in a colon-joined feature, got %s", show(v))
      end
      out[i] = v
    end
    return out
  end

  function kind.check(value, cx, path)
    local n = check_sequence(value, cx, path)
    local out = {}
    for i = 1, n do out[i] = check_item(value[i], cx, path .. "[" .. i .. "]") end
    return out
  end

  -- Reads "<n> w1 .. wn" (nothing at the end of the args gives nil,
  -- unless the count is always there).
  function kind.read(r, path)
    if spec.count ~= "always" and r:left() == 0 then return nil end
    return kind.group(r, r:counted(path), path)
  end

  --- Groups feature words into items: flags and {name, args...} tables.
  function kind.group(r, words, path)
    local items = {}
    if spec.colon then
      for i, w in ipairs(words) do items[i] = split_colon(w) end
      return items
    end
    local i = 1
    while i <= #words do
      local name = words[i]
      local want = nargs[name] or 0
      if want == 0 then
        items[#items + 1] = name
      else
        if i + want > #words then
          r:fail(string.format("feature '%s' needs %d argument%s, but the %s list ends first",
            name, want, want == 1 and "" or "s", path))
        end
        local item = {name}
        for j = 1, want do item[j + 1] = M.atom(words[i + j]) end
        items[#items + 1] = item
        i = i + want
      end
      i = i + 1
    end
    return items
  end

  function kind.emit(value, out)
    if value == nil then return end
    local words = kind.words(value)
    emit_int(#words, out)
    table.move(words, 1, #words, #out + 1, out)
  end

  --- The words of a feature list, without the count.
  function kind.words(value)
    local words = {}
    for _, item in ipairs(value) do
      if type(item) == "string" then
        words[#words + 1] = item
      elseif spec.colon then
        local parts = {}
        for j, v in ipairs(item) do
          parts[j] = math.type(v) == "integer" and int_word(v) or v
        end
        words[#words + 1] = table.concat(parts, ":")
      else
        for _, v in ipairs(item) do emit_atom(v, words) end
      end
    end
    return words
  end

  return kind
end

--- A coerce function for list_of: a bare device (a string, userdata, or a
-- table that has a path or major field but not the record's key) becomes
-- the record {[key] = device}.
function M.bare_device_as(key)
  return function(item)
    local ti = type(item)
    if ti == "string" or ti == "userdata" then return {[key] = item} end
    if ti == "table" and rawget(item, key) == nil
        and (get(item, "path") ~= nil or get(item, "major") ~= nil) then
      return {[key] = item}
    end
    return item
  end
end

--- A list of records, e.g. striped's stripes: {{device=, offset=}, ...}.
-- opts.min: fewest items; opts.coerce(item) may turn a shorthand item
-- (say a bare device) into a record first.
function M.list_of(fields, opts)
  opts = opts or {}
  return {
    check = function(value, cx, path)
      local n = check_sequence(value, cx, path)
      if opts.min and n < opts.min then
        bad(cx, path, "needs at least %d item%s, got %d", opts.min, opts.min == 1 and "" or "s", n)
      end
      local out = {}
      for i = 1, n do
        local item = value[i]
        if opts.coerce then item = opts.coerce(item) end
        out[i] = M.check_record(item, fields, cx, path .. "[" .. i .. "]")
      end
      return out
    end,
  }
end

--- A nested record (delay's write and flush legs), written field by field.
function M.record(fields)
  return {
    check = function(value, cx, path)
      return M.check_record(value, fields, cx, path)
    end,
    read = function(r, path)
      local out = {}
      for _, f in ipairs(fields) do out[f.name] = f.kind.read(r, path .. "." .. f.name) end
      return out
    end,
    emit = function(value, out)
      for _, f in ipairs(fields) do f.kind.emit(value[f.name], out) end
    end,
  }
end

-- records --------------------------------------------------------------------

local function copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = copy(v) end
  return out
end

--- Checks the table t against a list of field specs
-- ({name=, kind=, default=, optional=}), and returns a new table of the
-- normalized values with defaults filled in. prefix is the path of t
-- inside the outer record ("" at the top). Raises ValueError naming
-- cx.where and the field.
function M.check_record(t, fields, cx, prefix)
  prefix = prefix or ""
  if type(t) ~= "table" then
    raise("%s: %s must be a table of fields, got %s", cx.where,
      prefix == "" and "the argument" or "field '" .. prefix .. "'", type(t))
  end
  local dot = prefix == "" and "" or prefix .. "."
  local known = {}
  for _, f in ipairs(fields) do known[f.name] = true end
  for k in pairs(t) do
    if not known[k] then
      if type(k) == "string" then
        raise("%s: unknown field '%s%s'", cx.where, dot, k)
      end
      raise("%s: unexpected %s key %s in %s (fields are named)", cx.where, type(k), show(k),
        prefix == "" and "the field table" or "field '" .. prefix .. "'")
    end
  end
  local out = {}
  for _, f in ipairs(fields) do
    local v = t[f.name]
    if v == nil and f.default ~= nil then v = copy(f.default) end
    if v == nil then
      if not f.optional then raise("%s: missing required field '%s%s'", cx.where, dot, f.name) end
    else
      out[f.name] = f.kind.check(v, cx, dot .. f.name)
    end
  end
  return out
end

-- reading args ---------------------------------------------------------------

local Reader = words.class()

--- A reader over the words of a raw args string; errors name the target
-- type and the args.
function M.reader(type_name, args)
  return words.reader(Reader, args, {type = type_name, args = args})
end

function Reader:fail(msg)
  raise("%s target args %s: %s", self.type, show(self.args), msg)
end

function Reader:word(what)
  local w = self:next_word()
  if w == nil then self:fail("missing " .. what) end
  return w
end

function Reader:as_uint(w, what)
  local n, why = words.integer(w)
  if not n then
    self:fail(string.format("%s must be a non-negative integer, got %s (%s)", what, show(w), why))
  end
  return n
end

function Reader:uint(what)
  return self:as_uint(self:word(what), what)
end

--- Takes the next n words, which a count in the args announced.
function Reader:take(n, what)
  local out = self:next_words(n)
  if out == nil then
    local left = self:left()
    self:fail(string.format("%s: the count says %d but only %d word%s follow%s", what, n,
      left, left == 1 and "" or "s", left == 1 and "s" or ""))
  end
  return out
end

--- Reads "<n> w1 .. wn" and returns the n words.
function Reader:counted(what)
  return self:take(self:uint("number of " .. what), what)
end

function Reader:finish()
  if self:left() > 0 then
    self:fail("unexpected extra argument" .. (self:left() == 1 and "" or "s") .. " "
      .. show(self:rest()))
  end
end


--- An integer written the way the kernel reads it (never "1e+20" or "2.0").
-- @function int_word
-- @tparam integer n
-- @treturn string
M.int_word = int_word
return M

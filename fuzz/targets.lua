--- Fuzz targets: one function per target, each taking the raw input bytes.
-- Shared by the libFuzzer harness (fuzz/harness.c runs `targets[name](data)`
-- and aborts when it raises) and by spec/fuzz_regression_spec.lua, which
-- replays the seed and regression corpora through the same functions in
-- `make check`.
--
-- The oracle: the library may refuse an input only with an sts error object
-- (ValueError and friends) or a Lua `bad argument` error. Any other error (an
-- "attempt to index a nil value" inside the library, a stack overflow, a
-- string error from deep inside) is a bug: the target re-raises it as
-- "fuzz: unexpected error ...". A parse that succeeds must also give back
-- something that formats and parses again to the same thing.
local errors = require "sts.errors"
local targets_mod = require "sts.targets"
local status = require "sts.status"
local dmpd = require "sts.dmpd"
local xml = require "sts.dmpd.xml"

local M = {}

local function unexpected(what, err)
  error(("fuzz: unexpected error from %s: %s"):format(what, tostring(err)), 0)
end

-- runs fn(...) and returns ok, result; refusals the API documents are
-- `false`, anything else raises
local function expect_clean(what, fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return true, res end
  if type(res) == "table" and errors.is(res, "STSError") then return false, res end
  if type(res) == "string" and res:find("bad argument", 1, true) then return false, res end
  unexpected(what, res)
end

local function check(cond, what)
  if not cond then error("fuzz: property violated: " .. what, 0) end
end

--- dm.parse_table, every parsed target's params(), and the round trip
-- through format_table.
function M.parse_table(data)
  local ok, list = expect_clean("parse_table", targets_mod.parse_table, data)
  if not ok then return end
  check(type(list) == "table", "parse_table returns a list")
  for _, t in ipairs(list) do
    expect_clean("params of " .. tostring(t.type), t.params, t)
    check(type(tostring(t)) == "string", "tostring of a target is a string")
  end
  local ok_fmt, text = expect_clean("format_table", targets_mod.format_table, list)
  if not ok_fmt then return end
  local ok2, again = expect_clean("parse_table of format_table", targets_mod.parse_table, text)
  check(ok2, "a formatted table parses again: " .. text)
  check(#again == #list, "the round trip keeps the number of targets")
  for i = 1, #list do
    check(tostring(again[i]) == tostring(list[i]), "the round trip keeps target " .. i)
  end
end

--- sts.status: the first line is "TYPE" (a target type), the rest the
-- status text; also every line as "start size type status..." through
-- parse_lines.
function M.status(data)
  local target_type, text = data:match("^([^\n]*)\n(.*)$")
  if target_type then
    expect_clean("status.parse", status.parse, target_type, text)
  end
  expect_clean("status.parse_lines", status.parse_lines, data)
end

-- Decodes option tables from bytes, one option per line: "K=V" where the
-- first byte of V picks the type: "t" true, "f" false, "i" an integer
-- (math.tointeger of the rest, else the rest as a float or the string),
-- "l" a list of the comma-separated rest, anything else a string.
local function decode_options(data)
  local opts = {}
  for line in (data .. "\n"):gmatch("([^\n]*)\n") do
    local k, v = line:match("^([^=]*)=(.*)$")
    if k then
      local tag, rest = v:sub(1, 1), v:sub(2)
      local value
      if tag == "t" then value = true
      elseif tag == "f" then value = false
      elseif tag == "i" then value = math.tointeger(tonumber(rest)) or tonumber(rest) or rest
      elseif tag == "l" then
        value = {}
        for item in (rest .. ","):gmatch("([^,]*),") do value[#value + 1] = item end
      else value = rest end
      opts[k] = value
    end
  end
  return opts
end

--- The dmpd option-to-argv builder: every word a string, no NUL byte (an
-- argv word cannot hold one), and positional names never taken for options.
function M.dmpd_argv(data)
  local opts = decode_options(data)
  local ok, argv = expect_clean("options_to_argv", dmpd.options_to_argv, opts)
  if ok then
    check(type(argv) == "table", "options_to_argv returns a list")
    for i, w in ipairs(argv) do
      check(type(w) == "string", "argv word " .. i .. " is a string")
    end
    expect_clean("quote_argv", dmpd.quote_argv, argv)
  end
  local first = data:match("^[^\n]*")
  local command = require "sts.dmpd.command"
  local okp, word = expect_clean("positional", command.positional, first)
  if okp then check(word:sub(1, 1) ~= "-", "a positional name never starts with '-'") end
end

-- every call the streaming thin_dump reader makes, and how it ends
local function thin_dump_calls(data, fast)
  local calls = {}
  local ok, err = pcall(require("sts.dmpd.stream").read, data, function(...)
    calls[#calls + 1] = table.concat({...}, ",")
  end, function(name, attrs)
    local kv = {}
    for k, v in pairs(attrs) do kv[#kv + 1] = k .. "=" .. v end
    table.sort(kv)
    calls[#calls + 1] = name .. " " .. table.concat(kv, " ")
  end, function(name)
    calls[#calls + 1] = "/" .. name
  end, fast)
  calls[#calls + 1] = ok and "ok" or tostring(err)
  return table.concat(calls, "\n")
end

--- The XML reader and the thin/cache/era dump parsers on the same bytes;
-- the streaming reader's fast path must read them exactly as expat alone.
function M.xml(data)
  expect_clean("xml.tree", xml.tree, data)
  expect_clean("parse_thin_dump", dmpd.parse_thin_dump, data)
  expect_clean("parse_cache_dump", dmpd.parse_cache_dump, data)
  expect_clean("parse_era_dump", dmpd.parse_era_dump, data)
  check(thin_dump_calls(data, true) == thin_dump_calls(data, false),
        "the thin_dump reader's fast path reads as expat alone")
end

--- The text parsers of the other tools' output.
function M.dmpd_text(data)
  expect_clean("parse_check", dmpd.parse_check, data)
  expect_clean("parse_thin_ls", dmpd.parse_thin_ls, data)
  expect_clean("parse_thin_delta", dmpd.parse_thin_delta, data)
  expect_clean("parse_thin_rmap", dmpd.parse_thin_rmap, data)
  expect_clean("parse_era_invalidate", dmpd.parse_era_invalidate, data)
end

-- c_entry --------------------------------------------------------------------

-- The C layer's values: the input bytes drive a generator of Lua values
-- (proxy tables whose metamethods answer differently on every read,
-- foreign userdata, self-referencing tables, NaN and huge numbers, NUL
-- bytes), which are passed to the sts.core entry points. The oracle is the
-- sanitizers: any Lua error is an acceptable refusal, a crash is the bug.
-- What could touch the machine is kept out by construction: programs run
-- are /bin/true or missing ones, paths name nothing that exists (or
-- /dev/null), and with device-mapper present only the calls that change
-- nothing are made.

local function byte_reader(data)
  local pos = 0
  return function()
    pos = pos + 1
    return data:byte(pos) or 0
  end, function() return pos >= #data end
end

local SAFE_STRINGS = {"sts-fuzz", "", "a\0b", "x/y", ".", "..", string.rep("n", 200),
  "0 8 zero", "zero", "/dev/null", "/nonexistent/sts-fuzz", "sts-fuzz-XXXXXX", "-1",
  "linear", "0", "\n", string.rep("u", 129)}
local KEYS = {"start", "size", "type", "args", "uuid", "readonly", "suspended", "text",
  "noflush", "inactive", "retry", "deferred", "read_only", "nolockfs", "uuids", "devices",
  "stdin", "timeout", "cwd", "env", "PATH", "dm_name", "minor", "direct", "dsync",
  "max_report", 1, 2, 3}
local NUMBERS = {0, 1, -1, 8, 2048, math.maxinteger, math.mininteger, 0.5, 1e10, -1e300,
  1 / 0, -1 / 0, 0 / 0, 2 ^ 63, 127, 128}

local function foreign_userdata(core, n)
  local closed = io.tmpfile()
  closed:close()
  local list = {io.stdout, closed, core.dm.newdevice({dm_name = "sts-fuzz", minor = 0})}
  return list[n % #list + 1]
end

local function generator(core, byte)
  local value
  local function proxy(depth)
    local answers, n = {}, 0
    for i = 1, 1 + byte() % 4 do answers[i] = value(depth + 1) end
    local len = NUMBERS[byte() % #NUMBERS + 1]
    return setmetatable({}, {
      __index = function() n = n + 1; return answers[(n - 1) % #answers + 1] end,
      __len = function() return len end,
      __pairs = function() error("pairs on a proxy") end,
      __eq = function() return true end,
      __tostring = function() return answers[1] end,
      __name = answers[1],
    })
  end
  function value(depth)
    local kind = byte() % 16
    if depth > 3 and kind >= 6 then kind = kind % 6 end
    if kind == 0 then return nil
    elseif kind == 1 then return byte() % 2 == 0
    elseif kind == 2 then return NUMBERS[byte() % #NUMBERS + 1]
    elseif kind == 3 then return (byte() << 8 | byte()) - 32768
    elseif kind == 4 then return SAFE_STRINGS[byte() % #SAFE_STRINGS + 1]
    elseif kind == 5 then
      local out = {}
      for i = 1, byte() % 12 do out[i] = string.char(byte()) end
      return table.concat(out)
    elseif kind == 6 then
      local t = {}
      for i = 1, byte() % 5 do t[i] = value(depth + 1) end
      return t
    elseif kind == 7 then
      local t = {}
      for _ = 1, byte() % 6 do
        local k = KEYS[byte() % #KEYS + 1]
        t[k] = value(depth + 1)
      end
      return t
    elseif kind == 8 then return proxy(depth)
    elseif kind == 9 then return foreign_userdata(core, byte())
    elseif kind == 10 then return print
    elseif kind == 11 then return coroutine.create(print)
    elseif kind == 12 then return {start = 0, size = 8, type = "zero", args = ""}
    elseif kind == 13 then
      local row = {start = 0, size = 8, type = "zero", args = ""}
      row[KEYS[byte() % 4 + 1]] = value(depth + 1)
      return {row, {start = 8, size = 8, type = "error", args = ""}}
    elseif kind == 14 then
      local t = {}
      t[1], t.self, t.start = t, t, t
      return t
    else
      return setmetatable({start = 0, size = 8, type = "zero", args = ""},
        {__index = function() error("__index on a row") end})
    end
  end
  return value
end

-- a value for a position that names a file: nothing that exists, bar /dev/null
local function safe_path(value, byte)
  local v = value(0)
  if type(v) == "string" then
    local paths = {"/nonexistent/sts-fuzz", "/dev/null", "", "/nonexistent/sts-fuzz-XXXXXX"}
    return paths[byte() % #paths + 1]
  end
  return v
end

function M.c_entry(data)
  local core = require "sts.core"
  local byte, done = byte_reader(data)
  local value = generator(core, byte)
  local dm_here = core.dm.available()
  local d = core.dm.newdevice({dm_name = "sts-fuzz", minor = 0})
  local index = debug.getmetatable(d).__index
  local calls = {
    function() return core.dm.list(value(0)) end,
    function() return core.dm.info(value(0)) end,
    function() return core.dm.info_devno(value(0), value(0)) end,
    function() return core.dm.table(value(0), value(0)) end,
    function() return core.dm.status(value(0), value(0)) end,
    function() return core.dm.deps(value(0)) end,
    function() return core.dm.fields(value(0)) end,
    function() return core.dm.newdevice(value(0)) end,
    function() if index then return index(value(0), value(0)) end end,
    function() return core.dm.versions() end,
    function() return core.dm.target_versions() end,
    function()  -- bounded: never a long wait
      local nr, t = value(0), value(0)
      if math.type(t) == "integer" and (t < 0 or t > 10) then t = 0 end
      if t == nil then t = 0 end
      return core.dm.wait_event(value(0), nr, t)
    end,
    function() return core.proc.which(value(0)) end,
    function()
      local programs = {"/bin/true", "true", "/nonexistent/sts-fuzz", "", 42}
      local argv = value(0)
      if type(argv) == "table" and getmetatable(argv) == nil then
        argv[1] = programs[byte() % #programs + 1]
      end
      local opts = value(0)
      if type(opts) == "table" and getmetatable(opts) == nil then
        opts.output_file = nil
        local t = rawget(opts, "timeout")
        if type(t) == "number" and not (t <= 5) then opts.timeout = 5 end
        rawset(opts, "cwd", type(opts.cwd) == "string" and "/nonexistent/sts-fuzz" or opts.cwd)
      end
      return core.proc.run(argv, opts)
    end,
    function() return core.loop.attach(safe_path(value, byte), value(0)) end,
    function() return core.loop.detach(safe_path(value, byte)) end,
    function() return core.loop.backing(safe_path(value, byte)) end,
    function() return core.loop.size(safe_path(value, byte)) end,
    function() return core.loop.sparse_file(safe_path(value, byte), value(0)) end,
    function()
      local ms = value(0)
      if math.type(ms) == "integer" and ms > 2 then ms = 1 end
      return core.time.sleep_ms(ms)
    end,
    function() return core.time.now_ms() end,
  }
  -- with device-mapper here, these would act on it: only without
  if not dm_here then
    local more = {
      function() return core.dm.create(value(0), value(0), value(0)) end,
      function() return core.dm.load(value(0), value(0), value(0)) end,
      function() return core.dm.clear(value(0)) end,
      function() return core.dm.suspend(value(0), value(0)) end,
      function() return core.dm.resume(value(0)) end,
      function() return core.dm.remove(value(0), value(0)) end,
      function() return core.dm.message(value(0), value(0), value(0)) end,
      function() return core.dm.rename(value(0), value(0)) end,
      function() return core.dm.set_uuid(value(0), value(0)) end,
    }
    for _, f in ipairs(more) do calls[#calls + 1] = f end
  end
  for _ = 1, 8 do
    if done() then break end
    pcall(calls[byte() % #calls + 1])
  end
end

--- The names of the targets, sorted.
function M.names()
  local out = {}
  for k, v in pairs(M) do
    if type(v) == "function" and k ~= "names" then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

return M

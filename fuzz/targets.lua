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

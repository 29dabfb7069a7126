--- sts.runner.record: the line format the runner's pieces hand each other.
--
-- One record a line, fields `key=value` separated by tabs; in values a
-- backslash, tab, newline and carriage return are written `\\`, `\t`,
-- `\n`, `\r`. Used between the guest and the host (the guest's facts and
-- a spec file's per-`it` results) and for the state of the last run, so
-- nothing read back is ever run as code.

local M = {}

local ESC = {["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r"}
local UNESC = {["\\"] = "\\", t = "\t", n = "\n", r = "\r"}

local function escape(v)
  return (tostring(v):gsub("[\\\t\n\r]", ESC))
end

local function unescape(v)
  return (v:gsub("\\(.)", function(c) return UNESC[c] or c end))
end

--- One record as a line (no newline at the end); keys sorted.
-- @tparam table rec string keys of letters, digits and `_`; values strings, numbers or booleans
-- @treturn string
function M.encode(rec)
  local keys = {}
  for k in pairs(rec) do
    assert(type(k) == "string" and k:match("^[%w_]+$"), "record keys are words")
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. escape(rec[k]) end
  return table.concat(parts, "\t")
end

--- A line back into a record (values are strings).
-- @tparam string line
-- @treturn table
function M.decode(line)
  local rec = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    local k, v = field:match("^([%w_]+)=(.*)$")
    if k then rec[k] = unescape(v) end
  end
  return rec
end

--- Appends one record to the file at `path`.
-- @tparam string path
-- @tparam table rec
-- @treturn boolean|nil true, or nil and the reason
function M.append(path, rec)
  local f, why = io.open(path, "a")
  if not f then return nil, why end
  f:write(M.encode(rec), "\n")
  f:close()
  return true
end

--- Every record of the file at `path` (an empty list when it does not exist).
-- @tparam string path
-- @treturn {table,...}
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  local list = {}
  for line in f:lines() do
    if line ~= "" then list[#list + 1] = M.decode(line) end
  end
  f:close()
  return list
end

--- Splits a list field ("a\nb") into its items, dropping empty ones.
-- @tparam string|nil text
-- @treturn {string,...}
function M.lines(text)
  local out = {}
  for item in tostring(text or ""):gmatch("[^\n]+") do out[#out + 1] = item end
  return out
end

return M

--- sts.runner.requires: what a test file says it needs, read without running it.
--
-- A test declares its needs in its header: the comment lines at the very
-- top of the file (after an optional `#!` line), up to the first line that
-- does not start with `--`. Three directives are read there, one a line:
--
--   -- requires: target thin-pool >= 1.22; kernel >= 6.1; tool thin_check
--   -- requires: tool mkfs.xfs
--   -- quick
--   -- timeout: 300
--
-- `requires:` takes items separated by `;` and may be repeated:
--
--   target NAME [>= VERSION]  a dm target the kernel has (the name as the
--                             kernel lists it: thin-pool, cache, era...),
--                             at least VERSION (1 to 3 dotted numbers)
--   kernel >= VERSION         the kernel release (uname -r) is at least
--                             VERSION: its leading dotted numbers compared
--   tool NAME                 a program of that name is found in PATH
--   module NAME               a kernel module of that name is loaded, built
--                             in, or among the kernel's modules
--
-- The regression suite's tag form is read too, one item a line, with the
-- same meaning: `-- @requires target NAME [VERSION]`, `-- @requires
-- kernel VERSION`, `-- @requires tool NAME`, `-- @requires module NAME`
-- (a version there is a minimum, without `>=`), and `-- @quick`.
--
-- `quick` puts the test in the quick subset (`sts-test run --quick`);
-- `timeout:` bounds this test in seconds, overriding `--timeout`. Every
-- other header line is free text. A `requires:` or `timeout:` line that
-- does not parse is an error naming the line, never silently ignored.
-- Needs that are not met make the test missing-dep with the reason; the
-- test itself is not started.

local M = {}

local function err(lineno, fmt, ...)
  return nil, string.format("line %d: " .. fmt, lineno, ...)
end

-- "1.22" or "6.1.0" into {1, 22} / {6, 1, 0}; nil when not 1 to 3 numbers
local function parse_version(text)
  if not text:match("^%d+$") and not text:match("^%d+%.%d+$")
     and not text:match("^%d+%.%d+%.%d+$") then
    return nil
  end
  local v = {}
  for n in text:gmatch("%d+") do v[#v + 1] = tonumber(n) end
  return v
end

--- Compares two versions given as lists of numbers (missing parts are 0).
-- @tparam {int,...} a
-- @tparam {int,...} b
-- @treturn int -1, 0 or 1
function M.compare_versions(a, b)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i] or 0, b[i] or 0
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

--- The leading dotted numbers of a version string ("6.1.0-57-cloud" gives {6, 1, 0}).
-- @tparam string text
-- @treturn {int,...}|nil nil when the text starts with no number
function M.version_prefix(text)
  local head = tostring(text):match("^(%d+[%.%d]*)")
  if not head then return nil end
  local v = {}
  for n in head:gmatch("%d+") do v[#v + 1] = tonumber(n) end
  return v
end

local NAME = "^[%w][%w%._+-]*$"

-- one item of a requires: line
local function parse_item(item, lineno)
  local words = {}
  for w in item:gmatch("%S+") do words[#words + 1] = w end
  local kind = words[1]
  if kind == "target" then
    local name = words[2]
    if not name or not name:match(NAME) then
      return err(lineno, "target needs a name: %q", item)
    end
    if #words == 2 then return {kind = "target", name = name, text = item} end
    local v = words[4] and parse_version(words[4])
    if #words ~= 4 or words[3] ~= ">=" or not v then
      return err(lineno, "expected 'target NAME >= VERSION': %q", item)
    end
    return {kind = "target", name = name, version = v, text = item}
  elseif kind == "kernel" then
    local v = words[3] and parse_version(words[3])
    if #words ~= 3 or words[2] ~= ">=" or not v then
      return err(lineno, "expected 'kernel >= VERSION': %q", item)
    end
    return {kind = "kernel", version = v, text = item}
  elseif kind == "tool" or kind == "module" then
    if #words ~= 2 or not words[2]:match(NAME) then
      return err(lineno, "expected '%s NAME': %q", kind, item)
    end
    return {kind = kind, name = words[2], text = item}
  end
  return err(lineno, "unknown requirement %q (target, kernel, tool or module)", item)
end

-- the tag form's item ("target thin-pool 1.22", "kernel 6.9") in the
-- requires: form ("target thin-pool >= 1.22", "kernel >= 6.9")
local function from_tag(item)
  local words = {}
  for w in item:gmatch("%S+") do words[#words + 1] = w end
  if words[1] == "target" and #words == 3 then
    return string.format("target %s >= %s", words[2], words[3])
  elseif words[1] == "kernel" and #words == 2 then
    return "kernel >= " .. words[2]
  end
  return item
end

--- Reads the header of a test's source text.
-- @tparam string text the file's contents
-- @treturn table|nil `{requires = {item...}, quick = bool, timeout = seconds|nil}`;
--   each item is `{kind = "target"|"kernel"|"tool", name=, version={...}, text=}`
-- @treturn string when nil: what is wrong, naming the line
function M.parse(text)
  local out = {requires = {}, quick = false}
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if not (lineno == 1 and line:match("^#!")) then
      if not line:match("^%-%-") then break end
      local body = line:match("^%-%-%s*(.-)%s*$")
      local list = body:match("^requires:%s*(.*)$")
      local timeout = body:match("^timeout:%s*(.*)$")
      local tag = body:match("^@requires%s+(.-)$")
      if tag then
        local req, why = parse_item(from_tag(tag), lineno)
        if not req then return nil, why end
        out.requires[#out.requires + 1] = req
      elseif body == "@requires" then
        return err(lineno, "@requires names nothing")
      elseif body == "@quick" then
        out.quick = true
      elseif list then
        local any = false
        for item in (list .. ";"):gmatch("([^;]*);") do
          item = item:match("^%s*(.-)%s*$")
          if item ~= "" then
            local req, why = parse_item(item, lineno)
            if not req then return nil, why end
            out.requires[#out.requires + 1] = req
            any = true
          end
        end
        if not any then return err(lineno, "requires: names nothing") end
      elseif timeout then
        if not timeout:match("^[1-9]%d*$") then
          return err(lineno, "timeout: expected a whole number of seconds, got %q", timeout)
        end
        out.timeout = tonumber(timeout)
      elseif body == "quick" then
        out.quick = true
      end
    end
  end
  return out
end

--- Reads the header of the test file at `path` (see parse).
-- @tparam string path
-- @treturn table|nil as parse
-- @treturn string when nil: what is wrong, naming the file and line
function M.read(path)
  local f, why = io.open(path, "rb")
  if not f then return nil, why end
  -- the header is at the top: the first 64 KiB hold it
  local text = f:read(65536) or ""
  f:close()
  local h, perr = M.parse(text)
  if not h then return nil, path .. ": " .. perr end
  return h
end

--- The requirements as one line of text (what a header would say).
-- @tparam table header as parse returns
-- @treturn string items joined with "; " (empty for none)
function M.format(header)
  local parts = {}
  for _, r in ipairs(header.requires or {}) do parts[#parts + 1] = r.text end
  return table.concat(parts, "; ")
end

--- Which requirements the machine does not meet.
-- @tparam table header as parse returns
-- @tparam table facts `{kernel = "6.1.0-57-cloud-amd64", targets = {["thin-pool"] = "1.23.0", ...},
--   has_tool = function(name) -> bool, has_module = function(name) -> bool}`
-- @treturn {string,...} one reason per unmet requirement (empty when all are met)
function M.unmet(header, facts)
  local reasons = {}
  for _, r in ipairs(header.requires or {}) do
    if r.kind == "target" then
      local have = facts.targets[r.name]
      if not have then
        reasons[#reasons + 1] = "target " .. r.name .. " is not available"
      elseif r.version then
        local v = M.version_prefix(have) or {}
        if M.compare_versions(v, r.version) < 0 then
          reasons[#reasons + 1] = string.format("target %s is %s, needs >= %s",
            r.name, have, table.concat(r.version, "."))
        end
      end
    elseif r.kind == "kernel" then
      local v = M.version_prefix(facts.kernel or "") or {}
      if M.compare_versions(v, r.version) < 0 then
        reasons[#reasons + 1] = string.format("kernel %s, needs >= %s",
          tostring(facts.kernel), table.concat(r.version, "."))
      end
    elseif r.kind == "tool" then
      if not facts.has_tool(r.name) then
        reasons[#reasons + 1] = "tool " .. r.name .. " not found"
      end
    elseif r.kind == "module" then
      if not (facts.has_module and facts.has_module(r.name)) then
        reasons[#reasons + 1] = "kernel module " .. r.name .. " not available"
      end
    end
  end
  return reasons
end

return M

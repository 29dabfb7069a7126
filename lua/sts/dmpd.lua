--- sts.dmpd: the device-mapper persistent data tools (thin_*, cache_*, era_*).
--
-- One object per tool (`dmpd.ThinCheck`, ...) and one function per tool
-- (`dmpd.thin_check(dev_or_file, opts)`), both returning a CommandResult:
--   {argv=, command=, rc=, exit_status=, signal=, stdout=, stderr=,
--    succeeded=, failed=, timed_out=, timeout=, output_file=}
-- Options become argv words (see sts.dmpd.command.options_to_argv); the
-- tools run from an argv list, never through a shell. A failing, hung or
-- missing tool is reported in the result (rc 127 when missing), never raised.
--
-- Three option keys steer the run instead of reaching the tool:
--   timeout      seconds; the tool is killed when it runs longer
--   output_file  the tool's stdout goes straight to this file (big dumps)
--   cwd          the directory the tool runs in (for relative names)
--
-- Tool lookup, first match wins: dmpd.set_tool_path(name, path) for one
-- tool; dmpd.set_tool_path(dir) for all; the directories in the
-- STS_DMPD_PATH environment variable (colon-separated); PATH; then
-- /usr/sbin, /sbin and /usr/local/sbin (often missing from a user's PATH).
-- A tool with no program of its own name found that way, but which the
-- multi-call binary `pdata_tools` (looked up by the same rules) lists, runs
-- as `pdata_tools NAME ...`: Debian 13's 1.1.0 package ships era_repair and
-- thin_shrink inside pdata_tools without links to them.
--
-- Both generations of the tools work: 0.9 (C++, Debian 12) and 1.x (Rust,
-- Debian 13, Fedora, RHEL 9/10). dmpd.version() says which is in use;
-- the parsers give one result shape whatever the generation.

local errors = require("sts.errors")
local command = require("sts.dmpd.command")
local parse = require("sts.dmpd.parse")
local build = require("sts.dmpd.build")

local dmpd = {}

-- the seed's tools, then the ones the packages ship beyond it
local KNOWN_TOOLS = {
  "cache_check", "cache_dump", "cache_repair", "cache_restore", "cache_metadata_size",
  "thin_check", "thin_dump", "thin_repair", "thin_restore", "thin_metadata_size",
  "thin_trim", "thin_ls", "thin_delta",
  "era_check", "era_dump", "era_repair", "era_restore",
  "cache_writeback", "era_invalidate", "thin_rmap",
  "thin_metadata_pack", "thin_metadata_unpack", "thin_migrate", "thin_shrink",
}

local SBIN_FALLBACK = {"/usr/sbin", "/sbin", "/usr/local/sbin"}
dmpd.ENV_PATH = "STS_DMPD_PATH"

-- lookup overrides: tool name -> path, and a directory for all tools
local tool_paths = {}
local tool_dir

local function proc()
  return require("sts.proc")
end

local function join(dir, name)
  return (dir:gsub("/+$", "")) .. "/" .. name
end

local function valid_tool_name(name)
  return type(name) == "string" and name:match("^%l+_[%w_]+$") ~= nil
end

--- Where `name` would be run from: a full path when found, else the path
-- an override names (which then fails with rc 127) or the bare name.
function dmpd.tool_path(name)
  if tool_paths[name] then return tool_paths[name] end
  if tool_dir then return join(tool_dir, name) end
  local which = proc().which
  local env = os.getenv(dmpd.ENV_PATH)
  if env and env ~= "" then
    local first
    for dir in env:gmatch("[^:]+") do
      local p = join(dir, name)
      first = first or p
      if which(p) then return p end
    end
    if first then return first end
  end
  local found = which(name)
  if found then return found end
  for _, dir in ipairs(SBIN_FALLBACK) do
    found = which(join(dir, name))
    if found then return found end
  end
  return name
end

--- Overrides where tools are found, for testing other builds of the tools.
--   set_tool_path("thin_check", "/opt/tpt/bin/thin_check")  one tool
--   set_tool_path("thin_check", nil)                        that one back
--   set_tool_path("/opt/tpt/bin")                           all tools
--   set_tool_path()                                         all back
-- A tool missing from an overridden place is reported as missing (rc 127),
-- not looked up elsewhere.
function dmpd.set_tool_path(name_or_dir, path)
  if name_or_dir == nil then
    tool_paths, tool_dir = {}, nil
    return
  end
  if type(name_or_dir) ~= "string" or name_or_dir == "" then
    errors.raise("ValueError", "set_tool_path: a tool name or a directory expected, got "
                 .. tostring(name_or_dir))
  end
  if name_or_dir:find("/", 1, true) then
    if path ~= nil then
      errors.raise("ValueError", "set_tool_path: give a directory alone, or a tool name and a path")
    end
    tool_dir = name_or_dir
    return
  end
  if not valid_tool_name(name_or_dir) then
    errors.raise("ValueError", "set_tool_path: not a tool name: " .. name_or_dir)
  end
  if path ~= nil and (type(path) ~= "string" or path == "") then
    errors.raise("ValueError", "set_tool_path: path of " .. name_or_dir .. " must be a string")
  end
  tool_paths[name_or_dir] = path
end

-- ----------------------------------------------------------------------
-- tools

local Tool = {}
Tool.__index = Tool
Tool.__name = "sts.dmpd.Tool"

function Tool.__tostring(t)
  return "dmpd." .. t.class .. " (" .. t.name .. ")"
end

local function check_self(self, method)
  if getmetatable(self) ~= Tool then
    errors.raise("ValueError", ("%s is a method: call it as tool:%s(...)"):format(method, method))
  end
end

-- run(dev, opts) and run(opts) are both accepted
local function split_args(dev, opts)
  if type(dev) == "table" and opts == nil and not command.is_result(dev) then
    return nil, dev
  end
  return dev, opts
end

-- the names the multi-call binary at `path` answers to, read once per path
local multicall_names = {}

local function multicall_set(path)
  local names = multicall_names[path]
  if not names then
    names = {}
    local r = command.run({path}, {timeout = 10})
    for line in (r.stdout .. "\n" .. r.stderr):gmatch("[^\n]+") do
      local n = line:match("^%s+(%l+_[%w_]+)%s*$")
      if n then names[n] = true end
    end
    multicall_names[path] = names
  end
  return names
end

-- the argv words that start tool `name`: {its program}, or {pdata_tools,
-- name} when only the multi-call binary has it; nil when neither is there
-- (then `fallback` is the path a run reports missing)
local function tool_argv(name)
  local path = dmpd.tool_path(name)
  local which = proc().which
  if which(path) then return {which(path)}, path end
  if tool_paths[name] == nil then
    local pdata = which(dmpd.tool_path("pdata_tools"))
    if pdata and multicall_set(pdata)[name] then return {pdata, name}, path end
  end
  return nil, path
end

local function start_words(name)
  local argv, path = tool_argv(name)
  return argv or {path}
end

--- Runs the tool: `tool:run(device_or_file, opts)` or `tool:run(opts)`.
-- Returns a CommandResult; raises ValueError only for bad options.
function Tool:run(device_or_file, opts)
  check_self(self, "run")
  device_or_file, opts = split_args(device_or_file, opts)
  local argv = start_words(self.name)
  for _, w in ipairs(command.options_to_argv(opts)) do argv[#argv + 1] = w end
  if device_or_file ~= nil then argv[#argv + 1] = command.positional(device_or_file) end
  local controls = opts and {timeout = opts.timeout, output_file = opts.output_file, cwd = opts.cwd}
  return command.run(argv, controls)
end

--- The tool's help output as a CommandResult.
-- What `--help` prints.
function Tool:help()
  check_self(self, "help")
  local argv = start_words(self.name)
  argv[#argv + 1] = "--help"
  return command.run(argv)
end

-- `tool --version` as a CommandResult
local function version_result(tool)
  local argv = start_words(tool.name)
  argv[#argv + 1] = "--version"
  return command.run(argv, {timeout = 10})
end

--- The tool's version, parsed (see dmpd.parse_version).
-- @treturn table|nil {major=, minor=, patch=, text=}, or nil and the
-- CommandResult when the tool is missing, fails or prints no version
function Tool:version()
  check_self(self, "version")
  local r = version_result(self)
  local v = r.succeeded and parse.version(r)
  if not v then return nil, r end
  return v
end

--- The full path the tool runs from (the multi-call binary's when it runs
-- as `pdata_tools NAME`), or nil when it is not installed.
function Tool:path()
  local argv = tool_argv(self.name)
  return argv and argv[1]
end

--- True when the tool is installed (where the lookup rules look).
function Tool:available()
  return self:path() ~= nil
end

local function class_name(name)
  return (name:gsub("^%l", string.upper):gsub("_(%w)", string.upper))
end

local tools_by_name = {}

--- The tool object for `name` ("thin_check"); names beyond the known list
-- (a newer package's tools) get an object too. Raises ValueError for a
-- name that cannot be a tool's.
function dmpd.tool(name)
  if tools_by_name[name] then return tools_by_name[name] end
  if not valid_tool_name(name) then
    errors.raise("ValueError", "not a dmpd tool name: " .. tostring(name))
  end
  local t = setmetatable({name = name, class = class_name(name)}, Tool)
  tools_by_name[name] = t
  return t
end

--- The names of the tools this module knows, in a stable order.
dmpd.tools = {}
for i, name in ipairs(KNOWN_TOOLS) do
  dmpd.tools[i] = name
  local t = dmpd.tool(name)
  dmpd[t.class] = t
  dmpd[name] = function(device_or_file, opts)
    return t:run(device_or_file, opts)
  end
end

-- One function per known tool: dmpd.NAME(device_or_file, opts) is
-- dmpd.tool("NAME"):run(device_or_file, opts), a CommandResult (see
-- Tool:run for the options and the run controls).

--- Checks cache metadata on a device or file.
-- @function cache_check

--- Dumps cache metadata as XML (`output_file` or stdout).
-- @function cache_dump

--- Repairs cache metadata: `{input=, output=}`.
-- @function cache_repair

--- Writes cache metadata from XML: `{input=, output=}`.
-- @function cache_restore

--- Sizes cache metadata for a cache of `{block_size=, device_size=}` or `{nr_blocks=}`.
-- @function cache_metadata_size

--- Checks thin-pool metadata on a device or file.
-- @function thin_check

--- Dumps thin-pool metadata as XML (`output_file` or stdout).
-- @function thin_dump

--- Repairs thin-pool metadata: `{input=, output=}`.
-- @function thin_repair

--- Writes thin-pool metadata from XML: `{input=, output=}`.
-- @function thin_restore

--- Sizes thin-pool metadata for `{block_size=, pool_size=, max_thins=}`.
-- @function thin_metadata_size

--- Discards the data blocks no thin maps: `{metadata_dev=, data_dev=}`.
-- @function thin_trim

--- Lists the thins of thin-pool metadata, `{format=}` naming the columns.
-- @function thin_ls

--- Shows what differs between two thins: `{snap1=, snap2=}`.
-- @function thin_delta

--- Checks era metadata on a device or file.
-- @function era_check

--- Dumps era metadata as XML (`output_file` or stdout).
-- @function era_dump

--- Repairs era metadata: `{input=, output=}` (not in every package).
-- @function era_repair

--- Writes era metadata from XML: `{input=, output=}`.
-- @function era_restore

--- Copies a cache's dirty blocks to its origin, offline.
-- @function cache_writeback

--- Lists the blocks written since an era: `{written_since=}`.
-- @function era_invalidate

--- Maps data block ranges back to thins: `{region="b..e"}`.
-- @function thin_rmap

--- Packs thin-pool metadata into a compressed file: `{input=, output=}`.
-- @function thin_metadata_pack

--- Unpacks a packed metadata file: `{input=, output=}`.
-- @function thin_metadata_unpack

--- Copies a thin device's data to another device or file (newer packages).
-- @function thin_migrate

--- Shrinks a thin pool's data device: `{input=, output=, nr_blocks=}`
-- (1.x only, inside pdata_tools).
-- @function thin_shrink

--- The tools installed here, by what each package really ships: a known
-- tool counts when its program is found or the multi-call binary lists it.
-- 0.9.0 (Debian 12) has no era_repair, thin_migrate, thin_metadata_pack,
-- thin_metadata_unpack or thin_shrink; 1.1.0 (Debian 13) has them all,
-- era_repair and thin_shrink only inside pdata_tools. Names the
-- multi-call binary lists beyond the known ones are included too.
-- @treturn {string,...} the names, sorted
function dmpd.installed()
  local set = {}
  for _, name in ipairs(KNOWN_TOOLS) do
    if dmpd.tool(name):available() then set[name] = true end
  end
  local pdata = proc().which(dmpd.tool_path("pdata_tools"))
  if pdata then
    for name in pairs(multicall_set(pdata)) do set[name] = true end
  end
  local list = {}
  for name in pairs(set) do list[#list + 1] = name end
  table.sort(list)
  return list
end

--- Help of any tool by name, as a CommandResult.
function dmpd.get_help(tool_name)
  return dmpd.tool(tool_name):help()
end

--- The version output of any tool by name, as a CommandResult (from
-- `tool --version`; dmpd.version parses it).
function dmpd.get_version(tool_name)
  return version_result(dmpd.tool(tool_name))
end

--- The version of the tools in use, parsed: `dmpd.version()` asks
-- thin_check, `dmpd.version("era_dump")` (or a tool object) that tool.
-- @tparam[opt="thin_check"] string|Tool tool
-- @treturn table|nil {major=, minor=, patch=, text=}, or nil and the
-- CommandResult when the tool is missing or prints no version
function dmpd.version(tool)
  if tool == nil then tool = "thin_check" end
  if getmetatable(tool) ~= Tool then tool = dmpd.tool(tool) end
  return tool:version()
end

-- ----------------------------------------------------------------------
-- output

dmpd.parse_check = parse.check
dmpd.parse_thin_ls = parse.thin_ls
dmpd.parse_thin_dump = parse.thin_dump
dmpd.each_mapping = require("sts.dmpd.stream").each_mapping
dmpd.write_thin_xml = require("sts.dmpd.writer").write_thin_xml
dmpd.damage = require("sts.dmpd.damage").damage
dmpd.parse_cache_dump = parse.cache_dump
dmpd.parse_era_dump = parse.era_dump
dmpd.parse_thin_delta = parse.thin_delta
dmpd.parse_metadata_size = parse.metadata_size
dmpd.parse_version = parse.version
dmpd.parse_era_invalidate = parse.era_invalidate
dmpd.parse_thin_rmap = parse.thin_rmap

--- Metadata size in sectors.
--   metadata_size("thin", {block_size="64k", pool_size="1t", max_thins=100})
--   metadata_size("cache", {block_size=128, device_size=2097152})
-- run thin_metadata_size / cache_metadata_size and return the size as an
-- integer, or nil and the CommandResult when the tool failed;
--   metadata_size(result) parses a result already there.
function dmpd.metadata_size(kind_or_result, opts)
  if command.is_result(kind_or_result) then return parse.metadata_size(kind_or_result) end
  local result
  if kind_or_result == "thin" then
    opts = opts or {}
    if type(opts) ~= "table" then errors.raise("ValueError", "metadata_size: options must be a table") end
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    if o.unit == nil and o.u == nil then o.unit = "s" end
    result = dmpd.thin_metadata_size(o)
  elseif kind_or_result == "cache" then
    result = dmpd.cache_metadata_size(opts)
  else
    errors.raise("ValueError", "metadata_size: \"thin\", \"cache\" or a CommandResult expected, got "
                 .. tostring(kind_or_result))
  end
  if not result.succeeded then return nil, result end
  return parse.metadata_size(result)
end

-- ----------------------------------------------------------------------
-- building metadata

dmpd.thin_xml = build.thin_xml
dmpd.cache_xml = build.cache_xml
dmpd.era_xml = build.era_xml

local builders = {thin = build.thin_xml, cache = build.cache_xml, era = build.era_xml}
local DEFAULT_FILE_SIZE = 8 * 1024 * 1024

local function ensure_file(path, size)
  local f = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  local msg
  f, msg = io.open(path, "wb")
  if not f then return nil, msg end
  local ok, err = f:seek("set", size - 1)
  if ok then ok, err = f:write("\0") end
  f:close()
  if not ok then
    os.remove(path)
    return nil, err
  end
  return true
end

--- Restores metadata described by a table into `output` in one step:
-- builds the XML (thin_xml/cache_xml/era_xml), writes it to a temporary
-- file, creates `output` as a sparse file of `opts.file_size` bytes
-- (default 8 MiB) when it does not exist, runs <kind>_restore and removes
-- the XML. Other opts go to the tool. Returns the CommandResult.
function dmpd.restore(kind, tbl, output, opts)
  local builder = builders[kind]
  if not builder then
    errors.raise("ValueError", "restore: kind must be \"thin\", \"cache\" or \"era\", got " .. tostring(kind))
  end
  if type(output) ~= "string" or output == "" then
    errors.raise("ValueError", "restore: output must be a file or device name")
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  local file_size = o.file_size or DEFAULT_FILE_SIZE
  o.file_size = nil
  if math.type(file_size) ~= "integer" or file_size < 4096 then
    errors.raise("ValueError", "restore: option 'file_size' must be an integer >= 4096")
  end
  local text = builder(tbl)
  local ok, msg = ensure_file(output, file_size)
  if not ok then errors.raise("DmpdError", "restore: cannot create " .. output .. ": " .. tostring(msg)) end
  local xml_path = os.tmpname()
  local f = assert(io.open(xml_path, "wb"))
  local written, werr = f:write(text)
  f:close()
  if not written then
    os.remove(xml_path)
    errors.raise("DmpdError", "restore: cannot write " .. xml_path .. ": " .. tostring(werr))
  end
  o.input, o.output = xml_path, output
  local result = dmpd.tool(kind .. "_restore"):run(nil, o)
  os.remove(xml_path)
  return result
end

-- ----------------------------------------------------------------------
-- helpers for scripts

dmpd.options_to_argv = command.options_to_argv
dmpd.quote_argv = command.quote_argv
dmpd.is_result = command.is_result
dmpd.CommandResult = command.Result

return dmpd

-- Reference documentation: every public function has an LDoc comment, and
-- LDoc (config.ld, as `make doc` runs it) puts each one in the reference.
--
-- Public, precisely: for every module under lua/sts (a file lua/sts/a/b.lua
-- is module sts.a.b, lua/sts/a/init.lua is sts.a), each function that is a
-- field of the table `require` returns for it, under a string key. A
-- function two modules export (sts.dm re-exports the target constructors)
-- counts once, where it is defined. Methods of objects (d:status()) are
-- not fields of a module table and are not counted here.
--
-- Documented, the way LDoc (1.4) reads it: a comment block starting with
-- `---` directly above the line that defines the function
-- (`function M.name(`, `M.name = function(`), or directly above the line
-- of the exporting file that assigns it (`M.name = make(...)`), or a `---`
-- block in the defining or the exporting file that names it with
-- `@function name` (LDoc skips a doc comment above a `local function`, so
-- a local function exported by assignment, a generated function or one
-- written in C is documented at its export). The first line of the block
-- must not hold `--` (LDoc drops the function).
local run = require "helpers.run"
local lfs = require "lfs"

local ROOT = "lua"

local function lua_files(dir, out)
  for entry in lfs.dir(run.path(dir)) do
    if entry ~= "." and entry ~= ".." then
      local path = dir .. "/" .. entry
      local mode = lfs.attributes(run.path(path), "mode")
      if mode == "directory" then lua_files(path, out)
      elseif entry:match("%.lua$") then out[#out + 1] = path end
    end
  end
  return out
end

local function module_name(path)
  return (path:sub(#ROOT + 2):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))
end

local line_cache = {}
local function lines_of(path)
  if not line_cache[path] then
    local lines = {}
    for line in io.lines(run.path(path)) do lines[#lines + 1] = line end
    line_cache[path] = lines
  end
  return line_cache[path]
end

-- the repository-relative file a Lua function was loaded from (stslua's
-- built-in modules carry the same chunk names as the files)
local function defining_file(fn)
  local info = debug.getinfo(fn, "S")
  if info.what == "C" or info.source:sub(1, 1) ~= "@" then return nil, nil end
  local src = info.source:sub(2)
  local top = run.top .. "/"
  if src:sub(1, #top) == top then src = src:sub(#top + 1) end
  return src, info.linedefined
end

-- The first line of the `---` comment block that ends on the line just
-- above `line`, or nil when there is none.
local function doc_start(path, line)
  local lines = lines_of(path)
  local i = line - 1
  local first
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    if lines[i]:match("^%s*%-%-%-") and not lines[i]:match("^%s*%-%-%-%-") then first = lines[i] end
    i = i - 1
  end
  return first
end

-- why LDoc would not take the block: its summary line holds "--"
local function bad_summary(first)
  -- LDoc 1.4 drops the function when its first doc line has " --" or "`--"
  if first:match("^%s*%-%-%-.*[%s`]%-%-") then
    return "its first doc line holds '--', which LDoc cuts"
  end
  return nil
end

-- nil when a `---` block directly above `line` documents the function
-- defined there, else why not
local function doc_above(path, line)
  local first = doc_start(path, line)
  if not first then return "no doc comment" end
  if lines_of(path)[line]:match("^%s*local%s+function") then
    return "the doc comment is on a local function: LDoc skips it; put it on the export, with @function"
  end
  return bad_summary(first)
end

-- nil when a `---` block in the file carries `@function name` or sits
-- directly above the assignment `X.name = ...`, else why not
local function names_function(path, name)
  local lines = lines_of(path)
  for i, line in ipairs(lines) do
    if line:match("^[%w_]+%." .. name .. "%s*=") then
      local first = doc_start(path, i)
      if first then return bad_summary(first) end
    end
  end
  local first
  for _, line in ipairs(lines) do
    if line:match("^%s*%-%-%-") and not line:match("^%s*%-%-%-%-") then first = first or line
    elseif not line:match("^%s*%-%-") then first = nil end
    local named = first and line:match("@function%s+([%w_.:]+)%s*$")
    if named and (named == name or named:match("[.:]([%w_]+)$") == name) then
      return bad_summary(first)
    end
  end
  return "no doc comment"
end

-- every public function, once: {module=, name=, fn=, file=, line=, exporters={files}}
local function public_functions()
  local list, by_fn = {}, {}
  local files = lua_files(ROOT .. "/sts", {})
  table.sort(files)
  for _, path in ipairs(files) do
    local mod = module_name(path)
    local ok, m = pcall(require, mod)
    assert.is_true(ok, "cannot load " .. mod .. ": " .. tostring(m))
    if type(m) == "table" then
      local names = {}
      for k, v in pairs(m) do
        if type(k) == "string" and type(v) == "function" then names[#names + 1] = k end
      end
      table.sort(names)
      for _, k in ipairs(names) do
        local fn = m[k]
        local entry = by_fn[fn]
        if not entry then
          local file, line = defining_file(fn)
          entry = {module = mod, name = k, fn = fn, file = file, line = line, exporters = {}}
          by_fn[fn] = entry
          list[#list + 1] = entry
        end
        -- the defining module names it best: prefer the export from that file
        if entry.file == path and entry.module ~= mod then entry.module, entry.name = mod, k end
        entry.exporters[#entry.exporters + 1] = {file = path, name = k}
      end
    end
  end
  return list
end

-- nil when the entry is documented, else why not
local function undocumented(entry)
  local why = "no doc comment"
  if entry.file then
    why = doc_above(entry.file, entry.line)
    if not why then return nil end
  end
  -- each file under the name it gives the function
  local places = {}
  if entry.file then places[#places + 1] = {file = entry.file, name = entry.name} end
  for _, e in ipairs(entry.exporters) do places[#places + 1] = e end
  for _, place in ipairs(places) do
    local named = names_function(place.file, place.name)
    if not named then return nil end
    if named ~= "no doc comment" then why = named end
  end
  return why
end

describe("reference documentation", function()
  it("has an LDoc comment on every public function of every lua/sts module", function()
    local missing = {}
    local list = public_functions()
    assert.is_true(#list > 100, "found only " .. #list .. " public functions")
    for _, entry in ipairs(list) do
      local why = undocumented(entry)
      if why then
        missing[#missing + 1] = ("%s.%s (%s: %s)"):format(entry.module, entry.name,
          entry.file and (entry.file .. ":" .. entry.line) or "a C function", why)
      end
    end
    table.sort(missing)
    assert.are.equal(0, #missing, #missing .. " public functions have no doc comment:\n  "
      .. table.concat(missing, "\n  "))
  end)

  it("has no doc comment whose first line holds '--' (LDoc 1.4 drops what it documents)", function()
    local bad = {}
    local files = lua_files(ROOT .. "/sts", {})
    table.sort(files)
    for _, path in ipairs(files) do
      for i, line in ipairs(lines_of(path)) do
        if line:match("^%s*%-%-%-") and not line:match("^%s*%-%-%-%-") and bad_summary(line) then
          bad[#bad + 1] = path .. ":" .. i .. ": " .. line
        end
      end
    end
    assert.are.equal(0, #bad, "put option names on a later line:\n  " .. table.concat(bad, "\n  "))
  end)

  it("notices a function without a doc comment", function()
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    local path = dir .. "/probe.lua"
    run.write_file(path, table.concat({
      "local M = {}",
      "local function make() return function() end end",
      "--- Documented.",
      "function M.a() end",
      "",
      "-- a plain comment is no doc comment",
      "function M.b() end",
      "------------------------------------------------------------",
      "function M.c() end",
      "--- Made by make.",
      "-- @function d",
      "M.d = make()",
      "--- Parses --version output.",
      "function M.e() end",
      "--- Documented where LDoc does not look.",
      "local function f() end",
      "M.f = f",
      "--- Made by make, documented where it is assigned.",
      "M.g = make()",
      "return M", ""}, "\n"))
    local m = assert(loadfile(path))()
    local function line_of(fn) return debug.getinfo(fn, "S").linedefined end
    assert.is_nil(doc_above(path, line_of(m.a)))
    assert.are.equal("no doc comment", doc_above(path, line_of(m.b)))
    assert.are.equal("no doc comment", doc_above(path, line_of(m.c)))
    assert.are.equal("no doc comment", doc_above(path, line_of(m.d)))
    assert.is_nil(names_function(path, "d"))
    assert.are.equal("no doc comment", names_function(path, "b"))
    assert.matches("holds '%-%-'", doc_above(path, line_of(m.e)))
    assert.matches("local function", doc_above(path, line_of(m.f)))
    assert.are.equal("no doc comment", names_function(path, "f"))
    assert.is_nil(names_function(path, "g"))
  end)

  it("is generated by LDoc from config.ld, with every public function in its module's page", function()
    if not run.which("ldoc") then pending("ldoc is not installed (scripts/install-deps: lua-ldoc)") end
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    local r = run.run({"ldoc", "-c", "config.ld", "-d", dir, "."}, {cwd = run.top, timeout = 120})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    assert.are.equal("file", lfs.attributes(dir .. "/index.html", "mode"))
    local absent = {}
    for _, entry in ipairs(public_functions()) do
      local page_module = entry.file and module_name(entry.file) or entry.module
      local page = run.read_file(("%s/modules/%s.html"):format(dir, page_module)) or ""
      local plain = entry.name:gsub("%p", "%%%0")
      if not (page:find('name = "' .. entry.name .. '"', 1, true)
              or page:match('name = "[%w_]+[.:]' .. plain .. '"')) then
        absent[#absent + 1] = page_module .. "." .. entry.name
      end
    end
    table.sort(absent)
    assert.are.equal(0, #absent, "not in the generated reference:\n  " .. table.concat(absent, "\n  "))
  end)
end)

--- sts.runner.plan: which test files a run runs, and in which order.
--
-- Test files are found under the paths given: a file is taken as it is; a
-- directory gives its `*.lua` files, recursively, in name order (files
-- and directories whose names start with `.` or `_` are left out, and so
-- are `*.lua` files under a directory named `lib`, `helpers` or
-- `support`: test helpers, not tests). A file named `*_spec.lua` is a
-- busted spec (counted per `it`); any other is a self-checking script.

local M = {}

local SKIP_DIRS = {lib = true, helpers = true, support = true}

local function lfs()
  return require "lfs"
end

local function kind_of(path)
  return path:match("_spec%.lua$") and "spec" or "script"
end

--- The kind of test a file is, from its name.
-- @tparam string path
-- @treturn string "spec" or "script"
M.kind_of = kind_of

-- "./a//b/" -> "a/b"
local function normalize(path)
  path = path:gsub("/+", "/")
  while path:sub(1, 2) == "./" do path = path:sub(3) end
  if #path > 1 then path = path:gsub("/$", "") end
  return path
end

--- A path without doubled slashes or leading "./" ("./a//b/" gives "a/b").
-- @function normalize
-- @tparam string path
-- @treturn string
M.normalize = normalize

local function walk(dir, out)
  local names = {}
  for name in lfs().dir(dir) do
    if name ~= "." and name ~= ".." and not name:match("^[%._]") then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = dir .. "/" .. name
    local mode = lfs().attributes(p, "mode")
    if mode == "directory" then
      if not SKIP_DIRS[name] then walk(p, out) end
    elseif mode == "file" and name:match("%.lua$") then
      out[#out + 1] = p
    end
  end
end

--- Finds the test files under `paths`.
-- @tparam {string,...} paths files and directories
-- @treturn {table,...}|nil tests `{path=, kind=}`, each file once, in the order found
-- @treturn string when nil: which path does not exist
function M.discover(paths)
  local tests, seen = {}, {}
  for _, given in ipairs(paths) do
    local p = normalize(given)
    local mode = lfs().attributes(p, "mode")
    local found = {}
    if mode == "directory" then
      walk(p, found)
    elseif mode == "file" then
      found[1] = p
    else
      return nil, "no such test file or directory: " .. given
    end
    for _, f in ipairs(found) do
      if not seen[f] then
        seen[f] = true
        tests[#tests + 1] = {path = f, kind = kind_of(f)}
      end
    end
  end
  return tests
end

-- FNV-1a, 32 bits: a hash that is the same on every machine and Lua build
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = h ~ s:byte(i)
    h = (h * 16777619) & 0xffffffff
  end
  return h
end

--- FNV-1a, 32 bits, of a string: the same on every machine and Lua build.
-- @function hash
-- @tparam string s
-- @treturn integer
M.hash = fnv1a

--- Parses "I/N" (1 <= I <= N).
-- @tparam string text
-- @treturn int|nil I
-- @treturn int|string N, or the reason when nil
function M.parse_shard(text)
  local i, n = tostring(text):match("^(%d+)/(%d+)$")
  i, n = tonumber(i), tonumber(n)
  if not i or n < 1 or i < 1 or i > n then
    return nil, "--shard: expected I/N with 1 <= I <= N, got " .. tostring(text)
  end
  return i, n
end

--- Whether a test belongs to shard I of N.
-- The split depends only on the test's path, so every machine of a CI
-- matrix computes the same one and each test runs in exactly one shard.
-- @tparam string path
-- @tparam int i
-- @tparam int n
-- @treturn boolean
function M.in_shard(path, i, n)
  return fnv1a(path) % n == i - 1
end

--- Narrows and orders the tests of a run.
-- @tparam {table,...} tests from discover
-- @tparam table opts `rx` (a Lua pattern matched against the path),
--   `exclude` (a Lua pattern: paths matching it are left out),
--   `quick` (only tests whose header says quick; needs `headers`),
--   `headers` (path -> parsed header), `shard` ({i, n}), `only` (a set of
--   paths: --state failed), `repeat_n` (each test this many times)
-- @treturn {table,...} the tests, each `{path=, kind=, attempt=}`
function M.select(tests, opts)
  opts = opts or {}
  local out = {}
  for _, t in ipairs(tests) do
    local keep = true
    if opts.rx and not t.path:find(opts.rx) then keep = false end
    if opts.exclude and t.path:find(opts.exclude) then keep = false end
    if keep and opts.quick then
      local h = opts.headers and opts.headers[t.path]
      keep = h ~= nil and h.quick == true
    end
    if keep and opts.shard and not M.in_shard(t.path, opts.shard[1], opts.shard[2]) then
      keep = false
    end
    if keep and opts.only and not opts.only[t.path] then keep = false end
    if keep then
      for attempt = 1, opts.repeat_n or 1 do
        out[#out + 1] = {path = t.path, kind = t.kind, attempt = attempt}
      end
    end
  end
  return out
end

return M

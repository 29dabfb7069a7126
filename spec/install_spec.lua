-- `make install` into a temporary tree, then the stock lua5.4, with no
-- LUA_PATH or LUA_CPATH set, finds `sts` there through its own built-in
-- package.path/cpath, and the installed stslua runs.
local run = require "helpers.run"
local lfs = require "lfs"

-- the make of the caller (make check) must not steer this one
local MAKE_ENV = {MAKEFLAGS = false, MFLAGS = false, MAKELEVEL = false,
                  BUILD = false, SAN = false, CFLAGS = false, PREFIX = false, DESTDIR = false,
                  LMOD_DIR = false, CMOD_DIR = false}

local function make_install(vars)
  local argv = {"make", "-s", "--no-print-directory", "-C", run.top, "install", "BUILD=build"}
  for _, v in ipairs(vars) do argv[#argv + 1] = v end
  local r = run.run(argv, {env = MAKE_ENV, timeout = 600})
  assert.are.equal(0, r.rc, r.stdout .. r.stderr)
end

-- stock lua5.4's own search paths: run.lua clears LUA_PATH, LUA_CPATH and
-- their _5_4 forms, so these are the ones compiled into the interpreter
local function stock_paths()
  local r = run.lua({"-e", "io.write(package.path, '\\n', package.cpath, '\\n')"})
  assert.are.equal(0, r.rc, r.stderr)
  local path, cpath = r.stdout:match("^([^\n]*)\n([^\n]*)\n$")
  assert.truthy(path, r.stdout)
  return path, cpath
end

-- the absolute templates of a search path, each moved below `root`
local function rooted(path, root)
  local out = {}
  for template in path:gmatch("[^;]+") do
    if template:sub(1, 1) == "/" then out[#out + 1] = root .. template end
  end
  return table.concat(out, ";")
end

-- Where stock lua5.4 would find `sts` and `sts.core` if `root` were `/`:
-- both must be there, else the install missed the interpreter's paths.
local function found_by_stock_paths(root)
  local path, cpath = stock_paths()
  local lua_file = package.searchpath("sts", rooted(path, root))
  local c_file = package.searchpath("sts.core", rooted(cpath, root))
  assert.truthy(lua_file, "sts not found on lua5.4's package.path below " .. root)
  assert.truthy(c_file, "sts.core not found on lua5.4's package.cpath below " .. root)
  return lua_file:sub(#root + 1), c_file:sub(#root + 1)
end

-- The nearest directory at or above `dir` that exists on this machine (a
-- bind mount needs an existing mount point).
local function existing_ancestor(dir)
  while lfs.attributes(dir, "mode") ~= "directory" do
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then return "/" end
  end
  return dir
end

-- Runs `code` in stock lua5.4 with no path variables, in a private mount
-- namespace where the installed tree's part of each directory in `dirs`
-- (from its nearest existing ancestor down) is bound over the machine's:
-- the interpreter sees the tree as if installed for real, and the
-- machine's own directories are untouched. Nil and a reason where this
-- machine cannot make such a namespace (not root, no user namespaces).
local function run_in_namespace(root, dirs, code)
  if not run.which("unshare") then return nil, "no unshare program" end
  -- the shell here only sequences mount and exec; every value is an argument
  local script = 'set -e; while [ "$#" -gt 1 ]; do mount --bind "$1" "$2"; shift 2; done; '
              .. 'exec lua5.4 -e "$1"'
  local base = {"unshare", "--mount", "--propagation", "private"}
  if run.run({"id", "-u"}).stdout ~= "0\n" then base[#base + 1] = "--map-root-user" end
  local probe = run.run({table.unpack(base), "true"})
  if probe.rc ~= 0 then return nil, "cannot make a mount namespace: " .. probe.stderr end
  local argv = {table.unpack(base)}
  for _, a in ipairs({"sh", "-c", script, "sh"}) do argv[#argv + 1] = a end
  for _, installed in ipairs(dirs) do
    local dir = existing_ancestor(installed)
    argv[#argv + 1] = root .. dir
    argv[#argv + 1] = dir
  end
  argv[#argv + 1] = code
  return run.run(argv)
end

local REQUIRE_STS = [[
local sts = require "sts"
print(type(sts.dm), type(sts.dmpd), type(sts.errors), type(sts.version))
print(package.searchpath("sts", package.path))
print(package.searchpath("sts.core", package.cpath))
print(require("sts.errors") == sts.errors)]]

-- the installed tree below `root`, with the stock interpreter
local function check_stock_lua(root)
  local lua_file, c_file = found_by_stock_paths(root)
  local lmod, cmod = lua_file:match("^(.*)/sts/init%.lua$"), c_file:match("^(.*)/sts/core%.so$")
  assert.truthy(lmod, lua_file)
  assert.truthy(cmod, c_file)
  local r, why = run_in_namespace(root, {lmod, cmod}, REQUIRE_STS)
  if not r then return why end
  assert.are.equal("", r.stderr)
  assert.are.equal(0, r.rc)
  assert.are.equal(table.concat({
    "table\ttable\ttable\tstring", lua_file, c_file, "true"}, "\n") .. "\n", r.stdout)
  return nil
end

local function check_binary(bin, dir)
  local r = run.run({bin, "-e", "print(require('sts.errors') ~= nil, rawget(_G, 'sts'))"},
                    {cwd = dir, env = {LUA_PATH = "/nonexistent/?.lua", LUA_CPATH = "/nonexistent/?.so"}})
  assert.are.equal("", r.stderr)
  assert.are.equal(0, r.rc)
  assert.are.equal("true\tnil\n", r.stdout)
  r = run.run({bin, "--version"}, {cwd = dir})
  assert.are.equal(0, r.rc)
  assert.truthy(r.stdout:match("^stslua "), r.stdout)
end

-- scripts/sts-test is installed beside stslua when the tree has it
local function check_suite_runner(bindir)
  local has = lfs.attributes(run.path("scripts/sts-test"), "mode") == "file"
  local installed = lfs.attributes(bindir .. "/sts-test", "permissions")
  if has then
    assert.truthy(installed, "scripts/sts-test not installed into " .. bindir)
    assert.truthy(installed:match("^rwx"), installed)
    -- it runs with the stslua beside it, from anywhere
    local r = run.run({bindir .. "/sts-test", "--help"}, {cwd = "/", env = {STSLUA = false}})
    assert.are.equal(0, r.rc, r.stderr)
    assert.matches("^usage: sts%-test ", r.stdout)
  else
    assert.is_nil(installed)
  end
end

-- the programs in `root .. bindir`, then stock lua5.4 on the tree; the
-- last part is pending where no mount namespace can be made
local function check_installed_tree(root, bindir)
  check_binary(root .. bindir .. "/stslua", root)
  check_suite_runner(root .. bindir)
  local why = check_stock_lua(root)
  if why then pending("require 'sts' with no path variables not run: " .. why) end
end

describe("make install", function()
  local dir

  before_each(function() dir = run.tmpdir() end)
  after_each(function()
    if dir then run.rmtree(dir) end
    dir = nil
  end)

  it("with the default PREFIX puts sts on stock lua5.4's own package.path and cpath", function()
    make_install({"DESTDIR=" .. dir})
    local lua_file, c_file = found_by_stock_paths(dir)
    assert.are.equal("/usr/local/share/lua/5.4/sts/init.lua", lua_file)
    assert.are.equal("/usr/local/lib/lua/5.4/sts/core.so", c_file)
    check_installed_tree(dir, "/usr/local/bin")
  end)

  it("with PREFIX=/usr puts sts in Debian's directories, on stock lua5.4's paths", function()
    make_install({"PREFIX=/usr", "DESTDIR=" .. dir})
    local lua_file, c_file = found_by_stock_paths(dir)
    assert.are.equal("/usr/share/lua/5.4/sts/init.lua", lua_file)
    assert.truthy(c_file:match("^/usr/lib/[^/]+%-linux%-gnu[^/]*/lua/5%.4/sts/core%.so$"), c_file)
    check_installed_tree(dir, "/usr/bin")
  end)

  it("with any other PREFIX uses Lua's layout below it", function()
    local prefix = dir .. "/opt"
    make_install({"PREFIX=" .. prefix, "DESTDIR="})
    assert.are.equal("file", lfs.attributes(prefix .. "/share/lua/5.4/sts/init.lua", "mode"))
    assert.are.equal("file", lfs.attributes(prefix .. "/lib/lua/5.4/sts/core.so", "mode"))
    local r = run.lua({"-e", "print(require('sts').dm ~= nil)"},
      {env = {LUA_PATH = prefix .. "/share/lua/5.4/?.lua;" .. prefix .. "/share/lua/5.4/?/init.lua",
              LUA_CPATH = prefix .. "/lib/lua/5.4/?.so"}})
    assert.are.equal("", r.stderr)
    assert.are.equal("true\n", r.stdout)
    check_binary(prefix .. "/bin/stslua", dir)
    -- sts-test runs on the stslua installed next to it
    r = run.run({prefix .. "/bin/sts-test", "runs", "--db", dir .. "/r.db"},
                {cwd = dir, env = {STSLUA = false}})
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal("", r.stdout)
    assert.truthy(run.read_file(dir .. "/r.db"), "sts-test made no database")
  end)
end)

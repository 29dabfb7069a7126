-- `make install` into a temporary tree, then the stock lua5.4 finds `sts`
-- there and the installed stslua runs.
local run = require "helpers.run"

-- the make of the caller (make check) must not steer this one
local MAKE_ENV = {MAKEFLAGS = false, MFLAGS = false, MAKELEVEL = false,
                  BUILD = false, SAN = false, CFLAGS = false, PREFIX = false, DESTDIR = false}

local function pkg_variable(name)
  local r = run.run({"pkg-config", "--variable=" .. name, "lua5.4"})
  assert.are.equal(0, r.rc, r.stderr)
  local value = r.stdout:gsub("%s+$", "")
  assert.truthy(value:match("^/usr/"), name .. " of lua5.4 is not under /usr: " .. value)
  return value
end

local function make_install(vars)
  local argv = {"make", "-s", "--no-print-directory", "-C", run.top, "install", "BUILD=build"}
  for _, v in ipairs(vars) do argv[#argv + 1] = v end
  local r = run.run(argv, {env = MAKE_ENV, timeout = 600})
  assert.are.equal(0, r.rc, r.stdout .. r.stderr)
end

-- LUA_PATH / LUA_CPATH naming only the installed tree below `root` (which
-- stands for /usr)
local function installed_paths(root)
  local lmod = root .. pkg_variable("INSTALL_LMOD"):sub(#"/usr" + 1)
  local cmod = root .. pkg_variable("INSTALL_CMOD"):sub(#"/usr" + 1)
  return {
    LUA_PATH = lmod .. "/?.lua;" .. lmod .. "/?/init.lua",
    LUA_CPATH = cmod .. "/?.so",
    LUA_PATH_5_4 = false, LUA_CPATH_5_4 = false, LUA_INIT = false, LUA_INIT_5_4 = false,
  }, lmod, cmod
end

-- what the installed tree must give the stock interpreter
local function check_stock_lua(root, dir)
  local env, lmod, cmod = installed_paths(root)
  local r = run.lua({"-e", [[
local sts = require "sts"
print(type(sts.dm), type(sts.dmpd), type(sts.errors), type(sts.version))
print(package.searchpath("sts", package.path))
print(package.searchpath("sts.core", package.cpath))
print(require("sts.errors") == sts.errors)]]}, {env = env, cwd = dir})
  assert.are.equal("", r.stderr)
  assert.are.equal(0, r.rc)
  assert.are.equal(table.concat({
    "table\ttable\ttable\tstring",
    lmod .. "/sts/init.lua",
    cmod .. "/sts/core.so",
    "true",
  }, "\n") .. "\n", r.stdout)
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

describe("make install", function()
  local dir

  before_each(function() dir = run.tmpdir() end)
  after_each(function()
    if dir then run.rmtree(dir) end
    dir = nil
  end)

  it("with PREFIX=<tmp> installs what stock lua5.4 needs for require 'sts', and the binary", function()
    local prefix = dir .. "/prefix"
    make_install({"PREFIX=" .. prefix, "DESTDIR="})
    check_stock_lua(prefix, dir)
    check_binary(prefix .. "/bin/stslua", dir)
    -- sts-test runs on the stslua installed next to it
    local r = run.run({prefix .. "/bin/sts-test", "runs", "--db", dir .. "/r.db"},
                      {cwd = dir, env = {STSLUA = false}})
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal("", r.stdout)
    assert.truthy(run.read_file(dir .. "/r.db"), "sts-test made no database")
  end)

  it("with DESTDIR=<tmp> PREFIX=/usr installs into the places pkg-config names", function()
    make_install({"PREFIX=/usr", "DESTDIR=" .. dir})
    local root = dir .. "/usr"
    check_stock_lua(root, dir)
    check_binary(root .. "/bin/stslua", dir)
  end)
end)

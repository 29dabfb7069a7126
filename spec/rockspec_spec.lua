-- The rockspec: `luarocks make` from a copy of the checkout into a
-- temporary rock tree, then the stock lua5.4 finds `sts` through that
-- tree's paths alone, the rock's stslua runs, and `luarocks test` runs
-- busted (a failing spec fails it).
local run = require "helpers.run"
local lfs = require "lfs"

-- what a checkout holds that the build, the install and the tests read
local CHECKOUT = {"Makefile", ".busted", "src", "lua", "scripts", "rockspecs", "spec"}

local function rockspec()
  local found
  for entry in lfs.dir(run.path("rockspecs")) do
    if entry:match("^stslua%-.+%.rockspec$") then
      assert.is_nil(found, "more than one rockspec in rockspecs/: " .. tostring(found) .. ", " .. entry)
      found = entry
    end
  end
  assert.truthy(found, "no rockspecs/stslua-*.rockspec")
  return "rockspecs/" .. found
end

describe("the rockspec", function()
  local dir, src, tree, env

  setup(function()
    dir = run.tmpdir()
    src, tree = dir .. "/src", dir .. "/tree"
    -- HOME too: luarocks keeps a cache and a user tree there
    env = {HOME = dir, MAKEFLAGS = false, MFLAGS = false, MAKELEVEL = false, BUILD = false,
           SAN = false, CFLAGS = false, PREFIX = false, DESTDIR = false}
  end)
  teardown(function()
    if dir then run.rmtree(dir) end
  end)

  local function luarocks(args, opts)
    local argv = {"luarocks", "--lua-version=5.4", "--tree=" .. tree}
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return run.run(argv, {cwd = src, env = env, timeout = (opts or {}).timeout or 600})
  end

  -- the tree's own entries of a search path (luarocks path adds the user
  -- tree and the system's as well)
  local function tree_only(path)
    local out = {}
    for template in path:gmatch("[^;]+") do
      if template:sub(1, #tree + 1) == tree .. "/" then out[#out + 1] = template end
    end
    assert.truthy(#out > 0, "no entry of " .. tree .. " in " .. path)
    return table.concat(out, ";")
  end

  it("luarocks make installs sts, sts.core and stslua; stock lua5.4 requires sts from the tree", function()
    if not run.which("luarocks") then pending("luarocks is not installed (scripts/install-deps)") end
    assert.is_true(lfs.mkdir(src))
    local argv = {"cp", "-a"}
    for _, name in ipairs(CHECKOUT) do argv[#argv + 1] = run.path(name) end
    argv[#argv + 1] = src
    local r = run.run(argv)
    assert.are.equal(0, r.rc, r.stderr)

    r = luarocks({"make", rockspec()})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)

    local lpath = luarocks({"path", "--lr-path"})
    local cpath = luarocks({"path", "--lr-cpath"})
    assert.are.equal(0, lpath.rc, lpath.stderr)
    assert.are.equal(0, cpath.rc, cpath.stderr)
    r = run.lua({"-e", [[
local sts = require "sts"
print(type(sts.dm), type(sts.dmpd), type(sts.errors), sts.version)
print(package.searchpath("sts", package.path))
print(package.searchpath("sts.core", package.cpath))
print(package.searchpath("sts.testkit", package.path) ~= nil)]]},
      {cwd = dir, env = {LUA_PATH = tree_only(lpath.stdout:gsub("%s+$", "")),
                         LUA_CPATH = tree_only(cpath.stdout:gsub("%s+$", ""))}})
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.rc)
    local lines = {}
    for line in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^table\ttable\ttable\t%d+%.%d+%.%d+$", lines[1])
    assert.are.equal(tree .. "/share/lua/5.4/sts/init.lua", lines[2])
    assert.are.equal(tree .. "/lib/lua/5.4/sts/core.so", lines[3])
    assert.are.equal("true", lines[4])

    r = run.run({tree .. "/bin/stslua", "-e", "print(require('sts.dm') ~= nil)"}, {cwd = dir})
    assert.are.equal("", r.stderr)
    assert.are.equal("true\n", r.stdout)
    if lfs.attributes(run.path("scripts/sts-test"), "mode") == "file" then
      r = run.run({tree .. "/bin/sts-test", "--help"}, {cwd = dir, env = {STSLUA = false}})
      assert.are.equal(0, r.rc, r.stderr)
      assert.matches("^usage: sts%-test ", r.stdout)
    end
  end)

  it("luarocks test runs busted on the specs it is given, and fails when one fails", function()
    if not run.which("luarocks") then pending("luarocks is not installed (scripts/install-deps)") end
    assert.are.equal("directory", lfs.attributes(src .. "/build", "mode"), "the make test did not run")
    local r = luarocks({"test", rockspec(), "--", "-o", "TAP", "spec/errors_spec.lua"})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    assert.matches("\nok 1 ", "\n" .. r.stdout)
    assert.is_nil(r.stdout:match("\nnot ok"))
    run.write_file(src .. "/spec/failing_spec.lua",
      'describe("x", function() it("fails", function() assert.is_true(false) end) end)\n')
    r = luarocks({"test", rockspec(), "--", "-o", "TAP", "spec/failing_spec.lua"})
    assert.are_not.equal(0, r.rc)
    assert.matches("not ok 1 ", r.stdout)
  end)
end)

-- Host tier: the requirements header of sts-test's test files.
local requires = require "sts.runner.requires"

describe("sts.runner.requires", function()
  it("reads targets, kernel, tools, quick and timeout from the header", function()
    local h = assert(requires.parse(table.concat({
      "#!/usr/bin/env stslua",
      "-- pool-grow.lua: grows a pool",
      "-- requires: target thin-pool >= 1.22; kernel >= 6.1; tool thin_check",
      "--requires: tool mkfs.xfs ; target era",
      "-- quick",
      "-- timeout: 300",
      "local x = 1",
      "-- requires: target never-read",
    }, "\n")))
    assert.is_true(h.quick)
    assert.are.equal(300, h.timeout)
    assert.are.equal(5, #h.requires)
    assert.are.same({kind = "target", name = "thin-pool", version = {1, 22},
                     text = "target thin-pool >= 1.22"}, h.requires[1])
    assert.are.same({6, 1}, h.requires[2].version)
    assert.are.equal("kernel", h.requires[2].kind)
    assert.are.same({kind = "tool", name = "thin_check", text = "tool thin_check"}, h.requires[3])
    assert.are.equal("mkfs.xfs", h.requires[4].name)
    assert.are.same({kind = "target", name = "era", text = "target era"}, h.requires[5])
    assert.are.equal("target thin-pool >= 1.22; kernel >= 6.1; tool thin_check; tool mkfs.xfs; target era",
                     requires.format(h))
  end)

  it("stops at the first line that is not a comment", function()
    local h = assert(requires.parse("local x\n-- quick\n-- requires: tool a\n"))
    assert.is_false(h.quick)
    assert.are.same({}, h.requires)
    assert.is_nil(h.timeout)
    -- a blank line ends the header too
    h = assert(requires.parse("-- t\n\n-- quick\n"))
    assert.is_false(h.quick)
    -- "quick" only as the whole line
    h = assert(requires.parse("-- quickly does things\n"))
    assert.is_false(h.quick)
  end)

  it("refuses a requires: or timeout: line it cannot read, naming the line", function()
    local cases = {
      {"-- requires: target thin-pool > 1.22", "line 1: expected 'target NAME >= VERSION'"},
      {"-- x\n-- requires: kernel 6.1", "line 2: expected 'kernel >= VERSION'"},
      {"-- requires: kernel >= 6.x", "expected 'kernel >= VERSION'"},
      {"-- requires: tool", "expected 'tool NAME'"},
      {"-- requires: tool a b", "expected 'tool NAME'"},
      {"-- requires: device dm-thin-pool", "unknown requirement \"device dm-thin-pool\""},
      {"-- requires: ;", "requires: names nothing"},
      {"-- requires: target thin-pool >= 1.2.3.4", "expected 'target NAME >= VERSION'"},
      {"-- timeout: 0", "timeout: expected a whole number of seconds"},
      {"-- timeout: 5m", "timeout: expected a whole number of seconds"},
    }
    for _, c in ipairs(cases) do
      local h, why = requires.parse(c[1])
      assert.is_nil(h, c[1])
      assert.is_truthy(why:find(c[2], 1, true), c[1] .. " gave: " .. tostring(why))
    end
  end)

  it("reads a file and names it in errors", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("-- requires: bogus\n")
    f:close()
    local h, why = requires.read(path)
    os.remove(path)
    assert.is_nil(h)
    assert.are.equal(path .. ": line 1: unknown requirement \"bogus\" (target, kernel, tool or module)", why)
    local none, nwhy = requires.read("/nonexistent/test.lua")
    assert.is_nil(none)
    assert.matches("No such file", nwhy)
  end)

  it("says which needs are unmet, and why", function()
    local h = assert(requires.parse(
      "-- requires: target thin-pool >= 1.22; target cache >= 2.2; target era; kernel >= 6.2; tool thin_check; tool nope"))
    local facts = {
      kernel = "6.1.0-57-cloud-amd64",
      targets = {["thin-pool"] = "1.23.0", cache = "2.1.0"},
      has_tool = function(name) return name == "thin_check" end,
    }
    assert.are.same({
      "target cache is 2.1.0, needs >= 2.2",
      "target era is not available",
      "kernel 6.1.0-57-cloud-amd64, needs >= 6.2",
      "tool nope not found",
    }, requires.unmet(h, facts))
    facts.kernel = "6.12.9+deb13-amd64"
    facts.targets.cache, facts.targets.era = "2.2.0", "1.0.0"
    facts.has_tool = function() return true end
    assert.are.same({}, requires.unmet(h, facts))
  end)

  it("compares versions numerically, missing parts as 0", function()
    assert.are.equal(0, requires.compare_versions({1, 22}, {1, 22, 0}))
    assert.are.equal(1, requires.compare_versions({1, 100}, {1, 22}))
    assert.are.equal(-1, requires.compare_versions({6, 1}, {6, 10}))
    assert.are.same({6, 1, 0}, requires.version_prefix("6.1.0-57-cloud-amd64"))
    assert.is_nil(requires.version_prefix("abc"))
  end)
end)

describe("sts.runner.requires, the suite's tag form", function()
  it("reads @requires and @quick as the same items", function()
    local h = assert(requires.parse(table.concat({
      "-- Block zeroing: a 4 KiB write into a fresh pool block",
      "-- @requires target thin-pool",
      "-- @requires target cache 2.2",
      "-- @requires tool thin_check",
      "-- @requires kernel 6.9",
      "-- @requires module dm-vdo",
      "-- @quick",
      "package.path = 'x'",
    }, "\n")))
    assert.is_true(h.quick)
    assert.are.equal("target thin-pool; target cache >= 2.2; tool thin_check; kernel >= 6.9; module dm-vdo",
                     requires.format(h))
    assert.are.same({2, 2}, h.requires[2].version)
    assert.are.same({6, 9}, h.requires[4].version)
    assert.are.same({kind = "module", name = "dm-vdo", text = "module dm-vdo"}, h.requires[5])
  end)

  it("refuses what it cannot read there too", function()
    for _, bad in ipairs({"-- @requires", "-- @requires target", "-- @requires kernel six",
                          "-- @requires frobs 2", "-- @requires tool a b"}) do
      local h, why = requires.parse(bad)
      assert.is_nil(h, bad)
      assert.matches("^line 1: ", why)
    end
  end)

  it("checks modules through has_module", function()
    local h = assert(requires.parse("-- requires: module dm-vdo; module loop"))
    local facts = {kernel = "6.1", targets = {}, has_tool = function() return true end,
                   has_module = function(name) return name == "loop" end}
    assert.are.same({"kernel module dm-vdo not available"}, requires.unmet(h, facts))
  end)
end)

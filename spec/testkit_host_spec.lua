-- Host tier: sts.testkit and sts.busted input checks and the leak
-- bookkeeping, none of which needs device-mapper.
local testkit = require "sts.testkit"
local guard = require "sts.busted"

local check = require "helpers.raises"
local raises = check.raises

describe("sts.testkit input checks", function()
  it("names the prefix after the process", function()
    assert.matches("^sts%-%d+%-$", testkit.prefix)
  end)

  it("rejects unknown and bad options before touching any device", function()
    raises("ValueError", "unknown option 'bogus'", testkit.thin_pool, {bogus = 1})
    raises("ValueError", "data_mb must be a positive integer", testkit.thin_pool, {data_mb = 0})
    raises("ValueError", "metadata_mb", testkit.thin_pool, {metadata_mb = 1.5})
    raises("ValueError", "block_size", testkit.thin_pool, {block_size = "128"})
    raises("ValueError", "expected a table", testkit.thin_pool, 64)
    raises("ValueError", "unknown option 'origin'", testkit.cache, {origin = 1})
    raises("ValueError", "unknown option 'cache_mb'", testkit.era, {cache_mb = 1})
    raises("ValueError", "n must be a positive integer", testkit.loop_devices, 0, 4)
    raises("ValueError", "size_mb must be a positive integer", testkit.loop_devices, 1, "4")
    raises("ValueError", "unknown option 'sizes'", testkit.linear, "/dev/null", {sizes = 1})
    raises("ValueError", "backing must be", testkit.linear, {})
    raises("ValueError", "testkit.linear", testkit.linear, "/no/such/device")
  end)

  it("checks the fault spec, the predicate and the prefix", function()
    raises("ValueError", "spec.type", testkit.inject, {}, {type = "bogus"})
    raises("ValueError", "spec.type", testkit.inject, {}, nil)
    raises("ValueError", "predicate must be a function", testkit.wait_for, {}, "used > 0")
    raises("ValueError", "interval_ms must be an integer > 0", testkit.wait_for, {},
      function() return true end, 100, {interval_ms = 0})
    raises("ValueError", "unknown option 'interval'", testkit.wait_for, {},
      function() return true end, 100, {interval = 10})
    raises("ValueError", "prefix", testkit.cleanup_leftovers, "")
    raises("ValueError", "prefix", testkit.cleanup_leftovers, 7)
  end)
end)

describe("sts.busted leak guard", function()
  local a = {kind = "dm", name = "sts-1-pool1", why = "still exists"}
  local a_suspended = {kind = "dm", name = "sts-1-pool1", why = "left suspended"}
  local b = {kind = "loop", name = "/dev/loop3", why = "still attached"}

  it("new_leaks keeps only what was not there before", function()
    assert.are.same({}, guard.new_leaks({}, {}))
    assert.are.same({}, guard.new_leaks({a, b}, {b, a}))
    assert.are.same({b}, guard.new_leaks({a}, {a, b}))
    assert.are.same({a, b}, guard.new_leaks({}, {a, b}))
    -- a device that was there but is now also suspended is a new problem
    assert.are.same({a_suspended}, guard.new_leaks({a}, {a_suspended}))
    raises("ValueError", "before", guard.new_leaks, nil, {})
    raises("ValueError", "after", guard.new_leaks, {}, "x")
  end)

  it("describes leaks in one line", function()
    assert.are.equal("dm sts-1-pool1 (still exists), loop /dev/loop3 (still attached)",
      guard.describe({a, b}))
    assert.are.equal("", guard.describe({}))
  end)

  it("guard installs a before_each/after_each pair that checks", function()
    local hooks, installed = {}, {}
    function hooks.before_each(fn) installed.before = fn end
    function hooks.after_each(fn) installed.after = fn end
    guard.guard(hooks)
    assert.is_function(installed.before)
    assert.is_function(installed.after)
    installed.before()
    assert.has_no.errors(installed.after)
    raises("ValueError", "before_each and after_each", guard.guard, {before_each = print})
  end)
end)

describe("sts.testkit.checks", function()
  local run = require "helpers.run"

  it("reports every check and exits 0 only when all held", function()
    local chunk = [[
      local check, report = require("sts.testkit").checks()
      assert(check(1 + 1 == 2, "two") == true)
      assert(check(false, "broken") == false)
      assert(check(nil, "missing") == nil)
      check(true, "after the failures")
      os.exit(report())
    ]]
    local r = run.stslua({"-e", chunk})
    assert.are.equal(1, r.rc, r.stderr)
    assert.are.equal("  [ok] two\n  [FAIL] broken\n  [FAIL] missing\n  [ok] after the failures\n"
      .. "FAIL: 2 check(s) failed\n", r.stdout)
    r = run.stslua({"-e", [[
      local check, report = require("sts.testkit").checks()
      check(true, "fine")
      os.exit(report())
    ]]})
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal("  [ok] fine\nPASS\n", r.stdout)
  end)
end)

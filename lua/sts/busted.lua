--- sts.busted: busted helpers that fail a test which leaks devices.
--
--   local guard = require "sts.busted"
--   describe("my pool tests #kernel", function()
--     guard.guard()            -- each test below must leave nothing behind
--     it("...", function() ... end)
--   end)
--
-- guard() installs a before_each that records testkit.leaks() and an
-- after_each that compares: when the test left new kit devices (dm or
-- loop) or a kit device suspended, the after_each first removes them
-- (live fixtures through testkit.cleanup(), stray ones by name) and then
-- raises a TestkitError naming each one, which busted reports as an error
-- of that test. Leaks that were there before the test are not blamed on it.
--
-- The checking is plain functions (snapshot, new_leaks, check) so it can
-- be used without busted, and tested on its own.

local dm = require "sts.dm"
local errors = require "sts.errors"
local loop = require "sts.loop"
local testkit = require "sts.testkit"
local lifecycle = require "sts.testkit.lifecycle"

local M = {}

local function key(leak)
  return leak.kind .. "\0" .. leak.name .. "\0" .. leak.why
end

--- M.snapshot() -> the current testkit.leaks() list
function M.snapshot()
  return testkit.leaks()
end

--- M.new_leaks(before, after) -> the entries of `after` (a leaks list)
-- that were not in `before`, in after's order
function M.new_leaks(before, after)
  if type(before) ~= "table" then errors.raise("ValueError", "new_leaks: before must be a leaks list") end
  if type(after) ~= "table" then errors.raise("ValueError", "new_leaks: after must be a leaks list") end
  local seen = {}
  for _, leak in ipairs(before) do seen[key(leak)] = true end
  local list = {}
  for _, leak in ipairs(after) do
    if not seen[key(leak)] then list[#list + 1] = leak end
  end
  return list
end

--- M.describe(leaks) -> one line naming each leak ("dm sts-1-pool3 (still exists), ...")
function M.describe(leaks)
  local parts = {}
  for _, leak in ipairs(leaks) do
    parts[#parts + 1] = string.format("%s %s (%s)", leak.kind, leak.name, leak.why)
  end
  return table.concat(parts, ", ")
end

-- Removes what a leak list names: the dm devices through one sweep (a
-- device still held by another goes once its holder is gone), then the
-- loop devices.
local function remove_leaked(leaks)
  local names = {}
  for _, leak in ipairs(leaks) do
    if leak.kind == "dm" then names[#names + 1] = leak.name end
  end
  dm.sweep(names)
  for _, leak in ipairs(leaks) do
    if leak.kind == "loop" then
      lifecycle.detach_kit_loop(leak.name, loop.backing_file(leak.name))
    end
  end
end

--- M.check(before) -> true when nothing leaked since `before` (a
-- snapshot); otherwise cleans up and raises a TestkitError naming the
-- leaks. The live fixtures go first (testkit.cleanup()), so their own
-- teardown (thin before pool) runs; whatever is left is removed by name.
function M.check(before)
  local leaked = M.new_leaks(before, testkit.leaks())
  if #leaked == 0 then return true end
  local problems = testkit.cleanup()
  remove_leaked(M.new_leaks(before, testkit.leaks()))
  local msg = "test leaked: " .. M.describe(leaked)
  if #problems > 0 then msg = msg .. "; cleanup: " .. table.concat(problems, "; ") end
  errors.raise("TestkitError", msg)
end

--- M.guard(hooks) installs the before_each/after_each pair described
-- above in the enclosing describe block. `hooks` defaults to busted's own
-- ({before_each=, after_each=} from require "busted"); pass them to use
-- another runner.
function M.guard(hooks)
  hooks = hooks or require "busted"
  local before_each, after_each = hooks.before_each, hooks.after_each
  if type(before_each) ~= "function" or type(after_each) ~= "function" then
    errors.raise("ValueError", "guard: hooks must provide before_each and after_each functions")
  end
  local before
  before_each(function() before = M.snapshot() end)
  after_each(function()
    local snap = before or {}
    before = nil
    M.check(snap)
  end)
end

return M

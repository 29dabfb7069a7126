--- sts.testkit.wait: waiting for a status condition, woken by dm events
-- and by a re-read every interval.
--
-- Why both: many state changes raise a dm event (the waiter wakes at
-- once), but some raise none (a snapshot-merge finishing, a cache's dirty
-- count falling to zero, era's current era moving on), so an event-only
-- wait would sleep until its timeout. Re-reading the status every
-- interval bounds the latency on every target to one interval.

local errors = require "sts.errors"
local inspect = require "sts.inspect"
local lifecycle = require "sts.testkit.lifecycle"
local time = require "sts.time"

local testkit = {}

local function value_error(fmt, ...) errors.raisef("ValueError", fmt, ...) end

--- The interval, in milliseconds, at which `wait_for` re-reads the status
-- when no dm event comes.
testkit.DEFAULT_INTERVAL_MS = 100

local WAIT_OPTS = {interval_ms = "number"}

--- Waits until `predicate(status, all_targets)` is true and returns that
-- typed status (the first target's) and the list of every target's.
-- Wakes on each dm event of `dev` and re-reads the status at least every
-- `interval_ms` (default 100), so it returns within one interval of the
-- condition becoming true on any target, whether or not the change raises
-- an event. Raises TimeoutError after `timeout_ms`; its message shows the
-- last status read (through `sts.inspect`), and its `last_status` field
-- holds the list of every target's.
-- @param dev a DmDevice or a fixture with .dev
-- @tparam function predicate called with (status of the first target,
-- list of every target's status)
-- @tparam[opt=30000] integer timeout_ms
-- @tparam[opt] table opts `interval_ms`: the longest time between re-reads
-- @treturn table the first target's typed status
-- @treturn table the list of every target's typed status
function testkit.wait_for(dev, predicate, timeout_ms, opts)
  if type(predicate) ~= "function" then value_error("testkit.wait_for: predicate must be a function") end
  if timeout_ms ~= nil and (math.type(timeout_ms) ~= "integer" or timeout_ms < 0) then
    value_error("testkit.wait_for: timeout_ms must be an integer >= 0")
  end
  opts = errors.check_options(opts, WAIT_OPTS, "testkit.wait_for")
  local interval = opts.interval_ms or testkit.DEFAULT_INTERVAL_MS
  if math.type(interval) ~= "integer" or interval <= 0 then
    value_error("testkit.wait_for: interval_ms must be an integer > 0, got %s", tostring(interval))
  end
  dev = lifecycle.device_of(dev, "testkit.wait_for")
  timeout_ms = timeout_ms or 30000
  local t_start = time.now_ms()
  local all
  while true do
    -- the event number first: an event raised between the read of the
    -- status and the wait then ends the wait at once
    local event_nr = dev:info().event_nr
    all = dev:status_table()
    if predicate(all[1], all) then return all[1], all end
    local left = timeout_ms - (time.now_ms() - t_start)
    if left <= 0 then break end
    local nr, why, err = dev:wait_event(event_nr, math.min(left, interval))
    if not nr and why ~= "timeout" then
      errors.raise("DeviceError", "wait_for " .. dev.dm_name .. ": " .. tostring(why), err)
    end
  end
  local shown = inspect.inspect(#all == 1 and all[1] or all, {depth = 4, width = 100})
  errors.raise("TimeoutError", string.format("wait_for %s: condition not met in %d ms; last status: %s",
    dev.dm_name, timeout_ms, shown), nil, {last_status = all})
end

return testkit

--- sts.testkit.wait: waiting for a status condition, woken by dm events.

local errors = require "sts.errors"
local lifecycle = require "sts.testkit.lifecycle"
local time = require "sts.time"

local testkit = {}

local function value_error(fmt, ...) errors.raisef("ValueError", fmt, ...) end

-- waiting -----------------------------------------------------------------------------

--- testkit.wait_for(dev, predicate, timeout_ms) -> the typed status that
-- satisfied predicate(status, all_targets). Re-reads the status on each
-- dm event of dev (no sleep loop); raises TimeoutError after timeout_ms
-- (default 30000) with the last status seen.
function testkit.wait_for(dev, predicate, timeout_ms)
  if type(predicate) ~= "function" then value_error("testkit.wait_for: predicate must be a function") end
  if timeout_ms ~= nil and (math.type(timeout_ms) ~= "integer" or timeout_ms < 0) then
    value_error("testkit.wait_for: timeout_ms must be an integer >= 0")
  end
  dev = lifecycle.device_of(dev, "testkit.wait_for")
  timeout_ms = timeout_ms or 30000
  local t_start = time.now_ms()
  local last
  while true do
    local event_nr = dev:info().event_nr
    local all = dev:status_table()
    local first = all[1]
    last = first
    if predicate(first, all) then return first, all end
    local left = timeout_ms - (time.now_ms() - t_start)
    if left <= 0 then break end
    local nr, why = dev:wait_event(event_nr, left)
    if not nr and why ~= "timeout" then errors.raise("DeviceError", "wait_for " .. dev.dm_name .. ": " .. why) end
  end
  local shown = {}
  for k, v in pairs(last or {}) do shown[#shown + 1] = k .. "=" .. tostring(v) end
  table.sort(shown)
  errors.raise("TimeoutError", string.format("wait_for %s: condition not met in %d ms (last status: %s)",
    dev.dm_name, timeout_ms, table.concat(shown, " ")))
end

return testkit

--- sts.time: the monotonic clock and sleeping, for deadlines in scripts.
--
--   local t0 = time.now_ms()
--   time.sleep_ms(100)
--   print(time.now_ms() - t0)   -- >= 100
local ctime = require("sts.core").time

local time = {}

--- Milliseconds of the monotonic clock (never goes back; its zero is arbitrary).
-- @treturn integer milliseconds
function time.now_ms()
  return ctime.now_ms()
end

--- Sleeps `ms` milliseconds. A signal ends the sleep early (and Ctrl-C
-- then stops the script).
-- @tparam integer ms milliseconds, >= 0
-- @treturn boolean|nil true, or nil, "interrupted", EINTR
function time.sleep_ms(ms)
  return ctime.sleep_ms(ms)
end

return time

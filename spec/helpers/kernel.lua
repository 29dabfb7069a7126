-- For specs tagged #kernel: they need a kernel with device-mapper and root.
-- Where there is none (the host tier on a dm-less machine), each such test
-- reports itself pending with the reason, so it is counted as skipped and
-- never as passed.
local M = {}

local function reason_unavailable()
  local ok, core = pcall(require, "sts.core")
  if not ok then return "sts.core not loadable: " .. tostring(core) end
  local ok_dm, why = core.dm.available()
  if not ok_dm then return why end
  return nil
end

--- Call first thing in a kernel test, passing the test's own `pending`
-- (busted gives it to the test's environment only, not to modules):
--   it("... #kernel", function() kernel.need_dm(pending) ... end)
-- Marks the test pending when there is no usable device-mapper.
function M.need_dm(pending_fn)
  assert(type(pending_fn) == "function", "need_dm: pass the test's `pending`")
  local why = reason_unavailable()
  if why then pending_fn(why) end
end

return M

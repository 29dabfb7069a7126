-- For specs tagged #kernel: they need a kernel with device-mapper and root.
-- Where there is none (the host tier on a dm-less machine), each such test
-- reports itself pending with the reason, so it is counted as skipped and
-- never as passed.
local M = {}

local function reason_unavailable()
  local ok, core = pcall(require, "sts.core")
  if not ok then return "sts.core not loadable: " .. tostring(core) end
  local f = io.open("/dev/mapper/control", "r")
  if not f then return "no device-mapper on this kernel (/dev/mapper/control missing)" end
  f:close()
  return nil
end

--- Call first thing in a kernel test: marks it pending when there is no dm.
function M.need_dm()
  local why = reason_unavailable()
  if why then pending(why) end
end

return M

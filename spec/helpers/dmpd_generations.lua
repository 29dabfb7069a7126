-- Which generation of the metadata tools this run uses: 0.9 (C++, what
-- Debian 12 installs) or 1.x (Rust, Debian 13's; the host tier runs the
-- dmpd specs a second time with STS_DMPD_PATH pointing at it). Specs
-- test the tools in effect and branch on this where the generations
-- differ in what they can do.
local dmpd = require("sts.dmpd")

local M = {}

--- "0.9" or "1.x", from the version of the tools in effect.
function M.current()
  local v, r = dmpd.version()
  assert(v, "cannot tell the tools' version: " .. tostring(r and r.stderr))
  return v.major >= 1 and "1.x" or "0.9"
end

return M

-- Which generation of the metadata tools this run uses: 0.9 (C++, what
-- Debian 12 installs) or 1.x (Rust, Debian 13's; the host tier runs the
-- dmpd specs a second time with STS_DMPD_PATH pointing at it). Specs
-- test the tools in effect and branch on this where the generations
-- differ in what they can do.
local dmpd = require("sts.dmpd")

local M = {}

--- "0.9" or "1.x", from `thin_check --version` of the tools in effect.
function M.current()
  local r = dmpd.tool("thin_check"):version()
  local major = tonumber(((r.stdout or "") .. " " .. (r.stderr or "")):match("(%d+)%.%d+"))
  assert(major, "cannot tell the tools' version: " .. tostring(r.stdout) .. tostring(r.stderr))
  return major >= 1 and "1.x" or "0.9"
end

return M

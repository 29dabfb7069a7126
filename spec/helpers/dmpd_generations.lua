-- The two generations of the metadata tools the host specs run against:
-- 0.9 (C++, what Debian 12 installs) and 1.x (Rust, Debian 13's package,
-- unpacked by `scripts/vm/debian-fetch trixie thin-provisioning-tools` into
-- .vm/pkg/trixie/, or any directory named by STS_DMPD_1X_DIR).
local proc = require("sts.core").proc
local dmpd = require("sts.dmpd")

local M = {}

local FETCH = "scripts/vm/debian-fetch trixie thin-provisioning-tools"

-- the newest unpacked 1.x sbin directory, or nil and why not
local function dir_1x()
  local env = os.getenv("STS_DMPD_1X_DIR")
  if env and env ~= "" then
    if proc.which(env .. "/thin_dump") then return env end
    return nil, "STS_DMPD_1X_DIR=" .. env .. " has no thin_dump"
  end
  local r = proc.run({"find", ".vm/pkg/trixie", "-mindepth", "1", "-maxdepth", "1",
                      "-name", "thin-provisioning-tools_*"})
  local best
  for line in ((r and r.stdout) or ""):gmatch("[^\n]+") do
    if not best or line > best then best = line end
  end
  if best and proc.which(best .. "/usr/sbin/thin_dump") then return best .. "/usr/sbin" end
  return nil, "the 1.x tools are not unpacked (" .. FETCH .. ")"
end

-- the installed 0.9 tools' directory (PATH and the sbin directories, never
-- STS_DMPD_PATH, which the host tier's second run points at 1.x), or nil
-- and why not
local function dir_09()
  local found = proc.which("thin_dump")
  for _, d in ipairs({"/usr/sbin", "/sbin", "/usr/local/sbin"}) do
    found = found or proc.which(d .. "/thin_dump")
  end
  if not found then return nil, "no thin_dump installed" end
  local dir = found:match("^(.*)/[^/]+$")
  local r = proc.run({dir .. "/thin_dump", "-V"})
  local v = r and dmpd.parse_version(r.stdout)
  if not v or v.major ~= 0 then
    return nil, "the installed tools are " .. (v and v.text or "of no known version") .. ", not 0.9"
  end
  return dir
end

--- The generations: {{name = "0.9", dir = ...}, {name = "1.x", dir = ...}},
-- each with `missing = why` instead of `dir` when it cannot run here
-- (report it pending).
function M.list()
  local d09, why09 = dir_09()
  local d1, why1 = dir_1x()
  return {{name = "0.9", dir = d09, missing = not d09 and why09 or nil},
          {name = "1.x", dir = d1, missing = not d1 and why1 or nil}}
end

--- Points the dmpd tool lookup at generation `g` (and back with nil).
function M.use(g)
  if g and g.dir then dmpd.set_tool_path(g.dir) else dmpd.set_tool_path() end
end

return M

--- sts.gate: skip, with the reason, what this kernel or these tools cannot run.
--
--   local gate = require "sts.gate"     -- also testkit.gate
--   it("formats a vdo volume #kernel", function()
--     gate.need_target("vdo")           -- skipped on a kernel without dm-vdo
--     gate.need_tool("vdoformat")
--     ...
--   end)
--
-- Contract, for specs, scripts and the runners that read their results:
--
-- * `need_*` returns nothing when the need is met. When it is not, it
--   skips, and does not return:
--   - inside a busted test (busted is running), it calls the test's own
--     `pending` with the reason: the test ends there and counts as skipped
--     (pending) in spec/support/counting.lua's counts, never as passed.
--     Call it inside `it` (elsewhere under busted it raises), first thing,
--     before making anything a skip would have to undo;
--   - anywhere else (a self-checking script), it prints `SKIP: <reason>` to
--     stderr and exits with status 77, the status automake's harness and
--     blktests use for "skipped". A runner treats 77 as skipped with the
--     script's last `SKIP:` line as the reason.
-- * Reasons are one line that names what is missing and what was found
--   ("the kernel's dm target vdo is missing (kernel 6.1.0-57-cloud-amd64)").
-- * `gate.target`, `gate.kernel` and `gate.tool` answer the same questions
--   without skipping: `true`, or `false` and the reason.
-- * Versions are "X.Y[.Z]" strings (a kernel release's leading numbers,
--   "6.12" of "6.12.117+deb13-cloud-amd64"), compared number by number,
--   missing parts counting as 0.

local gate = {}

local function proc()
  return require("sts.core").proc
end

--- Splits a version or kernel release into its leading numbers.
-- @tparam string text e.g. "6.12.117+deb13-cloud-amd64" or "1.1.0"
-- @treturn table|nil the numbers ({6, 12, 117}), nil when there are none
function gate.version_numbers(text)
  if type(text) ~= "string" then return nil end
  local lead = text:match("^%s*v?(%d+[%.%d]*)")
  if not lead then return nil end
  local nums = {}
  for n in lead:gmatch("%d+") do nums[#nums + 1] = math.tointeger(tonumber(n)) end
  return nums
end

--- Compares two versions number by number (missing parts are 0).
-- @tparam string a
-- @tparam string b
-- @treturn integer -1, 0 or 1 as a is older, the same or newer than b
function gate.compare_versions(a, b)
  local x = assert(gate.version_numbers(a), "not a version: " .. tostring(a))
  local y = assert(gate.version_numbers(b), "not a version: " .. tostring(b))
  for i = 1, math.max(#x, #y) do
    local p, q = x[i] or 0, y[i] or 0
    if p ~= q then return p < q and -1 or 1 end
  end
  return 0
end

local function check_version_arg(fn, v)
  if v ~= nil and not gate.version_numbers(v) then
    error(("%s: not a version like \"6.12\" or \"1.0.0\": %s"):format(fn, tostring(v)), 3)
  end
end

--- The running kernel's release (/proc/sys/kernel/osrelease).
-- @treturn string|nil the release, nil when it cannot be read
function gate.kernel_release()
  local f = io.open("/proc/sys/kernel/osrelease", "r")
  if not f then return nil end
  local rel = f:read("l")
  f:close()
  return rel
end

local function loaded_target(name)
  local dm = require("sts.dm")
  for _, t in ipairs(dm.targets()) do
    if t.name == name then return t end
  end
  return nil
end

--- Whether the kernel's device-mapper has target `name` (at least `min_version`).
-- A target that is not registered yet is loaded first when we are root
-- (`modprobe dm-NAME`, as the kernel itself would on a table load).
-- @tparam string name the target's type, e.g. "vdo", "thin-pool"
-- @tparam[opt] string min_version the target's own version, e.g. "9.0"
-- @treturn boolean true when present
-- @treturn string the reason when not
function gate.target(name, min_version)
  assert(type(name) == "string" and name ~= "", "gate.target: give the target's name")
  check_version_arg("gate.target", min_version)
  local dm = require("sts.dm")
  local ok, why = dm.available()
  if not ok then return false, "no device-mapper: " .. tostring(why) end
  local t = loaded_target(name)
  if not t and proc().which("modprobe") then
    proc().run({"modprobe", "-q", "dm-" .. name}, {timeout = 30})
    t = loaded_target(name)
  end
  local kernel = gate.kernel_release() or "unknown"
  if not t then
    return false, ("the kernel's dm target %s is missing: neither built in nor loadable (kernel %s)")
      :format(name, kernel)
  end
  if min_version and gate.compare_versions(t.version, min_version) < 0 then
    return false, ("the kernel's dm target %s is version %s, older than %s (kernel %s)")
      :format(name, t.version, min_version, kernel)
  end
  return true
end

--- Whether the running kernel's release is at least `min_release`.
-- @tparam string min_release e.g. "6.12"
-- @treturn boolean true when it is
-- @treturn string the reason when not
function gate.kernel(min_release)
  check_version_arg("gate.kernel", min_release)
  if min_release == nil then error("gate.kernel: give the oldest release, e.g. \"6.12\"", 2) end
  local rel = gate.kernel_release()
  if not rel or not gate.version_numbers(rel) then
    return false, "cannot read the kernel's release"
  end
  if gate.compare_versions(rel, min_release) < 0 then
    return false, ("needs kernel %s or newer; this one is %s"):format(min_release, rel)
  end
  return true
end

local function is_dmpd_name(name)
  return name == "pdata_tools" or name:match("^thin_") or name:match("^cache_") or name:match("^era_")
end

-- the version a tool prints: through sts.dmpd for the metadata tools
-- (STS_DMPD_PATH and the overrides apply), `--version` for anything else
local function tool_version(name, path)
  if is_dmpd_name(name) then
    local v = require("sts.dmpd").version(name)
    return v and v.text
  end
  local r = proc().run({path, "--version"}, {timeout = 30})
  local out = (r.stdout or "") .. "\n" .. (r.stderr or "")
  return out:match("(%d+%.%d+%.%d+)") or out:match("(%d+%.%d+)")
end

--- Whether program `name` is there (at least `min_version`).
-- The metadata tools (thin_*, cache_*, era_*) are looked up as sts.dmpd
-- runs them; anything else on PATH and the sbin directories.
-- @tparam string name e.g. "thin_migrate", "vdoformat"
-- @tparam[opt] string min_version e.g. "1.0"
-- @treturn boolean true when present
-- @treturn string the reason when not
function gate.tool(name, min_version)
  assert(type(name) == "string" and name:match("^[%w_.+-]+$"), "gate.tool: give a program's name")
  check_version_arg("gate.tool", min_version)
  local which = proc().which
  local path
  if is_dmpd_name(name) then
    -- a tool 1.x ships only inside pdata_tools (era_repair) counts too
    path = require("sts.dmpd").tool(name):path()
  else
    path = which(name)
    for _, dir in ipairs({"/usr/sbin", "/sbin", "/usr/local/sbin"}) do
      path = path or which(dir .. "/" .. name)
    end
  end
  if not path then return false, ("the program %s is not installed"):format(name) end
  if min_version then
    local v = tool_version(name, path)
    if not v then return false, ("cannot tell the version of %s"):format(path) end
    if gate.compare_versions(v, min_version) < 0 then
      return false, ("%s is version %s, older than %s"):format(name, v, min_version)
    end
  end
  return true
end

-- busted gives a test its `pending` through the spec file's environment,
-- not to modules: find it in the _ENV of a spec function on the stack
local function busted_pending()
  for level = 3, 100 do
    local info = debug.getinfo(level, "f")
    if not info then return nil end
    for i = 1, 255 do
      local name, env = debug.getupvalue(info.func, i)
      if not name then break end
      if name == "_ENV" then
        if type(env) == "table" and env ~= _G then
          local ok, p = pcall(function() return env.pending end)
          if ok and type(p) == "function" then return p end
        end
        break
      end
    end
  end
  return nil
end

--- Skips the running test or script with `reason` (see the contract above).
-- Inside busted: `pending(reason)`; elsewhere: `SKIP: reason` and exit 77.
-- @tparam string reason one line
function gate.skip(reason)
  reason = tostring(reason)
  if package.loaded["busted.core"] then
    local pending = busted_pending()
    if not pending then
      error("sts.gate: call need_* inside a test (it), not around it: " .. reason, 3)
    end
    pending(reason)
  end
  io.stderr:write("SKIP: ", reason, "\n")
  io.stderr:flush()
  os.exit(77)
end

local function need(ok, why)
  if not ok then gate.skip(why) end
end

--- Skips unless the kernel has dm target `name` (at least `min_version`).
-- @tparam string name
-- @tparam[opt] string min_version
function gate.need_target(name, min_version)
  need(gate.target(name, min_version))
end

--- Skips unless the kernel's release is at least `min_release`.
-- @tparam string min_release e.g. "6.12"
function gate.need_kernel(min_release)
  need(gate.kernel(min_release))
end

--- Skips unless program `name` is there (at least `min_version`).
-- @tparam string name
-- @tparam[opt] string min_version
function gate.need_tool(name, min_version)
  need(gate.tool(name, min_version))
end

return gate

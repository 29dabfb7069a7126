--- sts.runner.kernlog: what a guest's kernel log says about a test.
--
-- The harness, not the test, decides what a kernel line means: a test
-- whose slice of the log holds an Oops, a BUG, a WARNING, a lockdep splat,
-- a KASAN or UBSAN report, a hung task or an RCU stall fails, even when
-- its script exited 0, and the report's lines go into its result.

local M = {}

-- each pattern starts a report; the report runs to its end marker or to
-- the next line that is not part of a trace
local REPORT_STARTS = {
  "Oops",
  "BUG:",                                  -- BUG: unable to handle..., soft lockup, KASAN
  "kernel BUG at",
  "WARNING:",                              -- WARN_ON splats, lockdep's "WARNING: possible ..."
  "Kernel panic",
  "general protection fault",
  "Unable to handle kernel",
  "UBSAN:",
  "KASAN:",
  "possible recursive locking detected",
  "possible circular locking dependency",
  "inconsistent lock state",
  "INFO: task .* blocked for more than",   -- the hung-task detector
  "rcu: INFO: .*detected stall",
  "detected stalls on CPUs",
  "list_add corruption",
  "list_del corruption",
}
M.REPORT_STARTS = REPORT_STARTS

-- how many lines after a report's first are kept at most
local REPORT_LINES = 40

local function starts_report(line)
  for _, p in ipairs(REPORT_STARTS) do
    if line:find(p) then return true end
  end
  return false
end

local function line_start(text, at)
  while at > 1 and text:sub(at - 1, at - 1) ~= "\n" do at = at - 1 end
  return at
end

--- The part of the log that belongs to the test.
-- From the runner's last start marker (`sts-test: start PATH`; any path
-- when `path` is nil: a guest runs one test) to the end of the log (so
-- what the kernel printed while the test's devices were being checked
-- counts too); the whole log when there is no marker (the guest died
-- before the test began).
-- @tparam string log
-- @tparam[opt] string path the test's path as the runner gave it
-- @treturn string
function M.slice(log, path)
  local marker = "sts-test: start " .. (path and (path .. "\n") or "")
  local at, from = nil, 1
  while true do
    local found = log:find(marker, from, true)
    if not found then break end
    at, from = found, found + 1
  end
  if not at then return log end
  return log:sub(line_start(log, at))
end

--- The kernel's reports of its own problems in `text`.
-- @tparam string text a kernel log or a slice of one
-- @treturn {string,...} the reports' lines, each report's first line and
--   its trace (up to its end marker, at most 40 lines more)
function M.bad_lines(text)
  local out = {}
  local in_report, kept = false, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if starts_report(line) then
      in_report, kept = true, 0
      out[#out + 1] = line
    elseif in_report then
      kept = kept + 1
      out[#out + 1] = line
      if line:find("%-%-%-%[ end trace") or line:find("end Kernel panic")
         or kept >= REPORT_LINES then
        in_report = false
      end
    end
  end
  return out
end

--- The guest's task dumps the watchdog asked for (sysrq w: the blocked tasks).
-- @tparam string log
-- @treturn string the "Show Blocked State" section, or "" when there is none
function M.blocked_tasks(log)
  local at = log:find("sysrq: Show Blocked State", 1, true)
  if not at then return "" end
  local stop = log:find("sysrq: Show State", at, true)
  stop = stop and line_start(log, stop) or (#log + 1)
  return (log:sub(line_start(log, at), stop - 1):gsub("%s+$", ""))
end

return M

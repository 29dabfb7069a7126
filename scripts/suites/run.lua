-- Runs regression scenarios one after another in this machine (the
-- sandbox guest), each as its own stslua process bounded by a timeout,
-- and prints one line per scenario and the totals:
--
--   stslua scripts/suites/run.lua [--quick] [FILE-OR-DIR...]   (default: every family)
--
-- Exit status 77 from a scenario is a skip, 0 a pass, anything else a
-- failure; a failed or killed scenario's leftover devices are removed
-- before the next one starts. The last line is `N passed, N failed, N skipped`.
package.path = arg[0]:gsub("[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local core = require "sts.core"
local time = require "sts.time"
local testkit = require "sts.testkit"

local TIMEOUT = tonumber(os.getenv("STS_SUITE_TIMEOUT") or "") or 180
local top = arg[0]:gsub("/?[^/]*$", "")
if top == "" then top = "." end

local quick_only = false
local wanted = {}
for _, a in ipairs(arg) do
  if a == "--quick" then quick_only = true else wanted[#wanted + 1] = a end
end
if #wanted == 0 then wanted = {top} end

local function is_dir(path)
  return core.proc.run({"test", "-d", path}).rc == 0
end

local files = {}
for _, w in ipairs(wanted) do
  if is_dir(w) then
    local r = core.proc.run({"find", w, "-name", "*.lua", "-not", "-path", "*/lib/*",
      "-not", "-name", "run.lua"})
    local found = {}
    for f in r.stdout:gmatch("[^\n]+") do found[#found + 1] = f end
    table.sort(found)
    for _, f in ipairs(found) do files[#files + 1] = f end
  else
    files[#files + 1] = w
  end
end

local passed, failed, skipped = 0, 0, 0
local rows = {}
for _, f in ipairs(files) do
  local quick = suite.header(f).quick
  if not quick_only or quick then
    local t0 = time.now_ms()
    local r = core.proc.run({"stslua", f}, {timeout = TIMEOUT})
    local secs = (time.now_ms() - t0) / 1000
    local verdict
    if r.rc == 0 then verdict, passed = "PASS", passed + 1
    elseif r.rc == 77 then verdict, skipped = "SKIP", skipped + 1
    else verdict, failed = "FAIL", failed + 1 end
    local out = r.stdout .. r.stderr
    if verdict ~= "PASS" then
      io.write(out)
      if r.timed_out then print("(killed after " .. TIMEOUT .. " s)") end
      testkit.cleanup_leftovers("sts-")
    end
    local reason = verdict == "SKIP" and (" " .. (out:match("SKIP: ([^\n]*)") or "")) or ""
    print(("%-4s %6.1fs %s%s"):format(verdict, secs, f, reason))
    rows[#rows + 1] = {f, verdict, secs}
    io.stdout:flush()
  end
end
print(("%d passed, %d failed, %d skipped"):format(passed, failed, skipped))
os.exit(failed == 0 and 0 or 1)

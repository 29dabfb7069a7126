--- sts.runner.verdict: from what came back of one test to its result rows.
--
-- Verdicts: `pass`, `fail`, `skip` (exit 77, or a pending `it`), `timeout`
-- (the per-test bound or the hang watchdog), `error` (the runner's own
-- failure: the sandbox did not start, no result came back, a header that
-- does not parse) and `missing-dep` (the header's needs are not met).
--
-- On top of the exit status: a test that left a dm or loop device behind
-- fails, and so does one whose slice of the kernel log holds a kernel
-- report (see sts.runner.kernlog), with the lines in `kernel_lines`.

local kernlog = require "sts.runner.kernlog"
local record = require "sts.runner.record"

local M = {}

--- Verdicts that count as failures of the run.
M.BAD = {fail = true, timeout = true, error = true}
--- Verdicts that are neither pass nor failure.
M.NEUTRAL = {skip = true, ["missing-dep"] = true}

local function last_line(text)
  local last
  for line in tostring(text or ""):gmatch("[^\n]+") do
    if line:match("%S") and not line:match("^sts%-vm:") then last = line end
  end
  return last
end

local function join(list)
  return table.concat(list, "\n")
end

--- The result rows of one test attempt.
-- @tparam table info
--   `test` ({path=, kind=, attempt=}), `header` (parsed header or nil),
--   `header_error`, `vm_status` (the sandbox's exit status),
--   `result` (the sandbox's result file as a table: status, reason, ...;
--   nil when none came back), `runner` (the guest's runner.rec record, or
--   nil), `its` (the spec's per-it records), `output`, `dmesg`, `tools`
--   (the tools log text), `requires` (text), `watchdog` (seconds),
--   `timeout` (seconds), `host` (the test ran on this machine: its log
--   holds other tests too)
-- @treturn {table,...} rows as sts.runner.db's results: the file's row first,
--   then one per `it` of a spec
function M.rows(info)
  local t = info.test
  local runner = info.runner
  local row = {
    name = t.path, file = t.path, kind = t.kind, attempt = t.attempt or 1,
    output = info.output or "", requires = info.requires or "",
    tools = info.tools or "",
  }
  local result = info.result or {}
  local dmesg = info.dmesg or ""
  -- a guest runs one test: any start marker is its; on the host the log
  -- holds many, so the marker must name this one
  local slice = kernlog.slice(dmesg, info.host and t.path or nil)
  row.kernel_log = slice
  row.targets = runner and runner.targets or ""
  row.leaks = runner and runner.leaks or ""
  row.duration = tonumber(runner and runner.duration) or tonumber(result.elapsed) or 0
  row.exit_status = math.tointeger(tonumber(runner and runner.rc or ""))

  local reason = nil
  if info.header_error then
    row.verdict, reason = "error", info.header_error
  elseif result.reason == "watchdog" then
    row.verdict = "timeout"
    reason = string.format("the watchdog stopped it: no output and no I/O for %s s", tostring(info.watchdog or "?"))
    row.kernel_lines = kernlog.blocked_tasks(dmesg)
  elseif result.reason == "timeout" then
    row.verdict = "timeout"
    reason = string.format("did not finish within %s s", tostring(info.timeout or "?"))
  elseif runner and runner.error and runner.error ~= "" then
    row.verdict, reason = "error", runner.error
  elseif runner and runner.missing and runner.missing ~= "" then
    row.verdict, reason = "missing-dep", runner.missing:gsub("\n", "; ")
  elseif not runner then
    row.verdict = "error"
    if result.status then
      reason = string.format("the guest gave no result (sandbox status %s, %s)",
                             tostring(result.status), tostring(result.reason))
    else
      reason = string.format("the sandbox failed (status %s): %s", tostring(info.vm_status),
                             last_line(info.output) or "no output")
    end
  elseif row.exit_status == 0 then
    row.verdict = "pass"
  elseif row.exit_status == 77 then
    row.verdict = "skip"
    reason = last_line(info.output) or "exit status 77"
  elseif row.exit_status then
    row.verdict = "fail"
    reason = "exit status " .. row.exit_status
  else
    row.verdict = "fail"
    reason = "killed by signal " .. tostring(runner.signal)
  end

  -- what the exit status does not say
  local extra = {}
  if row.leaks ~= "" and row.verdict ~= "timeout" and row.verdict ~= "error" then
    extra[#extra + 1] = "left behind: " .. row.leaks:gsub("\n", ", ")
  end
  if row.verdict ~= "timeout" then
    local bad = kernlog.bad_lines(slice)
    if #bad > 0 then
      row.kernel_lines = join(bad)
      extra[#extra + 1] = "the kernel reported: " .. bad[1]:gsub("^%[[%s%d%.]+%]%s*", "")
    end
  end
  if #extra > 0 and row.verdict ~= "error" then
    if row.verdict ~= "fail" then reason = nil end
    row.verdict = "fail"
    if reason then table.insert(extra, 1, reason) end
    reason = table.concat(extra, "; ")
  end

  local rows = {row}
  if t.kind == "spec" then
    local failing = 0
    for _, it in ipairs(info.its or {}) do
      local v = ({success = "pass", failure = "fail", error = "fail", pending = "skip"})[it.status] or "error"
      if v == "fail" then failing = failing + 1 end
      rows[#rows + 1] = {
        name = t.path .. " :: " .. (it.name or "?"), file = t.path, kind = "it",
        attempt = row.attempt, verdict = v,
        reason = (it.message ~= "" and it.message) or nil,
        duration = tonumber(it.duration) or 0,
      }
    end
    if row.verdict == "pass" and #rows == 1 then
      row.verdict, reason = "skip", "the spec file has no tests"
    elseif row.verdict == "fail" and row.exit_status and failing > 0 and not row.kernel_lines
           and row.leaks == "" then
      reason = string.format("%d of %d tests failed", failing, #rows - 1)
    end
  end
  row.reason = reason
  return rows
end

--- Reads the `key=value` lines of the sandbox's result file.
-- @tparam string text
-- @treturn table
function M.parse_result(text)
  local out = {}
  for line in tostring(text or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then out[k] = v end
  end
  return out
end

--- The tools log as one "name args" line per call.
-- @tparam string text
-- @treturn string
function M.tools(text)
  return join(record.lines(text))
end

return M

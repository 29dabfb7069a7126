--- sts.runner.junit: a run as JUnit XML, for CI systems.
--
-- One `testsuite` per run; one `testcase` per script file, per `it` of a
-- spec file (named with the `it`'s full name, its classname the file),
-- and per spec file whose own verdict is not pass (a timeout, a kernel
-- report, a leak: what no `it` shows). Verdicts map to children: fail and
-- timeout to `failure` (type says which), error to `error`, skip and
-- missing-dep to `skipped` (message: the reason). Output goes into
-- `system-out`, the kernel's lines into the failure's text.

local text = require "sts.runner.text"
local verdict = require "sts.runner.verdict"

local M = {}
local esc = text.escape

--- The rows that are test cases for CI (see the module's description).
-- @tparam {table,...} rows a run's results rows
-- @treturn {table,...}
function M.cases(rows)
  local out = {}
  for _, r in ipairs(rows) do
    if r.kind ~= "spec" or r.verdict ~= "pass" then out[#out + 1] = r end
  end
  return out
end

local function case_name(r)
  local name = r.kind == "it" and r.name:sub(#r.file + 5) or r.name
  if (tonumber(r.attempt) or 1) > 1 then name = name .. " #" .. math.tointeger(tonumber(r.attempt)) end
  return name
end

--- The JUnit test case name of a result row (a retry gets " #N").
-- @function case_name
-- @tparam table r a result row (`kind`, `name`, `file`, `attempt`)
-- @treturn string
M.case_name = case_name

--- The JUnit XML document of a run.
-- @tparam table run the runs row
-- @tparam {table,...} rows its results rows
-- @treturn string
function M.render(run, rows)
  local cases = M.cases(rows)
  local n, failures, errors, skipped, time = #cases, 0, 0, 0, 0
  for _, r in ipairs(cases) do
    if r.verdict == "fail" or r.verdict == "timeout" then failures = failures + 1 end
    if r.verdict == "error" then errors = errors + 1 end
    if verdict.NEUTRAL[r.verdict] then skipped = skipped + 1 end
    if r.kind ~= "it" then time = time + (tonumber(r.duration) or 0) end
  end
  local out = {'<?xml version="1.0" encoding="UTF-8"?>'}
  local counts = string.format('tests="%d" failures="%d" errors="%d" skipped="%d" time="%.3f"',
    n, failures, errors, skipped, time)
  out[#out + 1] = '<testsuites name="sts-test" ' .. counts .. '>'
  out[#out + 1] = string.format('  <testsuite name="%s" %s timestamp="%s" hostname="%s">',
    esc("sts-test run " .. tostring(run.id or "") .. " on " .. tostring(run.kernel or "?")),
    counts, esc(run.started or ""), esc(run.host or ""))
  out[#out + 1] = "    <properties>"
  for _, k in ipairs({"uuid", "label", "kernel", "kernel_spec", "dm_driver", "dmpd", "dmpd_spec", "stslua", "mode", "args"}) do
    if run[k] and run[k] ~= "" then
      out[#out + 1] = string.format('      <property name="%s" value="%s"/>', k, esc(run[k]))
    end
  end
  out[#out + 1] = "    </properties>"
  for _, r in ipairs(cases) do
    out[#out + 1] = string.format('    <testcase name="%s" classname="%s" time="%.3f">',
      esc(case_name(r)), esc(r.file), tonumber(r.duration) or 0)
    local reason = r.reason or r.verdict
    if r.verdict == "fail" or r.verdict == "timeout" then
      out[#out + 1] = string.format('      <failure type="%s" message="%s">%s</failure>',
        r.verdict, esc(reason), esc(r.kernel_lines or ""))
    elseif r.verdict == "error" then
      out[#out + 1] = string.format('      <error type="error" message="%s"/>', esc(reason))
    elseif verdict.NEUTRAL[r.verdict] then
      out[#out + 1] = string.format('      <skipped message="%s"/>', esc(r.verdict .. ": " .. reason))
    end
    if r.output and r.output ~= "" then
      out[#out + 1] = "      <system-out>" .. esc(r.output) .. "</system-out>"
    end
    out[#out + 1] = "    </testcase>"
  end
  out[#out + 1] = "  </testsuite>"
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

return M

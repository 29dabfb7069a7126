--- sts.runner.tap: a run as TAP (version 13), for CI systems.
--
-- The same cases as the JUnit output, one line each: `ok N - NAME`,
-- `not ok N - NAME` (with the verdict and reason as a YAML block), or
-- `ok N - NAME # SKIP reason` for skip and missing-dep.

local junit = require "sts.runner.junit"
local verdict = require "sts.runner.verdict"

local M = {}

local function one_line(s)
  return (tostring(s or ""):gsub("[\r\n]+", "; "))
end

--- The TAP document of a run's results.
-- @tparam {table,...} rows
-- @treturn string
function M.render(rows)
  local cases = junit.cases(rows)
  local out = {"TAP version 13", "1.." .. #cases}
  for i, r in ipairs(cases) do
    local name = r.kind == "it" and (r.file .. " :: " .. junit.case_name(r)) or junit.case_name(r)
    name = one_line(name):gsub("#", "\\#")
    if r.verdict == "pass" then
      out[#out + 1] = string.format("ok %d - %s", i, name)
    elseif verdict.NEUTRAL[r.verdict] then
      out[#out + 1] = string.format("ok %d - %s # SKIP %s: %s", i, name, r.verdict, one_line(r.reason))
    else
      out[#out + 1] = string.format("not ok %d - %s", i, name)
      out[#out + 1] = "  ---"
      out[#out + 1] = "  verdict: " .. r.verdict
      local msg = one_line(r.reason or r.verdict):gsub("[%c]", " "):gsub('[\\"]', "\\%0")
      out[#out + 1] = '  message: "' .. msg .. '"'
      out[#out + 1] = "  ..."
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return M

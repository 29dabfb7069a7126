--- sts.runner.report: one static HTML page for a run (no scripts, no external assets).
--
-- The page holds the run's facts (kernel, dm driver, dmpd, stslua, host,
-- arguments, times), its counts, the comparison against another run when
-- one is given (table id "comparison": regressions, fixes, other changes,
-- durations), the results (table id "results"), and per test its reason,
-- the kernel lines that failed it, its output and its kernel log slice,
-- each in a collapsed <details> block (id "t-N").

local compare = require "sts.runner.compare"
local junit = require "sts.runner.junit"
local text = require "sts.runner.text"

local M = {}
local esc = text.escape

local STYLE = [[
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; }
.pass { background: #dfd; } .fail, .timeout, .error { background: #fdd; }
.skip, .missing-dep { background: #ffd; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; max-height: 40em; }
details { margin: 0.3em 0 0.8em; }
]]

local function cell(s, class)
  return string.format("<td%s>%s</td>", class and (' class="' .. class .. '"') or "", esc(s))
end

local function pre(label, body)
  if not body or body == "" then return "" end
  return string.format("<details><summary>%s</summary><pre>%s</pre></details>", esc(label), esc(body))
end

local function run_title(run)
  return string.format("run %s: %s", tostring(run.id), tostring(run.kernel or "?"))
end

--- The HTML page of a run.
-- @tparam table run the runs row
-- @tparam {table,...} rows its results
-- @tparam[opt] table against `{run = runs row, rows = results}` to compare with
-- @tparam[opt] table opts compare's options
-- @treturn string
function M.render(run, rows, against, opts)
  local h = {"<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>sts-test " .. esc(run_title(run)) .. "</title>",
             "<style>" .. STYLE .. "</style></head><body>"}
  local function add(s) h[#h + 1] = s end
  add("<h1>sts-test " .. esc(run_title(run)) .. "</h1>")
  add('<table id="run">')
  for _, k in ipairs({"id", "uuid", "label", "started", "ended", "host", "mode", "kernel", "kernel_spec",
                      "dm_driver", "dmpd", "dmpd_spec", "stslua", "args"}) do
    if run[k] and run[k] ~= "" then add("<tr><th>" .. k .. "</th>" .. cell(run[k]) .. "</tr>") end
  end
  add("</table>")

  local counts = {}
  for _, r in ipairs(rows) do
    if r.kind ~= "spec" then counts[r.verdict] = (counts[r.verdict] or 0) + 1 end
  end
  add('<table id="counts"><tr>')
  for _, v in ipairs({"pass", "fail", "timeout", "error", "skip", "missing-dep"}) do
    add(string.format('<th class="%s">%s</th><td class="num">%d</td>', v, v, counts[v] or 0))
  end
  add("</tr></table>")

  if against then
    local c = compare.compare(against.rows, rows, opts)
    add("<h2>Compared with " .. esc(run_title(against.run)) .. "</h2>")
    add('<table id="comparison"><tr><th>change</th><th>test</th><th>'
        .. esc("run " .. tostring(against.run.id)) .. "</th><th>" .. esc("run " .. tostring(run.id))
        .. "</th><th>detail</th></tr>")
    local function line(kind, item)
      local a, b = item.a, item.b
      local detail = (b and b.verdict ~= "pass" and b.reason) or (a and a.reason) or ""
      if kind == "duration" then
        detail = string.format("%.1f s -> %.1f s", a.duration, b.duration)
      end
      add("<tr>" .. cell(kind) .. cell(item.name) .. cell(a and a.verdict or "(absent)", a and a.verdict)
          .. cell(b and b.verdict or "(absent)", b and b.verdict) .. cell(detail) .. "</tr>")
    end
    for _, item in ipairs(c.regressions) do line("regression", item) end
    for _, item in ipairs(c.fixes) do line("fix", item) end
    for _, item in ipairs(c.changes) do line("change", item) end
    for _, item in ipairs(c.durations) do line("duration", item) end
    add("</table>")
    add("<p>unchanged: " .. c.unchanged .. "</p>")
  end

  add('<h2>Results</h2><table id="results"><tr><th>test</th><th>verdict</th><th>time (s)</th><th>reason</th></tr>')
  for i, r in ipairs(rows) do
    local name = r.kind == "it" and ("  " .. junit.case_name(r)) or junit.case_name(r)
    add(string.format('<tr><td><a href="#t-%d">%s</a></td>%s<td class="num">%.1f</td>%s</tr>', i, esc(name),
      cell(r.verdict, r.verdict), tonumber(r.duration) or 0, cell(r.reason or "")))
  end
  add("</table><h2>Details</h2>")
  for i, r in ipairs(rows) do
    if r.kind ~= "it" or r.verdict ~= "pass" then
      add(string.format('<div id="t-%d"><h3 class="%s">%s: %s</h3>', i, esc(r.verdict), esc(junit.case_name(r)), esc(r.verdict)))
      if r.reason and r.reason ~= "" then add("<p>" .. esc(r.reason) .. "</p>") end
      if r.kernel_lines and r.kernel_lines ~= "" then
        add("<p>kernel lines:</p><pre>" .. esc(r.kernel_lines) .. "</pre>")
      end
      if r.requires and r.requires ~= "" then add("<p>requires: " .. esc(r.requires) .. "</p>") end
      if r.tools and r.tools ~= "" then add(pre("tools run", r.tools)) end
      if r.targets and r.targets ~= "" then add(pre("dm targets loaded", r.targets)) end
      if r.leaks and r.leaks ~= "" then add("<p>left behind:</p><pre>" .. esc(r.leaks) .. "</pre>") end
      add(pre("output", r.output))
      add(pre("kernel log", r.kernel_log))
      add("</div>")
    end
  end
  add("</body></html>")
  return table.concat(h, "\n") .. "\n"
end

return M

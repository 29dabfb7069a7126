-- Host tier: sts-test's HTML report, rendered by headless Chromium (Debian's
-- chromium) and checked for the comparison table; skipped, with the
-- reason, where chromium is not installed.
local report = require "sts.runner.report"
local run = require "helpers.run"

local CHROMIUM_FLAGS = {"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync"}

local function row(name, v, duration, extra)
  local r = {name = name, file = name, kind = "script", attempt = 1, verdict = v, duration = duration,
             output = "output of " .. name}
  for k, val in pairs(extra or {}) do r[k] = val end
  return r
end

local run_a = {id = 1, kernel = "6.1.0-57-cloud-amd64", started = "2026-12-01T09:00:00Z", host = "h"}
local run_b = {id = 2, kernel = "6.12.9+deb13-cloud-amd64", started = "2026-12-01T10:00:00Z", host = "h",
               dm_driver = "4.48.0", args = "run scripts/examples"}
local rows_a = {row("scripts/examples/thin-lifecycle.lua", "pass", 3), row("scripts/examples/era.lua", "fail", 2),
                row("scripts/examples/cache.lua", "pass", 5)}
local rows_b = {row("scripts/examples/thin-lifecycle.lua", "fail", 3,
                    {reason = "the kernel reported: WARNING: CPU: 0 <dm-thin>", kernel_lines = "WARNING: CPU: 0 <dm-thin>",
                     kernel_log = "[ 1.0] sts-test: start\n[ 2.0] WARNING: CPU: 0 <dm-thin>\n"}),
                row("scripts/examples/era.lua", "pass", 2), row("scripts/examples/cache.lua", "pass", 12)}

describe("sts.runner.report", function()
  it("is one page with no scripts and no external assets", function()
    local page = report.render(run_b, rows_b, {run = run_a, rows = rows_a})
    assert.matches("^<!DOCTYPE html>", page)
    assert.is_nil(page:find("<script", 1, true))
    assert.is_nil(page:find("<link", 1, true))
    assert.is_nil(page:find("src=", 1, true))
    assert.is_nil(page:find("https?://"))
    -- text from the tests is escaped
    assert.truthy(page:find("&lt;dm-thin&gt;", 1, true))
    assert.is_nil(page:find("<dm-thin>", 1, true))
  end)

  it("renders in headless Chromium with the comparison table", function()
    local chromium = run.which("chromium")
    if not chromium then
      pending("chromium is not installed (Debian package chromium; scripts/install-deps)")
      return
    end
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    run.write_file(dir .. "/index.html", report.render(run_b, rows_b, {run = run_a, rows = rows_a}))
    local argv = {chromium}
    for _, f in ipairs(CHROMIUM_FLAGS) do argv[#argv + 1] = f end
    argv[#argv + 1] = "--user-data-dir=" .. dir .. "/profile"
    argv[#argv + 1] = "--dump-dom"
    argv[#argv + 1] = "file://" .. dir .. "/index.html"
    local r = run.run(argv, {timeout = 120, env = {HOME = dir}})
    assert.are.equal(0, r.rc, r.stderr)
    local dom = r.stdout
    -- the browser's own serialisation: it parsed the tables (and added tbody)
    local comparison = dom:match('<table id="comparison">(.-)</table>')
    assert.is_truthy(comparison, "no comparison table in:\n" .. dom:sub(1, 2000))
    assert.truthy(comparison:find("<tbody>", 1, true))
    local trs = {}
    for tr in comparison:gmatch("<tr>(.-)</tr>") do trs[#trs + 1] = tr end
    assert.are.equal(4, #trs)  -- heading, regression, fix, duration
    assert.matches("<td>regression</td><td>scripts/examples/thin%-lifecycle%.lua</td><td class=\"pass\">pass</td><td class=\"fail\">fail</td>", trs[2])
    assert.matches("<td>fix</td><td>scripts/examples/era%.lua</td>", trs[3])
    assert.matches("<td>duration</td><td>scripts/examples/cache%.lua</td>.*5%.0 s %-&gt; 12%.0 s", trs[4])
    assert.truthy(dom:find('<table id="results">', 1, true))
    assert.truthy(dom:find("WARNING: CPU: 0 &lt;dm-thin&gt;", 1, true))
  end)
end)

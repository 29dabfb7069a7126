-- Sandbox tier: sts-test runs the planted tests of spec/fixtures/runner/planted
-- through guests, two at a time, and each gets the verdict it was planted
-- for. It starts guests from this machine, so it is tagged #sandbox: the
-- host tier leaves it out and scripts/run-checks runs it as a step of its
-- own; where no guest can start it reports itself skipped.
local db = require "sts.runner.db"
local run = require "helpers.run"

local PLANTED = "spec/fixtures/runner/planted"

local function sandbox_reason()
  if os.getenv("STS_NO_VM") == "1" then return "STS_NO_VM=1" end
  local r = run.run({"scripts/sts-vm", "-q", "prepare"}, {timeout = 600})
  if r.rc ~= 0 then return "the sandbox cannot start here: " .. r.stderr:gsub("\n+$", "") end
  return nil
end

describe("sts-test on planted tests #sandbox", function()
  it("gives each its verdict, with -j 2", function()
    local why = sandbox_reason()
    if why then
      pending(why)
      return
    end
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    local stslua = run.stslua_path()
    local build = stslua:match("^(.*)/stslua$")
    local r = run.run({"scripts/sts-test", "run", "-j", "2", "--watchdog", "20", "--timeout", "400",
                       "--build", build, "--db", dir .. "/r.db", "--junit", dir .. "/r.xml", PLANTED},
                      {timeout = 900, env = {STSLUA = stslua}})
    local shown = "sts-test exited " .. tostring(r.rc) .. "\n" .. r.stdout .. r.stderr
    assert.are.equal(1, r.rc, shown)   -- planted failures fail the run

    local d = db.open(dir .. "/r.db")
    finally(function() d:close() end)
    local runrow = d:run("last")
    assert.matches("^%d+%.%d+", runrow.kernel)
    assert.matches("^4%.%d+", runrow.dm_driver)
    local got = {}
    for _, row in ipairs(d:results(runrow.id)) do got[row.name:sub(#PLANTED + 2)] = row end
    local function verdict_of(name, expected, reason)
      local row = got[name]
      assert.is_truthy(row, name .. " is missing from the run\n" .. shown)
      assert.are.equal(expected, row.verdict, name .. ": " .. tostring(row.reason) .. "\n" .. tostring(row.output))
      if reason then assert.matches(reason, row.reason or "", 1, false, name) end
      return row
    end
    local pass = verdict_of("pass.lua", "pass")
    assert.are.equal("target linear; tool thin_check", pass.requires)
    assert.matches("thin%-pool 1%.%d+", pass.targets)
    verdict_of("fail.lua", "fail", "^exit status 1$")
    verdict_of("skip.lua", "skip", "^skipped: this planted test always skips$")
    verdict_of("missing.lua", "missing-dep",
               "^target no%-such%-target is not available; tool no%-such%-tool not found$")
    local leak = verdict_of("leak.lua", "fail", "^left behind: dm sts%-runner%-leak$")
    assert.are.equal(0, leak.exit_status)
    local hang = verdict_of("hang.lua", "timeout", "^the watchdog stopped it: no output and no I/O for 20 s$")
    -- the blocked task, in D state, reading the suspended device
    assert.matches("sysrq: Show Blocked State", hang.kernel_lines)
    assert.matches("task:stslua%s+state:D", hang.kernel_lines)
    assert.matches("reading a suspended device", hang.output)
    local hung = verdict_of("hung-task.lua", "fail", "^the kernel reported: INFO: task dd:%d+ blocked for more than 1 seconds%.$")
    assert.are.equal(0, hung.exit_status)
    assert.matches("Call Trace:", hung.kernel_lines)
    local warn = verdict_of("kmsg-warning.lua", "fail", "^the kernel reported: WARNING: CPU: 0 PID: 1 at drivers/md/dm%-planted%.c:1")
    assert.are.equal(0, warn.exit_status)
    assert.matches("%-%-%-%[ end trace", warn.kernel_lines)
    verdict_of("planted_its_spec.lua", "fail", "^1 of 3 tests failed$")
    verdict_of("planted_its_spec.lua :: planted passes", "pass")
    verdict_of("planted_its_spec.lua :: planted fails", "fail", "Expected objects to be equal")
    verdict_of("planted_its_spec.lua :: planted is pending", "skip", "planted pending")
    local n = 0
    for _ in pairs(got) do n = n + 1 end
    assert.are.equal(12, n)   -- 8 scripts, the spec file and its 3 tests

    -- failures: fail, leak, hang, hung-task, kmsg-warning, the failing it and its file
    local xml = assert(run.read_file(dir .. "/r.xml"))
    assert.matches('<testsuites name="sts%-test" tests="12" failures="7" errors="0" skipped="3"', xml)
  end)
end)

-- Host tier: the sts-test command line on databases (runs, show, compare,
-- merge, report), its usage errors, and --host refusing on a machine
-- without device-mapper (this one).
local db = require "sts.runner.db"
local run = require "helpers.run"

local FIXTURE = "spec/fixtures/runner/results-v1.db"

local function sts_test(args, env)
  local argv = {"scripts/sts-test"}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local e = {STSLUA = run.stslua_path()}
  for k, v in pairs(env or {}) do e[k] = v end
  return run.run(argv, {timeout = 60, env = e})
end

describe("sts-test", function()
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rmtree(dir) end)

  local function fixture_db()
    local path = dir .. "/r.db"
    run.write_file(path, assert(run.read_file(FIXTURE)))
    return path
  end

  it("lists runs, shows one, and compares the last two (exit 1 on a regression)", function()
    local path = fixture_db()
    local r = sts_test({"runs", "--db", path})
    assert.are.equal(0, r.rc, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(2, #lines)
    assert.matches("^   1  2026%-11%-30T10:01:00Z  6%.1%.0%-57%-cloud%-amd64 +2 tests: 2 passed, 0 failed, 0 skipped  vm$", lines[1])
    assert.matches("^   2 .* 6%.12%.9%-cloud%-amd64 +2 tests: 1 passed, 1 failed, 0 skipped", lines[2])

    r = sts_test({"show", "2", "--db", path})
    assert.are.equal(0, r.rc, r.stderr)
    assert.matches("kernel 6%.12%.9%-cloud%-amd64", r.stdout)
    assert.matches("\n  fail +3%.0 s  scripts/examples/thin%-lifecycle%.lua  %(exit status 1%)\n", r.stdout)
    r = sts_test({"show", "last", "scripts/examples/thin-lifecycle.lua", "--db", path})
    assert.matches("^== scripts/examples/thin%-lifecycle%.lua %(attempt 1%): fail: exit status 1, 3%.0 s\n%-%- output\nFAIL\n$", r.stdout)

    r = sts_test({"compare", "--db", path})
    assert.are.equal(1, r.rc, r.stderr)
    assert.are.equal(table.concat({
      "compare run 1 (kernel 6.1.0-57-cloud-amd64) -> run 2 (kernel 6.12.9-cloud-amd64)",
      "regressions (1):",
      "  pass -> fail             scripts/examples/thin-lifecycle.lua: exit status 1",
      "unchanged: 1", ""}, "\n"), r.stdout)
    r = sts_test({"compare", "2", "1", "--db", path})
    assert.are.equal(0, r.rc)
    assert.matches("fixes %(1%):\n  fail %-> pass", r.stdout)
  end)

  it("merges databases and writes a report", function()
    local path = fixture_db()
    local into = dir .. "/all.db"
    local r = sts_test({"merge", "--db", into, path, path})
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal(path .. ": 2 runs added, 0 joined to a run with the same label\n"
                     .. path .. ": 0 runs added, 0 joined to a run with the same label\n", r.stdout)
    local d = db.open(into)
    assert.are.equal(2, #d:runs())
    d:close()
    r = sts_test({"report", "2", "--against", "1", "-o", dir .. "/rep", "--db", into})
    assert.are.equal(0, r.rc, r.stderr)
    local page = assert(run.read_file(dir .. "/rep/index.html"))
    assert.truthy(page:find('<table id="comparison">', 1, true))
    assert.truthy(page:find("<td>regression</td><td>scripts/examples/thin-lifecycle.lua</td>", 1, true))
  end)

  it("says what is wrong with bad usage (exit 2)", function()
    local path = fixture_db()
    local cases = {
      {{"bogus"}, "unknown command bogus"},
      {{"run"}, "run: give test files or directories"},
      {{"run", "--shard", "3/2", "x"}, "--shard: expected I/N with 1 <= I <= N, got 3/2"},
      {{"run", "-j", "0", "x"}, "-j: expected a whole number > 0, got 0"},
      {{"run", "--rx", "[", "x"}, "--rx: not a Lua pattern"},
      {{"run", "--state", "passed", "x"}, "--state: only 'failed' is known"},
      {{"run", "--frob", "x"}, "unknown option --frob"},
      {{"run", "--db", dir .. "/none.db", "nonexistent-dir"}, "no such test file or directory: nonexistent-dir"},
      {{"show", "9", "--db", path}, "no run 9 in " .. path},
      {{"compare", "1", "--db", path}, "compare: expected no runs (the last two) or RUN_A RUN_B"},
      {{"report", "1", "--db", path}, "report: -o DIR names where the page goes"},
      {{"merge", "--db", path, dir .. "/missing.db"}, "merge: no such database: " .. dir .. "/missing.db"},
      {{"run", "--host", "--kernel", "trixie", "x"}, "--host runs on this machine's kernel"},
    }
    for _, c in ipairs(cases) do
      local r = sts_test(c[1])
      assert.are.equal(2, r.rc, table.concat(c[1], " ") .. ": " .. r.stdout .. r.stderr)
      assert.truthy(r.stderr:find(c[2], 1, true), table.concat(c[1], " ") .. " said: " .. r.stderr)
    end
    -- an empty database for compare, and --state failed with no run yet
    local r = sts_test({"compare", "--db", dir .. "/empty.db"})
    assert.matches("holds fewer than two runs", r.stderr)
    r = sts_test({"run", "--state", "failed", "--db", dir .. "/empty.db", "spec/fixtures/runner/planted"})
    assert.matches("%-%-state failed: the database .* holds no run yet", r.stderr)
  end)

  it("refuses --host without root and device-mapper, saying which", function()
    local ok = require("sts.runner.cli").host_usable()
    if ok then
      pending("this machine can run tests directly; the refusal cannot be seen here")
      return
    end
    local r = sts_test({"run", "--host", "--db", dir .. "/h.db", "spec/fixtures/runner/planted/pass.lua"})
    assert.are.equal(2, r.rc)
    assert.matches("^sts%-test: %-%-host needs ", r.stderr)
    assert.is_nil(io.open(dir .. "/h.db"))
  end)

  it("builds the sandbox command line for a test", function()
    local exec = require "sts.runner.exec"
    local argv = exec.vm_argv({path = "s/t.lua", kind = "script", timeout = 30},
      {sts_vm = "scripts/sts-vm", timeout = 600, watchdog = 20, kernel = "trixie", dmpd = "1",
       build = "build-asan", vm_args = {"--memory", "2048"}}, "/tmp/d")
    assert.are.same({"scripts/sts-vm", "-q", "--timeout", "30", "--result-dir", "/tmp/d",
      "--env", "STS_RUNNER_KIND=script", "--watchdog", "20", "--kernel", "trixie", "--dmpd", "1",
      "--build", "build-asan", "--memory", "2048", "run", "-e",
      'os.exit(require("sts.runner.guest").main(arg[0], os.getenv("STS_RUNNER_KIND")))', "s/t.lua"}, argv)
  end)
end)

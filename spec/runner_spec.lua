-- Host tier: the suite runner's pieces that need no kernel: the results
-- database (create, reopen, upgrade, merge), compare, JUnit (parsed back
-- with expat), TAP, sharding, discovery, verdicts from what a guest left,
-- the kernel log checks and the line format.
local compare = require "sts.runner.compare"
local db = require "sts.runner.db"
local junit = require "sts.runner.junit"
local kernlog = require "sts.runner.kernlog"
local plan = require "sts.runner.plan"
local progress = require "sts.runner.progress"
local record = require "sts.runner.record"
local tap = require "sts.runner.tap"
local verdict = require "sts.runner.verdict"
local run = require "helpers.run"

local FIXTURES = "spec/fixtures/runner"

local function copy(from, to)
  run.write_file(to, assert(run.read_file(from)))
end

local function a_run(uuid, kernel, label)
  return {uuid = uuid, label = label, started = "2026-12-01T09:00:00Z", ended = "2026-12-01T09:10:00Z",
          host = "h", args = "run x", mode = "vm", kernel = kernel, dm_driver = "4.47.0",
          dmpd = "0.9.0", stslua = "0.1.0"}
end

local function a_row(name, v, duration, extra)
  local r = {name = name, file = name:match("^(.-) :: ") or name, kind = name:find(" :: ") and "it" or "script",
             attempt = 1, verdict = v, duration = duration or 1, output = "out of " .. name}
  for k, val in pairs(extra or {}) do r[k] = val end
  return r
end

describe("sts.runner.db", function()
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rmtree(dir) end)

  it("creates a database, records a run and reads it back after reopening", function()
    local path = dir .. "/r.db"
    local d = db.open(path)
    assert.are.equal(db.SCHEMA_VERSION, d:version())
    local id = d:add_run(a_run("u-1", "6.1.0"), {
      a_row("a.lua", "pass", 1.5),
      a_row("b.lua", "fail", 2, {reason = "exit status 1", kernel_lines = "WARNING: x", exit_status = 1}),
      a_row("c_spec.lua :: it one", "skip", 0.1, {reason = "pending"}),
    })
    assert.are.equal(1, id)
    d:close()

    d = db.open(path)
    local runs = d:runs()
    assert.are.equal(1, #runs)
    assert.are.equal("6.1.0", runs[1].kernel)
    assert.are.equal(3, runs[1].tests)
    assert.are.equal(1, runs[1].passed)
    assert.are.equal(1, runs[1].failed)
    assert.are.equal(1, runs[1].skipped)
    local rows = d:results(id)
    assert.are.equal(3, #rows)
    assert.are.equal("fail", rows[2].verdict)
    assert.are.equal("WARNING: x", rows[2].kernel_lines)
    assert.are.equal(1, rows[2].exit_status)
    assert.are.equal(1.5, rows[1].duration)
    assert.are.equal("u-1", d:run("last").uuid)
    assert.are.equal("u-1", d:run(1).uuid)
    assert.is_nil(d:run("last-1"))
    assert.are.equal(1, #d:results(id, "b.lua"))
    d:close()
  end)

  it("keeps any text, quotes and NUL bytes included", function()
    local path = dir .. "/q.db"
    local d = db.open(path)
    local nasty = "it's \"quoted\"; DROP TABLE runs; --\0after NUL\n\255\254"
    local id = d:add_run(a_run("u-'q'", "k"), {a_row("q.lua", "pass", 1, {output = nasty})})
    local got = d:results(id)[1].output
    assert.are.equal(nasty:gsub("%z", "\\0"), got)
    assert.are.equal(1, #d:runs())
    d:close()
  end)

  it("upgrades a version 1 database in place and keeps its runs", function()
    local path = dir .. "/old.db"
    copy(FIXTURES .. "/results-v1.db", path)
    local old = db.open(path, {schema = 1})
    assert.are.equal(1, old:version())
    old:close()

    local d = db.open(path)
    assert.are.equal(1, d.upgraded_from)
    assert.are.equal(2, d:version())
    local runs = d:runs()
    assert.are.equal(2, #runs)
    assert.are.equal("6.12.9-cloud-amd64", runs[2].kernel)
    -- the upgrade filled run_parts from the runs: merging the copy adds nothing
    assert.are.equal(2, #d:rows("SELECT * FROM run_parts"))
    local rows = d:results(2)
    assert.are.equal("fail", rows[2].verdict)  -- ordered by name: pool-..., thin-...
    -- new runs go in after the old ones
    d:add_run(a_run("u-new", "6.1.0", "ci-7"), {a_row("x.lua", "pass")})
    assert.are.equal(3, #d:runs())
    d:close()
    -- and reopening does not upgrade again
    d = db.open(path)
    assert.are.equal(2, d.upgraded_from)
    d:close()
  end)

  it("refuses a database newer than itself and a file that is not one", function()
    local path = dir .. "/new.db"
    local d = db.open(path)
    d:exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    d:close()
    assert.has_error(function() db.open(path) end,
      path .. " has schema version 99, newer than this stslua's (2): use a newer stslua")
    local junk = dir .. "/junk.db"
    run.write_file(junk, string.rep("not a database\n", 200))
    local ok, err = pcall(db.open, junk)
    assert.is_false(ok)
    assert.matches("is not a results database", err)
  end)

  it("merges shard databases: same label joins one run, twice adds nothing", function()
    local main, s1, s2 = dir .. "/main.db", dir .. "/s1.db", dir .. "/s2.db"
    local d1 = db.open(s1)
    d1:add_run(a_run("shard-1", "6.1.0", "pipeline-42"), {a_row("a.lua", "pass"), a_row("b.lua", "fail")})
    d1:add_run(a_run("other", "6.1.0"), {a_row("z.lua", "pass")})
    local d2 = db.open(s2)
    d2:add_run(a_run("shard-2", "6.1.0", "pipeline-42"), {a_row("c.lua", "pass")})
    local m = db.open(main)
    assert.are.same({2, 0}, {m:merge(d1)})
    assert.are.same({0, 1}, {m:merge(d2)})
    assert.are.same({0, 0}, {m:merge(d1)})
    assert.are.same({0, 0}, {m:merge(d2)})
    local runs = m:runs()
    assert.are.equal(2, #runs)
    assert.are.equal("pipeline-42", runs[1].label)
    assert.are.equal(3, runs[1].tests)
    assert.are.equal(1, runs[2].tests)
    -- the merged database merges on: into a fourth, all of it once
    local other = db.open(dir .. "/fourth.db")
    assert.are.same({2, 0}, {other:merge(m)})
    assert.are.same({0, 0}, {other:merge(d2)})
    for _, x in ipairs({d1, d2, m, other}) do x:close() end
  end)

  it("writes SQL literals that keep the value", function()
    assert.are.equal("NULL", db.literal(nil))
    assert.are.equal("12", db.literal(12))
    assert.are.equal("1.5", db.literal(1.5))
    assert.are.equal("'a''b'", db.literal("a'b"))
    assert.are.equal("1", db.literal(true))
  end)
end)

describe("sts.runner.compare", function()
  local a = {
    a_row("same.lua", "pass", 10), a_row("regress.lua", "pass", 1), a_row("fixed.lua", "fail", 1),
    a_row("slower.lua", "pass", 10), a_row("noise.lua", "pass", 1.0), a_row("gone.lua", "pass", 1),
    a_row("skip-to-pass.lua", "skip", 1), a_row("flaky.lua", "pass", 2),
    a_row("s_spec.lua :: t", "pass", 0.1),
  }
  local flaky2 = a_row("flaky.lua", "timeout", 4, {attempt = 2})
  local b = {
    a_row("same.lua", "pass", 10.5), a_row("regress.lua", "fail", 1, {reason = "exit status 1"}),
    a_row("fixed.lua", "pass", 1), a_row("slower.lua", "pass", 20), a_row("noise.lua", "pass", 1.9),
    a_row("new-fail.lua", "error", 1), a_row("skip-to-pass.lua", "pass", 1),
    a_row("flaky.lua", "pass", 2), flaky2, a_row("s_spec.lua :: t", "fail", 0.1),
  }

  it("orders regressions, fixes, other changes, then durations over the threshold", function()
    local c = compare.compare(a, b)
    local function names(list)
      local out = {}
      for _, item in ipairs(list) do out[#out + 1] = item.name end
      return out
    end
    assert.are.same({"flaky.lua", "new-fail.lua", "regress.lua", "s_spec.lua :: t"}, names(c.regressions))
    assert.are.same({"fixed.lua"}, names(c.fixes))
    assert.are.same({"gone.lua", "skip-to-pass.lua"}, names(c.changes))
    assert.are.same({"slower.lua"}, names(c.durations))
    assert.are.equal(10, c.durations[1].delta)
    assert.are.equal(2, c.unchanged)  -- same.lua (+5 %), noise.lua (+0.9 s)
    assert.are.equal(3, c.regressions[1].b.duration)  -- the mean of 2 and 4
    -- a lower threshold and minimum bring noise.lua in
    local c2 = compare.compare(a, b, {threshold = 0.5, min_seconds = 0.5})
    assert.are.same({"slower.lua", "noise.lua"}, names(c2.durations))
  end)

  it("formats the changes, regressions first", function()
    local text = compare.format(compare.compare(a, b), {id = 1, kernel = "6.1"}, {id = 2, kernel = "6.12"})
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("compare run 1 (kernel 6.1) -> run 2 (kernel 6.12)", lines[1])
    assert.are.equal("regressions (4):", lines[2])
    assert.matches("^  pass %-> timeout +flaky%.lua", lines[3])
    assert.matches("^  pass %-> fail +regress%.lua: exit status 1$", lines[5])
    assert.truthy(text:find("fixes (1):\n  fail -> pass", 1, true))
    assert.truthy(text:find("other changes (2):\n  pass -> (absent)", 1, true))
    assert.truthy(text:find("durations changed by over 25 % and 1 s (1):\n      10.0 s ->     20.0 s (+100 %)  slower.lua", 1, true))
    assert.matches("unchanged: 2\n$", text)
  end)
end)

-- a tiny tree builder over lxp: {tag=, attr=, children=, text=}
local function parse_xml(text)
  local lxp = require "lxp"
  local root = {children = {}}
  local stack = {root}
  local p = lxp.new({
    StartElement = function(_, tag, attr)
      local node = {tag = tag, attr = attr, children = {}, text = ""}
      table.insert(stack[#stack].children, node)
      stack[#stack + 1] = node
    end,
    EndElement = function() table.remove(stack) end,
    CharacterData = function(_, s) stack[#stack].text = (stack[#stack].text or "") .. s end,
  })
  local ok, msg, line = p:parse(text)
  assert(ok, "XML does not parse: " .. tostring(msg) .. " at line " .. tostring(line))
  assert(p:parse())
  p:close()
  return root.children[1]
end

local function child(node, tag)
  for _, c in ipairs(node.children) do if c.tag == tag then return c end end
end

describe("sts.runner.junit and tap", function()
  local rows = {
    a_row("scripts/t/pass.lua", "pass", 1.25),
    a_row("scripts/t/fail.lua", "fail", 2, {reason = "exit status 1 <&>", kernel_lines = "WARNING: CPU: 0 \1 bad\255"}),
    a_row("scripts/t/hang.lua", "timeout", 30, {reason = "watchdog"}),
    a_row("scripts/t/err.lua", "error", 0, {reason = "no result"}),
    a_row("scripts/t/skip.lua", "skip", 0, {reason = "no xfs"}),
    a_row("scripts/t/need.lua", "missing-dep", 0, {reason = "target era is not available"}),
    a_row("scripts/t/x_spec.lua", "pass", 3, {kind = "spec", file = "scripts/t/x_spec.lua"}),
    a_row("scripts/t/x_spec.lua :: x works", "pass", 0.5),
    a_row("scripts/t/x_spec.lua :: x breaks", "fail", 0.5, {reason = "expected 1"}),
    a_row("scripts/t/y_spec.lua", "fail", 3, {kind = "spec", file = "scripts/t/y_spec.lua", reason = "the kernel reported: BUG"}),
    a_row("scripts/t/pass.lua", "pass", 1.5, {attempt = 2}),
  }
  local runrow = {id = 7, kernel = "6.1.0-57", started = "2026-12-01T09:00:00Z", host = "h", uuid = "u"}

  it("JUnit parses back with one testcase per script, per it, per failing spec file", function()
    local doc = parse_xml(junit.render(runrow, rows))
    assert.are.equal("testsuites", doc.tag)
    local suite = child(doc, "testsuite")
    assert.are.equal("10", suite.attr.tests)
    assert.are.equal("4", suite.attr.failures)   -- fail, timeout, it fail, spec fail
    assert.are.equal("1", suite.attr.errors)
    assert.are.equal("2", suite.attr.skipped)
    local cases = {}
    for _, c in ipairs(suite.children) do
      if c.tag == "testcase" then cases[#cases + 1] = c end
    end
    assert.are.equal(10, #cases)
    assert.are.equal("scripts/t/pass.lua", cases[1].attr.name)
    assert.are.equal("1.250", cases[1].attr.time)
    assert.is_nil(child(cases[1], "failure"))
    assert.are.equal("out of scripts/t/pass.lua", child(cases[1], "system-out").text)
    local f = child(cases[2], "failure")
    assert.are.equal("fail", f.attr.type)
    assert.are.equal("exit status 1 <&>", f.attr.message)
    assert.are.equal("WARNING: CPU: 0 \239\191\189 bad\239\191\189", f.text)
    assert.are.equal("timeout", child(cases[3], "failure").attr.type)
    assert.are.equal("no result", child(cases[4], "error").attr.message)
    assert.are.equal("skip: no xfs", child(cases[5], "skipped").attr.message)
    assert.are.equal("missing-dep: target era is not available", child(cases[6], "skipped").attr.message)
    assert.are.equal("x works", cases[7].attr.name)
    assert.are.equal("scripts/t/x_spec.lua", cases[7].attr.classname)
    assert.are.equal("expected 1", child(cases[8], "failure").attr.message)
    assert.are.equal("scripts/t/y_spec.lua", cases[9].attr.name)
    assert.are.equal("scripts/t/pass.lua #2", cases[10].attr.name)
    local props = {}
    for _, p in ipairs(child(suite, "properties").children) do props[p.attr.name] = p.attr.value end
    assert.are.equal("6.1.0-57", props.kernel)
  end)

  it("TAP has a plan and one line per case", function()
    local text = tap.render(rows)
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("TAP version 13", lines[1])
    assert.are.equal("1..10", lines[2])
    assert.are.equal("ok 1 - scripts/t/pass.lua", lines[3])
    assert.are.equal("not ok 2 - scripts/t/fail.lua", lines[4])
    assert.are.equal("  verdict: fail", lines[6])
    assert.are.equal('  message: "exit status 1 <&>"', lines[7])
    assert.truthy(text:find("\nok 5 - scripts/t/skip.lua # SKIP skip: no xfs\n", 1, true))
    assert.truthy(text:find("\nok 6 - scripts/t/need.lua # SKIP missing-dep: target era is not available\n", 1, true))
    assert.truthy(text:find("\nok 7 - scripts/t/x_spec.lua :: x works\n", 1, true))
    assert.truthy(text:find("\nok 10 - scripts/t/pass.lua \\#2\n", 1, true))
    local oks, not_oks = 0, 0
    for _, l in ipairs(lines) do
      if l:match("^ok %d") then oks = oks + 1 elseif l:match("^not ok %d") then not_oks = not_oks + 1 end
    end
    assert.are.same({5, 5}, {oks, not_oks})
  end)
end)

describe("sts.runner.plan", function()
  local names = {}
  for i = 1, 40 do names[i] = string.format("scripts/suites/t%02d.lua", i) end

  it("puts every test in exactly one shard for N = 1..5", function()
    local tests = {}
    for i, n in ipairs(names) do tests[i] = {path = n, kind = "script"} end
    for n = 1, 5 do
      local count = {}
      for i = 1, n do
        for _, t in ipairs(plan.select(tests, {shard = {i, n}})) do
          count[t.path] = (count[t.path] or 0) + 1
        end
      end
      for _, name in ipairs(names) do
        assert.are.equal(1, count[name], name .. " with N = " .. n)
      end
    end
    -- the split is the same every time and does not depend on the order given
    local reversed = {}
    for i = #tests, 1, -1 do reversed[#reversed + 1] = tests[i] end
    local one = plan.select(tests, {shard = {2, 3}})
    local two = plan.select(reversed, {shard = {2, 3}})
    assert.are.equal(#one, #two)
    assert.is_true(#one > 5 and #one < 25, "a fair split of 40 into 3: " .. #one)
  end)

  it("parses I/N and refuses what is not", function()
    assert.are.same({2, 5}, {plan.parse_shard("2/5")})
    for _, bad in ipairs({"0/3", "4/3", "1/0", "x", "1/2/3", "-1/2"}) do
      assert.is_nil((plan.parse_shard(bad)), bad)
    end
  end)

  it("selects by pattern, quick, a set and repeats", function()
    local tests = {{path = "a/x.lua", kind = "script"}, {path = "a/y_spec.lua", kind = "spec"},
                   {path = "b/z.lua", kind = "script"}}
    local headers = {["a/x.lua"] = {quick = true}, ["b/z.lua"] = {quick = false}}
    local function paths(list)
      local out = {}
      for _, t in ipairs(list) do out[#out + 1] = t.path .. "#" .. t.attempt end
      return out
    end
    assert.are.same({"a/x.lua#1", "a/y_spec.lua#1"}, paths(plan.select(tests, {rx = "^a/"})))
    assert.are.same({"a/y_spec.lua#1"}, paths(plan.select(tests, {rx = "^a/", exclude = "x%.lua$"})))
    assert.are.same({"a/x.lua#1"}, paths(plan.select(tests, {quick = true, headers = headers})))
    assert.are.same({"b/z.lua#1"}, paths(plan.select(tests, {only = {["b/z.lua"] = true}})))
    assert.are.same({"a/x.lua#1", "a/x.lua#2", "a/x.lua#3"},
                    paths(plan.select(tests, {rx = "x%.lua", repeat_n = 3})))
  end)

  it("finds test files in directories, in order, leaving helpers out", function()
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    for _, f in ipairs({"b.lua", "a_spec.lua", "sub/c.lua", "lib/helper.lua", "_private.lua", "notes.txt"}) do
      local p = dir .. "/" .. f
      local parent = p:match("^(.*)/")
      require("lfs").mkdir(parent)
      run.write_file(p, "-- x\n")
    end
    local tests = assert(plan.discover({dir, dir .. "/b.lua"}))
    local got = {}
    for _, t in ipairs(tests) do got[#got + 1] = t.path:sub(#dir + 2) .. ":" .. t.kind end
    assert.are.same({"a_spec.lua:spec", "b.lua:script", "sub/c.lua:script"}, got)
    local none, why = plan.discover({dir .. "/nope"})
    assert.is_nil(none)
    assert.matches("no such test file or directory", why)
  end)
end)

describe("sts.runner.verdict", function()
  local test = {path = "t/x.lua", kind = "script", attempt = 1}
  local log = table.concat({
    "[    1.0] boot WARNING: before the test does not count",
    "[    5.0] sts-test: start t/x.lua",
    "[    5.1] loop0: detected capacity change",
    "[    5.2] sts-test: end t/x.lua rc 0",
  }, "\n")

  local function rows(info)
    info.test = info.test or test
    info.dmesg = info.dmesg or log
    info.result = info.result or {status = "0", reason = "ok"}
    return verdict.rows(info)
  end

  it("passes on 0, skips on 77 with the reason, fails otherwise", function()
    assert.are.equal("pass", rows{runner = {rc = "0", duration = "1.5"}}[1].verdict)
    assert.are.equal(1.5, rows{runner = {rc = "0", duration = "1.5"}}[1].duration)
    local s = rows{runner = {rc = "77"}, output = "skipping: no xfs here\nsts-vm: guest finished\n"}[1]
    assert.are.same({"skip", "skipping: no xfs here"}, {s.verdict, s.reason})
    local f = rows{runner = {rc = "3"}}[1]
    assert.are.same({"fail", "exit status 3"}, {f.verdict, f.reason})
    local k = rows{runner = {rc = "", signal = "9"}}[1]
    assert.are.same({"fail", "killed by signal 9"}, {k.verdict, k.reason})
  end)

  it("fails a passing test that leaked or made the kernel complain", function()
    local l = rows{runner = {rc = "0", leaks = "dm sts-1-x\nloop /dev/loop0 (/tmp/f)"}}[1]
    assert.are.same({"fail", "left behind: dm sts-1-x, loop /dev/loop0 (/tmp/f)"}, {l.verdict, l.reason})
    local warn = log .. "\n[    5.3] ------------[ cut here ]------------\n"
      .. "[    5.3] WARNING: CPU: 1 PID: 9 at drivers/md/dm.c:10 f+0x1/0x2\n[    5.3] Call Trace:\n"
      .. "[    5.4] ---[ end trace 0000 ]---\n[    5.5] after the trace"
    local w = rows{runner = {rc = "0"}, dmesg = warn}[1]
    assert.are.equal("fail", w.verdict)
    assert.are.equal("the kernel reported: WARNING: CPU: 1 PID: 9 at drivers/md/dm.c:10 f+0x1/0x2", w.reason)
    assert.are.equal(table.concat({"[    5.3] WARNING: CPU: 1 PID: 9 at drivers/md/dm.c:10 f+0x1/0x2",
      "[    5.3] Call Trace:", "[    5.4] ---[ end trace 0000 ]---"}, "\n"), w.kernel_lines)
    -- a failing test keeps its own reason first
    local both = rows{runner = {rc = "1"}, dmesg = warn}[1]
    assert.matches("^exit status 1; the kernel reported: WARNING", both.reason)
    -- the boot's lines before the start marker do not count
    assert.are.equal("pass", rows{runner = {rc = "0"}}[1].verdict)
  end)

  it("tells timeouts, the watchdog, missing deps and the runner's own errors apart", function()
    local wlog = log .. "\n[   30.0] sysrq: Show Blocked State\n[   30.0] task:stslua state:D\n[   31.0] sysrq: Show State\n"
    local w = rows{result = {status = "124", reason = "watchdog"}, watchdog = 20, dmesg = wlog}[1]
    assert.are.same({"timeout", "the watchdog stopped it: no output and no I/O for 20 s"}, {w.verdict, w.reason})
    assert.are.equal("[   30.0] sysrq: Show Blocked State\n[   30.0] task:stslua state:D", w.kernel_lines)
    local t = rows{result = {status = "124", reason = "timeout"}, timeout = 60}[1]
    assert.are.same({"timeout", "did not finish within 60 s"}, {t.verdict, t.reason})
    local m = rows{runner = {missing = "target era is not available\ntool x not found", rc = "77"}}[1]
    assert.are.same({"missing-dep", "target era is not available; tool x not found"}, {m.verdict, m.reason})
    local h = rows{header_error = "t/x.lua: line 2: expected 'tool NAME'"}[1]
    assert.are.same({"error", "t/x.lua: line 2: expected 'tool NAME'"}, {h.verdict, h.reason})
    local n = rows{result = {status = "125", reason = "no-result"}}[1]
    assert.are.equal("error", n.verdict)
    assert.matches("the guest gave no result", n.reason)
    local v = verdict.rows{test = test, vm_status = 125, output = "sts-vm: cannot start qemu\n"}[1]
    assert.are.same({"error", "the sandbox failed (status 125): no output"}, {v.verdict, v.reason})
  end)

  it("counts a spec file per it", function()
    local spec = {path = "t/y_spec.lua", kind = "spec", attempt = 1}
    local its = {{name = "y works", status = "success", message = "", duration = "0.2"},
                 {name = "y breaks", status = "failure", message = "expected 1", duration = "0.1"},
                 {name = "y later", status = "pending", message = "not yet", duration = "0"},
                 {name = "y raises", status = "error", message = "boom", duration = "0"}}
    local r = rows{test = spec, runner = {rc = "1"}, its = its}
    assert.are.equal(5, #r)
    assert.are.same({"fail", "2 of 4 tests failed"}, {r[1].verdict, r[1].reason})
    assert.are.same({"t/y_spec.lua :: y works", "it", "pass"}, {r[2].name, r[2].kind, r[2].verdict})
    assert.are.same({"fail", "expected 1"}, {r[3].verdict, r[3].reason})
    assert.are.same({"skip", "not yet"}, {r[4].verdict, r[4].reason})
    assert.are.equal("fail", r[5].verdict)
    local empty = rows{test = spec, runner = {rc = "0"}, its = {}}
    assert.are.same({"skip", "the spec file has no tests"}, {empty[1].verdict, empty[1].reason})
  end)
end)

describe("sts.runner.kernlog", function()
  it("finds each kind of kernel report", function()
    local lines = {
      "BUG: kernel NULL pointer dereference, address: 0000000000000008",
      "kernel BUG at drivers/md/dm-thin.c:100!",
      "Oops: 0002 [#1] PREEMPT SMP NOPTI",
      "WARNING: possible circular locking dependency detected",
      "BUG: KASAN: use-after-free in dm_thin_x+0x10/0x20",
      "UBSAN: array-index-out-of-bounds in drivers/md/dm-cache-policy-smq.c:1",
      "INFO: task kworker/0:1:12 blocked for more than 120 seconds.",
      "rcu: INFO: rcu_preempt self-detected stall on CPU",
      "Kernel panic - not syncing: Fatal exception",
      "general protection fault, probably for non-canonical address",
    }
    for _, l in ipairs(lines) do
      assert.are.same({"[ 1.0] " .. l}, kernlog.bad_lines("[ 0.5] fine\n[ 1.0] " .. l), l)
    end
    assert.are.same({}, kernlog.bad_lines("device-mapper: thin: 253:2: reached low water mark\nloop0: detected capacity change"))
  end)

  it("slices the log at the test's start marker", function()
    local log = "boot\nBUG: early\n[ 2.0] sts-test: start a.lua\nafter\n"
    assert.are.equal("[ 2.0] sts-test: start a.lua\nafter\n", kernlog.slice(log, "a.lua"))
    assert.are.equal("[ 2.0] sts-test: start a.lua\nafter\n", kernlog.slice(log))
    assert.are.equal(log, kernlog.slice(log, "b.lua"))
    assert.are.equal(log, kernlog.slice(log, "a.lu"))
    -- on the host one log holds many tests: the last start of this one
    local many = "[1] sts-test: start a.lua\nBUG: in a\n[2] sts-test: start b.lua\nok\n[3] sts-test: start a.lua\nlater\n"
    assert.are.equal("[3] sts-test: start a.lua\nlater\n", kernlog.slice(many, "a.lua"))
    assert.are.equal("", kernlog.blocked_tasks(log))
  end)
end)

describe("sts.runner.record and progress", function()
  it("round-trips records with tabs, newlines and backslashes", function()
    local rec = {name = "a\tb\nc\\d\r", n = 5, empty = ""}
    local line = record.encode(rec)
    assert.is_nil(line:find("\n"))
    assert.are.same({name = "a\tb\nc\\d\r", n = "5", empty = ""}, record.decode(line))
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    assert.is_true(record.append(dir .. "/r", {a = 1}))
    assert.is_true(record.append(dir .. "/r", {a = "x\ny"}))
    assert.are.same({{a = "1"}, {a = "x\ny"}}, record.read(dir .. "/r"))
    assert.are.same({}, record.read(dir .. "/none"))
    assert.are.same({"a", "b"}, record.lines("a\n\nb\n"))
  end)

  local function sink()
    local s = {text = ""}
    function s:write(...) for _, v in ipairs({...}) do self.text = self.text .. v end end
    function s:flush() end
    return s
  end

  it("prints one plain line per finished test off a terminal", function()
    local out = sink()
    local now = 0
    local p = progress.new{total = 2, tty = false, out = out, clock = function() return now end}
    p:started({path = "d/a.lua", attempt = 1})
    p:started({path = "d/b.lua", attempt = 1})
    now = 10
    p:finished({path = "d/a.lua", attempt = 1}, {verdict = "pass", duration = 3.25})
    assert.are.equal("[1/2] pass 1 fail 0 skip 0 ETA 0:10 | b.lua", p:line())
    p:finished({path = "d/b.lua", attempt = 1}, {verdict = "fail", duration = 1, reason = "exit status 1"})
    p:done()
    assert.are.equal("PASS d/a.lua (3.2 s)\nFAIL d/b.lua (1.0 s): exit status 1\n", out.text)
  end)

  it("keeps one live line on a terminal", function()
    local out = sink()
    local p = progress.new{total = 1, tty = true, out = out, clock = function() return 0 end}
    p:started({path = "d/a.lua", attempt = 1})
    assert.are.equal("\r\27[K[0/1] pass 0 fail 0 skip 0 | a.lua", out.text)
    p:finished({path = "d/a.lua", attempt = 1}, {verdict = "skip", duration = 0, reason = "why"})
    p:done()
    assert.truthy(out.text:find("\r\27[KSKIP d/a.lua (0.0 s): why\n", 1, true))
    assert.matches("\r\27%[K$", out.text)
  end)
end)

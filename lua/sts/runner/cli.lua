--- sts.runner.cli: the `sts-test` command line.
--
--   sts-test run [OPTIONS] PATH...     run test files, each in a fresh guest
--   sts-test runs                      list the runs, one line a run
--   sts-test show RUN [TEST]           a run's results, or one test's in full
--   sts-test compare [RUN_A RUN_B]     what changed (default: the last two runs)
--   sts-test merge DB...               fold other databases (CI shards) into --db
--   sts-test report RUN [--against RUN] -o DIR   one static HTML page
--
-- Every subcommand takes `--db FILE` (default results.db in the working
-- directory). RUN is a run's id, `last`, `last-1`..., a uuid or a label.

local compare = require "sts.runner.compare"
local db_mod = require "sts.runner.db"
local exec = require "sts.runner.exec"
local junit = require "sts.runner.junit"
local plan = require "sts.runner.plan"
local progress = require "sts.runner.progress"
local report = require "sts.runner.report"
local sio = require "sts.io"
local requires = require "sts.runner.requires"
local tap = require "sts.runner.tap"
local verdict = require "sts.runner.verdict"

local M = {}

local USAGE = [[
usage: sts-test run [OPTIONS] PATH...
       sts-test runs | show RUN [TEST] | compare [RUN_A RUN_B] | merge DB... |
                report RUN [--against RUN] -o DIR
options of run:
  -j N               N guests at once (default 1)
  --shard I/N        only the tests of shard I of N (a split by path: each
                     test is in exactly one shard)
  --rx PATTERN       only tests whose path matches the Lua pattern
  --exclude PATTERN  leave out tests whose path matches the Lua pattern
  --quick            only tests whose header says "-- quick"
  --state failed     only the files that failed (fail, timeout, error) in the last run
  --repeat N         run each test N times
  --timeout SECONDS  bound on each test's guest (default 600; a header's
                     "-- timeout:" wins)
  --watchdog SECONDS stop a test that prints nothing and does no I/O for
                     SECONDS, keeping the guest's blocked tasks (default 120; 0: off)
  --kernel SPEC, --dmpd SPEC, --build DIR   passed to sts-vm
  --host             run here, not in guests (needs root and device-mapper)
  --label NAME       name the run (CI shards of one pipeline share a label)
  --junit FILE       JUnit XML of the run;  --tap: TAP on stdout
  --keep DIR         keep each test's guest results under DIR
every subcommand: --db FILE (default results.db)
options of compare and report: --threshold PERCENT (default 25),
  --min-seconds S (default 1): the duration changes shown
]]

local function die(fmt, ...)
  error({sts_test = string.format(fmt, ...)}, 0)
end

local function clock()
  return require("sts.time").now_ms() / 1000
end

local function sleep(s)
  require("sts.time").sleep_ms(math.floor(s * 1000))
end

local function utc_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then die("cannot write %s: %s", path, tostring(err)) end
  f:write(text)
  f:close()
end

local function uuid()
  local u = sio.read_line("/proc/sys/kernel/random/uuid")
  if u and u ~= "" then return u end
  math.randomseed(os.time(), math.floor(clock() * 1e6))
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), math.random(0x8000, 0xbfff), math.random(0, 0xffffffffffff))
end

local function hostname()
  local h = sio.read_line("/proc/sys/kernel/hostname")
  return (h and h ~= "") and h or "unknown"
end

-- options: a table of name -> {takes_value, handler}; returns positionals
local function parse(args, spec, first)
  local pos, i = {}, first or 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local s = spec[name]
    if s then
      if s.value then
        local v = inline
        if v == nil then
          i = i + 1
          v = args[i]
          if v == nil then die("%s needs a value", name) end
        end
        s.fn(v)
      else
        if inline then die("%s takes no value", name) end
        s.fn()
      end
    elseif a == "--" then
      for k = i + 1, #args do pos[#pos + 1] = args[k] end
      break
    elseif a:match("^%-") and a ~= "-" then
      die("unknown option %s (see sts-test --help)", a)
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return pos
end

local function positive(name, v, allow_zero)
  local n = math.tointeger(tonumber(v))
  if not n or n < (allow_zero and 0 or 1) then
    die("%s: expected a whole number%s, got %s", name, allow_zero and " >= 0" or " > 0", tostring(v))
  end
  return n
end

local function common(o)
  return {
    ["--db"] = {value = true, fn = function(v) o.db = v end},
  }
end

local function open_db(o)
  local ok, d = pcall(db_mod.open, o.db or "results.db")
  if not ok then die("%s", tostring(d)) end
  return d
end

-- the directory for a run's attempts: --keep DIR, or a fresh temporary one
local function work_dir(keep)
  if keep then
    local ok, err = exec.mkdir_p(keep)
    if not ok then die("--keep: cannot make %s: %s", keep, tostring(err)) end
    return keep, false
  end
  local name = os.tmpname()
  os.remove(name)
  local ok, err = exec.mkdir_p(name)
  if not ok then die("cannot make a temporary directory %s: %s", name, tostring(err)) end
  return name, true
end

local function rmtree(path)
  local lfs = require "lfs"
  local attr = lfs.symlinkattributes(path)
  if not attr then return end
  if attr.mode == "directory" then
    for e in lfs.dir(path) do
      if e ~= "." and e ~= ".." then rmtree(path .. "/" .. e) end
    end
    lfs.rmdir(path)
  else
    os.remove(path)
  end
end

--- Whether this machine can run tests directly (--host): root and device-mapper.
-- @treturn boolean|nil true, or nil and the reason
function M.host_usable()
  local f = io.open("/proc/self/status", "r")
  local uid
  if f then
    for line in f:lines() do
      uid = uid or line:match("^Uid:%s+(%d+)")
    end
    f:close()
  end
  if uid ~= "0" then return nil, "--host needs root (tests create devices)" end
  local ok, dm = pcall(require, "sts.dm")
  if not ok then return nil, "sts.dm does not load: " .. tostring(dm) end
  local dm_ok, why = dm.available()
  if not dm_ok then return nil, "--host needs device-mapper in this machine's kernel: " .. tostring(why) end
  return true
end

-- the kernel log of this machine (--host), for the tests' slices
local function host_dmesg()
  local r = require("sts.proc").run({"dmesg"}, {timeout = 30})
  return r and r.rc == 0 and r.stdout or ""
end

-- the files that failed in the database's last run
local function failed_last(o)
  local d = open_db(o)
  local run = d:run("last")
  local set, n = {}, 0
  if run then
    for _, r in ipairs(d:results(run.id)) do
      if verdict.BAD[r.verdict] and not set[r.file] then set[r.file] = true; n = n + 1 end
    end
  end
  d:close()
  if not run then die("--state failed: the database %s holds no run yet", o.db or "results.db") end
  return set, n
end

local function cmd_run(args)
  local o = {jobs = 1, timeout = 600, watchdog = 120, repeat_n = 1, vm_args = {}}
  local spec = common(o)
  spec["-j"] = {value = true, fn = function(v) o.jobs = positive("-j", v) end}
  spec["--jobs"] = spec["-j"]
  spec["--shard"] = {value = true, fn = function(v)
    local i, n = plan.parse_shard(v)
    if not i then die("%s", n) end
    o.shard = {i, n}
  end}
  spec["--rx"] = {value = true, fn = function(v)
    local ok, err = pcall(string.find, "", v)
    if not ok then die("--rx: not a Lua pattern: %s", tostring(err)) end
    o.rx = v
  end}
  spec["--exclude"] = {value = true, fn = function(v)
    local ok, err = pcall(string.find, "", v)
    if not ok then die("--exclude: not a Lua pattern: %s", tostring(err)) end
    o.exclude = v
  end}
  spec["--quick"] = {fn = function() o.quick = true end}
  spec["--state"] = {value = true, fn = function(v)
    if v ~= "failed" then die("--state: only 'failed' is known, got %s", v) end
    o.state = v
  end}
  spec["--repeat"] = {value = true, fn = function(v) o.repeat_n = positive("--repeat", v) end}
  spec["--timeout"] = {value = true, fn = function(v) o.timeout = positive("--timeout", v) end}
  spec["--watchdog"] = {value = true, fn = function(v) o.watchdog = positive("--watchdog", v, true) end}
  spec["--kernel"] = {value = true, fn = function(v) o.kernel = v end}
  spec["--dmpd"] = {value = true, fn = function(v) o.dmpd = v end}
  spec["--build"] = {value = true, fn = function(v) o.build = v end}
  spec["--host"] = {fn = function() o.host = true end}
  spec["--label"] = {value = true, fn = function(v) o.label = v end}
  spec["--junit"] = {value = true, fn = function(v) o.junit = v end}
  spec["--tap"] = {fn = function() o.tap = true end}
  spec["--keep"] = {value = true, fn = function(v) o.keep = v end}
  spec["--vm-arg"] = {value = true, fn = function(v) o.vm_args[#o.vm_args + 1] = v end}
  local paths = parse(args, spec, 2)
  if #paths == 0 then die("run: give test files or directories (see sts-test --help)") end
  if o.host and (o.kernel or o.dmpd) then die("--host runs on this machine's kernel: --kernel and --dmpd are for guests") end
  if o.host then
    local ok, why = M.host_usable()
    if not ok then die("%s", why) end
  end
  local sts_vm = os.getenv("STS_VM") or ((os.getenv("STS_TEST_TOP") or ".") .. "/scripts/sts-vm")
  if not o.host and not require("sts.proc").which(sts_vm) then
    die("no sandbox: %s is not there (set STS_VM to scripts/sts-vm of an stslua checkout, or use --host)", sts_vm)
  end

  local tests, derr = plan.discover(paths)
  if not tests then die("%s", derr) end
  local headers = {}
  for _, t in ipairs(tests) do
    local h, herr = requires.read(t.path)
    if h then headers[t.path] = h else t.header_error = herr end
  end
  local only
  if o.state == "failed" then only = failed_last(o) end
  local selected = plan.select(tests, {rx = o.rx, exclude = o.exclude, quick = o.quick, headers = headers,
                                       shard = o.shard, only = only, repeat_n = o.repeat_n})
  local by_path = {}
  for _, t in ipairs(tests) do by_path[t.path] = t end
  for _, s in ipairs(selected) do
    local t = by_path[s.path]
    local h = headers[s.path]
    s.header, s.header_error = h, t.header_error
    s.requires_text = h and requires.format(h) or ""
    s.timeout = h and h.timeout or nil
  end

  local status_out = o.tap and io.stderr or io.stdout
  local work, temporary = work_dir(o.keep)
  local ctx = {sts_vm = sts_vm, timeout = o.timeout, watchdog = o.watchdog, kernel = o.kernel,
               dmpd = o.dmpd, build = o.build, vm_args = o.vm_args, work = work, host = o.host,
               clock = clock, host_dmesg = o.host and host_dmesg or nil,
               stslua = os.getenv("STSLUA") or (arg and arg[-1]) or "stslua"}
  local run = {uuid = uuid(), label = o.label, started = utc_now(), host = hostname(),
               args = table.concat(args, " ", 2), mode = o.host and "host" or "vm",
               kernel_spec = o.kernel, dmpd_spec = o.dmpd, stslua = require("sts").version}
  local shown = progress.new{total = #selected, tty = os.getenv(o.tap and "STS_TEST_TTY_ERR" or "STS_TEST_TTY") == "1",
                             out = status_out, jobs = o.jobs, clock = clock}
  local all_rows, running, next_i, seq = {}, {}, 1, 0
  local jobs = o.host and 1 or o.jobs   -- on the host the tests share one kernel

  local function record_rows(h, rows)
    if rows.facts and rows.facts.kernel and not run.kernel then
      run.kernel, run.dm_driver, run.dmpd = rows.facts.kernel, rows.facts.dm_driver, rows.facts.dmpd
    end
    for _, r in ipairs(rows) do all_rows[#all_rows + 1] = r end
    shown:finished(h.test, rows[1])
  end

  local interrupted = false
  while (next_i <= #selected or #running > 0) and not interrupted do
    while #running < jobs and next_i <= #selected do
      local t = selected[next_i]
      next_i = next_i + 1
      seq = seq + 1
      if t.header_error then
        local rows = verdict.rows{test = t, header_error = t.header_error}
        record_rows({test = t}, rows)
      else
        if o.host then
          local kit = require "sts.testkit"
          kit.cleanup_leftovers("sts-")
        end
        local h, why = exec.start(t, ctx, seq)
        if h then
          running[#running + 1] = h
          shown:started(t)
        else
          local rows = verdict.rows{test = t, vm_status = 125, output = "sts-test: " .. tostring(why)}
          record_rows({test = t}, rows)
        end
      end
    end
    local still = {}
    for _, h in ipairs(running) do
      local rc, sig = h.child:poll()
      local timed_out = false
      if rc == nil and sig == nil and o.host and clock() > h.deadline then
        h.child:kill(9)
        rc, sig = h.child:wait()
        timed_out = true
      end
      if rc ~= nil or sig ~= nil then
        record_rows(h, exec.finish(h, ctx, rc or (128 + sig), {timed_out = timed_out}))
        if o.host then require("sts.testkit").cleanup_leftovers("sts-") end
      else
        still[#still + 1] = h
      end
    end
    running = still
    if #running > 0 then sleep(0.25) end
  end
  shown:done()
  run.ended = utc_now()

  local d = open_db(o)
  local run_id = d:add_run(run, all_rows)
  run.id = run_id
  d:close()
  if temporary then rmtree(work) end

  local c = {}
  for _, r in ipairs(all_rows) do
    if r.kind ~= "spec" or r.verdict ~= "pass" then c[r.verdict] = (c[r.verdict] or 0) + 1 end
  end
  if o.junit then write(o.junit, junit.render(run, all_rows)) end
  if o.tap then io.stdout:write(tap.render(all_rows)) end
  local bad = (c.fail or 0) + (c.timeout or 0) + (c.error or 0)
  status_out:write(string.format("run %d (%s): %d passed, %d failed, %d skipped (%d timeout, %d error, %d missing-dep) in %s\n",
    run_id, tostring(run.kernel or "no kernel seen"), c.pass or 0, bad, (c.skip or 0) + (c["missing-dep"] or 0),
    c.timeout or 0, c.error or 0, c["missing-dep"] or 0, o.db or "results.db"))
  return bad == 0 and 0 or 1
end

local function cmd_runs(args)
  local o = {}
  local pos = parse(args, common(o), 2)
  if #pos > 0 then die("runs takes no arguments: %s", table.concat(pos, " ")) end
  local d = open_db(o)
  for _, r in ipairs(d:runs()) do
    io.stdout:write(string.format("%4d  %s  %-28s %3d tests: %d passed, %d failed, %d skipped  %s%s\n",
      math.tointeger(r.id), tostring(r.started), tostring(r.kernel or "?"), math.tointeger(r.tests),
      math.tointeger(r.passed), math.tointeger(r.failed), math.tointeger(r.skipped),
      r.mode or "", (r.label and r.label ~= "") and ("  label=" .. r.label) or ""))
  end
  d:close()
  return 0
end

local function find_run(d, which)
  local run = d:run(which)
  if not run then die("no run %s in %s", tostring(which), d.path) end
  return run
end

local function cmd_show(args)
  local o = {}
  local pos = parse(args, common(o), 2)
  if #pos < 1 or #pos > 2 then die("show: expected RUN [TEST]") end
  local d = open_db(o)
  local run = find_run(d, pos[1])
  local rows = d:results(run.id, pos[2])
  if pos[2] then
    if #rows == 0 then die("run %s has no test %s", tostring(run.id), pos[2]) end
    for _, r in ipairs(rows) do
      io.stdout:write(string.format("== %s (attempt %d): %s%s, %.1f s\n", r.name, math.tointeger(r.attempt),
        r.verdict, r.reason and (": " .. r.reason) or "", tonumber(r.duration) or 0))
      for _, k in ipairs({"requires", "targets", "tools", "leaks", "kernel_lines", "output", "kernel_log"}) do
        if r[k] and r[k] ~= "" then io.stdout:write("-- ", k, "\n", r[k], r[k]:match("\n$") and "" or "\n") end
      end
    end
  else
    io.stdout:write(string.format("run %d  %s .. %s  kernel %s  dm %s  dmpd %s  stslua %s  %s\n",
      math.tointeger(run.id), tostring(run.started), tostring(run.ended), tostring(run.kernel),
      tostring(run.dm_driver), tostring(run.dmpd), tostring(run.stslua), tostring(run.args)))
    for _, r in ipairs(rows) do
      io.stdout:write(string.format("  %-12s %7.1f s  %s%s%s\n", r.verdict, tonumber(r.duration) or 0,
        junit.case_name(r) ~= r.name and r.name or junit.case_name(r),
        (tonumber(r.attempt) or 1) > 1 and "" or "",
        r.reason and r.verdict ~= "pass" and ("  (" .. r.reason:gsub("\n", "; ") .. ")") or ""))
    end
  end
  d:close()
  return 0
end

local function compare_opts(o, spec)
  spec["--threshold"] = {value = true, fn = function(v)
    local n = tonumber(v)
    if not n or n < 0 then die("--threshold: expected a percentage >= 0, got %s", v) end
    o.threshold = n / 100
  end}
  spec["--min-seconds"] = {value = true, fn = function(v)
    local n = tonumber(v)
    if not n or n < 0 then die("--min-seconds: expected seconds >= 0, got %s", v) end
    o.min_seconds = n
  end}
end

local function two_runs(d, pos)
  if #pos == 0 then
    local b, a = d:run("last"), d:run("last-1")
    if not (a and b) then die("compare: %s holds fewer than two runs", d.path) end
    return a, b
  end
  if #pos ~= 2 then die("compare: expected no runs (the last two) or RUN_A RUN_B") end
  return find_run(d, pos[1]), find_run(d, pos[2])
end

local function cmd_compare(args)
  local o = {}
  local spec = common(o)
  compare_opts(o, spec)
  local pos = parse(args, spec, 2)
  local d = open_db(o)
  local a, b = two_runs(d, pos)
  local opts = {threshold = o.threshold, min_seconds = o.min_seconds}
  local c = compare.compare(d:results(a.id), d:results(b.id), opts)
  d:close()
  io.stdout:write(compare.format(c, a, b, opts))
  return #c.regressions == 0 and 0 or 1
end

local function cmd_merge(args)
  local o = {}
  local pos = parse(args, common(o), 2)
  if #pos == 0 then die("merge: name the databases to fold into %s", o.db or "results.db") end
  local d = open_db(o)
  for _, path in ipairs(pos) do
    if not io.open(path, "rb") then die("merge: no such database: %s", path) end
    local ok, other = pcall(db_mod.open, path)
    if not ok then die("%s", tostring(other)) end
    local added, joined = d:merge(other)
    other:close()
    io.stdout:write(string.format("%s: %d runs added, %d joined to a run with the same label\n", path, added, joined))
  end
  d:close()
  return 0
end

local function cmd_report(args)
  local o = {}
  local spec = common(o)
  compare_opts(o, spec)
  spec["--against"] = {value = true, fn = function(v) o.against = v end}
  spec["-o"] = {value = true, fn = function(v) o.out = v end}
  local pos = parse(args, spec, 2)
  if #pos ~= 1 then die("report: expected RUN") end
  if not o.out then die("report: -o DIR names where the page goes") end
  local d = open_db(o)
  local run = find_run(d, pos[1])
  local against
  if o.against then
    local other = find_run(d, o.against)
    against = {run = other, rows = d:results(other.id)}
  end
  local page = report.render(run, d:results(run.id), against,
                             {threshold = o.threshold, min_seconds = o.min_seconds})
  d:close()
  local ok, err = exec.mkdir_p(o.out)
  if not ok then die("report: cannot make %s: %s", o.out, tostring(err)) end
  write(o.out .. "/index.html", page)
  io.stdout:write(o.out .. "/index.html\n")
  return 0
end

local COMMANDS = {run = cmd_run, runs = cmd_runs, show = cmd_show, compare = cmd_compare,
                  merge = cmd_merge, report = cmd_report}

--- Runs the command line `args` (a list) and returns the exit status.
-- @tparam {string,...} args
-- @treturn int 0 when all went well; 1 for failing tests or regressions; 2 for usage errors
function M.main(args)
  local cmd = args[1]
  if cmd == nil or cmd == "-h" or cmd == "--help" or cmd == "help" then
    io.stdout:write(USAGE)
    return cmd == nil and 2 or 0
  end
  local fn = COMMANDS[cmd]
  if not fn then
    io.stderr:write("sts-test: unknown command ", tostring(cmd), "\n", USAGE)
    return 2
  end
  local ok, rc = pcall(fn, args)
  if ok then return rc end
  if type(rc) == "table" and rc.sts_test then
    io.stderr:write("sts-test: ", rc.sts_test, "\n")
    return 2
  end
  io.stderr:write("sts-test: ", tostring(rc), "\n")
  return 2
end

return M

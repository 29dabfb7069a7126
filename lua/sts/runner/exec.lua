--- sts.runner.exec: starts one test attempt and reads back what it left.
--
-- In the sandbox (the default) each attempt is one `sts-vm` run in a fresh
-- guest:
--
--   sts-vm -q --timeout T [--watchdog W] --result-dir DIR [--kernel K]
--          [--dmpd D] [--build B] run -e CHUNK TESTFILE
--
-- where CHUNK runs sts.runner.guest on the test (its path is the script's
-- in the guest). With `--host` the same guest code runs as a child of the
-- runner on this machine, after a leak check; what the test leaves is
-- removed with testkit.cleanup_leftovers before the next file.

local proc = require "sts.proc"
local record = require "sts.runner.record"
local verdict = require "sts.runner.verdict"

local M = {}

local GUEST_CHUNK = 'os.exit(require("sts.runner.guest").main(arg[0], os.getenv("STS_RUNNER_KIND")))'

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function mkdir_p(path)
  local lfs = require "lfs"
  local acc = path:sub(1, 1) == "/" and "" or "."
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    if not lfs.attributes(acc) then
      local ok, err = lfs.mkdir(acc)
      if not ok and not lfs.attributes(acc) then return nil, err end
    end
  end
  return true
end

--- Makes a directory and its parents (as mkdir -p).
-- @function mkdir_p
-- @tparam string path
-- @treturn boolean|nil true, or nil and the error
M.mkdir_p = mkdir_p

--- The sts-vm argv for one attempt.
-- @tparam table test `{path=, kind=}`
-- @tparam table ctx `sts_vm`, `timeout`, `watchdog`, `kernel`, `dmpd`, `build`, `vm_args`
-- @tparam string dir the attempt's result directory
-- @treturn {string,...}
function M.vm_argv(test, ctx, dir)
  local argv = {ctx.sts_vm, "-q", "--timeout", tostring(test.timeout or ctx.timeout),
                "--result-dir", dir, "--env", "STS_RUNNER_KIND=" .. test.kind}
  if (ctx.watchdog or 0) > 0 then
    argv[#argv + 1] = "--watchdog"
    argv[#argv + 1] = tostring(ctx.watchdog)
  end
  for _, opt in ipairs({"kernel", "dmpd", "build"}) do
    if ctx[opt] then
      argv[#argv + 1] = "--" .. opt
      argv[#argv + 1] = ctx[opt]
    end
  end
  for _, a in ipairs(ctx.vm_args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = "run"
  argv[#argv + 1] = "-e"
  argv[#argv + 1] = GUEST_CHUNK
  argv[#argv + 1] = test.path
  return argv
end

--- Starts one attempt; returns a handle for poll/finish.
-- @tparam table test `{path=, kind=, attempt=, timeout=}`
-- @tparam table ctx as vm_argv, plus `work` (a directory for the attempts),
--   `host` (run here instead of in a guest), `stslua` (the interpreter, for --host)
-- @treturn table|nil the handle `{test=, dir=, child=, started=}`
-- @treturn string when nil: why it could not start
function M.start(test, ctx, seq)
  local dir = string.format("%s/%04d-%s", ctx.work, seq, test.path:gsub("[^%w%.%-]", "_"))
  local ok, err = mkdir_p(dir)
  if not ok then return nil, "cannot make " .. dir .. ": " .. tostring(err) end
  local argv, opts
  if ctx.host then
    mkdir_p(dir .. "/files")
    argv = {ctx.stslua, "-e", GUEST_CHUNK, test.path}
    opts = {output_file = dir .. "/log", env = {STS_VM_OUT = dir .. "/files", STS_RUNNER_KIND = test.kind}}
    -- the kernel log before the test: the slice is what comes after the marker
  else
    argv = M.vm_argv(test, ctx, dir)
    opts = {output_file = dir .. "/log"}
  end
  local child, why = proc.spawn(argv, opts)
  if not child then return nil, why end
  return {test = test, dir = dir, child = child, argv = argv,
          started = ctx.clock(), deadline = ctx.clock() + (test.timeout or ctx.timeout)}
end

--- Reads what an attempt left and turns it into result rows.
-- @tparam table h the handle from start
-- @tparam table ctx
-- @tparam int|nil rc the runner child's exit status
-- @tparam table|nil extra `{timed_out = true}` when the runner killed it (--host)
-- @treturn {table,...} rows (see sts.runner.verdict)
function M.finish(h, ctx, rc, extra)
  extra = extra or {}
  local dir = h.dir
  local files = dir .. "/files"
  local result
  if ctx.host then
    -- the runner is the sandbox here: it says what sts-vm would
    result = {status = tostring(rc), reason = extra.timed_out and "timeout" or "ok"}
  else
    local text = read(dir .. "/result")
    result = text and verdict.parse_result(text) or nil
  end
  local runner_recs = record.read(files .. "/runner.rec")
  local dmesg = read(dir .. "/dmesg") or ""
  if ctx.host then dmesg = ctx.host_dmesg and ctx.host_dmesg() or "" end
  local rows = verdict.rows{
    test = h.test,
    header = h.test.header,
    header_error = h.test.header_error,
    vm_status = rc,
    result = result,
    runner = runner_recs[#runner_recs],
    its = record.read(files .. "/its.rec"),
    output = read(dir .. "/log") or "",
    dmesg = dmesg,
    tools = verdict.tools(read(files .. "/tools.log")),
    requires = h.test.requires_text,
    watchdog = ctx.watchdog,
    timeout = h.test.timeout or ctx.timeout,
    host = ctx.host,
  }
  local rec = runner_recs[#runner_recs]
  rows.facts = rec and {kernel = rec.kernel, dm_driver = rec.dm_driver, dmpd = rec.dmpd} or {}
  return rows
end

return M

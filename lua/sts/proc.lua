--- sts.proc: runs programs from an argv list, never through a shell.
--
--   local r = proc.run({"dd", "if=/dev/zero", "of=" .. path, "count=1"}, {timeout = 60})
--   if r.rc ~= 0 then error(r.stderr) end
local cproc = require("sts.core").proc

local proc = {}

--- Runs argv[1] with the arguments argv[2..], waiting for it to end.
-- opts: stdin (text fed to it), timeout (seconds; then SIGTERM, SIGKILL),
-- output_file (its stdout goes there), cwd, env (a table: its whole
-- environment).
-- @tparam {string,...} argv the program and its arguments
-- @tparam[opt] table opts
-- @treturn table {rc=, signal=, stdout=, stderr=, timed_out=}, or nil,
-- message, errno when it could not be started
function proc.run(argv, opts)
  return cproc.run(argv, opts)
end

--- The full path of a program found on PATH.
-- @tparam string name
-- @treturn string|nil the path, or nil when there is none
function proc.which(name)
  return cproc.which(name)
end

--- Starts argv[1] and returns at once, leaving it running.
-- Its stdout and stderr both go to opts.output_file (truncated; /dev/null
-- when absent), its stdin is /dev/null. The Child has `pid`, `error` (why
-- it could not start: it has then already ended with 127), `:poll()` (nil
-- while it runs, else rc, signal), `:wait()` (the same, blocking) and
-- `:kill(sig)`; closed or collected while running, it is killed and reaped.
-- @tparam {string,...} argv the program and its arguments
-- @tparam[opt] table opts output_file, cwd, env (as run's)
-- @treturn userdata|nil the Child, or nil, message, errno
function proc.spawn(argv, opts)
  return cproc.spawn(argv, opts)
end

return proc

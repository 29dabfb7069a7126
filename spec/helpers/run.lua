-- Running programs from specs: a thin layer over sts.core's proc.run
-- (argv arrays only, never a shell), plus temporary directories that are
-- removed again.
local proc = require("sts.core").proc
local lfs = require "lfs"

local M = {}

--- The repository's top directory (busted runs the specs from there).
M.top = assert(lfs.currentdir())

--- Absolute path of `rel` (a path relative to the repository's top).
function M.path(rel)
  if rel:sub(1, 1) == "/" then return rel end
  return M.top .. "/" .. rel
end

--- Absolute path of the interpreter under test: $STSLUA (for example
-- build-asan/stslua), else build/stslua.
function M.stslua_path()
  return M.path(os.getenv("STSLUA") or "build/stslua")
end

-- variables of the caller that would change how an interpreter starts
local NEUTRAL_ENV = {LUA_INIT = false, LUA_INIT_5_4 = false,
                     LUA_PATH = false, LUA_PATH_5_4 = false,
                     LUA_CPATH = false, LUA_CPATH_5_4 = false,
                     STSLUA_HISTORY = false}

local function merged_env(env)
  local out = {}
  for k, v in pairs(NEUTRAL_ENV) do out[k] = v end
  for k, v in pairs(env or {}) do out[k] = v end
  return out
end

--- Runs argv (a list) and returns {rc=, signal=, stdout=, stderr=, timed_out=}.
-- opts: stdin, timeout (default 60 s), cwd, env (merged over a neutral
-- environment: the LUA_INIT/LUA_PATH/LUA_CPATH variables and
-- STSLUA_HISTORY of the caller are removed unless given). Raises when the
-- program cannot be run at all.
function M.run(argv, opts)
  opts = opts or {}
  local r, err = proc.run(argv, {
    stdin = opts.stdin,
    timeout = opts.timeout or 60,
    cwd = opts.cwd,
    env = merged_env(opts.env),
  })
  if not r then error("cannot run " .. tostring(argv[1]) .. ": " .. tostring(err), 2) end
  return r
end

--- Runs the interpreter under test with the list `args`; opts as for run.
function M.stslua(args, opts)
  local argv = {M.stslua_path()}
  for i = 1, #args do argv[#argv + 1] = args[i] end
  return M.run(argv, opts)
end

--- Runs `code` in the interpreter under test and sends it SIGINT (through
-- timeout(1)) `after_s` seconds later. `code` must end by printing
-- `time.now_ms(), ok, err` of the call it interrupts, made under pcall.
-- Returns how many ms after the signal that call returned (measured on the
-- monotonic clock, the same in every process, so a slow start does not
-- count), ok ("false" when interrupted), err, and the run's result.
function M.interrupt(code, after_s)
  local time = require "sts.time"
  local t0 = time.now_ms()
  local r = M.run({"timeout", "-s", "INT", tostring(after_s), M.stslua_path(), "-e", code},
                  {timeout = 60})
  local ended, ok, err = r.stdout:match("^(%d+)\t(%a+)\t(.*)\n$")
  if not ended then error("the child printed no result: " .. r.stdout .. r.stderr, 2) end
  return tonumber(ended) - (t0 + after_s * 1000), ok, err, r
end

--- Runs the stock lua5.4 with the list `args`; opts as for run.
function M.lua(args, opts)
  local argv = {"lua5.4"}
  for i = 1, #args do argv[#argv + 1] = args[i] end
  return M.run(argv, opts)
end

--- Creates a fresh directory under the system's temporary directory and
-- returns its path; remove it with rmtree.
function M.tmpdir()
  local name = os.tmpname()  -- creates the file, so the name is ours
  assert(os.remove(name))
  assert(lfs.mkdir(name))
  return name
end

--- Removes a directory tree (symbolic links are removed, not followed).
function M.rmtree(path)
  local attr = lfs.symlinkattributes(path)
  if not attr then return end
  if attr.mode == "directory" then
    for entry in lfs.dir(path) do
      if entry ~= "." and entry ~= ".." then M.rmtree(path .. "/" .. entry) end
    end
    assert(lfs.rmdir(path))
  else
    assert(os.remove(path))
  end
end

--- Writes `text` into the file `path`.
function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

--- A new temporary file of `bytes` zero bytes; returns its path.
function M.temp_file(bytes)
  local path = os.tmpname()
  M.write_file(path, string.rep("\0", bytes))
  return path
end

--- The contents of the file `path`, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- The full path of program `name` in PATH, or nil.
function M.which(name)
  return proc.which(name)
end

return M

-- A program on a terminal: stslua in a detached tmux session, driven by
-- keys and read back from the screen. The session has its own server
-- (a socket in a temporary directory), so nothing of the caller's tmux is
-- touched, and it is gone after close().
local run = require "helpers.run"

local M = {}

local Session = {}
Session.__index = Session

local function tmux(self, args)
  local argv = {"tmux", "-S", self.socket, "-f", "/dev/null"}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return run.run(argv, {env = self.env, timeout = 30})
end

--- True when tmux can be run here.
function M.available()
  return run.which("tmux") ~= nil
end

--- Starts `argv` on a new 120x40 terminal; env: variables for it (merged
-- over run's neutral environment). The program runs under a small shell
-- that writes its exit status to a file when it ends: tmux 3.3 can show
-- the pane dead and never give its status (seen on a loaded host). The
-- shell traps SIGINT with a handler of its own, so a Ctrl-C reaches the
-- program with the default disposition and the shell lives on to write it.
function M.start(argv, env)
  local self = setmetatable({dir = run.tmpdir(), env = env or {}}, Session)
  self.socket = self.dir .. "/tmux.sock"
  self.status_file = self.dir .. "/status"
  local wrapped = {"/bin/sh", "-c", 'trap : INT; "$@"; echo $? > "$0.tmp" && mv "$0.tmp" "$0"',
    self.status_file}
  for _, a in ipairs(argv) do wrapped[#wrapped + 1] = a end
  argv = wrapped
  local args = {"new-session", "-d", "-x", "120", "-y", "40"}
  for k, v in pairs(self.env) do
    if v then args[#args + 1] = "-e"; args[#args + 1] = k .. "=" .. v end
  end
  args[#args + 1] = "--"
  for _, a in ipairs(argv) do args[#args + 1] = a end
  for _, a in ipairs({";", "set-option", "remain-on-exit", "on"}) do args[#args + 1] = a end
  local r = tmux(self, args)
  if r.rc ~= 0 then
    run.rmtree(self.dir)
    error("tmux new-session failed: " .. r.stderr, 2)
  end
  return self
end

--- Sends keys: literal text, or tmux key names (Enter, Tab, C-c, C-d)
-- given as {key = "Tab"}.
function Session:send(...)
  for _, k in ipairs({...}) do
    local r
    if type(k) == "table" then
      r = tmux(self, {"send-keys", k.key})
    else
      r = tmux(self, {"send-keys", "-l", k})
    end
    assert(r.rc == 0, "tmux send-keys: " .. r.stderr)
  end
end

--- The text on the screen and above it, wrapped lines joined, trailing
-- blank lines dropped.
function Session:screen()
  local r = tmux(self, {"capture-pane", "-p", "-J", "-S", "-"})
  assert(r.rc == 0, "tmux capture-pane: " .. r.stderr)
  return (r.stdout:gsub("\n+$", ""))
end

local function sleep_a_little()
  run.run({"sleep", "0.05"})
end

--- Waits (up to about 15 s) until the screen holds `text` (plain) after
-- its first `after` characters; returns the screen, or raises with it.
function Session:wait_for(text, after)
  local screen
  for _ = 1, 300 do
    screen = self:screen()
    if screen:find(text, (after or 0) + 1, true) then return screen end
    sleep_a_little()
  end
  error(("screen never showed %q; it shows:\n%s"):format(text, screen), 2)
end

--- The program's exit status once it has exited (up to about 15 s), or
-- raises.
function Session:exit_status()
  for _ = 1, 300 do
    local f = io.open(self.status_file, "r")
    if f then
      local status = f:read("n")
      f:close()
      if status then return status end
    end
    sleep_a_little()
  end
  local r = tmux(self, {"display-message", "-p", "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"})
  error("the program did not exit with a status (tmux: " .. r.stdout .. "); the screen shows:\n"
        .. self:screen(), 2)
end

--- Ends the session and its server and removes its directory.
function Session:close()
  tmux(self, {"kill-server"})
  run.rmtree(self.dir)
end

return M

--- Running one metadata tool: options to argv, the run, the CommandResult.
-- Tools are always started from an argv list through sts.proc, never
-- through a shell; `command` in a result is only for logs.

local errors = require("sts.errors")

local command = {}

-- keys of a tool's option table that steer the run instead of becoming
-- tool options (no metadata tool has options by these names)
local RUN_CONTROLS = {timeout = true, output_file = true, cwd = true}
command.RUN_CONTROLS = RUN_CONTROLS

local function option_error(key, what)
  errors.raise("ValueError", ("option '%s': %s"):format(tostring(key), what))
end

-- an option value as an argv word: strings as they are, integers in decimal
local function scalar_word(key, v)
  local t = type(v)
  if t == "string" then
    if v:find("\0", 1, true) then option_error(key, "value contains a NUL byte") end
    return v
  elseif t == "number" then
    local i = math.tointeger(v)
    if not i then option_error(key, "number " .. tostring(v) .. " is not an integer") end
    return tostring(i)
  end
  return nil
end

local function is_list(t)
  local n = #t
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

-- appends the words of one option to `argv`
local function add_option(argv, key, value)
  local flag = key:gsub("_", "-")
  local short = #flag == 1
  local function add(v)
    if v == true then
      argv[#argv + 1] = short and "-" .. flag or "--" .. flag
      return
    end
    local word = scalar_word(key, v)
    if word == nil then
      option_error(key, "unsupported value type " .. type(v) ..
                   " (use true, false, a string, an integer or a list of those)")
    end
    if short then
      argv[#argv + 1] = "-" .. flag
      argv[#argv + 1] = word
    else
      argv[#argv + 1] = "--" .. flag .. "=" .. word
    end
  end
  if value == false or value == nil then return end
  if type(value) == "table" then
    if not is_list(value) then option_error(key, "a table value must be a list") end
    for i, v in ipairs(value) do
      if type(v) == "table" or v == false then
        option_error(key, ("list element %d must be true, a string or an integer, got %s")
                     :format(i, v == false and "false" or type(v)))
      end
      add(v)
    end
    return
  end
  add(value)
end

--- Turns an option table into argv words, keys sorted for a stable order.
-- true -> `--flag`, false/nil -> nothing, string/integer -> `--key=value`,
-- a one-letter key -> `-k` or `-k value`, a list -> the option repeated,
-- underscores in keys become dashes. The run controls (`timeout`,
-- `output_file`, `cwd`) are skipped. Raises ValueError naming a bad option.
function command.options_to_argv(opts)
  local argv = {}
  if opts == nil then return argv end
  if type(opts) ~= "table" then
    errors.raise("ValueError", "options must be a table, got " .. type(opts))
  end
  local keys = {}
  for k in pairs(opts) do
    if type(k) ~= "string" then
      errors.raise("ValueError", ("option names must be strings, got %s %s")
                   :format(type(k), tostring(k)))
    end
    if not k:match("^[%w][%w_%-]*$") then
      option_error(k, "not a valid option name")
    end
    if not RUN_CONTROLS[k] then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do add_option(argv, k, opts[k]) end
  return argv
end

--- A positional file name as one argv word that no tool takes for an option:
-- a relative name starting with "-" is made "./"-relative.
function command.positional(path)
  if type(path) ~= "string" then
    errors.raise("ValueError", "device or file must be a string, got " .. type(path))
  end
  if path == "" then errors.raise("ValueError", "device or file must not be empty") end
  if path:find("\0", 1, true) then
    errors.raise("ValueError", "device or file contains a NUL byte")
  end
  if path:sub(1, 1) == "-" then return "./" .. path end
  return path
end

--- Quotes one word for a POSIX shell (only for showing commands in logs).
function command.quote(word)
  if word ~= "" and word:match("^[%w@%%+=:,%./_%-]+$") then return word end
  return "'" .. word:gsub("'", "'\\''") .. "'"
end

--- The argv list as one shell-quoted line that round-trips through `sh`.
function command.quote_argv(argv)
  local words = {}
  for i, w in ipairs(argv) do words[i] = command.quote(w) end
  -- a first word holding "=" would be read as an assignment
  if argv[1] and argv[1]:find("=", 1, true) and words[1] == argv[1] then
    words[1] = "'" .. argv[1] .. "'"
  end
  return table.concat(words, " ")
end

-- CommandResult ---------------------------------------------------------

local Result = {}
Result.__index = Result
Result.__name = "sts.dmpd.CommandResult"

function Result.__tostring(r)
  local status
  if r.timed_out then
    status = ("timed out after %gs"):format(r.timeout)
  elseif r.signal then
    status = "killed by signal " .. r.signal
  elseif r.rc then
    status = "rc=" .. r.rc
  else
    status = "not run: " .. tostring(r.error)
  end
  return ("CommandResult(%s: %s)"):format(r.command, status)
end

--- Raises when the command failed: TimeoutError when it timed out, else
-- CommandError with the command, status and stderr. Returns the result.
function Result:check()
  if self.succeeded then return self end
  local kind = self.timed_out and "TimeoutError" or "CommandError"
  local err = self.stderr ~= "" and (": " .. self.stderr:gsub("%s+$", "")) or ""
  errors.raise(kind, tostring(self) .. err, self.errno, {result = self})
end

command.Result = Result

--- True when `v` is a CommandResult.
function command.is_result(v)
  return getmetatable(v) == Result
end

local function new_result(argv, fields)
  local r = setmetatable(fields, Result)
  r.argv = argv
  r.command = command.quote_argv(argv)
  r.exit_status = r.rc
  r.succeeded = r.rc == 0 and not r.timed_out and r.signal == nil
  r.failed = not r.succeeded
  return r
end

--- Runs `argv` and returns a CommandResult (never raises for a failing or
-- missing program). `controls`: {timeout = seconds, output_file = path,
-- cwd = directory}.
function command.run(argv, controls)
  controls = controls or {}
  local timeout, output_file, cwd = controls.timeout, controls.output_file, controls.cwd
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout > 0) or timeout == math.huge) then
    errors.raise("ValueError", "option 'timeout': must be a number of seconds > 0, got "
                 .. tostring(timeout))
  end
  if output_file ~= nil and (type(output_file) ~= "string" or output_file == "") then
    errors.raise("ValueError", "option 'output_file': must be a file name, got "
                 .. tostring(output_file))
  end
  if cwd ~= nil and (type(cwd) ~= "string" or cwd == "") then
    errors.raise("ValueError", "option 'cwd': must be a directory name, got " .. tostring(cwd))
  end
  local proc = require("sts.proc")
  local res, msg, errno = proc.run(argv, {timeout = timeout, output_file = output_file, cwd = cwd})
  if not res then
    return new_result(argv, {stdout = "", stderr = msg, timed_out = false, error = msg,
                             errno = errno, timeout = timeout, output_file = output_file,
                             cwd = cwd})
  end
  return new_result(argv, {rc = res.rc, signal = res.signal, stdout = res.stdout,
                           stderr = res.stderr, timed_out = res.timed_out,
                           timeout = timeout, output_file = output_file, cwd = cwd})
end

return command

--- Domain errors of the sts modules.
-- Errors are tables with `kind`, `message` and, when the failure came from
-- the kernel or a system call, `errno`. They print as "kind: message".
-- Kinds form a small hierarchy so a caller can catch a family of errors:
-- `errors.is(err, "DeviceError")` is true for a DeviceNotFoundError too.

local errors = {}

-- child kind -> parent kind
local parents = {
  STSError = false,
  ValueError = "STSError",
  DeviceError = "STSError",
  DeviceNotFoundError = "DeviceError",
  DmUnavailableError = "DeviceError",
  DmpdError = "STSError",
  CommandError = "STSError",
  TimeoutError = "STSError",
  TestkitError = "STSError",
}

local Error = {}
Error.__name = "sts.Error"
Error.__index = Error

function Error.__tostring(err)
  return err.kind .. ": " .. err.message
end

--- Registers a new kind below `parent` (default STSError).
function errors.define(kind, parent)
  assert(type(kind) == "string", "kind must be a string")
  parent = parent or "STSError"
  if parents[parent] == nil then
    error("unknown parent error kind '" .. tostring(parent) .. "'", 2)
  end
  if parents[kind] == nil then parents[kind] = parent end
  return kind
end

--- Builds an error object without raising it.
function errors.new(kind, message, errno, extra)
  if parents[kind] == nil then
    error("unknown error kind '" .. tostring(kind) .. "'", 2)
  end
  local err = setmetatable({kind = kind, message = tostring(message), errno = errno}, Error)
  if extra then
    for k, v in pairs(extra) do
      if err[k] == nil then err[k] = v end
    end
  end
  return err
end

--- Raises an error object of `kind`.
-- The error is raised as a table, so `level` position info is added to the
-- message instead (as error() would for strings).
function errors.raise(kind, message, errno, extra)
  error(errors.new(kind, message, errno, extra), 0)
end

--- Raises an error object of `kind` whose message is string.format(fmt, ...).
-- @tparam string kind an error kind ("ValueError", ...)
-- @tparam string fmt a string.format format
function errors.raisef(kind, fmt, ...)
  error(errors.new(kind, string.format(fmt, ...)), 0)
end

--- Checks a table of options: nil is no options; any other value must be a
-- table whose keys are all named in `known`; where known[key] is a type name
-- ("boolean", "string", "number", "table", "function") a value that is not
-- nil must be of that type (known[key] = true takes any value). Raises a
-- ValueError naming `what` and the field.
-- @tparam table|nil opts the options given
-- @tparam table known option name -> true or a type name
-- @tparam string what the function, for the message ("dm.create")
-- @treturn table opts, or a shared empty table for nil (never write to it)
function errors.check_options(opts, known, what)
  if opts == nil then return errors.NO_OPTIONS end
  if type(opts) ~= "table" then
    errors.raisef("ValueError", "%s: expected a table of options, got %s", what, type(opts))
  end
  for key, value in next, opts do
    local kind = known[key]
    if not kind then errors.raisef("ValueError", "%s: unknown option '%s'", what, tostring(key)) end
    if kind ~= true and type(value) ~= kind then
      errors.raisef("ValueError", "%s: option '%s' must be a %s, got %s", what, key, kind, type(value))
    end
  end
  return opts
end

--- The empty options table `check_options` returns for nil (read-only).
errors.NO_OPTIONS = setmetatable({}, {__newindex = function()
  error("NO_OPTIONS is read-only", 2)
end, __metatable = false})

--- True when `err` is an sts error of `kind` or of a kind below it.
function errors.is(err, kind)
  if getmetatable(err) ~= Error then return false end
  local k = err.kind
  while k do
    if k == kind then return true end
    k = parents[k]
  end
  return false
end

--- The kinds known, as a set (for documentation and tests).
function errors.kinds()
  local set = {}
  for k in pairs(parents) do set[k] = true end
  return set
end

errors.Error = Error
return errors

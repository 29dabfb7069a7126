-- Assertions on sts error objects, shared by the specs.
local errors = require "sts.errors"
local assert = require "luassert"

local M = {}

--- Calls fn(...) and asserts it raised an sts error of `kind` (or a kind
-- below it) whose message matches the Lua pattern `pattern` (nil: any).
-- Returns the error.
function M.raises(kind, pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a " .. kind)
  assert.is_true(errors.is(err, kind), "expected " .. kind .. ", got " .. tostring(err))
  if pattern then assert.matches(pattern, err.message) end
  return err
end

--- Calls fn() and asserts it raised a ValueError whose message contains
-- every plain string given.
function M.value_error(fn, ...)
  local err = M.raises("ValueError", nil, fn)
  for _, part in ipairs({...}) do
    assert.is_truthy(err.message:find(part, 1, true),
      string.format("message %q does not mention %q", err.message, part))
  end
  return err
end

return M

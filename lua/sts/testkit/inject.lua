--- sts.testkit.inject: faults injected under a live stack by swapping one
-- device's table and swapping it back.

local dm = require "sts.dm"
local errors = require "sts.errors"
local lifecycle = require "sts.testkit.lifecycle"

local track, untrack, new_name, remove_dm = lifecycle.track, lifecycle.untrack,
  lifecycle.new_name, lifecycle.remove_dm
local device_of, class = lifecycle.device_of, lifecycle.class

local function value_error(fmt, ...) errors.raisef("ValueError", fmt, ...) end
local function kit_error(fmt, ...) errors.raisef("TestkitError", fmt, ...) end

local testkit = {}

-- fault injection ------------------------------------------------------------------

local Fault = class("sts.testkit.Fault")

local FAULT_TYPES = {error = true, flakey = true, delay = true, zero = true}

-- The fault target over `under` (a device string) for [start, start+size),
-- reading the same sectors of `under` as the original did.
local function fault_target(spec, start, size, under)
  local fields = {}
  for k, v in pairs(spec) do
    if k ~= "type" and k ~= "start" and k ~= "size" then fields[k] = v end
  end
  fields.start, fields.size = start, size
  if spec.type == "error" then return dm.ErrorTarget(fields) end
  if spec.type == "zero" then return dm.ZeroTarget(fields) end
  fields.device, fields.offset = fields.device or under, fields.offset or start
  if spec.type == "flakey" then
    fields.up = fields.up or 0
    fields.down = fields.down or 1
    return dm.FlakeyTarget(fields)
  end
  fields.delay = fields.delay or 0
  return dm.DelayTarget(fields)
end

--- testkit.inject(dev, {type="error"|"flakey"|"delay"|"zero", start=, size=,
-- ...the target's own fields}) -> handle with :restore() (and <close>)
-- Swaps the table of dev (all of it, or the sector range given) for the
-- fault, keeping the rest of the device as it was; restore puts the
-- original table back. The original mapping is kept alive in a hidden
-- device named "<name>-orig" that the fault and the untouched ranges read
-- through, so any table (not only linear ones) can take a fault.
function testkit.inject(dev, spec)
  if type(spec) ~= "table" or not FAULT_TYPES[spec.type] then
    value_error("testkit.inject: spec.type must be error, flakey, delay or zero")
  end
  dev = device_of(dev, "testkit.inject")
  local original = dev:targets()
  local total = dev.size // 512
  local start = spec.start or 0
  local size = spec.size or (total - start)
  if math.type(start) ~= "integer" or start < 0 or math.type(size) ~= "integer" or size <= 0
      or start + size > total then
    value_error("testkit.inject: range %s+%s is outside the device's %d sectors",
      tostring(start), tostring(size), total)
  end
  local orig_name = dev.dm_name .. "-orig"
  if #orig_name > dm.NAME_MAX then orig_name = new_name("orig") end
  local hidden = dm.create(orig_name, original)
  local under = hidden.path
  local list = {}
  if start > 0 then list[#list + 1] = dm.LinearTarget{start = 0, size = start, device = under, offset = 0} end
  local okf, fault = pcall(fault_target, spec, start, size, under)
  if not okf then
    hidden:remove()
    error(fault, 0)
  end
  list[#list + 1] = fault
  if start + size < total then
    list[#list + 1] = dm.LinearTarget{start = start + size, size = total - start - size,
      device = under, offset = start + size}
  end
  local swapped, msg = dev:reload(list, {noflush = true})
  if not swapped then
    hidden:remove()
    errors.raise("DeviceError", "inject into " .. dev.dm_name .. ": " .. msg)
  end
  return track(setmetatable({dev = dev, original = original, hidden = hidden, spec = spec}, Fault))
end

--- fault:restore() -> true: the original table is live again
function Fault:restore()
  if self.removed then return true end
  local ok, msg = self.dev:reload(self.original, {noflush = true})
  if not ok then kit_error("restore %s: %s", self.dev.dm_name, msg) end
  local okh, msgh = remove_dm(self.hidden.dm_name)
  if not okh then kit_error("remove %s: %s", self.hidden.dm_name, msgh) end
  self.removed = true
  untrack(self)
  return true
end
Fault.remove = Fault.restore

return testkit

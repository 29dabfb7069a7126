--- sts.testkit.lifecycle: what every fixture shares: the registry of live
-- fixtures, device naming, the loops the kit made, leak reports and the
-- cleanup of what a killed run left behind.
--
-- A fixture is a table whose class comes from `lifecycle.class(name)`: it
-- has :remove() (idempotent) and is a to-be-closed value. `track` puts it
-- in the registry when it is made, `untrack` takes it out when removed;
-- `cleanup()` removes what is still tracked, newest first.

local dm = require "sts.dm"
local errors = require "sts.errors"
local loop = require "sts.loop"

local lifecycle = {}

local sio_module
local function sio()
  sio_module = sio_module or require "sts.io"
  return sio_module
end

-- what the kit made and has not removed yet, oldest first
local live = {}
-- loop device paths the kit attached (for leaks())
local made_loops = {}
local counter = 0

local function pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return "0" end
  local text = f:read("l") or "0"
  f:close()
  return text:match("^(%d+)") or "0"
end

--- The prefix of every device name the kit makes in this process.
lifecycle.prefix = "sts-" .. pid() .. "-"

--- A new device name: the prefix, `tag` and a counter.
-- @tparam string tag what the device is ("pool", "linear", ...)
-- @treturn string
function lifecycle.new_name(tag)
  counter = counter + 1
  return string.format("%s%s%d", lifecycle.prefix, tag, counter)
end

--- A loop device over a new sparse file of size_mb, remembered for leaks().
-- @tparam integer size_mb
-- @treturn Loop
function lifecycle.new_loop(size_mb)
  -- the backing file carries the run's prefix, so that cleanup_leftovers
  -- of another run leaves it alone
  local lo = loop.create{size_mb = size_mb, tag = lifecycle.prefix}
  made_loops[lo.path] = true
  return lo
end

--- Adds a fixture to the registry.
-- @tparam table fixture
-- @treturn table the fixture
function lifecycle.track(fixture)
  live[#live + 1] = fixture
  return fixture
end

--- Takes a fixture out of the registry (once removed).
-- @tparam table fixture
function lifecycle.untrack(fixture)
  for i = #live, 1, -1 do
    if live[i] == fixture then table.remove(live, i) return end
  end
end

--- Removes a dm device by name (see `sts.dm.remove_by_name`).
-- @tparam string name
-- @treturn boolean|nil true, or nil, message, errno
function lifecycle.remove_dm(name)
  return dm.remove_by_name(name)
end

local Fixture = {}
Fixture.__index = Fixture

-- The warning a failed teardown adds to the error already on its way.
local function with_warning(err, name, why)
  local warning = string.format("\n  (warning: teardown of %s failed too: %s)", name, tostring(why))
  if type(err) == "table" and type(err.message) == "string" then
    err.message = err.message .. warning  -- an sts error, or any error with a message
    return err, false
  end
  if type(err) == "string" then return err .. warning, true end
  return err, false
end

--- The close metamethod of fixtures. Leaving the scope normally, a failed
-- teardown raises as any failure does. Leaving it by an error, the
-- teardown runs under pcall and its failure is appended to that error as
-- a warning: the test's own error is what gets reported, never replaced.
-- @tparam table self the fixture
-- @param err the error pending, or nil
function lifecycle.close(self, err)
  if err == nil then
    self:remove()
    return
  end
  local ok, why = pcall(self.remove, self)
  if ok then return end
  local name = tostring(rawget(self, "name") or getmetatable(self).__name)
  local combined, reraise = with_warning(err, name, why)
  if reraise then error(combined, 0) end  -- a string cannot be changed in place
  if combined == err and type(err) ~= "table" then
    io.stderr:write("warning: teardown of ", name, " failed: ", tostring(why), "\n")
  end
end

--- A fixture class named `name`: instances need a remove(); the close
-- metamethod calls it (see `lifecycle.close`).
-- @tparam string name the class name (its __name)
-- @treturn table the class, to fill with methods
function lifecycle.class(name)
  local c = setmetatable({}, {__index = Fixture})
  c.__index = c
  c.__name = name
  c.__close = lifecycle.close
  return c
end

local function field(value, key)
  local ok, v = pcall(function() return value[key] end)
  if ok then return v end
  return nil
end

--- value[key], or nil where value cannot be indexed (a number, nil, ...).
-- @function field
-- @param value any value
-- @param key the key
-- @return the field, or nil
lifecycle.field = field

--- A fixture's DmDevice (its .dev), or the value itself.
-- @param value a fixture or anything
function lifecycle.unwrap(value)
  local inner = field(value, "dev")
  if inner ~= nil then return inner end
  return value
end

--- A fixture (with .dev) or a DmDevice as the DmDevice; anything else is a
-- ValueError naming `what`.
-- @param value
-- @tparam string what the function, for the message
-- @treturn DmDevice
function lifecycle.device_of(value, what)
  value = lifecycle.unwrap(value)
  if type(field(value, "info")) ~= "function" or field(value, "dm_name") == nil then
    errors.raisef("ValueError", "%s: expected a DmDevice or a fixture with .dev, got %s", what,
      type(value))
  end
  return value
end

--- Raises a ValueError unless value is an integer > 0.
-- @param value
-- @tparam string field_name the option, for the message
-- @tparam string what the function, for the message
-- @treturn integer value
function lifecycle.check_positive_integer(value, field_name, what)
  if math.type(value) ~= "integer" or value <= 0 then
    errors.raisef("ValueError", "%s: %s must be a positive integer, got %s", what, field_name,
      tostring(value))
  end
  return value
end

-- leaks and cleanup ----------------------------------------------------------------------

-- names of devices made elsewhere and handed to the kit (adopt)
local adopted_names = {}

--- What holds the block device `kname` ("loop3") open from above: the
-- entries of its sysfs holders/ directory, each with its mapper name when
-- it is a dm device.
-- @tparam string kname the kernel name
-- @treturn {{name=,dm_name=},...} in name order (empty when none)
function lifecycle.holders_of(kname)
  local names = sio().list_dir("/sys/class/block/" .. kname .. "/holders") or {}
  table.sort(names)
  local list = {}
  for i, name in ipairs(names) do
    local f = io.open("/sys/class/block/" .. name .. "/dm/name", "r")
    local dm_name = f and f:read("l") or nil
    if f then f:close() end
    list[i] = {name = name, dm_name = dm_name}
  end
  return list
end

--- Text naming the holders of the block device `kname`: " (held by dm-3
-- sts-1-x)"; "" when nothing holds it.
-- @tparam string kname
-- @treturn string
function lifecycle.describe_holders(kname)
  local held = lifecycle.holders_of(kname)
  if #held == 0 then return "" end
  local parts = {}
  for i, h in ipairs(held) do parts[i] = h.dm_name and (h.name .. " " .. h.dm_name) or h.name end
  return " (held by " .. table.concat(parts, ", ") .. ")"
end

--- What the kit made or adopted that still exists, and any kit device left
-- suspended; a loop that is still attached names what holds it.
-- @treturn {{kind=,name=,why=,holders=},...} kind "dm" or "loop"; holders
-- (loops only) as `holders_of` gives them
function lifecycle.leaks()
  local found = {}
  -- no device-mapper here (the host tier): no dm device can have leaked
  local names = dm.available() and dm.names_with_prefix(lifecycle.prefix) or {}
  local listed = {}
  for _, name in ipairs(names) do listed[name] = true end
  for name in pairs(adopted_names) do
    if not listed[name] then names[#names + 1] = name end
  end
  for _, name in ipairs(names) do
    local info = dm.info(name)
    if info.exists then
      found[#found + 1] = {kind = "dm", name = name,
        why = info.suspended and "left suspended" or "still exists"}
    else
      adopted_names[name] = nil
    end
  end
  for _, lo in ipairs(loop.list()) do
    if made_loops[lo.path] and lo.file and lo.file:match("/sts%-loop%-[^/]*$") then
      local kname = lo.path:match("([^/]+)$")
      found[#found + 1] = {kind = "loop", name = lo.path,
        why = "still attached" .. lifecycle.describe_holders(kname),
        holders = lifecycle.holders_of(kname)}
    end
  end
  return found
end

local Adopted = lifecycle.class("sts.testkit.Adopted")

--- Puts a device made elsewhere (`dm.create`) into the kit's registry: it
-- is torn down with the kit's fixtures (newest first, by `cleanup()` and
-- the busted guard) and listed by `leaks()` while it exists.
-- @tparam DmDevice d the device
-- @treturn table a fixture (`.dev`, `.name`, `.path`, `:remove()`,
-- `:status()`), to-be-closed
function lifecycle.adopt(d)
  d = lifecycle.device_of(d, "testkit.adopt")
  local name = d.dm_name
  adopted_names[name] = true
  return lifecycle.track(setmetatable({dev = d, name = name, path = d.path}, Adopted))
end

function Adopted:remove()
  if self.removed then return true end
  local ok, msg = dm.remove_by_name(self.name)
  if not ok then errors.raisef("TestkitError", "remove %s: %s", self.name, msg) end
  self.removed = true
  adopted_names[self.name] = nil
  lifecycle.untrack(self)
  return true
end

--- The first target's typed status.
-- @treturn table
function Adopted:status()
  return self.dev:status_table()[1]
end

--- Removes every live fixture, newest first.
-- @treturn {string,...} the errors met (empty when all went)
function lifecycle.cleanup()
  local problems = {}
  for i = #live, 1, -1 do
    local f = live[i]
    if f then
      local ok, err = pcall(f.remove, f)
      if not ok then problems[#problems + 1] = tostring(err) end
      lifecycle.untrack(f)
    end
  end
  return problems
end

-- The kit's loop backing files: "sts-loop-<run prefix>XXXXXX".
local function kit_loop_file(file, prefix)
  local base = type(file) == "string" and file:gsub(" %(deleted%)$", ""):match("/(sts%-loop%-[^/]*)$")
  return base ~= nil and base:sub(1, #"sts-loop-" + #prefix) == "sts-loop-" .. prefix
end

--- Detaches the loop device at `path` and deletes its backing file when it
-- is one of the kit's "sts-loop-" files.
-- @tparam string path "/dev/loopN"
-- @tparam[opt] string file its backing file, when known
-- @treturn boolean true when detached
function lifecycle.detach_kit_loop(path, file)
  if not loop.detach(path) then return false end
  if kit_loop_file(file, "") then os.remove((file:gsub(" %(deleted%)$", ""))) end
  return true
end

--- For what a killed process (SIGKILL) leaves: removes every dm device
-- whose name starts with prefix (default "sts-"), top of each stack first,
-- and detaches the loop devices over the kit's backing files of that
-- prefix ("sts-loop-<prefix>..."), deleting them. What another run made
-- (another prefix, "sts-<its pid>-") is left alone.
-- @tparam[opt] string prefix
-- @treturn {string,...} the names removed
function lifecycle.cleanup_leftovers(prefix)
  prefix = prefix or "sts-"
  if type(prefix) ~= "string" or prefix == "" then
    errors.raisef("ValueError", "cleanup_leftovers: prefix must be a non-empty string")
  end
  local removed = dm.sweep(prefix)
  for _, lo in ipairs(loop.list()) do
    if kit_loop_file(lo.file, prefix) then
      if lifecycle.detach_kit_loop(lo.path, lo.file) then removed[#removed + 1] = lo.path end
    end
  end
  return removed
end

return lifecycle

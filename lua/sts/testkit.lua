--- sts.testkit: fixtures for storage tests that always clean up.
--
--   local testkit = require "sts.testkit"
--   local pool <close> = testkit.thin_pool{data_mb = 64, metadata_mb = 8}
--   local thin = pool:create_thin(0, 2 * 1024 * 1024)   -- sectors
--   ... write to thin.dev.path ...
--   -- leaving the block removes the thin device, the pool, its linear
--   -- data/metadata devices and their loop devices, then thin_checks the
--   -- pool's metadata and raises if it is damaged
--
-- Every fixture has :remove() and works as a to-be-closed variable.
-- Teardown is newest-first, children (thins) before their parent (pool).

local core = require "sts.core"
local dm = require "sts.dm"
local errors = require "sts.errors"
local loop = require "sts.loop"

local cdm = core.dm
local testkit = {}

-- what the kit made and has not removed yet, oldest first
local live = {}
-- loop device paths the kit attached (for leaks())
local made_loops = {}

local function new_loop(size_mb)
  local lo = loop.create{size_mb = size_mb}
  made_loops[lo.path] = true
  return lo
end
local counter = 0

local function value_error(fmt, ...)
  errors.raise("ValueError", string.format(fmt, ...))
end

local function kit_error(fmt, ...)
  errors.raise("TestkitError", string.format(fmt, ...))
end

local function pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return "0" end
  local text = f:read("l") or "0"
  f:close()
  return text:match("^(%d+)") or "0"
end

--- The prefix of every device name the kit makes in this process.
testkit.prefix = "sts-" .. pid() .. "-"

local function new_name(tag)
  counter = counter + 1
  return string.format("%s%s%d", testkit.prefix, tag, counter)
end

local function check_fields(opts, known, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then value_error("%s: expected a table of options", what) end
  for key in pairs(opts) do
    if not known[key] then value_error("%s: unknown option '%s'", what, tostring(key)) end
  end
  return opts
end

local function check_positive_integer(value, field, what)
  if math.type(value) ~= "integer" or value <= 0 then
    value_error("%s: %s must be a positive integer, got %s", what, field, tostring(value))
  end
  return value
end

-- value[key], or nil where value cannot be indexed (a number, nil, ...)
local function field(value, key)
  local ok, v = pcall(function() return value[key] end)
  if ok then return v end
  return nil
end

-- A fixture's DmDevice (its .dev), or the value itself.
local function unwrap(value)
  local inner = field(value, "dev")
  if inner ~= nil then return inner end
  return value
end

-- A fixture (with .dev) or a DmDevice as the DmDevice; anything else is a
-- ValueError naming the function.
local function device_of(value, what)
  value = unwrap(value)
  if type(field(value, "info")) ~= "function" or field(value, "dm_name") == nil then
    value_error("%s: expected a DmDevice or a fixture with .dev, got %s", what, type(value))
  end
  return value
end

-- registry ------------------------------------------------------------------

local function track(fixture)
  live[#live + 1] = fixture
  return fixture
end

local function untrack(fixture)
  for i = #live, 1, -1 do
    if live[i] == fixture then table.remove(live, i) return end
  end
end

-- libdevmapper logs each attempt of a retried remove, so the message
-- can hold the same "...: Device or resource busy" many times: keep each
-- distinct part once.
local function distinct_parts(msg)
  local seen, parts = {}, {}
  for part in (tostring(msg) .. "; "):gmatch("(.-); ") do
    if not seen[part] then
      seen[part] = true
      parts[#parts + 1] = part
    end
  end
  return table.concat(parts, "; ")
end

-- Removes a dm device by name, resuming it first (a suspended device
-- would hang the remove's flush). core.dm.remove itself retries a device
-- briefly held open for about a second; libdevmapper's own retry is not
-- asked for: on top of that it makes a device that stays busy (something
-- the kit does not know about sits on it) take 40 s to fail.
local function remove_dm(name)
  local info = cdm.info(name)
  if not info or not info.exists then return true end
  if info.suspended then cdm.resume(name) end
  local ok, msg, err = cdm.remove(name)
  if not ok then return nil, distinct_parts(msg), err end
  return true
end

local Fixture = {}
Fixture.__index = Fixture

-- a fixture class with a remove(); the close metamethod is shared
local function class(name)
  local c = setmetatable({}, {__index = Fixture})
  c.__index = c
  c.__name = name
  c.__close = function(self) self:remove() end
  return c
end

-- devices -------------------------------------------------------------------

-- A block device spec (loop object, DmDevice, fixture, path) as the string
-- a table takes, and its size in sectors.
local function backing_of(backing, what)
  if type(backing) == "string" then
    local bytes, msg = core.loop.size(backing)
    if not bytes then value_error("%s: %s", what, msg) end
    return backing, bytes // 512
  end
  backing = unwrap(backing)
  local path = field(backing, "path")
  if type(path) ~= "string" then value_error("%s: backing must be a loop, a DmDevice or a path", what) end
  local bytes = backing.size or core.loop.size(path)
  return path, bytes // 512
end

local Linear = class("sts.testkit.Linear")

--- testkit.linear(backing, {size=, offset=, name=}) -> fixture with .dev
-- size and offset in sectors; size defaults to the rest of the backing.
function testkit.linear(backing, opts)
  opts = check_fields(opts, {size = true, offset = true, name = true}, "testkit.linear")
  local path, sectors = backing_of(backing, "testkit.linear")
  local offset = opts.offset or 0
  local size = opts.size or (sectors - offset)
  check_positive_integer(size, "size", "testkit.linear")
  local name = dm.check_name(opts.name or new_name("linear"), "testkit.linear: name")
  local dev = dm.create(name, dm.LinearTarget{size = size, device = path, offset = offset})
  return track(setmetatable({dev = dev, name = name, path = dev.path}, Linear))
end

function Linear:remove()
  if self.removed then return true end
  local ok, msg = remove_dm(self.name)
  if not ok then kit_error("remove %s: %s", self.name, msg) end
  self.removed = true
  untrack(self)
  return true
end

local LoopSet = class("sts.testkit.LoopSet")

--- testkit.loop_devices(n, size_mb) -> list of loop objects (the list is
-- a fixture too: :remove() or <close> detaches them all)
function testkit.loop_devices(n, size_mb)
  check_positive_integer(n, "n", "testkit.loop_devices")
  check_positive_integer(size_mb, "size_mb", "testkit.loop_devices")
  local set = setmetatable({}, LoopSet)
  track(set)
  for i = 1, n do set[i] = new_loop(size_mb) end
  return set
end

function LoopSet:remove()
  if self.removed then return true end
  for i = #self, 1, -1 do
    local ok, msg = self[i]:remove()
    if not ok then kit_error("remove %s: %s", self[i].path, msg) end
  end
  self.removed = true
  untrack(self)
  return true
end

-- A loop device with a linear dm device over it: faults can be injected
-- into the linear device under a live stack.
local function scratch_device(tag, size_mb)
  local lo = new_loop(size_mb)
  local ok, dev = pcall(dm.create, new_name(tag), dm.LinearTarget{size = lo.size // 512,
    device = lo.path, offset = 0})
  if not ok then
    lo:remove()
    error(dev, 0)
  end
  return {loop = lo, dev = dev}
end

local function remove_scratch(s)
  local ok, msg = remove_dm(s.dev.dm_name)
  if not ok then return nil, msg end
  return s.loop:remove()
end

-- status ----------------------------------------------------------------------

local function typed_status(dev)
  local list = dev:status_table()
  return list[1], list
end

-- thin pools --------------------------------------------------------------------

local Pool = class("sts.testkit.ThinPool")
local Thin = class("sts.testkit.Thin")

local POOL_FIELDS = {data_mb = true, metadata_mb = true, block_size = true, low_water_mark = true,
  features = true, name = true, check = true}

--- testkit.thin_pool{data_mb=64, metadata_mb=8, block_size=128,
-- low_water_mark=0, features={...}, name=, check=true} -> pool fixture
-- pool.dev (the pool DmDevice), pool.data / pool.metadata (linear
-- DmDevices over loop devices, where faults can be injected).
function testkit.thin_pool(opts)
  opts = check_fields(opts, POOL_FIELDS, "testkit.thin_pool")
  local data_mb = check_positive_integer(opts.data_mb or 64, "data_mb", "testkit.thin_pool")
  local meta_mb = check_positive_integer(opts.metadata_mb or 8, "metadata_mb", "testkit.thin_pool")
  local block_size = check_positive_integer(opts.block_size or 128, "block_size", "testkit.thin_pool")
  local name = dm.check_name(opts.name or new_name("pool"), "testkit.thin_pool: name")
  local pool = setmetatable({name = name, thins = {}, check_on_remove = opts.check ~= false,
    block_size = block_size}, Pool)
  track(pool)
  local ok, err = pcall(function()
    pool.meta_scratch = scratch_device("meta", meta_mb)
    pool.data_scratch = scratch_device("data", data_mb)
    pool.metadata, pool.data = pool.meta_scratch.dev, pool.data_scratch.dev
    -- a fresh pool needs a zeroed first metadata block
    local f = assert(io.open(pool.metadata.path, "r+b"))
    assert(f:write(string.rep("\0", 4096)))
    f:close()
    pool.dev = dm.create(name, dm.ThinPoolTarget{
      size = pool.data.size // 512, metadata_dev = pool.metadata.path, data_dev = pool.data.path,
      block_size = block_size, low_water_mark = opts.low_water_mark or 0,
      features = opts.features or {}})
    pool.path = pool.dev.path
  end)
  if not ok then
    pool.check_on_remove = false
    pcall(pool.remove, pool)
    error(err, 0)
  end
  return pool
end

local function pool_message(pool, text)
  local ok, msg, err = pool.dev:message(0, text)
  if not ok then errors.raise("DeviceError", "thin-pool " .. pool.name .. ": " .. msg, err) end
  return ok
end

local function activate_thin(pool, id, size, name)
  local thin = setmetatable({pool = pool, id = id, size = size,
    name = name or new_name("thin")}, Thin)
  thin.dev = dm.create(thin.name, dm.ThinTarget{size = size, pool_dev = pool.dev.path, dev_id = id})
  thin.path = thin.dev.path
  pool.thins[#pool.thins + 1] = thin
  return track(thin)
end

--- pool:create_thin(id, size_sectors, name) -> thin fixture (.dev, .id)
function Pool:create_thin(id, size, name)
  if math.type(id) ~= "integer" or id < 0 then value_error("create_thin: id must be an integer >= 0") end
  check_positive_integer(size, "size", "create_thin")
  pool_message(self, "create_thin " .. id)
  return activate_thin(self, id, size, name)
end

--- pool:activate_thin(id, size_sectors, name) -> a thin fixture for an
-- existing thin id (a restored pool, a snapshot made by message)
function Pool:activate_thin(id, size, name)
  check_positive_integer(size, "size", "activate_thin")
  return activate_thin(self, id, size, name)
end

local function thin_by_id(pool, id)
  for _, t in ipairs(pool.thins) do
    if t.id == id and not t.removed then return t end
  end
end

--- pool:create_snapshot(origin_id, snap_id, name) -> thin fixture of the
-- snapshot; an active origin is suspended around the message, as the
-- kernel requires
function Pool:create_snapshot(origin_id, snap_id, name)
  local origin = thin_by_id(self, origin_id)
  if origin then assert(origin.dev:suspend()) end
  local ok, err = pcall(pool_message, self, string.format("create_snap %d %d", snap_id, origin_id))
  if origin then assert(origin.dev:resume()) end
  if not ok then error(err, 0) end
  local size = origin and origin.size or (self.data.size // 512)
  return activate_thin(self, snap_id, size, name)
end

--- pool:delete_thin(id): removes its device when active, then the thin
function Pool:delete_thin(id)
  local t = thin_by_id(self, id)
  if t then t:remove() end
  return pool_message(self, "delete " .. id)
end

--- pool:status() -> the typed thin-pool status
function Pool:status()
  return (typed_status(self.dev))
end

local dmpd_module
local function dmpd()
  dmpd_module = dmpd_module or require "sts.dmpd"
  return dmpd_module
end

--- pool:check() -> the thin_check CommandResult; while the pool is live
-- it checks through a metadata snapshot, after removal the device itself.
-- Raises TestkitError when thin_check finds damage.
function Pool:check()
  local result
  -- leaked data blocks (a failed write under an injected fault leaves
  -- them) do not make the metadata inconsistent: 0.9 reports them and
  -- exits 0, 1.x exits 64 unless told they are non-fatal; with the flag
  -- both generations fail on real damage only
  if self.dev and not self.pool_removed then
    pool_message(self, "reserve_metadata_snap")
    local ok, res = pcall(dmpd().thin_check, self.metadata.path,
                          {metadata_snap = true, ignore_non_fatal_errors = true})
    pool_message(self, "release_metadata_snap")
    if not ok then error(res, 0) end
    result = res
  else
    result = dmpd().thin_check(self.metadata.path, {ignore_non_fatal_errors = true})
  end
  if not result.succeeded then
    kit_error("thin_check of pool %s failed (rc %s): %s", self.name, tostring(result.rc),
      (result.stderr ~= "" and result.stderr or result.stdout):gsub("%s+$", ""))
  end
  return result
end

function Thin:remove()
  if self.removed then return true end
  local ok, msg = remove_dm(self.name)
  if not ok then kit_error("remove thin %s: %s", self.name, msg) end
  self.removed = true
  untrack(self)
  return true
end

--- Removes the thins, the pool, then checks the metadata (unless
-- check=false) before the scratch devices go. Raises when the check fails,
-- after everything is removed.
function Pool:remove()
  if self.removed then return true end
  local problems = {}
  for i = #self.thins, 1, -1 do
    local ok, err = pcall(self.thins[i].remove, self.thins[i])
    if not ok then problems[#problems + 1] = tostring(err) end
  end
  if self.dev then
    local ok, msg = remove_dm(self.name)
    if not ok then problems[#problems + 1] = "remove pool " .. self.name .. ": " .. msg end
    self.pool_removed = true
  end
  local check_failure
  if self.check_on_remove and self.dev and #problems == 0 then
    local ok, err = pcall(self.check, self)
    if not ok then check_failure = err end
  end
  for _, s in ipairs({self.data_scratch, self.meta_scratch}) do
    local ok, msg = remove_scratch(s)
    if not ok then problems[#problems + 1] = msg end
  end
  self.removed = true
  untrack(self)
  if check_failure then error(check_failure, 0) end
  if #problems > 0 then kit_error("%s", table.concat(problems, "; ")) end
  return true
end

-- cache and era ----------------------------------------------------------------

local Stack = class("sts.testkit.Stack")

-- A target over scratch devices: removes the top device, then the scratch
-- devices, in reverse.
function Stack:remove()
  if self.removed then return true end
  local problems = {}
  if self.dev then
    local ok, msg = remove_dm(self.name)
    if not ok then problems[#problems + 1] = msg end
  end
  for i = #self.scratch, 1, -1 do
    local ok, msg = remove_scratch(self.scratch[i])
    if not ok then problems[#problems + 1] = msg end
  end
  self.removed = true
  untrack(self)
  if #problems > 0 then kit_error("remove %s: %s", self.name, table.concat(problems, "; ")) end
  return true
end

function Stack:status()
  return (typed_status(self.dev))
end

local function build_stack(kind, name, parts, make_target)
  local stack = setmetatable({name = name, scratch = {}, kind = kind}, Stack)
  track(stack)
  local ok, err = pcall(function()
    for _, p in ipairs(parts) do
      local s = scratch_device(p[1], p[2])
      stack.scratch[#stack.scratch + 1] = s
      stack[p[1]] = s.dev
    end
    stack.dev = dm.create(name, make_target(stack))
    stack.path = stack.dev.path
  end)
  if not ok then
    pcall(stack.remove, stack)
    error(err, 0)
  end
  return stack
end

--- testkit.cache{origin_mb=128, cache_mb=32, metadata_mb=8, block_size=128,
-- features={"writethrough"}, policy="smq", policy_args={}, name=} -> fixture
-- with .dev, .origin, .cache, .metadata
function testkit.cache(opts)
  opts = check_fields(opts, {origin_mb = true, cache_mb = true, metadata_mb = true,
    block_size = true, features = true, policy = true, policy_args = true, name = true},
    "testkit.cache")
  local name = dm.check_name(opts.name or new_name("cache"), "testkit.cache: name")
  for _, field in ipairs({"origin_mb", "cache_mb", "metadata_mb", "block_size"}) do
    if opts[field] ~= nil then check_positive_integer(opts[field], field, "testkit.cache") end
  end
  return build_stack("cache", name, {{"metadata", opts.metadata_mb or 8},
    {"cache", opts.cache_mb or 32}, {"origin", opts.origin_mb or 128}}, function(s)
      local f = assert(io.open(s.metadata.path, "r+b"))
      assert(f:write(string.rep("\0", 4096)))
      f:close()
      return dm.CacheTarget{size = s.origin.size // 512, metadata_dev = s.metadata.path,
        cache_dev = s.cache.path, origin_dev = s.origin.path, block_size = opts.block_size or 128,
        features = opts.features or {"writethrough"}, policy = opts.policy or "smq",
        policy_args = opts.policy_args or {}}
    end)
end

--- testkit.era{origin_mb=64, metadata_mb=8, block_size=128, name=} -> fixture
function testkit.era(opts)
  opts = check_fields(opts, {origin_mb = true, metadata_mb = true, block_size = true, name = true},
    "testkit.era")
  local name = dm.check_name(opts.name or new_name("era"), "testkit.era: name")
  for _, field in ipairs({"origin_mb", "metadata_mb", "block_size"}) do
    if opts[field] ~= nil then check_positive_integer(opts[field], field, "testkit.era") end
  end
  return build_stack("era", name, {{"metadata", opts.metadata_mb or 8},
    {"origin", opts.origin_mb or 64}}, function(s)
      local f = assert(io.open(s.metadata.path, "r+b"))
      assert(f:write(string.rep("\0", 4096)))
      f:close()
      return dm.EraTarget{size = s.origin.size // 512, metadata_dev = s.metadata.path,
        origin_dev = s.origin.path, block_size = opts.block_size or 128}
    end)
end

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
  if #orig_name > cdm.NAME_MAX then orig_name = new_name("orig") end
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

-- waiting -----------------------------------------------------------------------------

--- testkit.wait_for(dev, predicate, timeout_ms) -> the typed status that
-- satisfied predicate(status, all_targets). Re-reads the status on each
-- dm event of dev (no sleep loop); raises TimeoutError after timeout_ms
-- (default 30000) with the last status seen.
function testkit.wait_for(dev, predicate, timeout_ms)
  if type(predicate) ~= "function" then value_error("testkit.wait_for: predicate must be a function") end
  if timeout_ms ~= nil and (math.type(timeout_ms) ~= "integer" or timeout_ms < 0) then
    value_error("testkit.wait_for: timeout_ms must be an integer >= 0")
  end
  dev = device_of(dev, "testkit.wait_for")
  timeout_ms = timeout_ms or 30000
  local t_start = core.loop.monotonic_ms()
  local last
  while true do
    local event_nr = dev:info().event_nr
    local first, all = typed_status(dev)
    last = first
    if predicate(first, all) then return first, all end
    local left = timeout_ms - (core.loop.monotonic_ms() - t_start)
    if left <= 0 then break end
    local nr, why = dev:wait_event(event_nr, left)
    if not nr and why ~= "timeout" then errors.raise("DeviceError", "wait_for " .. dev.dm_name .. ": " .. why) end
  end
  local shown = {}
  for k, v in pairs(last or {}) do shown[#shown + 1] = k .. "=" .. tostring(v) end
  table.sort(shown)
  errors.raise("TimeoutError", string.format("wait_for %s: condition not met in %d ms (last status: %s)",
    dev.dm_name, timeout_ms, table.concat(shown, " ")))
end

-- self-checking scripts -----------------------------------------------------------------

--- testkit.checks() -> check, report for a self-checking script.
-- check(cond, what) prints "  [ok] what" or "  [FAIL] what" and returns
-- cond; a failed check does not stop the script, so one run shows every
-- check. report() prints PASS or "FAIL: N check(s) failed" and returns the
-- exit status (0 or 1): end the script with os.exit(report()), outside
-- the scopes of its fixtures so that they are torn down first.
function testkit.checks()
  local failures = 0
  local function check(cond, what)
    print(string.format("  [%s] %s", cond and "ok" or "FAIL", what))
    if not cond then failures = failures + 1 end
    return cond
  end
  local function report()
    print(failures == 0 and "PASS" or ("FAIL: " .. failures .. " check(s) failed"))
    return failures == 0 and 0 or 1
  end
  return check, report
end

-- leaks and cleanup ----------------------------------------------------------------------

--- testkit.leaks() -> list of {kind=, name=, why=} for what the kit made
-- that still exists, and for any kit device left suspended
function testkit.leaks()
  local found = {}
  local list = cdm.list() or {}
  for _, row in ipairs(list) do
    if row.name:sub(1, #testkit.prefix) == testkit.prefix then
      local info = cdm.info(row.name)
      found[#found + 1] = {kind = "dm", name = row.name,
        why = info and info.suspended and "left suspended" or "still exists"}
    end
  end
  for _, lo in ipairs(loop.list()) do
    if made_loops[lo.path] and lo.file and lo.file:match("/sts%-loop%-[^/]*$") then
      found[#found + 1] = {kind = "loop", name = lo.path, why = "still attached"}
    end
  end
  return found
end

--- testkit.cleanup() -> removes every live fixture, newest first; returns
-- the list of errors met (empty when all went)
function testkit.cleanup()
  local problems = {}
  for i = #live, 1, -1 do
    local f = live[i]
    if f then
      local ok, err = pcall(f.remove, f)
      if not ok then problems[#problems + 1] = tostring(err) end
      untrack(f)
    end
  end
  return problems
end

--- testkit.cleanup_leftovers(prefix) -> names removed
-- For what a killed process (SIGKILL) leaves: removes every dm device
-- whose name starts with prefix (default "sts-"), top of each stack first,
-- and detaches loop devices over the kit's "sts-loop-" files, deleting them.
function testkit.cleanup_leftovers(prefix)
  prefix = prefix or "sts-"
  if type(prefix) ~= "string" or prefix == "" then value_error("cleanup_leftovers: prefix must be a non-empty string") end
  local removed = {}
  -- devices in use by others fail with EBUSY: repeat while progress is made
  local progress = true
  while progress do
    progress = false
    for _, row in ipairs(cdm.list() or {}) do
      if row.name:sub(1, #prefix) == prefix then
        local info = cdm.info(row.name)
        if info and info.exists and info.open_count == 0 then
          if info.suspended then cdm.resume(row.name) end
          if cdm.remove(row.name) then
            removed[#removed + 1] = row.name
            progress = true
          end
        end
      end
    end
  end
  for _, lo in ipairs(loop.list()) do
    if lo.file and lo.file:match("/sts%-loop%-[^/]*$") then
      if core.loop.detach(lo.path) then
        os.remove(lo.file)
        removed[#removed + 1] = lo.path
      end
    end
  end
  return removed
end

-- the gating helpers (need_target, need_kernel, need_tool), for specs and scripts
testkit.gate = require("sts.gate")

return testkit

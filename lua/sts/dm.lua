--- sts.dm: device-mapper devices and tables.
-- Devices are DmDevice userdata over libdevmapper (every operation an
-- ioctl, in-process); targets are typed constructors (sts.targets, all
-- re-exported here).
--
-- Conventions: actions on a device (suspend, resume, remove, reload, load,
-- clear, message, rename, set_uuid) return true, or nil, message, errno,
-- like io functions. Constructors and queries (DmDevice, create, status,
-- info, deps) raise sts errors: DeviceNotFoundError when the device does
-- not exist, DmUnavailableError when the kernel has no device-mapper,
-- DeviceError otherwise; ValueError for bad input.

local core = require "sts.core"
local errors = require "sts.errors"
local kmsg = require "sts.kmsg"
local sio = require "sts.io"
local targets = require "sts.targets"

local cdm = core.dm
local E = cdm.errno

local dm = {}
for name, value in pairs(targets) do dm[name] = value end

local DmDevice = {}
local LIST_DEVICES = {uuids = true, devices = true}
local methods = {}
local device_mt = cdm.device_metatable()

-- errors -----------------------------------------------------------------

local function not_found_errno(err)
  return err == E.ENXIO or err == E.ENODEV or err == E.ENOENT
end

-- Turns an operational failure into the right error kind. When the kernel
-- has no device-mapper at all, say that plainly instead of an ioctl error.
local function raise_failure(message, err)
  local ok, why = cdm.available()
  if not ok then errors.raise("DmUnavailableError", why, err) end
  if not_found_errno(err) then errors.raise("DeviceNotFoundError", message, err) end
  errors.raise("DeviceError", message, err)
end

-- For actions: a dm-less kernel still gets a plain message in the triple.
local function fail(message, err)
  local ok, why = cdm.available()
  if not ok then return nil, why, err end
  return nil, message, err
end

local function value_error(fmt, ...)
  errors.raisef("ValueError", fmt, ...)
end

-- the kernel's reasons for a refusal -----------------------------------------
--
-- A refused table or message says only EINVAL through the ioctl; the
-- target's reason is in the kernel log. A watch (one open and one seek of
-- /dev/kmsg) is taken before each refusable operation and read only when
-- it failed, so success costs no read of the log.

-- the generic line device-mapper adds after a target's own reason
local GENERIC_REASON = "ioctl: error adding target to table"

-- The failure message with the kernel's reasons, and the error fields:
-- {kernel_reasons=} or, when the log could not be read,
-- {kernel_log_unavailable=} (the text then stays as libdevmapper's).
-- dev: "major:minor" of the device asked about, or nil (a create: the
-- device is gone again).
local function refusal(watch, msg, major, minor)
  local reasons = watch:dm_reasons(major, minor)
  watch:close()
  if watch.unavailable then return msg, {kernel_log_unavailable = watch.unavailable} end
  local specific = {}
  for _, r in ipairs(reasons) do
    if r ~= GENERIC_REASON then specific[#specific + 1] = r end
  end
  if #specific == 0 then specific = reasons end
  if #specific == 0 then return msg, {kernel_reasons = specific} end
  local op = tostring(msg):match("^(.-) failed") or "operation"
  return op .. " refused by the kernel: " .. table.concat(specific, "; "), {kernel_reasons = specific}
end

-- input checks -------------------------------------------------------------

local function check_name(name, what)
  what = what or "device name"
  if type(name) ~= "string" then value_error("%s must be a string, got %s", what, type(name)) end
  if name == "" then value_error("%s is empty", what) end
  if #name > cdm.NAME_MAX then
    value_error("%s is %d bytes long, the kernel allows at most %d", what, #name, cdm.NAME_MAX)
  end
  if name:find("\0", 1, true) then value_error("%s holds a NUL byte", what) end
  if name:find("/", 1, true) then value_error("%s %q holds a '/'", what, name) end
  if name == "." or name == ".." then value_error("%s cannot be %q", what, name) end
  if name:find("[%c]") then value_error("%s %q holds a control character", what, name) end
  return name
end

local function check_uuid(uuid)
  if type(uuid) ~= "string" then value_error("uuid must be a string, got %s", type(uuid)) end
  if #uuid > cdm.UUID_MAX then
    value_error("uuid is %d bytes long, the kernel allows at most %d", #uuid, cdm.UUID_MAX)
  end
  if uuid:find("[%c]") then value_error("uuid %q holds a control character", uuid) end
  return uuid
end

local check_opts = errors.check_options

local function is_target(value)
  return type(value) == "table" and type(value.type) == "string" and value.start ~= nil
end

-- A table given as a target, a list of targets or table text, as the rows
-- the C core loads ({start=, size=, type=, args=}).
local function table_rows(tbl)
  local list
  if type(tbl) == "string" then
    list = targets.parse_table(tbl)
  elseif is_target(tbl) then
    list = {tbl}
  elseif type(tbl) == "table" then
    list = tbl
    for i, t in ipairs(list) do
      if not is_target(t) then
        value_error("table entry %d is not a target (got %s)", i, type(t))
      end
    end
  else
    value_error("table must be a target, a list of targets or table text, got %s", type(tbl))
  end
  if #list == 0 then value_error("table has no targets") end
  targets.check_table(list)
  local rows = {}
  for i, t in ipairs(list) do
    rows[i] = {start = t.start, size = t.size, type = t.type, args = t.args or ""}
  end
  return rows
end

-- device objects -------------------------------------------------------------

local function new_device(fields)
  return cdm.newdevice(fields)
end

local function fields_of(device)
  return cdm.fields(device)
end

-- Reads the live table size and the info of a device into its fields.
local function load_fields(fields)
  local info, msg, err = cdm.info(fields.dm_name)
  if not info then raise_failure(msg, err) end
  if not info.exists then
    errors.raise("DeviceNotFoundError", "no device-mapper device named '" .. fields.dm_name .. "'",
      E.ENXIO)
  end
  fields.major, fields.minor = info.major, info.minor
  fields.uuid = info.uuid ~= "" and info.uuid or nil
  fields.size = nil
  return fields
end

local read_sysfs = sio.read_text

-- The mapper name of a kernel name such as "dm-3".
local function dm_name_of_kernel_name(kname)
  local text = read_sysfs("/sys/class/block/" .. kname .. "/dm/name")
  if text then return (text:gsub("\n$", "")) end
  local devt = read_sysfs("/sys/class/block/" .. kname .. "/dev")
  if devt then
    local major, minor = devt:match("^(%d+):(%d+)")
    local info = cdm.info_devno(tonumber(major), tonumber(minor))
    if info and info.exists then return info.name end
  end
  local ok, why = cdm.available()
  if not ok then errors.raise("DmUnavailableError", why) end
  errors.raise("DeviceNotFoundError", "no device-mapper device " .. kname, E.ENXIO)
end

--- DmDevice(kernel_name) or DmDevice{dm_name=} / {name=} / {path=}
-- Raises DeviceNotFoundError when there is no such device.
function DmDevice.new(spec)
  local dm_name
  if type(spec) == "string" then
    if spec:match("^dm%-%d+$") then
      dm_name = dm_name_of_kernel_name(spec)
    elseif spec:match("^/dev/") then
      return DmDevice.new({path = spec})
    else
      dm_name = spec
    end
  elseif type(spec) == "table" then
    for key in pairs(spec) do
      if key ~= "dm_name" and key ~= "name" and key ~= "path" then
        value_error("DmDevice: unknown field '%s' (expected dm_name, name or path)", tostring(key))
      end
    end
    if spec.dm_name then
      dm_name = spec.dm_name
    elseif spec.name then
      return DmDevice.new(spec.name)
    elseif spec.path then
      local path = spec.path
      if type(path) ~= "string" then
        value_error("DmDevice: path must be a string, got %s", type(path))
      end
      local kname = path:match("^/dev/(dm%-%d+)$")
      dm_name = kname and dm_name_of_kernel_name(kname) or path:match("^/dev/mapper/(.+)$")
      if not dm_name then value_error("DmDevice: %q is not a device-mapper path", path) end
    else
      value_error("DmDevice: give dm_name, name or path")
    end
  else
    value_error("DmDevice: expected a kernel name or a table, got %s", type(spec))
  end
  check_name(dm_name)
  return new_device(load_fields({dm_name = dm_name}))
end

--- Every dm device, of every target type.
function DmDevice.get_all()
  -- uuids: where the kernel's list carries no uuids the C core reads each
  -- one (an info ioctl per device); devices: it makes the DmDevices too, as
  -- get_all is read in loops over hundreds of devices
  local devices, msg, err = cdm.list(LIST_DEVICES)
  if not devices then raise_failure(msg, err) end
  return devices
end

--- The DmDevice of a mapper name, or nil when there is none.
function DmDevice.get_by_name(dm_name)
  check_name(dm_name)
  local info, msg, err = cdm.info(dm_name)
  if not info then raise_failure(msg, err) end
  if not info.exists then return nil end
  return new_device({dm_name = dm_name, major = info.major, minor = info.minor,
    uuid = info.uuid ~= "" and info.uuid or nil})
end

setmetatable(DmDevice, {__call = function(_, spec) return DmDevice.new(spec) end})

-- computed fields
local getters = {}

function getters.name(f) return "dm-" .. f.minor end
function getters.path(f) return "/dev/dm-" .. f.minor end
function getters.mapper_path(f) return "/dev/mapper/" .. f.dm_name end

function getters.device_path(f)
  local path = "/sys/class/block/dm-" .. f.minor
  local name = read_sysfs(path .. "/dm/name")
  if not name or name:gsub("\n$", "") ~= f.dm_name then
    errors.raise("DeviceNotFoundError", "device " .. f.dm_name .. " (dm-" .. f.minor
      .. ") no longer exists", E.ENXIO)
  end
  return path
end

-- The options of core.dm.table and core.dm.status, made once: d.table and
-- d:status() are read in loops. As text the C core formats the rows, where
-- a Lua table per row would cost more than the ioctl itself.
local TEXT = {text = true}
local NOFLUSH = {noflush = true}
local NOFLUSH_TEXT = {noflush = true, text = true}
local INACTIVE = {inactive = true}

-- cdm.table or cdm.status of a device with options, raising on failure
local function live(query, f, opts)
  local result, msg, err = query(f.dm_name, opts)
  if not result then raise_failure(msg, err) end
  return result
end

-- d.table: keys hidden, as dmsetup table shows them without --showkeys
-- (d:table_text{show_keys=true} shows them)
function getters.table(f)
  local text = live(cdm.table, f, TEXT)
  if text == "" then return nil end
  return targets.hide_table_keys(text)
end

--- size in bytes: the sum of the live table's target lengths
function getters.size(f)
  if f.size == nil then
    local total = 0
    for _, r in ipairs(live(cdm.table, f)) do total = total + r.size end
    f.size = total * 512
  end
  return f.size
end

device_mt.__name = "sts.DmDevice"
-- methods first, then fields kept as they are, then computed ones
local plain_fields = {dm_name = true, uuid = true, major = true, minor = true, model = true}
cdm.set_device_index(methods, plain_fields, getters)
-- what a DmDevice offers, for the REPL's Tab (its __index is a C function)
device_mt.__methods = methods
device_mt.__fields = {}
for _, set in ipairs({plain_fields, getters}) do
  for name in pairs(set) do device_mt.__fields[#device_mt.__fields + 1] = name end
end
table.sort(device_mt.__fields)
device_mt.__newindex = function(_, key)
  value_error("DmDevice fields are read-only (tried to set '%s')", tostring(key))
end
device_mt.__tostring = function(device)
  local f = fields_of(device)
  return string.format("DmDevice(%s, dm-%s)", f.dm_name, tostring(f.minor))
end
-- <close>: removes the device (as `d:remove()`; nothing more once it is
-- removed). Leaving the scope normally, a failed remove raises; leaving it
-- by an error, that error stays the one reported and the failure is
-- written to stderr.
device_mt.__close = function(device, pending)
  local f = fields_of(device)
  if f.removed then return end
  local ok, msg, err = dm.remove_by_name(f.dm_name)
  if ok then
    f.removed = true
    return
  end
  if pending == nil then errors.raise("DeviceError", "close " .. f.dm_name .. ": " .. msg, err) end
  io.stderr:write("warning: closing ", f.dm_name, " failed: ", tostring(msg), "\n")
end
device_mt.__eq = function(a, b)
  local fa, fb = fields_of(a), fields_of(b)
  return fa.major == fb.major and fa.minor == fb.minor and fa.dm_name == fb.dm_name
end

local function self_fields(self)
  local ok, f = pcall(fields_of, self)
  if not ok then error("bad self: expected sts.DmDevice (call methods with ':')", 3) end
  return f
end

-- methods ------------------------------------------------------------------

-- The option tables of the C calls, made once (no table per call): the
-- C core takes options, never positional flags.
local C_READONLY = {readonly = true}
local C_NOFLUSH_NOLOCKFS = {noflush = true, nolockfs = true}
local C_SUSPEND = {[0] = nil, {noflush = true}, {nolockfs = true}, C_NOFLUSH_NOLOCKFS}
local C_REMOVE = {[0] = nil, {retry = true}, {deferred = true}, {retry = true, deferred = true}}

local function suspend_flags(opts)
  return C_SUSPEND[(opts.noflush and 1 or 0) + (opts.nolockfs and 2 or 0)]
end

local function remove_flags(retry, deferred)
  return C_REMOVE[(retry and 1 or 0) + (deferred and 2 or 0)]
end

local LOAD_OPTS = {readonly = "boolean"}
local STATUS_OPTS = {noflush = "boolean"}
local SUSPEND_OPTS = {noflush = "boolean", nolockfs = "boolean"}
local REMOVE_OPTS = {force = "boolean", retry = "boolean", deferred = "boolean"}
local RELOAD_OPTS = {noflush = "boolean", nolockfs = "boolean", readonly = "boolean"}

--- d:suspend{noflush=, nolockfs=} -> true | nil, message, errno
function methods.suspend(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, SUSPEND_OPTS, "suspend")
  local ok, msg, err = cdm.suspend(f.dm_name, suspend_flags(opts))
  if not ok then return fail(msg, err) end
  return true
end

--- d:resume() -> true | nil, message, errno, details: a table loaded
-- with `load` that the kernel refuses when it goes live gives the kernel's
-- reason, details as for `load`
function methods.resume(self)
  local f = self_fields(self)
  local watch = kmsg.watch()
  local ok, msg, err = cdm.resume(f.dm_name)
  if not ok then
    local text, details = refusal(watch, msg, f.major, f.minor)
    local a, b, c = fail(text, err)
    return a, b, c, details
  end
  watch:close()
  f.size = nil
  return true
end

--- d:remove{force=, retry=, deferred=} -> true | nil, message, errno
-- force: a device still open gets an error table first, so its openers
-- see I/O errors and the remove can go through (like dmsetup --force).
function methods.remove(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, REMOVE_OPTS, "remove")
  local ok, msg, err = cdm.remove(f.dm_name, remove_flags(opts.retry, opts.deferred))
  if not ok and opts.force and err == E.EBUSY then
    local size = 0
    local rows = cdm.table(f.dm_name)
    for _, r in ipairs(rows or {}) do size = size + r.size end
    if size > 0 and cdm.load(f.dm_name, {{start = 0, size = size, type = "error", args = ""}}) then
      cdm.suspend(f.dm_name, C_NOFLUSH_NOLOCKFS)
      cdm.resume(f.dm_name)
    end
    ok, msg, err = cdm.remove(f.dm_name, remove_flags(true, opts.deferred))
  end
  if not ok then return fail(msg, err) end
  f.removed = not opts.deferred or nil
  return true
end

--- d:load(table) -> true | nil, message, errno, details: into the
-- inactive slot only. A refused table's message gives the kernel's reason
-- ("load table of x refused by the kernel: crypt: ..."); details is
-- {kernel_reasons=} or {kernel_log_unavailable=}.
function methods.load(self, tbl, opts)
  local f = self_fields(self)
  opts = check_opts(opts, LOAD_OPTS, "load")
  local rows = table_rows(tbl)
  local watch = kmsg.watch()
  local ok, msg, err = cdm.load(f.dm_name, rows, opts.readonly and C_READONLY or nil)
  if not ok then
    local text, details = refusal(watch, msg, f.major, f.minor)
    local a, b, c = fail(text, err)
    return a, b, c, details
  end
  watch:close()
  return true
end

--- d:clear() -> true | fail: drops the inactive table
function methods.clear(self)
  local f = self_fields(self)
  local ok, msg, err = cdm.clear(f.dm_name)
  if not ok then return fail(msg, err) end
  return true
end

--- d:reload(table, {noflush=, nolockfs=, readonly=}) -> true | nil, message, errno, details
-- Load, suspend, resume. When the kernel refuses the new table the old one
-- stays live and the device is left running (resumed); the message gives
-- the kernel's reason, details as for `load`.
function methods.reload(self, tbl, opts)
  local f = self_fields(self)
  opts = check_opts(opts, RELOAD_OPTS, "reload")
  local rows = table_rows(tbl)
  local name = f.dm_name
  -- the kernel checks some tables only when they go live (a device too
  -- small for its target is refused by the resume), so the watch covers
  -- the whole swap
  local watch = kmsg.watch()
  local function refused(msg, err)
    local text, details = refusal(watch, msg, f.major, f.minor)
    local a, b, c = fail(text, err)
    return a, b, c, details
  end
  local ok, msg, err = cdm.load(name, rows, opts.readonly and C_READONLY or nil)
  if not ok then
    cdm.clear(name)
    return refused(msg, err)
  end
  ok, msg, err = cdm.suspend(name, suspend_flags(opts))
  if not ok then
    cdm.clear(name)
    cdm.resume(name)
    return refused(msg, err)
  end
  ok, msg, err = cdm.resume(name)
  if not ok then
    -- the swap failed: drop the new table and bring the old one back
    cdm.clear(name)
    cdm.resume(name)
    return refused(msg, err)
  end
  watch:close()
  f.size = nil
  return true
end

local TABLE_TEXT_OPTS = {show_keys = "boolean", inactive = "boolean"}
local INACTIVE_TEXT = {inactive = true, text = true}

--- d:table_text{show_keys=, inactive=} -> the table text, one line per
-- target (nil when there is no such table). Keys of crypt and integrity
-- targets show as "-", as in `d.table`, unless show_keys is true;
-- inactive: the inactive slot's table.
function methods.table_text(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, TABLE_TEXT_OPTS, "table_text")
  local text = live(cdm.table, f, opts.inactive and INACTIVE_TEXT or TEXT)
  if text == "" then return nil end
  if opts.show_keys then return text end
  return targets.hide_table_keys(text)
end

--- d:status{noflush=} -> the status text, one line per target
function methods.status(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, STATUS_OPTS, "status")
  return live(cdm.status, f, opts.noflush and NOFLUSH_TEXT or TEXT)
end

--- d:status_rows{noflush=} -> list of {start=, size=, type=, args=} (args: the status)
function methods.status_rows(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, STATUS_OPTS, "status_rows")
  return live(cdm.status, f, opts.noflush and NOFLUSH or nil)
end

local function typed_targets(rows)
  local list = {}
  for i, r in ipairs(rows) do
    local class = targets.classes[r.type]
    if class then
      list[i] = class(r.start, r.size, r.args)
    else
      list[i] = targets.DmTarget(r.start, r.size, r.type, r.args)
    end
  end
  return list
end

local status_module
local function status_parser()
  status_module = status_module or require "sts.status"
  return status_module
end

--- dm.parse_status(type, text) -> typed status of one target
function dm.parse_status(target_type, text)
  return status_parser().parse(target_type, text)
end

--- d:status_table{noflush=} -> one typed status per target (each with
-- start and size)
function methods.status_table(self, opts)
  local f = self_fields(self)
  opts = check_opts(opts, STATUS_OPTS, "status_table")
  local list = {}
  for i, r in ipairs(live(cdm.status, f, opts.noflush and NOFLUSH or nil)) do
    local st = status_parser().parse(r.type, r.args)
    st.start, st.size = r.start, r.size
    list[i] = st
  end
  return list
end

--- d:targets() -> the live table as typed target objects
function methods.targets(self)
  return typed_targets(live(cdm.table, self_fields(self)))
end

--- d:inactive_targets() -> the inactive table as typed targets (empty when none)
function methods.inactive_targets(self)
  return typed_targets(live(cdm.table, self_fields(self), INACTIVE))
end

--- d:info() -> {exists, suspended, read_only, open_count, event_nr, major,
-- minor, live_table, inactive_table, target_count, name, uuid}
function methods.info(self)
  local f = self_fields(self)
  local info, msg, err = cdm.info(f.dm_name)
  if not info then raise_failure(msg, err) end
  return info
end

--- d:message(sector, text) -> response text, or true when there is none;
-- nil, message, errno, details when the target refuses it (the message
-- with the kernel's reason, details as for `load`)
function methods.message(self, sector, text)
  local f = self_fields(self)
  if math.type(sector) ~= "integer" or sector < 0 then
    value_error("message: sector must be an integer >= 0, got %s", tostring(sector))
  end
  if type(text) ~= "string" or text == "" then
    value_error("message: text must be a non-empty string")
  end
  if text:find("[%z\n]") then value_error("message: text holds a NUL or newline") end
  local watch = kmsg.watch()
  local resp, msg, err = cdm.message(f.dm_name, sector, text)
  if not resp then
    local reason, details = refusal(watch, msg, f.major, f.minor)
    local a, b, c = fail(reason, err)
    return a, b, c, details
  end
  watch:close()
  return resp
end

--- d:wait_event(event_nr, timeout_ms) -> new event number | nil, "timeout"
-- event_nr defaults to the current one, so d:wait_event() waits for the next.
function methods.wait_event(self, event_nr, timeout_ms)
  local f = self_fields(self)
  if event_nr == nil then event_nr = methods.info(self).event_nr end
  if math.type(event_nr) ~= "integer" then value_error("wait_event: event_nr must be an integer") end
  if timeout_ms ~= nil and math.type(timeout_ms) ~= "integer" then
    value_error("wait_event: timeout_ms must be an integer (milliseconds)")
  end
  local nr, msg, err = cdm.wait_event(f.dm_name, event_nr, timeout_ms or -1)
  if not nr then
    if msg == "timeout" then return nil, "timeout" end
    return fail(msg, err)
  end
  return nr
end

local function kernel_name_of(major, minor)
  local text = read_sysfs(string.format("/sys/dev/block/%d:%d/uevent", major, minor))
  return text and text:match("DEVNAME=([^\n]+)") or nil
end

--- d:deps() -> list of {major=, minor=, name=} of the devices below
function methods.deps(self)
  local f = self_fields(self)
  local deps, msg, err = cdm.deps(f.dm_name)
  if not deps then raise_failure(msg, err) end
  for _, d in ipairs(deps) do d.name = kernel_name_of(d.major, d.minor) end
  return deps
end

--- d:rename(new_name) -> true | fail
function methods.rename(self, new_name)
  local f = self_fields(self)
  check_name(new_name, "new name")
  local ok, msg, err = cdm.rename(f.dm_name, new_name)
  if not ok then return fail(msg, err) end
  f.dm_name = new_name
  return true
end

--- d:set_uuid(uuid) -> true | fail (the kernel allows it only once)
function methods.set_uuid(self, uuid)
  local f = self_fields(self)
  check_uuid(uuid)
  local ok, msg, err = cdm.set_uuid(f.dm_name, uuid)
  if not ok then return fail(msg, err) end
  f.uuid = uuid
  return true
end

--- d:refresh() -> d: re-reads number, uuid and size from the kernel
function methods.refresh(self)
  load_fields(self_fields(self))
  return self
end

--- d:exists() -> boolean
function methods.exists(self)
  local info = cdm.info(self_fields(self).dm_name)
  return info ~= nil and info.exists
end

-- module functions -----------------------------------------------------------

local CREATE_OPTS = {uuid = "string", readonly = "boolean", notable = "boolean",
  suspended = "boolean"}

--- dm.create(name, table, {uuid=, readonly=, notable=, suspended=}) -> DmDevice
-- table: a target, a list of targets or table text (ignored with notable).
-- Atomic: when the kernel refuses the table no device is left behind, and
-- the DeviceError gives the kernel's reason ("load table of x refused by
-- the kernel: crypt: Error decoding and setting key"), with the fields
-- `kernel_reasons` (list), or `kernel_log_unavailable` (why) when
-- /dev/kmsg could not be read (the message is then libdevmapper's).
function dm.create(name, tbl, opts)
  check_name(name)
  opts = check_opts(opts, CREATE_OPTS, "create")
  if opts.uuid ~= nil then check_uuid(opts.uuid) end
  local rows
  if not opts.notable then
    if tbl == nil then value_error("create %s: a table is needed (or notable=true)", name) end
    rows = table_rows(tbl)
  end
  -- the C core takes the same options but notable (no rows says that)
  local copts = opts
  if opts.notable ~= nil then
    copts = {uuid = opts.uuid, readonly = opts.readonly, suspended = opts.suspended}
  end
  local watch = kmsg.watch()
  local ok, msg, err = cdm.create(name, rows, copts ~= errors.NO_OPTIONS and copts or nil)
  if not ok then
    local okd, why = cdm.available()
    if not okd then
      watch:close()
      errors.raise("DmUnavailableError", why, err)
    end
    -- the device is gone again, so its number is unknown: every
    -- device-mapper line logged meanwhile counts
    local text, details = refusal(watch, msg)
    errors.raise("DeviceError", text, err, details)
  end
  watch:close()
  return new_device(load_fields({dm_name = name}))
end

--- dm.version() -> {library=, driver=} (driver nil when there is no dm)
function dm.version()
  local library, driver = cdm.versions()
  return {library = library, driver = driver or nil}
end

--- dm.targets() -> list of {name=, version=} the kernel has loaded
function dm.targets()
  local list, msg, err = cdm.target_versions()
  if not list then raise_failure(msg, err) end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

--- dm.available() -> true, or false and the reason
function dm.available()
  return cdm.available()
end

-- removing by name ----------------------------------------------------------

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

--- Removes the device named `name`, resuming it first when it is suspended
-- (a suspended device would hang the remove's flush). A device that does
-- not exist counts as removed. A device briefly held open is retried for
-- about a second (see `DmDevice:remove`).
-- @tparam string name the mapper name
-- @treturn boolean|nil true, or nil, message, errno
function dm.remove_by_name(name)
  check_name(name)
  local info = cdm.info(name)
  if not info or not info.exists then return true end
  if info.suspended then cdm.resume(name) end
  local ok, msg, err = cdm.remove(name)
  if not ok then
    if not_found_errno(err) then return true end
    return nil, distinct_parts(msg), err
  end
  return true
end

--- The info of the device named `name` without making a DmDevice.
-- @tparam string name the mapper name
-- @treturn table as `DmDevice:info`; {exists=false} when there is none
function dm.info(name)
  check_name(name)
  local info, msg, err = cdm.info(name)
  if not info then raise_failure(msg, err) end
  return info
end

--- The mapper names of the devices whose name starts with `prefix`.
-- @tparam string prefix
-- @treturn {string,...} names, in the kernel's order
function dm.names_with_prefix(prefix)
  if type(prefix) ~= "string" then value_error("names_with_prefix: prefix must be a string") end
  local rows, msg, err = cdm.list()
  if not rows then raise_failure(msg, err) end
  local names = {}
  for _, row in ipairs(rows) do
    if row.name:sub(1, #prefix) == prefix then names[#names + 1] = row.name end
  end
  return names
end

-- bulk operations ------------------------------------------------------------

local BULK_OPTS = {parallel = "number"}
local DEFAULT_PARALLEL = 8

local function bulk_parallel(opts, what)
  opts = check_opts(opts, BULK_OPTS, what)
  local n = opts.parallel or DEFAULT_PARALLEL
  if math.type(n) ~= "integer" or n < 1 or n > 64 then
    value_error("%s: parallel must be an integer from 1 to 64, got %s", what, tostring(n))
  end
  return n
end

-- a failure of the C core's bulk functions as a DeviceError object
local function bulk_error(index, name, r)
  return {index = index, name = name,
          error = errors.new(not_found_errno(r.errno) and "DeviceNotFoundError" or "DeviceError",
                             r.message, r.errno, {stage = r.stage})}
end

-- levels: the wave each item goes in, given deps[i] (a list of indexes i
-- must come after); raises on a cycle
local function waves(n, deps, what)
  local level, state = {}, {}
  local function visit(i)
    if state[i] == "done" then return level[i] end
    if state[i] == "busy" then value_error("%s: the devices depend on each other in a cycle", what) end
    state[i] = "busy"
    local l = 1
    for _, d in ipairs(deps[i]) do l = math.max(l, visit(d) + 1) end
    state[i], level[i] = "done", l
    return l
  end
  local out = {}
  for i = 1, n do
    local l = visit(i)
    out[l] = out[l] or {}
    table.insert(out[l], i)
  end
  return out
end

--- Creates many devices at once, their ioctls issued from several threads
-- so that the kernel's per-device waits overlap.
-- Each spec is `{name, table, opts}` or `{name=, table=, uuid=, readonly=}`
-- (`table` as `dm.create` takes it). Each device is made atomically: one
-- whose table is refused, or whose resume fails, is removed again, and the
-- others stand. A spec whose table names another of the batch
-- (`/dev/mapper/NAME`) is created after it, and not at all when that one
-- failed.
-- @tparam table specs the devices
-- @tparam[opt] table opts `{parallel=8}`: threads, 1 to 64
-- @treturn {DmDevice,...} the devices made, in the order of `specs`
-- @treturn {{index=,name=,error=},...} the specs that failed, each with its
-- DeviceError (`errno`, `stage`: "create", "load table of", "resume")
function dm.create_all(specs, opts)
  local parallel = bulk_parallel(opts, "create_all")
  if type(specs) ~= "table" then value_error("create_all: expected a list of specs, got %s", type(specs)) end
  local items, index_of = {}, {}
  for i, spec in ipairs(specs) do
    if type(spec) ~= "table" then value_error("create_all: spec %d is not a table", i) end
    local name, tbl, o = spec.name or spec[1], spec.table or spec[2], spec[3] or spec
    if spec[3] ~= nil then check_opts(spec[3], {uuid = "string", readonly = "boolean"}, "create_all") end
    check_name(name)
    if index_of[name] then value_error("create_all: %s is given twice", name) end
    if o.uuid ~= nil then check_uuid(o.uuid) end
    if o.readonly ~= nil and type(o.readonly) ~= "boolean" then
      value_error("create_all: spec %d: readonly must be a boolean", i)
    end
    items[i] = {name = name, targets = table_rows(tbl), uuid = o.uuid, readonly = o.readonly}
    index_of[name] = i
  end
  -- which items name another item of the batch
  local deps = {}
  for i, item in ipairs(items) do
    deps[i] = {}
    for _, row in ipairs(item.targets) do
      for other in row.args:gmatch("/dev/mapper/([^%s]+)") do
        local j = index_of[other]
        if j and j ~= i then table.insert(deps[i], j) end
      end
    end
  end
  local made, failed, by_index = {}, {}, {}
  for _, wave in ipairs(waves(#items, deps, "create_all")) do
    local batch, where = {}, {}
    for _, i in ipairs(wave) do
      local blocked
      for _, d in ipairs(deps[i]) do
        if by_index[d] == false then blocked = items[d].name end
      end
      if blocked then
        by_index[i] = false
        failed[#failed + 1] = {index = i, name = items[i].name, error = errors.new("DeviceError",
          "create " .. items[i].name .. " not attempted: " .. blocked .. " it names was not made",
          E.ENODEV, {stage = "create"})}
      else
        batch[#batch + 1] = items[i]
        where[#batch] = i
      end
    end
    if #batch > 0 then
      local results = cdm.create_all(batch, parallel)
      for k, r in ipairs(results) do
        local i = where[k]
        if type(r) == "table" and r.errno then
          by_index[i] = false
          failed[#failed + 1] = bulk_error(i, items[i].name, r)
        else
          by_index[i] = r
        end
      end
    end
  end
  for i = 1, #items do
    if by_index[i] then made[#made + 1] = by_index[i] end
  end
  table.sort(failed, function(a, b) return a.index < b.index end)
  return made, failed
end

--- Removes many devices at once, their ioctls issued from several threads
-- so that the kernel's waits (RCU grace periods in each removal) overlap.
-- Devices that hold others of the set go first (by their tables' deps); a
-- suspended one is resumed first; one already gone counts as removed; a
-- busy one is retried for about a second, as `DmDevice:remove` does.
-- @tparam {DmDevice|string,...} devices the devices or their mapper names
-- @tparam[opt] table opts `{parallel=8}`: threads, 1 to 64
-- @treturn {string,...} the names removed
-- @treturn {{index=,name=,error=},...} those that could not be, each with
-- its DeviceError (`errno`, `stage`)
function dm.remove_all(devices, opts)
  local parallel = bulk_parallel(opts, "remove_all")
  if type(devices) ~= "table" then value_error("remove_all: expected a list, got %s", type(devices)) end
  local names, index_of, devno_index = {}, {}, {}
  for i, d in ipairs(devices) do
    local name = d
    if type(d) ~= "string" then
      local ok, f = pcall(fields_of, d)
      if not ok then value_error("remove_all: entry %d is neither a DmDevice nor a name", i) end
      name = f.dm_name
    end
    check_name(name)
    if not index_of[name] then
      names[#names + 1] = name
      index_of[name] = #names
    end
  end
  -- holders first: i goes after every device of the set that holds it
  local deps, exists = {}, {}
  for i = 1, #names do deps[i] = {} end
  -- the set's device numbers from one list ioctl, not an INFO per device
  -- (where the list cannot be had, each removal below says why it failed)
  local rows = #names > 0 and cdm.list()
  if rows then
    for _, row in ipairs(rows) do
      local i = index_of[row.name]
      if i then devno_index[row.major .. ":" .. row.minor], exists[i] = i, true end
    end
  end
  for i, name in ipairs(names) do
    -- one already gone holds nothing (remove_all counts it as removed)
    for _, d in ipairs(exists[i] and cdm.deps(name) or {}) do
      local j = devno_index[d.major .. ":" .. d.minor]
      if j and j ~= i then table.insert(deps[j], i) end  -- j is held by i: i first
    end
  end
  local removed, failed = {}, {}
  for _, wave in ipairs(waves(#names, deps, "remove_all")) do
    local batch = {}
    for k, i in ipairs(wave) do batch[k] = names[i] end
    local results = cdm.remove_all(batch, parallel)
    for k, r in ipairs(results) do
      local i = wave[k]
      if r == true then
        removed[#removed + 1] = names[i]
      else
        failed[#failed + 1] = bulk_error(i, names[i], r)
      end
    end
  end
  table.sort(failed, function(a, b) return a.index < b.index end)
  return removed, failed
end

--- Removes devices by name: a name prefix (every device whose name starts
-- with it) or a list of names, through `remove_all` (holders first, on
-- several threads). Devices held open by something outside the set are
-- left and reported.
-- @tparam string|{string,...} which a name prefix, or a list of names
-- @treturn {string,...} the names removed
-- @treturn {{name=,message=,errno=},...} those still there
function dm.sweep(which)
  local names
  if type(which) == "string" then
    if which == "" then value_error("sweep: the prefix is empty") end
    names = dm.names_with_prefix(which)
  elseif type(which) == "table" then
    names = {}
    for i, name in ipairs(which) do names[i] = check_name(name) end
  else
    value_error("sweep: expected a name prefix or a list of names, got %s", type(which))
  end
  local removed, failed = dm.remove_all(names)
  local left = {}
  for _, f in ipairs(failed) do
    left[#left + 1] = {name = f.name, message = f.error.message, errno = f.error.errno}
  end
  return removed, left
end

--- The errno values sts errors carry, by name (`dm.errno.EBUSY`).
dm.errno = {}
for name, value in pairs(E) do dm.errno[name] = value end

--- The longest mapper name the kernel takes, in bytes.
dm.NAME_MAX = cdm.NAME_MAX
--- The longest uuid the kernel takes, in bytes.
dm.UUID_MAX = cdm.UUID_MAX

dm.DmDevice = DmDevice

--- Checks a device name against the kernel's limits and returns it.
-- One to 127 bytes, no '/', NUL or control character, not "." or "..";
-- raises ValueError naming what is wrong.
-- @function check_name
-- @tparam string name the name
-- @tparam[opt="device name"] string what what the message calls it
-- @treturn string name
dm.check_name = check_name

--- The rows the C core loads for a table.
-- @function table_rows
-- @param tbl a target, a list of targets, or table text
-- @treturn {{start=,size=,type=,args=},...} one row per target; raises
-- ValueError for anything else
dm.table_rows = table_rows
return dm

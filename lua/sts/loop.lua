--- sts.loop: loop devices over sparse files, through the kernel's loop
-- ioctls (no losetup).
--
--   local lo = loop.create{size_mb = 64}      -- new sparse file in /tmp
--   lo.path, lo.name, lo.file, lo.size        -- "/dev/loop0", "loop0", file, bytes
--   lo:remove()                               -- detach, delete the file it made
--
-- Loop objects are to-be-closed: `local lo <close> = loop.create{...}`.

local core = require "sts.core"
local errors = require "sts.errors"

local cloop = core.loop
local loop = {}

local Loop = {}
Loop.__index = Loop
Loop.__name = "sts.Loop"

local READ_ONLY = {read_only = true}
local CREATE_FIELDS = {size_mb = true, size = true, file = true, read_only = true, dir = true,
  tag = "string"}

local function value_error(fmt, ...)
  errors.raisef("ValueError", fmt, ...)
end

-- The backing file sysfs names for loop device `name` ("loop3"), or nil
-- when it has none (not attached).
local function sysfs_backing(name)
  local f = io.open("/sys/block/" .. name .. "/loop/backing_file", "r")
  if not f then return nil end
  local file = f:read("l")
  f:close()
  return file
end

--- loop.create{size_mb=, size=, file=, read_only=, dir=, tag=} -> Loop
-- size_mb (or size in bytes) makes a new sparse file in dir (default
-- $TMPDIR or /tmp), named "sts-loop-<tag>XXXXXX", that remove() deletes;
-- file= attaches an existing file, which remove() leaves in place.
-- Raises DeviceError on failure.
function loop.create(opts)
  if opts == nil then value_error("loop.create: expected a table of options") end
  errors.check_options(opts, CREATE_FIELDS, "loop.create")
  local bytes
  if opts.size_mb ~= nil then
    -- bounded so that the size in bytes cannot overflow
    if math.type(opts.size_mb) ~= "integer" or opts.size_mb <= 0
        or opts.size_mb > math.maxinteger // (1024 * 1024) then
      value_error("loop.create: size_mb must be a positive integer (at most %d)",
                  math.maxinteger // (1024 * 1024))
    end
    bytes = opts.size_mb * 1024 * 1024
  elseif opts.size ~= nil then
    if math.type(opts.size) ~= "integer" or opts.size <= 0 or opts.size % 512 ~= 0 then
      value_error("loop.create: size must be a positive integer multiple of 512 bytes")
    end
    bytes = opts.size
  end
  if opts.read_only ~= nil and type(opts.read_only) ~= "boolean" then
    value_error("loop.create: read_only must be a boolean, got %s", type(opts.read_only))
  end
  if opts.tag ~= nil and not opts.tag:match("^[%w_.-]+$") then
    value_error("loop.create: tag must be letters, digits, '_', '.' or '-'")
  end
  if opts.dir ~= nil and (type(opts.dir) ~= "string" or opts.dir == "") then
    value_error("loop.create: dir must be a non-empty directory path")
  end
  local file, made = opts.file, false
  if file == nil then
    if not bytes then value_error("loop.create: give size_mb, size or file") end
    local dir = opts.dir or os.getenv("TMPDIR") or "/tmp"
    local template = dir .. "/sts-loop-" .. (opts.tag or "") .. "XXXXXX"
    local path, msg, err = cloop.sparse_file(template, bytes)
    if not path then errors.raise("DeviceError", msg, err) end
    file, made = path, true
  elseif type(file) ~= "string" or file == "" or file:find("\0", 1, true) then
    value_error("loop.create: file must be a non-empty path string without NUL bytes")
  elseif bytes then
    value_error("loop.create: give either file or a size, not both")
  end
  local number, path_or_msg, err = cloop.attach(file, opts.read_only and READ_ONLY or nil)
  if not number then
    if made then os.remove(file) end
    errors.raise("DeviceError", path_or_msg, err)
  end
  local size = cloop.size(path_or_msg)
  return setmetatable({
    number = number,
    path = path_or_msg,
    name = "loop" .. number,
    file = file,
    size = size,
    read_only = opts.read_only and true or false,
    owns_file = made,
    -- the file as the kernel names it (absolute), to know the loop is still ours
    backing = sysfs_backing("loop" .. number),
  }, Loop)
end

--- lo:remove() -> true | nil, message, errno. Idempotent. A loop that
-- something else still holds open is left bound with autoclear set (it
-- detaches when that opener closes it): the failure says so. Calling
-- remove again detaches it only while it is still bound to this file, so
-- a device number the kernel has since given to someone else is left alone.
function Loop:remove()
  if self.removed then return true end
  local bound = sysfs_backing(self.name)
  if self.backing == nil or (bound ~= nil and bound:gsub(" %(deleted%)$", "") == self.backing) then
    local ok, msg, err = cloop.detach(self.path)
    if not ok then return nil, msg, err end
  end
  self.removed = true
  if self.owns_file then os.remove(self.file) end
  return true
end

Loop.__close = function(self) self:remove() end

function Loop:__tostring()
  return string.format("Loop(%s, %s)", self.path, self.file)
end

--- loop.list() -> list of {name=, path=, file=} of attached loop devices
function loop.list()
  local list = {}
  local dir = io.open("/sys/block", "r")
  if not dir then return list end
  dir:close()
  -- /sys/block has no directory listing in pure Lua: probe loop numbers
  -- until the kernel's device numbering runs out
  local misses = 0
  local n = 0
  while misses < 64 do
    local f = io.open("/sys/block/loop" .. n .. "/loop/backing_file", "r")
    if f then
      local file = f:read("l")
      f:close()
      list[#list + 1] = {name = "loop" .. n, path = "/dev/loop" .. n, file = file}
      misses = 0
    else
      local exists = io.open("/sys/block/loop" .. n .. "/dev", "r")
      if exists then exists:close(); misses = 0 else misses = misses + 1 end
    end
    n = n + 1
  end
  return list
end

--- Detaches the loop device at `path` (for devices no Loop object holds).
-- @tparam string path "/dev/loopN"
-- @treturn boolean|nil true, or nil, message, errno
function loop.detach(path)
  if type(path) ~= "string" then value_error("loop.detach: path must be a string") end
  return cloop.detach(path)
end

--- The backing file name the kernel reports for the loop device at `path`.
-- @tparam string path "/dev/loopN"
-- @treturn string|nil the name, or nil, message, errno
function loop.backing_file(path)
  if type(path) ~= "string" then value_error("loop.backing_file: path must be a string") end
  return cloop.backing(path)
end

--- The size in bytes of a block device or a file.
-- @tparam string path
-- @treturn integer|nil bytes, or nil, message, errno
function loop.size_of(path)
  if type(path) ~= "string" then value_error("loop.size_of: path must be a string") end
  return cloop.size(path)
end

loop.Loop = Loop
return loop

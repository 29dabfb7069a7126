--- sts.io: data patterns verified at disk speed, and raw block I/O.
--
--   local sio = require "sts.io"
--   assert(sio.write_pattern(dev, {seed = 7, generation = 1}))
--   local ok, report = sio.verify_pattern(dev, {seed = 7, generation = 1})
--   -- ok is true, or false and a report naming each bad block:
--   -- report.bad_blocks[1] = {offset=, expected_generation=, kind=, found={...}}
--
-- Each block of a pattern carries a stamp: seed, its own absolute offset,
-- the generation and a crc32c of the rest of the block, whose content is
-- derived from the stamp. A bad block's kind says what it holds:
--   zeros        all zero bytes
--   garbage      no stamp (or a stamp of another block size)
--   torn         a stamp whose rest does not match it (half written, corrupted)
--   stale        the right block of an older generation
--   newer        the right block of a later generation
--   misdirected  another block's data (found.offset says which)
--   foreign      a block of another seed
--   io_error     the read failed (errno, error)
--
-- Devices are a path, or anything with .path (a loop object, a DmDevice) or
-- .dev (a test-kit fixture). I/O is O_DIRECT with aligned buffers unless
-- direct=false; a file system that refuses O_DIRECT (tmpfs before Linux
-- 6.6) is an error saying to pass direct=false: no silent fallback to the
-- page cache. Operational failures return nil, message, errno, offset;
-- bad arguments raise ValueError.

local core = require "sts.core"
local errors = require "sts.errors"

local cio = core.io
local sio = {}

local function value_error(fmt, ...)
  errors.raise("ValueError", string.format(fmt, ...))
end

local function field(value, key)
  local ok, v = pcall(function() return value[key] end)
  if ok then return v end
  return nil
end

--- The path of a device given as a path, a loop object, a DmDevice or a fixture.
-- @param dev a path string, or an object with `.path` or `.dev`
-- @tparam string what the caller's name, for errors
-- @treturn string the path
function sio.path_of(dev, what)
  if type(dev) == "string" then
    if dev == "" or dev:find("\0", 1, true) then value_error("%s: empty path or NUL in path", what) end
    return dev
  end
  local path = field(dev, "path")
  if type(path) ~= "string" then
    local inner = field(dev, "dev")
    if inner ~= nil then path = field(inner, "path") end
  end
  if type(path) ~= "string" then
    value_error("%s: expected a path, a loop object, a DmDevice or a fixture, got %s", what, type(dev))
  end
  return path
end

local function check_opts(opts, known, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then value_error("%s: expected a table of options, got %s", what, type(opts)) end
  for key in pairs(opts) do
    if not known[key] then value_error("%s: unknown option '%s'", what, tostring(key)) end
  end
  return opts
end

local function check_int(value, name, what, min)
  if math.type(value) ~= "integer" or value < min then
    value_error("%s: %s must be an integer >= %d, got %s", what, name, min, tostring(value))
  end
  return value
end

local function check_bool(value, name, what, default)
  if value == nil then return default end
  if type(value) ~= "boolean" then value_error("%s: %s must be a boolean, got %s", what, name, type(value)) end
  return value
end

local function device_size(path, what)
  local bytes, msg, err = core.loop.size(path)
  if not bytes then return nil, what .. ": " .. msg, err, 0 end
  return bytes
end

-- offset, length (bytes) of a range on path: length defaults to the rest of
-- the device, rounded down to whole `unit`s
local function range_of(path, opts, unit, what)
  local offset = check_int(opts.offset or 0, "offset", what, 0)
  if offset % unit ~= 0 then value_error("%s: offset %d is not a multiple of %d", what, offset, unit) end
  local length = opts.length
  if length == nil then
    local size, msg, err = device_size(path, what)
    if not size then return nil, msg, err, 0 end
    if offset > size then value_error("%s: offset %d is past the end (%d bytes)", what, offset, size) end
    length = (size - offset) // unit * unit
  else
    check_int(length, "length", what, 0)
    if length % unit ~= 0 then value_error("%s: length %d is not a multiple of %d", what, length, unit) end
  end
  return offset, length
end

local PATTERN_FIELDS = {offset = true, length = true, block_size = true, seed = true,
  generation = true, direct = true}
local VERIFY_FIELDS = {max_report = true}
for k in pairs(PATTERN_FIELDS) do VERIFY_FIELDS[k] = true end

local function pattern_args(dev, opts, known, what)
  local path = sio.path_of(dev, what)
  opts = check_opts(opts, known, what)
  local bs = check_int(opts.block_size or 4096, "block_size", what, 512)
  if bs % 512 ~= 0 or bs > 1024 * 1024 then
    value_error("%s: block_size must be a multiple of 512 up to 1 MiB, got %d", what, bs)
  end
  local seed = opts.seed or 1
  if math.type(seed) ~= "integer" then value_error("%s: seed must be an integer, got %s", what, tostring(seed)) end
  local gen = check_int(opts.generation or 1, "generation", what, 0)
  local offset, length, err, at = range_of(path, opts, bs, what)
  if not offset then return nil, length, err, at end
  return path, offset, length, bs, seed, gen, check_bool(opts.direct, "direct", what, true), opts
end

--- Stamps every block of a range with the pattern of (seed, generation).
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam table opts `offset` (0), `length` (the rest of the device), `block_size` (4096),
--   `seed` (1), `generation` (1), `direct` (true); offset and length in bytes, whole blocks
-- @treturn boolean true, or nil, message, errno, offset
function sio.write_pattern(dev, opts)
  local path, offset, length, bs, seed, gen, direct = pattern_args(dev, opts, PATTERN_FIELDS,
    "io.write_pattern")
  if not path then return nil, offset, length, bs end
  return cio.write_pattern(path, offset, length, bs, seed, gen, {direct = direct})
end

local Report = {}
Report.__index = Report
Report.__name = "sts.io.PatternReport"

local KIND_ORDER = {"zeros", "garbage", "torn", "stale", "newer", "misdirected", "foreign", "io_error"}

local function describe(b)
  local f = b.found
  local found
  if b.kind == "zeros" then found = "zeros"
  elseif b.kind == "io_error" then found = "read error: " .. tostring(b.error)
  elseif f then
    found = ("seed %d offset %d generation %d"):format(f.seed, f.offset, f.generation)
  else found = "no stamp" end
  return ("offset %d: expected generation %d, found %s (%s)"):format(b.offset,
    b.expected_generation, found, b.kind)
end

function Report:__tostring()
  local counts = {}
  for _, k in ipairs(KIND_ORDER) do
    if self.counts[k] then counts[#counts + 1] = k .. " " .. self.counts[k] end
  end
  local lines = {("pattern: %d of %d blocks bad (%s)"):format(self.bad, self.blocks,
    table.concat(counts, ", "))}
  for _, b in ipairs(self.bad_blocks) do lines[#lines + 1] = "  " .. describe(b) end
  if self.truncated then
    lines[#lines + 1] = ("  ... and %d more"):format(self.bad - #self.bad_blocks)
  end
  return table.concat(lines, "\n")
end

--- Checks that a range holds the pattern of (seed, generation).
-- Takes write_pattern's options and `max_report` (16), the most bad blocks listed.
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam table opts as for write_pattern, plus `max_report`
-- @treturn boolean true when every block is right; false and a report
--   `{blocks=, bad=, counts={kind=n}, bad_blocks={{offset=, expected_generation=, kind=,
--   found={seed=, offset=, generation=, block_size=}, errno=, error=}}, truncated=}` whose
--   tostring lists them; nil, message, errno, offset when the device cannot be read at all
function sio.verify_pattern(dev, opts)
  local path, offset, length, bs, seed, gen, direct, o = pattern_args(dev, opts, VERIFY_FIELDS,
    "io.verify_pattern")
  if not path then return nil, offset, length, bs end
  local cap = check_int(o.max_report or 16, "max_report", "io.verify_pattern", 0)
  local ok, report, err, at = cio.verify_pattern(path, offset, length, bs, seed, gen,
    {direct = direct, max_report = cap})
  if ok == true then return true end
  if ok == false then return false, setmetatable(report, Report) end
  return nil, report, err, at
end

--- Fills a range with one byte or a repeated string.
-- @param dev a path, loop object, DmDevice or fixture
-- @param what an integer byte 0..255 or a non-empty string repeated from `offset`
-- @tparam table opts `offset` (0), `length` (the rest of the device), `direct` (true)
-- @treturn boolean true, or nil, message, errno, offset
function sio.fill(dev, what, opts)
  local path = sio.path_of(dev, "io.fill")
  opts = check_opts(opts, {offset = true, length = true, direct = true}, "io.fill")
  local pattern
  if math.type(what) == "integer" and what >= 0 and what <= 255 then
    pattern = string.char(what)
  elseif type(what) == "string" and #what > 0 and #what <= 1024 * 1024 then
    pattern = what
  else
    value_error("io.fill: expected a byte 0..255 or a string of 1 byte to 1 MiB, got %s", tostring(what))
  end
  local direct = check_bool(opts.direct, "direct", "io.fill", true)
  local offset, length, err, at = range_of(path, opts, direct and 512 or 1, "io.fill")
  if not offset then return nil, length, err, at end
  return cio.fill(path, offset, length, pattern, {direct = direct})
end

--- Reads n bytes at a byte offset (any offset and length, also with O_DIRECT).
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam integer offset bytes
-- @tparam integer n bytes
-- @tparam table opts `direct` (true)
-- @treturn string the bytes, or nil, message, errno, offset
function sio.read_block(dev, offset, n, opts)
  local path = sio.path_of(dev, "io.read_block")
  opts = check_opts(opts, {direct = true}, "io.read_block")
  check_int(offset, "offset", "io.read_block", 0)
  check_int(n, "n", "io.read_block", 0)
  return cio.read(path, offset, n,
    {direct = check_bool(opts.direct, "direct", "io.read_block", true)})
end

--- Writes a string at a byte offset; with O_DIRECT (the default) offset and
-- length must be whole logical blocks.
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam integer offset bytes
-- @tparam string data the bytes
-- @tparam table opts `direct` (true), `dsync` (false: O_DSYNC, so a direct write goes
--   down as a FUA write where the device takes FUA)
-- @treturn boolean true, or nil, message, errno, offset
function sio.write_block(dev, offset, data, opts)
  local path = sio.path_of(dev, "io.write_block")
  opts = check_opts(opts, {direct = true, dsync = true}, "io.write_block")
  check_int(offset, "offset", "io.write_block", 0)
  if type(data) ~= "string" then value_error("io.write_block: data must be a string, got %s", type(data)) end
  return cio.write(path, offset, data, {
    direct = check_bool(opts.direct, "direct", "io.write_block", true),
    dsync = check_bool(opts.dsync, "dsync", "io.write_block", false)})
end

local function range_op(fn, name)
  return function(dev, offset, length)
    local what = "io." .. name
    local path = sio.path_of(dev, what)
    local o, l, err, at = range_of(path, {offset = offset, length = length}, 512, what)
    if not o then return nil, l, err, at end
    return fn(path, o, l)
  end
end

--- Discards a byte range of a block device (BLKDISCARD); the whole device by default.
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam[opt] integer offset bytes, a multiple of 512
-- @tparam[opt] integer length bytes, a multiple of 512
-- @treturn boolean true, or nil, message, errno, offset
sio.discard = range_op(cio.discard, "discard")

--- Zeroes a byte range of a block device (BLKZEROOUT); the whole device by default.
-- @param dev a path, loop object, DmDevice or fixture
-- @tparam[opt] integer offset bytes, a multiple of 512
-- @tparam[opt] integer length bytes, a multiple of 512
-- @treturn boolean true, or nil, message, errno, offset
sio.zeroout = range_op(cio.zeroout, "zeroout")

--- Flushes a device's (or file's) write cache: fsync, a cache flush for a block device.
-- @param dev a path, loop object, DmDevice or fixture
-- @treturn boolean true, or nil, message, errno, offset
function sio.flush(dev)
  return cio.flush(sio.path_of(dev, "io.flush"))
end

--- Whether a path (or device object) is a block device.
-- @param dev a path, loop object, DmDevice or fixture
-- @treturn boolean true for a block device
function sio.is_block_device(dev)
  return cio.is_block(sio.path_of(dev, "io.is_block_device"))
end

--- Writes back and drops a block device's page cache (BLKFLSBUF).
-- @param dev a path, loop object, DmDevice or fixture
-- @treturn boolean true, or nil, message, errno, offset
function sio.invalidate(dev)
  return cio.invalidate(sio.path_of(dev, "io.invalidate"))
end

--- The crc32c (Castagnoli) of a string, as the pattern stamps hold it.
-- @tparam string s the bytes
-- @treturn integer the checksum
function sio.crc32c(s)
  if type(s) ~= "string" then value_error("io.crc32c: expected a string, got %s", type(s)) end
  return cio.crc32c(s)
end

--- The names in a directory, but "." and "..".
-- @tparam string path the directory
-- @treturn {string,...} the names, or nil, message, errno
function sio.list_dir(path)
  if type(path) ~= "string" then value_error("io.list_dir: expected a path, got %s", type(path)) end
  return cio.list_dir(path)
end

--- Bytes of the stamp at the start of each pattern block.
--- A small file's whole text: a sysfs or proc attribute, a result file.
-- @tparam string path
-- @treturn string the text, or nil, message, errno
function sio.read_text(path)
  local f, msg, errno = io.open(path, "rb")
  if not f then return nil, msg, errno end
  local text, rmsg, rerrno = f:read("a")
  f:close()
  if not text then return nil, rmsg, rerrno end
  return text
end

--- The first line of a small file, without its newline ("" for an empty file).
-- @tparam string path
-- @treturn string the line, or nil, message, errno
function sio.read_line(path)
  local text, msg, errno = sio.read_text(path)
  if not text then return nil, msg, errno end
  return (text:match("^[^\n]*"))
end

sio.STAMP_BYTES = cio.STAMP_BYTES

return sio

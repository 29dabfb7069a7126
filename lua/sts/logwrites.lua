--- sts.logwrites: reads a dm-log-writes log and replays it onto a device.
--
--   local logwrites = require "sts.logwrites"
--   local log = logwrites.open(log_dev)            -- a path, loop, DmDevice or file
--   log.entries[i]  -- {index, sector, nr_sectors, flags, flush, fua, discard, metadata,
--                   --  mark, data_offset, bytes}
--   log:replay(target, {to_mark = "after-sync"})   -- writes entries 1 .. the mark
--   log:replay(target, {fua_points = true, on_point = function(p) ... end})
--
-- The on-disk format is the kernel's (drivers/md/dm-log-writes.c, and
-- Documentation/admin-guide/device-mapper/log-writes.rst): little-endian,
-- in units of the logged device's sector size S (its logical block size).
--   byte 0       the super block: u64 magic 0x6a736677736872, u64 version 1,
--                u64 nr_entries, u32 S
--   byte S       entry 1: one S-byte block holding u64 sector, u64 nr_sectors,
--                u64 flags, u64 data_len (a mark's name follows in the same
--                block), then nr_sectors * S bytes of data (none for a
--                discard or a mark); entry 2 follows, and so on
-- Flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16. Entries are in the
-- order the writes completed, a flush after the writes it covers. The super
-- block's count is brought up to date at each FUA write and each mark, and
-- when the log-writes device is removed (which also logs a last mark,
-- "dm-log-writes-end"); entries past that count are not read.

local errors = require "sts.errors"
local sio = require "sts.io"

local logwrites = {}

local MAGIC = 0x6a736677736872
local FLUSH, FUA, DISCARD, MARK, METADATA = 1, 2, 4, 8, 16
logwrites.FLAGS = {FLUSH = FLUSH, FUA = FUA, DISCARD = DISCARD, MARK = MARK, METADATA = METADATA}

local function value_error(fmt, ...)
  errors.raise("ValueError", string.format(fmt, ...))
end

local function device_error(msg, err)
  errors.raise("DeviceError", msg, err)
end

-- regular files (a log kept as a fixture) go through the page cache, block
-- devices around it
local is_block_device = sio.is_block_device

local function reader(path)
  local direct = is_block_device(path) and true or false
  return function(offset, n)
    local data, msg, err = sio.read_block(path, offset, n, {direct = direct})
    if not data then device_error("log-writes log " .. msg, err) end
    return data
  end
end

local Log = {}
Log.__index = Log
Log.__name = "sts.logwrites.Log"

--- Reads a log-writes log: its super block and the index of every entry.
-- @param log_dev the log device or a file holding a log (path, loop, DmDevice, fixture)
-- @treturn Log `{path, sectorsize, nr_entries, entries, marks}` (marks: name -> entry index);
--   raises DeviceError when the log cannot be read or is not a log-writes log
function logwrites.open(log_dev)
  local path = sio.path_of(log_dev, "logwrites.open")
  local read = reader(path)
  local super = read(0, 28)
  local magic, version, nr_entries, sectorsize = string.unpack("<I8I8I8I4", super)
  if magic ~= MAGIC then
    device_error(("%s: not a log-writes log (magic %#x, expected %#x)"):format(path, magic, MAGIC))
  end
  if version ~= 1 then device_error(("%s: log-writes version %d, only 1 is known"):format(path, version)) end
  if sectorsize < 512 or sectorsize & (sectorsize - 1) ~= 0 then
    device_error(("%s: bad sector size %d in the super block"):format(path, sectorsize))
  end
  local log = setmetatable({path = path, sectorsize = sectorsize, nr_entries = nr_entries,
    entries = {}, marks = {}, read = read}, Log)
  local pos = sectorsize
  for i = 1, nr_entries do
    local head = read(pos, sectorsize)
    local sector, nr_sectors, flags, data_len = string.unpack("<I8I8I8I8", head)
    local e = {index = i, sector = sector, nr_sectors = nr_sectors, flags = flags,
      flush = flags & FLUSH ~= 0, fua = flags & FUA ~= 0, discard = flags & DISCARD ~= 0,
      metadata = flags & METADATA ~= 0, data_offset = pos + sectorsize, bytes = 0}
    if flags & MARK ~= 0 then
      if data_len > sectorsize - 32 then
        device_error(("%s: entry %d: mark of %d bytes in a %d-byte block"):format(path, i,
          data_len, sectorsize))
      end
      e.mark = head:sub(33, 32 + data_len)
      log.marks[e.mark] = log.marks[e.mark] or i
    elseif not e.discard then
      e.bytes = nr_sectors * sectorsize
    end
    log.entries[i] = e
    pos = pos + sectorsize + e.bytes
  end
  log.bytes = pos
  return log
end

--- The entry index of a mark, or nil.
-- @tparam string name the mark
-- @treturn integer|nil the index of the first entry with that mark
function Log:find_mark(name)
  return self.marks[name]
end

--- Entries of the log, one line each, for a report.
-- @treturn string the listing
function Log:describe()
  local lines = {}
  for _, e in ipairs(self.entries) do
    local what = {}
    for _, f in ipairs({"flush", "fua", "discard", "metadata"}) do
      if e[f] then what[#what + 1] = f end
    end
    if e.mark then
      lines[#lines + 1] = ("%d mark %q"):format(e.index, e.mark)
    else
      lines[#lines + 1] = ("%d sector %d +%d %s"):format(e.index, e.sector, e.nr_sectors,
        table.concat(what, ","))
    end
  end
  return table.concat(lines, "\n")
end

local REPLAY_FIELDS = {to_mark = true, to_entry = true, from_entry = true, fua_points = true,
  flush_points = true, on_point = true, direct = true}

--- Replays entries onto a target device, optionally stopping at a mark or entry.
-- Writes each entry's data at its sector, zeroes discarded ranges
-- (BLKZEROOUT, so the result does not depend on what the target does with
-- a discard) and, at each point asked for, calls on_point with the target
-- in the state a crash right after that entry would leave.
-- @param target the device (or file) to write: path, loop, DmDevice or fixture
-- @tparam table opts `to_mark` (name) or `to_entry` (index): the last entry
--   to replay (default: all); `from_entry` (1): go on from an earlier replay;
--   `on_point` (function(point)) called after each mark and, with
--   `fua_points`/`flush_points` true, after each FUA/flush entry, with
--   `{index=, kind="mark"|"fua"|"flush", name=, entry=}`; returning false stops;
--   `direct` (true for block devices)
-- @treturn integer the index of the last entry replayed
function Log:replay(target, opts)
  local path = sio.path_of(target, "log:replay")
  opts = opts or {}
  if type(opts) ~= "table" then value_error("log:replay: expected a table of options") end
  for k in pairs(opts) do
    if not REPLAY_FIELDS[k] then value_error("log:replay: unknown option '%s'", tostring(k)) end
  end
  local last = #self.entries
  if opts.to_mark ~= nil and opts.to_entry ~= nil then value_error("log:replay: give to_mark or to_entry, not both") end
  if opts.to_mark ~= nil then
    last = self.marks[opts.to_mark]
    if not last then value_error("log:replay: no mark %q in the log", tostring(opts.to_mark)) end
  elseif opts.to_entry ~= nil then
    if math.type(opts.to_entry) ~= "integer" or opts.to_entry < 0 or opts.to_entry > #self.entries then
      value_error("log:replay: to_entry must be an integer from 0 to %d", #self.entries)
    end
    last = opts.to_entry
  end
  local first = opts.from_entry or 1
  if math.type(first) ~= "integer" or first < 1 then value_error("log:replay: from_entry must be an integer >= 1") end
  if opts.on_point ~= nil and type(opts.on_point) ~= "function" then
    value_error("log:replay: on_point must be a function")
  end
  local direct = opts.direct
  if direct == nil then direct = is_block_device(path) and true or false end
  local ss = self.sectorsize
  for i = first, last do
    local e = self.entries[i]
    if e.discard then
      local ok, msg, err = sio.zeroout(path, e.sector * ss, e.nr_sectors * ss)
      if not ok then
        -- a regular file has no BLKZEROOUT: write the zeros
        ok, msg, err = sio.fill(path, 0, {offset = e.sector * ss, length = e.nr_sectors * ss,
          direct = direct})
      end
      if not ok then device_error(("replay entry %d (discard): %s"):format(i, msg), err) end
    elseif e.bytes > 0 then
      local data = self.read(e.data_offset, e.bytes)
      local ok, msg, err = sio.write_block(path, e.sector * ss, data, {direct = direct})
      if not ok then device_error(("replay entry %d: %s"):format(i, msg), err) end
    end
    if opts.on_point then
      local kind
      if e.mark then kind = "mark"
      elseif e.fua and opts.fua_points then kind = "fua"
      elseif e.flush and opts.flush_points then kind = "flush" end
      if kind and opts.on_point{index = i, kind = kind, name = e.mark, entry = e} == false then
        return i
      end
    end
  end
  if not direct then sio.flush(path) end
  return last
end

return logwrites

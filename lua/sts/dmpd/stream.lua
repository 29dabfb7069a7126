--- Streaming reader of thin_dump XML (the C core's `thindump` over libexpat).
-- A dump is read in constant memory: mappings reach Lua one call at a time
-- with integer arguments, never as a tree, so a dump of a fully mapped
-- multi-terabyte pool (gigabytes of XML) reads in a few megabytes.
-- `sts.dmpd.parse.thin_dump` builds its tables on this reader.

local errors = require("sts.errors")

local stream = {}

local function thindump()
  return require("sts.core").thindump
end

-- an io file: io.type says "file" (or "closed file")
local function is_file(v)
  return io.type(v) ~= nil
end

-- what the reader reads from: the text, or an open file (and whether this
-- module opened it, so it closes it again)
local function source_of(input, who)
  if type(input) == "string" then return input, false end
  if is_file(input) then
    if io.type(input) == "closed file" then
      errors.raise("ValueError", who .. ": the file is closed")
    end
    return input, false
  end
  if type(input) == "table" and type(input.stdout) == "string" then
    if input.output_file and input.stdout == "" then
      local f, msg = io.open(input.output_file, "rb")
      if not f then errors.raise("DmpdError", "cannot read the tool's output: " .. msg) end
      return f, true
    end
    return input.stdout, false
  end
  errors.raise("ValueError", ("%s: expected thin_dump output (a string, a CommandResult or an open file), got %s")
               :format(who, type(input)))
end

--- Reads a dump, calling back per mapping and per superblock and device.
-- `input`: the XML text, a CommandResult (its stdout, or the file it
-- streamed to with `output_file`) or an open file. `on_mapping(dev_id,
-- origin, data, length, time)` for each run of mappings in document order
-- (see each_mapping); `on_start(name, attrs)` for `superblock` and
-- `device` (attrs: name -> string), `on_end(name)` at the end of a device.
-- `fast=false` reads through expat alone (the fast path's reference).
-- @tparam string|table|file input the dump
-- @tparam function on_mapping called per mapping
-- @tparam[opt] function on_start called per superblock and device
-- @tparam[opt] function on_end called at the end of each device
-- @tparam[opt] boolean fast false to read through expat alone
-- @treturn integer the number of on_mapping calls
-- @raise DmpdError on malformed XML or a dump that is not a thin dump
function stream.read(input, on_mapping, on_start, on_end, fast)
  if type(on_mapping) ~= "function" then
    errors.raise("ValueError", "thin_dump reader: on_mapping must be a function, got " .. type(on_mapping))
  end
  local src, opened = source_of(input, "thin_dump reader")
  if opened then
    local f <close> = src
    return thindump().read(f, on_mapping, on_start, on_end, fast ~= false)
  end
  return thindump().read(src, on_mapping, on_start, on_end, fast ~= false)
end

--- Calls `fn(dev_id, origin, data, length, time)` for every mapping of a
-- thin_dump, in constant memory.
-- `input` is the dump's text, a CommandResult (stdout, or its
-- `output_file`) or an open file (read from where it stands, left open).
-- The calls are parse_thin_dump's mappings: ranges stay ranges (`length`
-- > 1), shared `<def>` subtrees are expanded at each `<ref>`, a mapping
-- that carries the run before it on (next origin and data block, same
-- time) is joined to it, so both tool generations give the same calls,
-- and an absent `time` is 0.
-- @tparam string|table|file input the dump
-- @tparam function fn called once per mapping with five integers
-- @treturn integer the number of calls
-- @raise DmpdError on malformed XML or a dump that is not a thin dump
function stream.each_mapping(input, fn)
  if type(fn) ~= "function" then
    errors.raise("ValueError", "each_mapping: fn must be a function, got " .. type(fn))
  end
  return stream.read(input, fn)
end

return stream

--- Damage helpers: corrupt thin, cache or era metadata the ways the tools'
-- own tests do, so a test can show *_check failing and *_repair recovering.
-- They write to a metadata file or device; nothing is done through the
-- kernel, so use them on metadata no live pool has open.

local errors = require("sts.errors")

local damage = {}

-- every format of the persistent-data library uses 4 KiB metadata blocks
damage.BLOCK_SIZE = 4096

-- superblock magic (le64 at byte 32) -> where its metadata space map root
-- (nr_blocks, nr_allocated, bitmap_root, ref_count_root; le64 each) starts
local SPACE_MAP_ROOT = {
  [27022010] = {kind = "thin", offset = 192},    -- after the data space map root
  [1623043] = {kind = "cache", offset = 64},     -- after policy name and hint size
  [2126579579] = {kind = "era", offset = 44},    -- right after the version
}

local function path_of(metadata)
  if type(metadata) == "string" and metadata ~= "" then return metadata end
  if type(metadata) == "table" or type(metadata) == "userdata" then
    local ok, p = pcall(function() return metadata.path end)
    if ok and type(p) == "string" and p ~= "" then return p end
  end
  errors.raise("ValueError", "damage: metadata must be a file or device name (or have a .path), got "
               .. tostring(metadata))
end

local function open(path)
  local f, msg = io.open(path, "r+b")
  if not f then errors.raise("DmpdError", "damage: cannot open " .. msg) end
  local size = f:seek("end")
  return f, size
end

local function read_at(f, offset, length, path)
  f:seek("set", offset)
  local s = f:read(length)
  if not s or #s ~= length then
    errors.raise("DmpdError", ("damage: cannot read %d bytes at %d of %s"):format(length, offset, path))
  end
  return s
end

-- the first bitmap block of the metadata space map, from the superblock
-- and the space map's index block
local function bitmap_block(f, size, path)
  local sb = read_at(f, 0, damage.BLOCK_SIZE, path)
  local magic = string.unpack("<I8", sb, 33)
  local layout = SPACE_MAP_ROOT[magic]
  if not layout then
    errors.raise("DmpdError", ("damage: %s has no thin, cache or era superblock (magic %d)"):format(path, magic))
  end
  local index_block = string.unpack("<I8", sb, layout.offset + 16 + 1)
  if index_block <= 0 or (index_block + 1) * damage.BLOCK_SIZE > size then
    errors.raise("DmpdError", ("damage: the %s superblock of %s names no usable space map index (block %d)")
                 :format(layout.kind, path, index_block))
  end
  -- the index block: csum (le32), padding (le32), blocknr (le64), then
  -- entries of {blocknr le64, nr_free le32, none_free_before le32}
  local index = read_at(f, index_block * damage.BLOCK_SIZE, damage.BLOCK_SIZE, path)
  local block = string.unpack("<I8", index, 16 + 1)
  if block <= 0 or (block + 1) * damage.BLOCK_SIZE > size then
    errors.raise("DmpdError", ("damage: the space map index of %s names no usable bitmap (block %d)")
                 :format(path, block))
  end
  return block
end

local function where(f, size, what, path)
  if what == "superblock" then
    return 0, string.rep("\0", damage.BLOCK_SIZE), 0
  elseif what == "bitmap" then
    local block = bitmap_block(f, size, path)
    return block * damage.BLOCK_SIZE, string.rep("\0", damage.BLOCK_SIZE), block
  elseif type(what) == "table" then
    for k in pairs(what) do
      if k ~= "block" and k ~= "bytes" and k ~= "offset" then
        errors.raise("ValueError", "damage: unknown field '" .. tostring(k) .. "' (block, or bytes and offset)")
      end
    end
    if what.block ~= nil then
      if what.bytes ~= nil or what.offset ~= nil then
        errors.raise("ValueError", "damage: give either block or bytes and offset, not both")
      end
      if math.type(what.block) ~= "integer" or what.block < 0 then
        errors.raise("ValueError", "damage: block must be a non-negative integer, got " .. tostring(what.block))
      end
      return what.block * damage.BLOCK_SIZE, string.rep("\0", damage.BLOCK_SIZE), what.block
    end
    if type(what.bytes) ~= "string" or what.bytes == "" then
      errors.raise("ValueError", "damage: bytes must be a non-empty string, got " .. type(what.bytes))
    end
    if math.type(what.offset) ~= "integer" or what.offset < 0 then
      errors.raise("ValueError", "damage: offset must be a non-negative integer, got " .. tostring(what.offset))
    end
    return what.offset, what.bytes, what.offset // damage.BLOCK_SIZE
  end
  errors.raise("ValueError", 'damage: what must be "superblock", "bitmap", {block=N} or {bytes=, offset=}, got '
               .. tostring(what))
end

--- Corrupts metadata in place.
-- `what`: `"superblock"` zeroes block 0; `"bitmap"` zeroes the first
-- bitmap block of the metadata space map (found through the superblock of
-- a thin, cache or era metadata); `{block = N}` zeroes metadata block N;
-- `{bytes = s, offset = n}` writes `s` at byte `n`. Nothing is written
-- beyond the end of the file or device.
-- @tparam string|table metadata a file or device name, or an object with `path`
-- @tparam string|table what the damage
-- @treturn table {offset=, length=, block=, original=} (the bytes overwritten,
--   so `damage(m, {bytes = d.original, offset = d.offset})` undoes it)
-- @raise ValueError for a bad `what`, DmpdError when the metadata cannot be
--   read or written or has no such block
function damage.damage(metadata, what)
  local path = path_of(metadata)
  if type(what) ~= "string" and type(what) ~= "table" then where(nil, 0, what, path) end
  local f, size = open(path)
  local ok, res = pcall(function()
    local offset, bytes, block = where(f, size, what, path)
    if offset + #bytes > size then
      errors.raise("DmpdError", ("damage: %d bytes at %d go beyond the end of %s (%d bytes)")
                   :format(#bytes, offset, path, size))
    end
    local original = read_at(f, offset, #bytes, path)
    f:seek("set", offset)
    local written, werr = f:write(bytes)
    if not written then errors.raise("DmpdError", "damage: cannot write " .. path .. ": " .. tostring(werr)) end
    local flushed, ferr = f:flush()
    if not flushed then errors.raise("DmpdError", "damage: cannot write " .. path .. ": " .. tostring(ferr)) end
    return {offset = offset, length = #bytes, block = block, original = original}
  end)
  f:close()
  if not ok then error(res, 0) end
  return res
end

return damage

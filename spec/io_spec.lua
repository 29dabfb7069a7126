-- Host tier: sts.io's patterns and raw block I/O on regular files (page
-- cache: direct=false, so any file system will do).
local sio = require "sts.io"
local core = require "sts.core"
local raises = require("helpers.raises").raises
local files = require "helpers.run"
local temp_file = files.temp_file

local BS = 4096
local BLOCKS = 64

-- an independent crc32c (bit by bit), to check the stamps' checksums
local function crc32c_slow(s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do
      if crc & 1 == 1 then crc = (crc >> 1) ~ 0x82F63B78 else crc = crc >> 1 end
    end
  end
  return crc ~ 0xFFFFFFFF
end

local function le(s, at, n)
  local v = 0
  for i = n, 1, -1 do v = (v << 8) | s:byte(at + i - 1) end
  return v
end

describe("sts.io patterns on files", function()
  local path
  local P = {seed = 42, generation = 3, direct = false}
  local function opts(extra)
    local o = {}
    for k, v in pairs(P) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  before_each(function()
    path = temp_file(BLOCKS * BS)
    assert.is_true(sio.write_pattern(path, opts()))
  end)
  after_each(function() os.remove(path) end)

  it("verifies what it wrote, with exactly true", function()
    assert.are.equal(true, (sio.verify_pattern(path, opts())))
    -- a sub-range, and the whole file as the default length
    assert.are.equal(true, (sio.verify_pattern(path, opts{offset = 8 * BS, length = 4 * BS})))
  end)

  it("stamps each block with magic, seed, offset, generation, size and the rest's crc32c", function()
    local blk = assert(sio.read_block(path, 5 * BS, BS, {direct = false}))
    assert.are.equal("STSPATv1", blk:sub(1, 8))
    assert.are.equal(42, le(blk, 9, 8))
    assert.are.equal(5 * BS, le(blk, 17, 8))
    assert.are.equal(3, le(blk, 25, 8))
    assert.are.equal(BS, le(blk, 33, 4))
    local rest = blk:sub(sio.STAMP_BYTES + 1)
    assert.are.equal(crc32c_slow(rest), le(blk, 37, 4))
    assert.are.equal(crc32c_slow(rest), sio.crc32c(rest))
    assert.are.equal(0xE3069283, sio.crc32c("123456789"))
    -- the rest differs from block to block and from generation to generation
    local other = assert(sio.read_block(path, 6 * BS, BS, {direct = false}))
    assert.are_not.equal(rest, other:sub(sio.STAMP_BYTES + 1))
  end)

  it("names stale, misdirected, zeroed, torn, garbage and foreign blocks", function()
    -- block 3: generation 2 (stale); block 5: a copy of block 2 (misdirected);
    -- block 7: zeros; block 9: first half generation 2, second half 3 (torn);
    -- block 11: text (garbage); block 13: another seed (foreign);
    -- block 15: generation 4 (newer)
    assert.is_true(sio.write_pattern(path, opts{generation = 2, offset = 3 * BS, length = BS}))
    local b2 = assert(sio.read_block(path, 2 * BS, BS, {direct = false}))
    assert.is_true(sio.write_block(path, 5 * BS, b2, {direct = false}))
    assert.is_true(sio.write_block(path, 7 * BS, string.rep("\0", BS), {direct = false}))
    local b9 = assert(sio.read_block(path, 9 * BS, BS, {direct = false}))
    assert.is_true(sio.write_pattern(path, opts{generation = 2, offset = 9 * BS, length = BS}))
    assert.is_true(sio.write_block(path, 9 * BS + BS // 2, b9:sub(BS // 2 + 1), {direct = false}))
    assert.is_true(sio.write_block(path, 11 * BS, string.rep("garbage!", BS // 8), {direct = false}))
    assert.is_true(sio.write_pattern(path, opts{seed = 43, offset = 13 * BS, length = BS}))
    assert.is_true(sio.write_pattern(path, opts{generation = 4, offset = 15 * BS, length = BS}))

    local ok, report = sio.verify_pattern(path, opts())
    assert.is_false(ok)
    assert.are.equal(BLOCKS, report.blocks)
    assert.are.equal(7, report.bad)
    assert.is_false(report.truncated)
    assert.are.same({stale = 1, misdirected = 1, zeros = 1, torn = 1, garbage = 1, foreign = 1,
      newer = 1}, report.counts)
    local by_offset = {}
    for _, b in ipairs(report.bad_blocks) do by_offset[b.offset // BS] = b end
    assert.are.same({kind = "stale", offset = 3 * BS, expected_generation = 3,
      found = {seed = 42, offset = 3 * BS, generation = 2, block_size = BS}}, by_offset[3])
    assert.are.same({kind = "misdirected", offset = 5 * BS, expected_generation = 3,
      found = {seed = 42, offset = 2 * BS, generation = 3, block_size = BS}}, by_offset[5])
    assert.are.same({kind = "zeros", offset = 7 * BS, expected_generation = 3}, by_offset[7])
    assert.are.equal("torn", by_offset[9].kind)
    assert.are.equal(2, by_offset[9].found.generation)
    assert.are.same({kind = "garbage", offset = 11 * BS, expected_generation = 3}, by_offset[11])
    assert.are.equal("foreign", by_offset[13].kind)
    assert.are.equal(43, by_offset[13].found.seed)
    assert.are.equal("newer", by_offset[15].kind)
    assert.are.equal(4, by_offset[15].found.generation)
    local text = tostring(report)
    assert.matches("7 of 64 blocks bad", text, 1, true)
    assert.matches("offset 20480: expected generation 3, found seed 42 offset 8192 generation 3 (misdirected)",
      text, 1, true)
  end)

  it("caps the list and keeps counting", function()
    assert.is_true(sio.write_pattern(path, opts{generation = 1}))
    local ok, report = sio.verify_pattern(path, opts{max_report = 4})
    assert.is_false(ok)
    assert.are.equal(BLOCKS, report.bad)
    assert.are.equal(4, #report.bad_blocks)
    assert.is_true(report.truncated)
    assert.are.same({stale = BLOCKS}, report.counts)
    assert.matches("and 60 more", tostring(report), 1, true)
  end)

  it("works with other block sizes and offsets", function()
    local p2 = temp_file(1024 * 1024)
    assert.is_true(sio.write_pattern(p2, {block_size = 512, seed = -5, offset = 512, length = 8192,
      direct = false}))
    assert.is_true((sio.verify_pattern(p2, {block_size = 512, seed = -5, offset = 512, length = 8192,
      direct = false})))
    assert.is_true(sio.write_pattern(p2, {block_size = 65536, direct = false}))
    assert.is_true((sio.verify_pattern(p2, {block_size = 65536, direct = false})))
    -- read with the wrong block size, every block is garbage to it
    local ok, report = sio.verify_pattern(p2, {block_size = 4096, direct = false})
    assert.is_false(ok)
    assert.are.equal(256, report.bad)
    os.remove(p2)
  end)
end)

describe("sts.io raw blocks on files", function()
  local path
  before_each(function() path = temp_file(64 * 1024) end)
  after_each(function() os.remove(path) end)

  it("fills with a byte or a repeated string and reads any range", function()
    assert.is_true(sio.fill(path, 0xAB, {direct = false}))
    assert.are.equal(string.rep("\xAB", 100), sio.read_block(path, 7, 100, {direct = false}))
    assert.is_true(sio.fill(path, "abc", {offset = 10, length = 10, direct = false}))
    assert.are.equal("\xABabcabcabca\xAB", sio.read_block(path, 9, 12, {direct = false}))
    assert.is_true(sio.flush(path))
  end)

  it("reports failures with errno and the offset", function()
    local ok, msg, errno, offset = sio.read_block(path, 64 * 1024 + 512, 512, {direct = false})
    assert.is_nil(ok)
    assert.matches("offset 66048", msg, 1, true)
    assert.are.equal(5, errno)   -- EIO: nothing there
    assert.are.equal(66048, offset)
    ok, msg, errno, offset = sio.write_pattern("/nonexistent/dir/file", {length = 4096, direct = false})
    assert.is_nil(ok)
    assert.matches("No such file", msg)
    assert.are.equal(2, errno)
    assert.are.equal(0, offset)
    ok, msg, errno = sio.discard(path, 0, 4096)   -- a regular file has no BLKDISCARD
    assert.is_nil(ok)
    assert.matches("discard .* at offset 0", msg)
    assert.is_number(errno)
  end)

  it("rejects bad arguments with a ValueError naming them", function()
    raises("ValueError", "block_size", sio.write_pattern, path, {block_size = 1000})
    raises("ValueError", "offset 100 is not a multiple of 4096", sio.write_pattern, path, {offset = 100})
    raises("ValueError", "length 10 is not a multiple", sio.verify_pattern, path, {length = 10})
    raises("ValueError", "unknown option 'gen'", sio.write_pattern, path, {gen = 1})
    raises("ValueError", "seed must be an integer", sio.write_pattern, path, {seed = 1.5})
    raises("ValueError", "generation must be an integer >= 0", sio.write_pattern, path, {generation = -1})
    raises("ValueError", "direct must be a boolean", sio.verify_pattern, path, {direct = 1})
    raises("ValueError", "max_report", sio.verify_pattern, path, {max_report = -1})
    raises("ValueError", "expected a path", sio.write_pattern, 17, {})
    raises("ValueError", "expected a byte", sio.fill, path, 256)
    raises("ValueError", "expected a byte", sio.fill, path, "")
    raises("ValueError", "data must be a string", sio.write_block, path, 0, 5)
    raises("ValueError", "offset must be an integer", sio.read_block, path, -1, 5)
  end)

  it("reads a small file's text and first line, or says why not", function()
    local f = assert(io.open(path, "wb"))
    f:write("first\nsecond\n")
    f:close()
    assert.are.equal("first\nsecond\n", sio.read_text(path))
    assert.are.equal("first", sio.read_line(path))
    local text, msg, errno = sio.read_text("/nonexistent/sts-x")
    assert.is_nil(text)
    assert.matches("/nonexistent/sts%-x", msg)
    assert.are.equal(2, errno)
    assert.is_nil(sio.read_line("/nonexistent/sts-x"))
    f = assert(io.open(path, "wb"))
    f:close()
    assert.are.equal("", sio.read_line(path))
  end)

  it("C entry points take their flags by name, in a table read raw", function()
    local cio = core.io
    assert.has_error(function() cio.read(path, 0, 1, true) end)
    assert.matches("table expected", select(2, pcall(cio.write, path, 0, "x", true, true)))
    assert.matches("direct must be a boolean", select(2, pcall(cio.read, path, 0, 1, {direct = 1})))
    assert.matches("dsync must be a boolean", select(2, pcall(cio.write, path, 0, "x", {dsync = "y"})))
    assert.matches("max_report must be an integer",
      select(2, pcall(cio.verify_pattern, path, 0, 4096, 4096, 1, 1, {max_report = 1.5})))
    -- the flags take effect: dsync and buffered I/O by name, then read back
    assert.is_true(cio.write(path, 512, "named", {direct = false, dsync = true}))
    assert.are.equal("named", cio.read(path, 512, 5, {direct = false}))
    assert.are.equal("named", cio.read(path, 512, 5))
  end)

  it("C entry points raise, never crash, on any Lua value", function()
    local cio = core.io
    local junk = {nil, true, 1.5, -1, "x", {}, print, coroutine.create(print), io.stdout,
      math.maxinteger}
    for name, fn in pairs(cio) do
      if type(fn) == "function" then
        for i = 1, #junk + 1 do
          for j = 1, #junk + 1 do
            -- raising is fine; returning fail is fine; crashing is not
            pcall(fn, junk[i], junk[j], junk[j], 4096, junk[i], junk[j], junk[i], junk[j])
            pcall(fn, path, junk[i], junk[j], junk[i], junk[j])
          end
        end
        if name ~= "crc_impl" then assert.is_false((pcall(fn)), name .. " accepted no arguments") end
      end
    end
    -- the file is still there and sane
    assert.are.equal(64 * 1024, core.loop.size(path))
  end)
end)

describe("test-kit power, log-writes and scsi_debug input checks", function()
  local testkit = require "sts.testkit"

  it("refuse bad arguments before touching anything", function()
    raises("ValueError", "testkit.power_cut: expected a DmDevice", testkit.power_cut, {})
    raises("ValueError", "testkit.power_cut", testkit.power_cut, "/dev/null")
    raises("ValueError", "unknown option 'log'", testkit.log_writes, "/dev/null", {log = 1})
    raises("ValueError", "not both", testkit.log_writes, "/dev/null", {log_mb = 1, log_dev = "/dev/null"})
    raises("ValueError", "testkit.log_writes", testkit.log_writes, "/no/such/device")
    raises("ValueError", "unknown option 'size'", testkit.scsi_debug, {size = 1})
    raises("ValueError", "sector_size must be 512, 1024, 2048 or 4096", testkit.scsi_debug,
      {sector_size = 1000})
    raises("ValueError", "unknown opt 'bogus'", testkit.scsi_debug, {opts = {"bogus"}})
    raises("ValueError", "disks must be a positive integer", testkit.scsi_debug, {disks = 0})
    raises("ValueError", "parameter delay must be", testkit.scsi_debug, {params = {delay = "1 2"}})
    assert.are.equal(0x2, testkit.scsi_debug_opts.medium_err)
  end)
end)

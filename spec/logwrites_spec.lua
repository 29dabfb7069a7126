-- Host tier: sts.logwrites reads a log recorded in the sandbox (see
-- spec/fixtures/logwrites/record.lua for what it holds) and replays it
-- onto a file.
local logwrites = require "sts.logwrites"
local sio = require "sts.io"
local raises = require("helpers.raises").raises
local files = require "helpers.run"
local temp_file = files.temp_file

local FIXTURE = "spec/fixtures/logwrites/small.log"
local BS = 4096

local function gen(path, block, generation)
  return sio.verify_pattern(path, {offset = block * BS, length = BS, seed = 5,
    generation = generation, direct = false})
end

describe("sts.logwrites on a recorded log", function()
  local log
  setup(function() log = logwrites.open(FIXTURE) end)

  it("reads the super block and every entry", function()
    assert.are.equal(512, log.sectorsize)
    assert.are.equal(10, log.nr_entries)
    local shape = {}
    for i, e in ipairs(log.entries) do
      local flags = {}
      for _, f in ipairs({"flush", "fua", "discard"}) do if e[f] then flags[#flags + 1] = f end end
      shape[i] = e.mark and ("mark " .. e.mark) or
        ("%d+%d %s"):format(e.sector, e.nr_sectors, table.concat(flags, ","))
    end
    assert.are.same({"0+32 ", "0+0 flush", "mark gen1", "8+8 fua", "0+0 flush", "mark gen2",
      "16+8 discard", "128+16 ", "0+0 flush", "mark dm-log-writes-end"}, shape)
    assert.are.equal(3, log:find_mark("gen1"))
    assert.are.equal(6, log:find_mark("gen2"))
    assert.is_nil(log:find_mark("nope"))
    assert.are.equal(32 * 512, log.entries[1].bytes)
    assert.are.equal(0, log.entries[7].bytes)   -- a discard carries no data
  end)

  it("replays to each mark, each showing what was durable there", function()
    local target = temp_file(1024 * 1024)
    assert.are.equal(3, log:replay(target, {to_mark = "gen1", direct = false}))
    for b = 0, 3 do assert.is_true(gen(target, b, 1)) end
    -- on from there to gen2: block 1 is generation 2, the rest still 1
    assert.are.equal(6, log:replay(target, {from_entry = 4, to_mark = "gen2", direct = false}))
    assert.is_true(gen(target, 0, 1))
    assert.is_true(gen(target, 1, 2))
    assert.is_true(gen(target, 2, 1))
    assert.is_true(gen(target, 3, 1))
    -- to the end: block 2 discarded (zeroed), 0xEE at 64 KiB
    assert.are.equal(10, log:replay(target, {from_entry = 7, direct = false}))
    local ok, report = gen(target, 2, 1)
    assert.is_false(ok)
    assert.are.same({zeros = 1}, report.counts)
    assert.are.equal(string.rep("\xEE", 2 * BS), sio.read_block(target, 64 * 1024, 2 * BS, {direct = false}))
    os.remove(target)
  end)

  it("stops at each mark, FUA and flush point asked for", function()
    local target = temp_file(1024 * 1024)
    local seen = {}
    log:replay(target, {direct = false, fua_points = true, flush_points = true, on_point = function(p)
      seen[#seen + 1] = p.kind .. " " .. p.index .. (p.name and (" " .. p.name) or "")
      -- at the FUA point, block 1 already holds generation 2
      if p.kind == "fua" then assert.is_true(gen(target, 1, 2)) end
    end})
    assert.are.same({"flush 2", "mark 3 gen1", "fua 4", "flush 5", "mark 6 gen2", "flush 9",
      "mark 10 dm-log-writes-end"}, seen)
    -- returning false stops the replay there
    local stopped = log:replay(target, {direct = false, fua_points = true,
      on_point = function(p) return p.kind ~= "fua" end})
    assert.are.equal(4, stopped)
    os.remove(target)
  end)

  it("refuses what is not a log and bad options", function()
    local junk = temp_file(4096)
    raises("DeviceError", "not a log%-writes log", logwrites.open, junk)
    os.remove(junk)
    raises("ValueError", "no mark \"x\"", log.replay, log, "/dev/null", {to_mark = "x"})
    raises("ValueError", "unknown option 'to'", log.replay, log, "/dev/null", {to = 1})
    raises("ValueError", "to_entry must be", log.replay, log, "/dev/null", {to_entry = 11})
    raises("ValueError", "not both", log.replay, log, "/dev/null", {to_entry = 1, to_mark = "gen1"})
  end)
end)

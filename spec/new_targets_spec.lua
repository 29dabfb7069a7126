-- Host tier: the targets 6.12 has that 6.1's constructors did not cover
-- (switch, ebs, zoned, clone, vdo) and their typed status (vdo, clone,
-- zoned, switch, unstriped). Status lines of vdo, switch and unstriped and
-- a vdo `stats` reply were recorded from Debian 13's 6.12 in the sandbox
-- (spec/fixtures/status/kernel-6.12.txt, vdo-stats-6.12.txt). Debian's
-- kernels build neither clone nor ebs, and Debian ships no dmzadm to
-- format a zoned device, so the clone and zoned lines here are written
-- from the kernel's own format strings (dm-clone-target.c,
-- dm-zoned-target.c), not recorded.
local dm = require "sts.dm"
local status = require "sts.status"
local raises = require "helpers.raises"

local function read_fixture(name)
  local f = assert(io.open("spec/fixtures/status/" .. name, "r"))
  local text = f:read("a")
  f:close()
  return text
end

-- the target's table line, parsed back, gives the same line and params
local function round_trip(t)
  local line = tostring(t)
  local back = dm.parse_table(line)[1]
  assert.are.equal(line, tostring(back))
  assert.are.same(t:params(), back:params())
  return line, back:params()
end

describe("6.12 targets", function()
  describe("constructors", function()
    it("switch: paths and the region size, counts computed", function()
      local line, p = round_trip(dm.SwitchTarget{size = 16384, region_size = 64,
        paths = {{device = "7:0"}, {device = "7:1", offset = 8}}})
      assert.are.equal("0 16384 switch 2 64 0 7:0 0 7:1 8", line)
      assert.are.same({start = 0, size = 16384, region_size = 64, features = {}, paths = {{device = "7:0", offset = 0}, {device = "7:1", offset = 8}}}, p)
      assert.are.equal("0 8 switch 1 64 0 7:0 0", tostring(dm.SwitchTarget(0, 8, "1 64 0 7:0 0")))
      raises.value_error(function() dm.SwitchTarget{size = 8, region_size = 64, paths = {}} end, "paths")
    end)

    it("ebs: emulated and underlying sector sizes", function()
      assert.are.equal("0 2048 ebs 7:0 0 8", (round_trip(dm.EbsTarget{size = 2048, device = "7:0", emulated_sector_size = 8})))
      local line, p = round_trip(dm.EbsTarget{size = 2048, device = "7:0", offset = 16,
        emulated_sector_size = 8, underlying_sector_size = 1})
      assert.are.equal("0 2048 ebs 7:0 16 8 1", line)
      assert.are.equal(1, p.underlying_sector_size)
      raises.value_error(function() dm.EbsTarget{size = 8, device = "7:0"} end, "emulated_sector_size")
    end)

    it("zoned: one zoned device, or a regular one before it", function()
      assert.are.equal("0 2048 zoned 8:0", (round_trip(dm.ZonedTarget{size = 2048, devices = {"8:0"}})))
      local line, p = round_trip(dm.ZonedTarget{size = 2048, devices = {{device = "7:0"}, "8:16"}})
      assert.are.equal("0 2048 zoned 7:0 8:16", line)
      assert.are.same({start = 0, size = 2048, devices = {{device = "7:0"}, {device = "8:16"}}}, p)
      raises.value_error(function() dm.ZonedTarget{size = 8, devices = {}} end, "devices")
    end)

    it("clone: features and core args, counted", function()
      assert.are.equal("0 2048 clone 7:0 7:1 7:2 8", (round_trip(dm.CloneTarget{size = 2048,
        metadata_dev = "7:0", dest_dev = "7:1", source_dev = "7:2", region_size = 8})))
      local line = round_trip(dm.CloneTarget{size = 2048, metadata_dev = "7:0", dest_dev = "7:1",
        source_dev = "7:2", region_size = 8, features = {"no_hydration", "no_discard_passdown"},
        core_args = {hydration_threshold = 4, hydration_batch_size = 2}})
      assert.are.equal("0 2048 clone 7:0 7:1 7:2 8 2 no_hydration no_discard_passdown"
        .. " 4 hydration_batch_size 2 hydration_threshold 4", line)
      -- core args alone still need the (zero) feature count before them
      assert.are.equal("0 8 clone 7:0 7:1 7:2 8 0 2 hydration_threshold 4", tostring(dm.CloneTarget{size = 8,
        metadata_dev = "7:0", dest_dev = "7:1", source_dev = "7:2", region_size = 8,
        core_args = {hydration_threshold = 4}}))
      raises.value_error(function() dm.CloneTarget{size = 8, metadata_dev = "7:0", dest_dev = "7:1",
        source_dev = "7:2", region_size = 8, core_args = {"hydration_threshold"}} end, "core_args")
    end)

    it("vdo: V4, the storage in 4 KiB blocks, key/value options", function()
      local line, p = round_trip(dm.VdoTarget{size = 8388608, storage_dev = "7:0", storage_blocks = 1310720,
        options = {compression = "on", deduplication = "on"}})
      assert.are.equal("0 8388608 vdo V4 7:0 1310720 4096 32768 16380 compression on deduplication on", line)
      assert.are.same({start = 0, size = 8388608, version = "V4", storage_dev = "7:0", storage_blocks = 1310720, minimum_io_size = 4096,
        block_map_cache_blocks = 32768, block_map_era_length = 16380,
        options = {"compression", "on", "deduplication", "on"}}, p)
      -- the kernel's documentation's own example
      local t = dm.parse_table("0 10485760 vdo V4 /dev/dm-1 786432 512 65550 5000 hash 1 logical 3 physical 2")[1]
      assert.are.same({"hash", 1, "logical", 3, "physical", 2}, t:params().options)
      assert.are.equal(512, t:params().minimum_io_size)
      raises.value_error(function() dm.VdoTarget{size = 8, storage_dev = "7:0", storage_blocks = 1,
        minimum_io_size = 1024} end, "minimum_io_size")
      raises.value_error(function() dm.parse_table("0 8 vdo V4 7:0 1 4096 32768 16380 compression")[1]:params() end,
        "key/value")
      raises.value_error(function() dm.parse_table("0 8 vdo V9 7:0 1 4096 32768 16380")[1]:params() end, "V4")
    end)
  end)

  describe("status recorded from 6.12", function()
    local by_name
    setup(function()
      by_name = {}
      for _, st in ipairs(status.parse_lines(read_fixture("kernel-6.12.txt"))) do by_name[st.name] = st end
    end)

    it("vdo: mode, recovery, index and compression states, physical blocks", function()
      assert.are.same({type = "vdo", name = "vdo-online", start = 0, size = 2097152, device = "/dev/loop2",
        mode = "normal", read_only = false, recovering = false, index_state = "online",
        compression_state = "offline", used_physical_blocks = 729202, total_physical_blocks = 1310720},
        by_name["vdo-online"])
      assert.are.equal("opening", by_name["vdo-opening"].index_state)
      assert.are.equal("online", by_name["vdo-compression"].compression_state)
    end)

    it("switch and unstriped report nothing", function()
      assert.are.same({type = "switch", name = "switch", start = 0, size = 16384}, by_name.switch)
      assert.are.same({type = "unstriped", name = "unstriped", start = 0, size = 8192}, by_name.unstriped)
      raises.value_error(function() status.parse("switch", "1") end, "switch")
    end)

    it("vdo's stats message, nested", function()
      local st = status.parse_vdo_stats(read_fixture("vdo-stats-6.12.txt"))
      assert.are.equal(477, st.dataBlocksUsed)
      assert.are.equal(8192, st.logicalBlocksUsed)
      assert.are.equal("normal", st.mode)
      assert.are.same({compressedFragmentsWritten = 3916, compressedBlocksWritten = 280,
        compressedFragmentsInPacker = 0}, st.packer)
      assert.are.equal(4075, st.hashLock.concurrentDataMatches)
      assert.are.equal(8240, st.journal.entries.committed)
      raises.value_error(function() status.parse_vdo_stats("version : 36") end, "vdo stats")
      raises.value_error(function() status.parse_vdo_stats("{ version : 36, ") end, "vdo stats")
      raises.value_error(function() status.parse_vdo_stats("{ a : 1 } x") end, "vdo stats")
    end)
  end)

  describe("status from the kernel's format strings", function()
    it("clone: metadata, regions, features, core args, mode", function()
      local st = status.parse("clone", "8 72/4096 8 100/1024 4 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw")
      assert.are.same({type = "clone", metadata_block_size = 8, used_metadata_blocks = 72,
        total_metadata_blocks = 4096, region_size = 8, hydrated_regions = 100, total_regions = 1024,
        hydrating_regions = 4, features = {"no_hydration"}, core_args = {hydration_threshold = 1, hydration_batch_size = 1},
        mode = "rw", read_only = false, hydrated = false}, st)
      assert.is_true(status.parse("clone", "8 72/4096 8 1024/1024 0 0 0 ro").hydrated)
      assert.is_true(status.parse("clone", "Fail").fail)
      raises.value_error(function() status.parse("clone", "8 72/4096 8 1/2 0 0 0 maybe") end, "metadata mode")
    end)

    it("zoned: cache zones, then random and sequential per device", function()
      local st = status.parse("zoned", "16 zones 0/0 cache 3/4 random 10/12 sequential")
      assert.are.same({3, 4, 10, 12, 0, 0, 1}, {st.unmapped_random_zones, st.random_zones,
        st.unmapped_sequential_zones, st.sequential_zones, st.unmapped_cache_zones, st.cache_zones, #st.devices})
      local two = status.parse("zoned", "40 zones 6/8 cache 1/2 random 10/12 sequential 2/2 random 14/16 sequential")
      assert.are.equal(2, #two.devices)
      assert.are.equal(16, two.devices[2].sequential_zones)
      -- before 5.8: no cache zones
      local old = status.parse("zoned", "16 zones 3/4 random 10/12 sequential")
      assert.are.same({3, 4, 12}, {old.unmapped_random_zones, old.random_zones, old.sequential_zones})
      raises.value_error(function() status.parse("zoned", "16 zones 3/4 random") end, "zoned")
    end)
  end)
end)

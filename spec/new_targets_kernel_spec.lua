-- Kernel tier: the kernel accepts the tables the new constructors write
-- (switch, unstriped, vdo, zoned, clone, ebs) and their live status parses
-- into typed fields. What a kernel or the machine lacks is skipped with
-- the reason (sts.gate): vdo needs 6.9's dm-vdo and vdoformat; Debian's
-- kernels build neither clone nor ebs; zoned needs a dmzadm-formatted
-- zoned device.
local dm = require "sts.dm"
local loop = require "sts.loop"
local testkit = require "sts.testkit"
local gate = require "sts.gate"
local kernel = require "helpers.kernel"
local core = require "sts.core"

local MiB = 1024 * 1024

-- dm devices made by one test, removed newest first even when it fails
local function device_list()
  local list = {}
  return setmetatable(list, {__close = function()
    for i = #list, 1, -1 do list[i]:remove{retry = true} end
  end})
end

local function create(devs, suffix, target)
  local d = dm.create(testkit.prefix .. suffix, target)
  devs[#devs + 1] = d
  return d
end

describe("6.12 targets in the kernel #kernel", function()
  require("sts.busted").guard()

  it("switch: two paths by region, status empty", function()
    kernel.need_dm(pending)
    gate.need_target("switch")
    local a <close> = loop.create{size_mb = 8}
    local b <close> = loop.create{size_mb = 8}
    local devs <close> = device_list()
    local t = dm.SwitchTarget{size = 16384, region_size = 64, paths = {{device = a}, {device = b}}}
    local d = create(devs, "switch", t)
    local live = d:targets()[1]
    assert.are.equal("switch", live.type)
    assert.are.same(t:params().region_size, live:params().region_size)
    assert.are.equal(2, #live:params().paths)
    assert.are.same({type = "switch", start = 0, size = 16384}, d:status_table()[1])
  end)

  it("unstriped: one stripe of a striped layout, status empty", function()
    kernel.need_dm(pending)
    gate.need_target("unstriped")
    local a <close> = loop.create{size_mb = 8}
    local devs <close> = device_list()
    local d = create(devs, "unstriped", dm.UnstripedTarget{size = 8192, num_stripes = 2, chunk_size = 8,
                                                          stripe = 1, device = a})
    assert.are.same({num_stripes = 2, chunk_size = 8, stripe = 1, offset = 0},
      (function(p) return {num_stripes = p.num_stripes, chunk_size = p.chunk_size, stripe = p.stripe,
                           offset = p.offset} end)(d:targets()[1]:params()))
    assert.are.same({type = "unstriped", start = 0, size = 8192}, d:status_table()[1])
  end)

  it("vdo: a formatted volume starts, its status and stats parse", function()
    kernel.need_dm(pending)
    gate.need_target("vdo")
    gate.need_tool("vdoformat")
    local lo <close> = loop.create{size_mb = 5120}
    local r = core.proc.run({"vdoformat", "--force", "--logical-size=1G", "--slab-bits=13",
                             "--uds-memory-size=0.25", lo.path}, {timeout = 600})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    local devs <close> = device_list()
    local t = dm.VdoTarget{size = 1024 * MiB // 512, storage_dev = lo,
                           storage_blocks = lo.size // 4096, options = {compression = "on"}}
    local d = create(devs, "vdo", t)
    local st = d:status_table()[1]
    assert.are.equal("vdo", st.type)
    assert.are.equal("normal", st.mode)
    assert.is_false(st.recovering)
    assert.are.equal(lo.size // 4096, st.total_physical_blocks)
    assert.is_true(st.used_physical_blocks > 0 and st.used_physical_blocks < st.total_physical_blocks)
    local stats = require("sts.status").parse_vdo_stats(assert(d:message(0, "stats")))
    assert.are.equal(lo.size // 4096, stats.physicalBlocks)
    assert.are.equal(1024 * MiB // 4096, stats.logicalBlocks)
    assert.are.equal("V4", d:targets()[1]:params().version)
  end)

  it("zoned: a dmzadm-formatted zoned device starts", function()
    kernel.need_dm(pending)
    gate.need_target("zoned")
    gate.need_tool("dmzadm")
    local r = core.proc.run({"modprobe", "scsi_debug", "dev_size_mb=256", "zbc=host-managed",
                             "zone_size_mb=16", "zone_nr_conv=4"}, {timeout = 60})
    assert.are.equal(0, r.rc, r.stderr)
    finally(function() core.proc.run({"modprobe", "-r", "scsi_debug"}, {timeout = 60}) end)
    local disk
    for _ = 1, 50 do
      for line in io.lines("/proc/partitions") do
        disk = disk or line:match("%s(sd%a+)%s*$")
      end
      if disk then break end
      core.time.sleep_ms(100)
    end
    assert.is_truthy(disk, "no scsi_debug disk appeared")
    r = core.proc.run({"dmzadm", "--format", "/dev/" .. disk}, {stdin = "y\n", timeout = 120})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    local devs <close> = device_list()
    local size = 256 * MiB // 512
    local d = create(devs, "zoned", dm.ZonedTarget{size = size, devices = {"/dev/" .. disk}})
    local st = d:status_table()[1]
    assert.are.equal("zoned", st.type)
    assert.is_true(st.nr_zones > 0)
  end)

  it("clone: hydrates a destination from a source", function()
    kernel.need_dm(pending)
    gate.need_target("clone")
    local meta <close> = loop.create{size_mb = 4}
    local dest <close> = loop.create{size_mb = 16}
    local src <close> = loop.create{size_mb = 16}
    local devs <close> = device_list()
    local d = create(devs, "clone", dm.CloneTarget{size = 16 * MiB // 512, metadata_dev = meta,
      dest_dev = dest, source_dev = src, region_size = 8, features = {"no_hydration"}})
    local st = d:status_table()[1]
    assert.are.equal("clone", st.type)
    assert.are.equal(16 * MiB // 512 // 8, st.total_regions)
    assert.are.same({"no_hydration"}, st.features)
    assert.are.equal("rw", st.mode)
  end)

  it("ebs: 4 KiB sectors emulated over a 512-byte device", function()
    kernel.need_dm(pending)
    gate.need_target("ebs")
    local a <close> = loop.create{size_mb = 8}
    local devs <close> = device_list()
    local d = create(devs, "ebs", dm.EbsTarget{size = 16384, device = a, emulated_sector_size = 8})
    assert.are.equal(8, d:targets()[1]:params().emulated_sector_size)
    assert.are.same({type = "ebs", start = 0, size = 16384}, d:status_table()[1])
  end)
end)

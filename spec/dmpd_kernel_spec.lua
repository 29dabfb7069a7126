-- Kernel tier: the metadata tools on the metadata device of a real pool,
-- live (through a metadata snapshot) and after the pool is gone.
local dm = require "sts.dm"
local dmpd = require "sts.dmpd"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

-- the tools in the guest are the generation the run asked for (the
-- sandbox's --dmpd, or STS_DMPD_PATH); either must pass this file
local function tools_version()
  local v = assert(dmpd.version(), "thin_check prints a version")
  local want = os.getenv("STS_DMPD_GENERATION")
  if want then
    assert.are.equal(want, want == "0.9" and ("%d.%d"):format(v.major, v.minor) or tostring(v.major),
                     "STS_DMPD_GENERATION=" .. want .. " but the tools are " .. v.text)
  end
  return v
end

local BLOCK = 64 * 1024  -- the pools' data block: 128 sectors

describe("sts.dmpd on a live pool #kernel", function()
  after_each(function() devs.cleanup() end)

  it("reads live metadata through reserve_metadata_snap and -m, then checks it after removal", function()
    kernel.need_dm(pending)
    tools_version()
    local meta, data = devs.loop(8), devs.loop(32)
    local pool = dm.create(devs.name("dmpdpool"), dm.ThinPoolTarget{
      size = data.size // 512, metadata_dev = meta.path, data_dev = data.path,
      block_size = 128, low_water_mark = 0})
    assert.is_true(pool:message(0, "create_thin 3"))
    assert.is_true(pool:message(0, "set_transaction_id 0 7"))
    local thin = dm.create(devs.name("dmpdthin"), dm.ThinTarget{size = 4096, pool_dev = pool.path, dev_id = 3})
    devs.write_at(thin.path, 0, string.rep("m", 512 * 1024))      -- 8 blocks of 64 KiB

    assert.is_true(pool:message(0, "reserve_metadata_snap"))
    local dump = dmpd.thin_dump(meta.path, {metadata_snap = true})
    local ls = dmpd.thin_ls(meta.path, {metadata_snap = true, format = "DEV,MAPPED_BLOCKS"})
    assert.is_true(pool:message(0, "release_metadata_snap"))

    assert.is_true(dump.succeeded, dump.stderr)
    local parsed = dmpd.parse_thin_dump(dump.stdout)
    assert.are.equal(7, parsed.transaction)
    assert.are.equal(128, parsed.data_block_size)
    assert.are.equal(1, #parsed.devices)
    assert.are.equal(3, parsed.devices[1].dev_id)
    assert.are.equal(8, parsed.devices[1].mapped_blocks)
    assert.is_true(ls.succeeded, ls.stderr)
    local rows = dmpd.parse_thin_ls(ls.stdout)
    assert.are.equal(1, #rows)
    assert.are.equal(3, rows[1].dev_id)
    assert.are.equal(8, rows[1].mapped_blocks)

    assert.is_true(thin:remove())
    assert.is_true(pool:remove())
    local check = dmpd.thin_check(meta.path)
    assert.is_true(check.succeeded, check.stderr)
    local after = dmpd.parse_thin_dump(dmpd.thin_dump(meta.path).stdout)
    assert.are.equal(8, after.devices[1].mapped_blocks)
  end)

  it("dumps a snapshot sharing its origin's leaves as every device's mappings, whatever the generation", function()
    kernel.need_dm(pending)
    local v = tools_version()
    local meta, data = devs.loop(8), devs.loop(48)
    local pool = dm.create(devs.name("dmpdsnap"), dm.ThinPoolTarget{
      size = data.size // 512, metadata_dev = meta.path, data_dev = data.path,
      block_size = 128, low_water_mark = 0})
    assert.is_true(pool:message(0, "create_thin 1"))
    local origin = dm.create(devs.name("dmpdorig"), dm.ThinTarget{size = 65536, pool_dev = pool.path, dev_id = 1})
    -- 320 blocks: more than one leaf of the mapping tree (252 a leaf)
    local n = 320
    devs.write_at(origin.path, 0, string.rep("o", n * BLOCK))
    assert(origin:suspend())
    assert.is_true(pool:message(0, "create_snap 2 1"))
    assert(origin:resume())
    -- the origin's first block rewritten: the leaf holding it is copied,
    -- the later leaves stay shared with the snapshot
    devs.write_at(origin.path, 0, string.rep("n", BLOCK))
    assert.is_true(origin:remove())
    assert.is_true(pool:remove())

    local check = dmpd.thin_check(meta.path)
    assert.is_true(check.succeeded, check.stderr)
    local dump = dmpd.thin_dump(meta.path)
    assert.is_true(dump.succeeded, dump.stderr)
    if v.major >= 1 then
      -- 1.x writes the shared leaves once
      assert.matches("<def ", dump.stdout, 1, true)
      assert.matches("<ref ", dump.stdout, 1, true)
    end
    local d = dmpd.parse_thin_dump(dump)
    assert.are.equal(0, d.flags)
    assert.are.equal(128, d.data_block_size)
    assert.are.equal(2, #d.devices)
    local by_id = {}
    for _, dev in ipairs(d.devices) do
      local sum = 0
      for _, m in ipairs(dev.mappings) do sum = sum + m.length end
      assert.are.equal(n, dev.mapped_blocks, "device " .. dev.dev_id)
      assert.are.equal(n, sum, "the mappings of device " .. dev.dev_id)
      by_id[dev.dev_id] = dev
    end
    -- block 0 differs, blocks 1..n-1 are the same data blocks in both
    local function data_of(dev)
      local t = {}
      for _, m in ipairs(dev.mappings) do
        for i = 0, m.length - 1 do t[m.origin + i] = m.data + i end
      end
      return t
    end
    local o, s = data_of(by_id[1]), data_of(by_id[2])
    assert.are_not.equal(o[0], s[0])
    for b = 1, n - 1 do
      assert(o[b] and o[b] == s[b], ("block %d: origin %s, snapshot %s"):format(b, tostring(o[b]), tostring(s[b])))
    end
    local rows = dmpd.parse_thin_ls(dmpd.thin_ls(meta.path, {format = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS"}))
    assert.are.same({{dev_id = 1, mapped_blocks = n, exclusive_blocks = 1, shared_blocks = n - 1},
                     {dev_id = 2, mapped_blocks = n, exclusive_blocks = 1, shared_blocks = n - 1}}, rows)
    local delta = dmpd.parse_thin_delta(dmpd.thin_delta(meta.path, {snap1 = 2, thin2 = 1}))
    assert.are.same({same = n - 1, different = 1, left_only = 0, right_only = 0}, delta.blocks)
  end)
end)

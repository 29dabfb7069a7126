-- Kernel tier: the metadata tools on the metadata device of a real pool,
-- live (through a metadata snapshot) and after the pool is gone.
local dm = require "sts.dm"
local dmpd = require "sts.dmpd"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

describe("sts.dmpd on a live pool #kernel", function()
  after_each(function() devs.cleanup() end)

  it("reads live metadata through reserve_metadata_snap and -m, then checks it after removal", function()
    kernel.need_dm(pending)
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
    assert.are.equal(3, rows[1].dev)
    assert.are.equal(8, rows[1].mapped_blocks)

    assert.is_true(thin:remove())
    assert.is_true(pool:remove())
    local check = dmpd.thin_check(meta.path)
    assert.is_true(check.succeeded, check.stderr)
    local after = dmpd.parse_thin_dump(dmpd.thin_dump(meta.path).stdout)
    assert.are.equal(8, after.devices[1].mapped_blocks)
  end)
end)

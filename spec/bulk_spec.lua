-- Kernel tier: dm.create_all and dm.remove_all (raw ioctls from several
-- threads) and the device list with uuids in one ioctl, on the real kernel.
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

local N = 200

describe("bulk device operations #kernel", function()
  local dm, core
  before_each(function()
    dm = require "sts.dm"
    core = require "sts.core"
  end)
  after_each(function()
    -- the bulk names are not devs.name()s: sweep them by prefix
    if dm and dm.available() then dm.sweep("ststest-bulk-") end
    devs.cleanup()
  end)

  local function exists(name)
    local info = core.dm.info(name)
    return info and info.exists
  end

  it("creates 200 devices, rolls back the two it cannot make, and removes all but a held one", function()
    kernel.need_dm(pending)
    local lo = devs.loop(8)
    local specs = {}
    for i = 1, N do
      specs[i] = {name = ("ststest-bulk-%03d"):format(i),
                  table = dm.LinearTarget{start = 0, size = 8, device = lo.path, offset = (i % 100) * 8}}
    end
    -- planted failures: a table past the end of its device (refused at
    -- load) and one naming a device that does not exist
    specs[57].table = dm.LinearTarget{start = 0, size = 8, device = lo.path, offset = 8 * 1024 * 1024}
    specs[143].table = "0 8 linear /dev/sts-no-such-disk 0"
    specs[9] = {"ststest-bulk-009", dm.LinearTarget{start = 0, size = 8, device = lo.path, offset = 0},
                {uuid = "STSTEST-BULK-9"}}
    local made, failed = dm.create_all(specs, {parallel = 8})
    assert.are.equal(N - 2, #made)
    assert.are.equal(2, #failed)
    assert.are.equal(57, failed[1].index)
    assert.are.equal("ststest-bulk-057", failed[1].name)
    assert.are.equal("load table of", failed[1].error.stage)
    assert.are.equal(dm.errno.EINVAL, failed[1].error.errno)
    assert.are.equal(143, failed[2].index)
    assert.is_true(failed[2].error.errno ~= nil)
    -- nothing half-made: the refused ones are gone, the others live
    assert.is_false(exists("ststest-bulk-057"))
    assert.is_false(exists("ststest-bulk-143"))
    for _, d in ipairs(made) do
      assert.is_true(exists(d.dm_name), d.dm_name)
      assert.are.equal(8 * 512, d.size)
    end
    assert.are.equal("STSTEST-BULK-9", made[9].uuid)
    assert.are.equal("ststest-bulk-010", made[10].dm_name)
    -- the node is there and reads the loop
    local f = assert(io.open("/dev/mapper/ststest-bulk-001", "rb"))
    f:close()
    -- one held open: its remove fails with EBUSY, every other goes
    local held = assert(io.open(made[100].path, "rb"))
    local removed, left = dm.remove_all(made, {parallel = 8})
    held:close()
    assert.are.equal(N - 3, #removed)
    assert.are.equal(1, #left)
    assert.are.equal(made[100].dm_name, left[1].name)
    assert.are.equal(dm.errno.EBUSY, left[1].error.errno)
    assert.is_true(exists(made[100].dm_name))
    for i, d in ipairs(made) do
      if i ~= 100 then
        assert.is_false(exists(d.dm_name), d.dm_name)
        assert.is_nil(io.open("/dev/mapper/" .. d.dm_name, "rb"), "node left: " .. d.dm_name)
      end
    end
    assert.are.same({made[100].dm_name}, dm.remove_all({made[100].dm_name}))
  end)

  it("creates and removes a stack in a valid order whatever order it is given in", function()
    kernel.need_dm(pending)
    local lo = devs.loop(8)
    -- top names middle names bottom; given top first
    local specs = {
      {name = "ststest-bulk-top", table = "0 64 linear /dev/mapper/ststest-bulk-mid 0"},
      {name = "ststest-bulk-mid", table = "0 64 linear /dev/mapper/ststest-bulk-bottom 0"},
      {name = "ststest-bulk-bottom", table = dm.LinearTarget{start = 0, size = 128, device = lo.path, offset = 0}},
      {name = "ststest-bulk-side", table = "0 64 linear /dev/mapper/ststest-bulk-bottom 64"},
    }
    local made, failed = dm.create_all(specs, {parallel = 4})
    assert.are.same({}, failed)
    assert.are.equal(4, #made)
    assert.are.equal(1, #assert(dm.DmDevice.get_by_name("ststest-bulk-top")):deps())
    -- removed bottom first in the list: the holders must still go first
    local removed, left = dm.remove_all({"ststest-bulk-bottom", "ststest-bulk-mid",
                                         "ststest-bulk-side", "ststest-bulk-top"}, {parallel = 4})
    assert.are.same({}, left)
    assert.are.equal(4, #removed)
    for _, s in ipairs(specs) do assert.is_false(exists(s.name)) end
  end)

  it("does not create what names a device of the batch that failed", function()
    kernel.need_dm(pending)
    local made, failed = dm.create_all({
      {name = "ststest-bulk-a", table = "0 64 linear /dev/sts-no-such-disk 0"},
      {name = "ststest-bulk-b", table = "0 64 linear /dev/mapper/ststest-bulk-a 0"},
    })
    assert.are.same({}, made)
    assert.are.equal(2, #failed)
    assert.matches("not attempted", failed[2].error.message, 1, true)
    assert.is_false(exists("ststest-bulk-b"))
  end)

  it("lists devices with uuids in one ioctl, the same as an info per device", function()
    kernel.need_dm(pending)
    local lo = devs.loop(8)
    local specs = {}
    for i = 1, 20 do
      specs[i] = {name = ("ststest-bulk-l%02d"):format(i), uuid = (i % 3 == 0) and ("STSTEST-L-" .. i) or nil,
                  table = dm.LinearTarget{start = 0, size = 8, device = lo.path, offset = i * 8}}
    end
    local made = dm.create_all(specs)
    assert.are.equal(20, #made)
    local raw = assert(core.dm.list{uuids = true})
    local by_info = assert(core.dm.list{uuids = true, by_info = true})
    local function by_name(list)
      local t = {}
      for _, row in ipairs(list) do t[row.name] = {row.major, row.minor, row.uuid or ""} end
      return t
    end
    assert.are.same(by_name(by_info), by_name(raw))
    assert.are.equal("STSTEST-L-3", by_name(raw)["ststest-bulk-l03"][3])
    assert.are.equal("", by_name(raw)["ststest-bulk-l01"][3])
    -- event numbers come with the one-ioctl list
    for _, row in ipairs(raw) do assert.is_not_nil(row.event_nr) end
    -- get_all's devices are the same ones
    local seen = {}
    for _, d in ipairs(dm.DmDevice.get_all()) do seen[d.dm_name] = d.uuid or "" end
    for _, s in ipairs(specs) do assert.are.equal(s.uuid or "", seen[s.name]) end
  end)

  it("refuses bad arguments before any ioctl", function()
    kernel.need_dm(pending)
    assert.has_error(function() dm.create_all({{name = "x/y", table = "0 8 zero"}}) end)
    assert.has_error(function() dm.create_all({}, {parallel = 0}) end)
    assert.has_error(function() dm.create_all({}, {parallel = 65}) end)
    assert.has_error(function() dm.create_all({}, {threads = 2}) end)
    assert.has_error(function()
      dm.create_all({{name = "ststest-bulk-x", table = "0 8 zero"}, {name = "ststest-bulk-x", table = "0 8 zero"}})
    end)
    assert.has_error(function() dm.remove_all({42}) end)
    assert.has_error(function()
      dm.create_all({{name = "ststest-bulk-c1", table = "0 8 linear /dev/mapper/ststest-bulk-c2 0"},
                     {name = "ststest-bulk-c2", table = "0 8 linear /dev/mapper/ststest-bulk-c1 0"}})
    end, nil)
    assert.is_false(exists("ststest-bulk-c1"))
    assert.are.same({}, (dm.create_all({})))
  end)
end)

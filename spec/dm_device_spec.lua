-- Kernel tier: DmDevice and the device lifecycle against the real driver.
local dm = require "sts.dm"
local time = require "sts.time"
local core = require "sts.core"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

local function linear_over(lo, sectors, offset)
  return dm.LinearTarget{start = 0, size = sectors, device = lo.path, offset = offset or 0}
end

local check = require "helpers.raises"
local function raises(kind, fn, ...) return check.raises(kind, nil, fn, ...) end

describe("sts.dm devices #kernel", function()
  after_each(function()
    devs.cleanup()
  end)

  teardown(function()
    -- nothing of ours is left in the kernel's own device list
    for name in pairs(devs.kernel_names()) do
      assert.is_nil(name:match("^ststest%-"), "left behind: " .. name)
    end
  end)

  it("follows the seed's walk-through", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local name = devs.name("seed")
    local made = dm.create(name, linear_over(lo, 2048))
    local d = dm.DmDevice(made.name)
    assert.matches("^dm%-%d+$", d.name)
    assert.are.equal("/dev/" .. d.name, d.path)
    assert.are.equal(2048 * 512, d.size)
    assert.are.equal(name, d.dm_name)
    assert.are.equal("/sys/class/block/" .. d.name, d.device_path)
    local devt = devs.read_at("/sys/class/block/" .. lo.name .. "/dev", 0, 64):gsub("\n", "")
    assert.are.equal("0 2048 linear " .. devt .. " 0", d.table)
    assert.are.equal(made, dm.DmDevice{dm_name = name})
    assert.is_true(d:suspend())
    assert.is_true(d:info().suspended)
    assert.is_true(d:resume())
    assert.is_false(d:info().suspended)
    local found = false
    for _, x in ipairs(dm.DmDevice.get_all()) do
      if x.dm_name == name then found = true end
    end
    assert.is_true(found)
    assert.are.equal(d, dm.DmDevice.get_by_name(name))
    assert.is_nil(dm.DmDevice.get_by_name("ststest-no-such-device"))
    assert.is_true(d:remove())
    raises("DeviceNotFoundError", function() return d.device_path end)
    raises("DeviceNotFoundError", dm.DmDevice, {dm_name = name})
  end)

  it("get_all sees devices of every target type, with uuids", function()
    kernel.need_dm(pending)
    local z = dm.create(devs.name("zero"), dm.ZeroTarget{size = 100}, {uuid = "STSTEST-zero"})
    local e = dm.create(devs.name("error"), dm.ErrorTarget{size = 100})
    local seen = {}
    for _, x in ipairs(dm.DmDevice.get_all()) do seen[x.dm_name] = x end
    assert.is_not_nil(seen[z.dm_name])
    assert.is_not_nil(seen[e.dm_name])
    assert.are.equal("STSTEST-zero", seen[z.dm_name].uuid)
    assert.are.equal("0 100 zero", seen[z.dm_name].table)
    assert.are.equal("0 100 error", seen[e.dm_name].table)
    assert.is_true(z:remove())
    assert.is_true(e:remove())
  end)

  it("makes /dev/mapper nodes on create and removes them on remove", function()
    kernel.need_dm(pending)
    local name = devs.name("node")
    local d = dm.create(name, dm.ZeroTarget{size = 8})
    assert.is_true(devs.file_exists("/dev/mapper/" .. name))
    assert.is_true(devs.file_exists(d.path))
    assert.is_true(d:remove())
    assert.is_false(devs.file_exists("/dev/mapper/" .. name))
  end)

  it("builds tables of several targets and reads them back typed", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local list = {
      dm.LinearTarget{start = 0, size = 1024, device = lo.path, offset = 0},
      dm.ZeroTarget{start = 1024, size = 1024},
      dm.ErrorTarget{start = 2048, size = 512},
    }
    local d = dm.create(devs.name("multi"), list)
    local lines = {}
    for line in d.table:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(3, #lines)
    local typed = d:targets()
    assert.are.equal("linear", typed[1].type)
    assert.are.equal("zero", typed[2].type)
    assert.are.equal("error", typed[3].type)
    assert.are.equal(d.table, dm.format_table(dm.parse_table(d.table)))
    assert.are.equal(2560 * 512, d.size)
    assert.are.equal(3, d:info().target_count)
    -- table text works as input too
    local d2 = dm.create(devs.name("text"), "0 16 zero\n16 16 error")
    assert.are.equal("0 16 zero\n16 16 error", d2.table)
  end)

  it("writes through the device land at the right offset of the loop device", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local d = dm.create(devs.name("io"), linear_over(lo, 1024, 2048))
    local pattern = string.rep("sts!", 128)
    devs.write_at(d.path, 512, pattern)
    assert.are.equal(pattern, devs.read_at(lo.path, 2048 * 512 + 512, #pattern))
  end)

  it("leaves no device behind when the kernel refuses the table on create", function()
    kernel.need_dm(pending)
    local name = devs.name("refused")
    -- a linear target over a device that does not exist
    local err = raises("DeviceError", dm.create, name, "0 100 linear /dev/sts-no-such-disk 0")
    assert.is_number(err.errno)
    assert.is_nil(devs.kernel_names()[name])
    assert.is_false(devs.file_exists("/dev/mapper/" .. name))
    -- a target type the kernel does not know
    raises("DeviceError", dm.create, name, dm.DmTarget(0, 100, "no-such-target", ""))
    assert.is_nil(devs.kernel_names()[name])
  end)

  it("keeps the old table live and the device resumed when a reload is refused", function()
    kernel.need_dm(pending)
    local d = dm.create(devs.name("reload"), dm.ZeroTarget{size = 64})
    local ok, msg, err = d:reload("0 64 linear /dev/sts-no-such-disk 0")
    assert.is_nil(ok)
    assert.is_string(msg)
    assert.is_number(err)
    assert.are.equal("0 64 zero", d.table)
    local info = d:info()
    assert.is_false(info.suspended)
    assert.is_false(info.inactive_table)
    -- a good reload swaps the table
    assert.is_true(d:reload(dm.ErrorTarget{size = 128}))
    assert.are.equal("0 128 error", d.table)
    assert.are.equal(128 * 512, d.size)
  end)

  it("loads and clears the inactive slot", function()
    kernel.need_dm(pending)
    local d = dm.create(devs.name("slot"), dm.ZeroTarget{size = 64})
    assert.is_true(d:load(dm.ErrorTarget{size = 64}))
    assert.is_true(d:info().inactive_table)
    assert.are.equal("error", d:inactive_targets()[1].type)
    assert.are.equal("0 64 zero", d.table)
    assert.is_true(d:clear())
    assert.is_false(d:info().inactive_table)
  end)

  it("creates with no table, suspended, read-only and with a uuid", function()
    kernel.need_dm(pending)
    local empty = dm.create(devs.name("notable"), nil, {notable = true})
    assert.is_false(empty:info().live_table)
    assert.is_nil(empty.table)
    assert.are.equal(0, empty.size)
    local s = dm.create(devs.name("susp"), dm.ZeroTarget{size = 8}, {suspended = true})
    assert.is_false(s:info().live_table)
    assert.is_true(s:info().inactive_table)
    assert.is_true(s:resume())
    assert.is_true(s:info().live_table)
    local ro = dm.create(devs.name("ro"), dm.ZeroTarget{size = 8}, {readonly = true, uuid = "STSTEST-ro"})
    assert.is_true(ro:info().read_only)
    assert.are.equal("STSTEST-ro", ro.uuid)
    local err = raises("DeviceError", dm.create, ro.dm_name, dm.ZeroTarget{size = 8})
    assert.is_number(err.errno)
  end)

  it("suspends with noflush and nolockfs", function()
    kernel.need_dm(pending)
    local d = dm.create(devs.name("flags"), dm.ZeroTarget{size = 8})
    assert.is_true(d:suspend{noflush = true, nolockfs = true})
    assert.is_true(d:info().suspended)
    assert.is_true(d:resume())
    raises("ValueError", d.suspend, d, {no_flush = true})
  end)

  it("refuses to remove an open device, and removes it deferred", function()
    kernel.need_dm(pending)
    local d = dm.create(devs.name("open"), dm.ZeroTarget{size = 8})
    local f = assert(io.open(d.path, "rb"))
    local ok, msg, err = d:remove()
    assert.is_nil(ok)
    assert.matches("remove", msg)
    assert.are.equal(core.dm.errno.EBUSY, err)
    assert.is_true(d:remove{deferred = true})
    assert.is_true(d:info().deferred_remove)
    f:close()
    -- the kernel removes a deferred device once the last opener is gone;
    -- wait for that through its event, no sleep loop
    local info = core.dm.info(d.dm_name)
    if info and info.exists then d:wait_event(info.event_nr, 5000) end
    assert.is_false(d:exists())
  end)

  it("reports unknown names as DeviceNotFoundError", function()
    kernel.need_dm(pending)
    raises("DeviceNotFoundError", dm.DmDevice, {dm_name = "ststest-unknown"})
    raises("DeviceNotFoundError", dm.DmDevice, "dm-4000")
    local d = dm.create(devs.name("gone"), dm.ZeroTarget{size = 8})
    assert.is_true(d:remove())
    local ok, _, err = d:suspend()
    assert.is_nil(ok)
    assert.are.equal(core.dm.errno.ENXIO, err)
    raises("DeviceNotFoundError", d.status, d)
  end)

  it("renames, sets the uuid once, lists deps and refreshes", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local d = dm.create(devs.name("ren"), linear_over(lo, 64))
    local new = devs.name("renamed")
    assert.is_true(d:rename(new))
    assert.are.equal(new, d.dm_name)
    assert.is_true(devs.file_exists("/dev/mapper/" .. new))
    assert.is_true(d:set_uuid("STSTEST-uuid"))
    assert.are.equal("STSTEST-uuid", d:refresh().uuid)
    assert.is_nil((d:set_uuid("STSTEST-other")))
    local deps = d:deps()
    assert.are.equal(1, #deps)
    assert.are.equal(lo.name, deps[1].name)
  end)

  it("runs thin-pool messages and shows blocks used after writes", function()
    kernel.need_dm(pending)
    local meta, data = devs.loop(8), devs.loop(64)
    local data_sectors = data.size // 512
    local pool = dm.create(devs.name("pool"), dm.ThinPoolTarget{
      size = data_sectors, metadata_dev = meta.path, data_dev = data.path,
      block_size = 128, low_water_mark = 0})
    assert.is_true(pool:message(0, "create_thin 0"))
    local thin = dm.create(devs.name("thin"), dm.ThinTarget{size = 8192, pool_dev = pool.path, dev_id = 0})
    devs.write_at(thin.path, 0, string.rep("x", 1024 * 1024))
    local status = pool:status()
    local used = status:match("^%d+ %d+ thin%-pool %d+ %d+/%d+ (%d+)/%d+")
    assert.is_not_nil(used, status)
    assert.is_true(tonumber(used) >= 16, status)
    -- a snapshot of a live thin device needs it suspended
    assert.is_true(thin:suspend())
    assert.is_true(pool:message(0, "create_snap 1 0"))
    assert.is_true(thin:resume())
    local snap = dm.create(devs.name("snap"), dm.ThinTarget{size = 8192, pool_dev = pool.path, dev_id = 1})
    assert.are.equal(string.rep("x", 16), devs.read_at(snap.path, 0, 16))
    assert.is_true(pool:message(0, "set_transaction_id 0 1"))
    assert.matches("thin%-pool 1 ", pool:status())
    assert.is_true(pool:message(0, "reserve_metadata_snap"))
    assert.matches(" %d+ %S+ %S+ %S+", pool:status())
    assert.is_true(pool:message(0, "release_metadata_snap"))
    assert.is_true(snap:remove())
    assert.is_true(pool:message(0, "delete 1"))
    local ok, msg = pool:message(0, "delete 7")
    assert.is_nil(ok)
    assert.is_string(msg)
    assert.is_true(thin:remove())
    assert.is_true(pool:remove())
  end)

  it("waits for events with a timeout, through the kernel's poll interface", function()
    kernel.need_dm(pending)
    local meta, data = devs.loop(8), devs.loop(16)
    local blocks = data.size // 512 // 128
    local pool = dm.create(devs.name("lwm"), dm.ThinPoolTarget{
      size = data.size // 512, metadata_dev = meta.path, data_dev = data.path,
      block_size = 128, low_water_mark = blocks - 4})
    local before = pool:info().event_nr
    -- the wall clock (os.clock() is CPU time, which a blocked wait hardly uses)
    local t0 = time.now_ms()
    local nr, why = pool:wait_event(before, 200)
    local waited = time.now_ms() - t0
    assert.is_nil(nr)
    assert.are.equal("timeout", why)
    assert.is_true(waited >= 190 and waited < 5000, "waited " .. waited .. " ms for a 200 ms timeout")
    assert.is_true(pool:message(0, "create_thin 0"))
    local thin = dm.create(devs.name("lwmthin"), dm.ThinTarget{size = 8192, pool_dev = pool.path, dev_id = 0})
    devs.write_at(thin.path, 0, string.rep("y", 1024 * 1024))
    local after = assert(pool:wait_event(before, 10000))
    assert.is_true(after > before)
    assert.is_true(thin:remove())
    assert.is_true(pool:remove())
  end)

  it("syncs with a udev daemon through cookies when one runs", function()
    kernel.need_dm(pending)
    if os.getenv("STS_VM_UDEV") ~= "1" then
      pending("no udev daemon in this guest (run-checks' udev pass starts one)")
    end
    local lfs = require "lfs"
    assert.are.equal("socket", lfs.attributes("/run/udev/control", "mode"))
    local d = dm.create(devs.name("udev"), dm.ZeroTarget{size = 8})
    assert.is_true(devs.file_exists("/dev/mapper/" .. d.dm_name))
    local new = devs.name("udevren")
    assert.is_true(d:rename(new))
    -- udev's rules make /dev/mapper entries as links to ../dm-N, and the
    -- rename returned only once udev had done so
    assert.are.equal("link", lfs.symlinkattributes("/dev/mapper/" .. new, "mode"))
    assert.is_true(d:remove())
    assert.is_false(devs.file_exists("/dev/mapper/" .. new))
  end)

  it("reports versions, loaded targets and availability", function()
    kernel.need_dm(pending)
    local v = dm.version()
    assert.matches("^%d+%.%d+", v.library)
    assert.matches("^%d+%.%d+%.%d+", v.driver)
    local names = {}
    for _, t in ipairs(dm.targets()) do names[t.name] = t.version end
    assert.is_not_nil(names.linear)
    assert.is_not_nil(names["thin-pool"])
    assert.is_true((dm.available()))
  end)

  it("accepts a 127-byte name and refuses longer ones up front", function()
    kernel.need_dm(pending)
    local long = "ststest-" .. string.rep("n", 127 - 8)
    local d = dm.create(long, dm.ZeroTarget{size = 8})
    assert.are.equal(long, d.dm_name)
    assert.is_true(d:remove())
    raises("ValueError", dm.create, long .. "x", dm.ZeroTarget{size = 8})
  end)
end)

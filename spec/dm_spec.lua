-- Host tier: sts.dm without a kernel device: input checks and the plain
-- message of a dm-less kernel.
local dm = require "sts.dm"
local errors = require "sts.errors"

local check = require "helpers.raises"
local raises = check.raises

describe("sts.dm input checks", function()
  it("refuses bad device names before talking to the kernel", function()
    raises("ValueError", "empty", dm.create, "", dm.ZeroTarget{size = 8})
    raises("ValueError", "'/'", dm.create, "a/b", dm.ZeroTarget{size = 8})
    raises("ValueError", "128 bytes", dm.create, string.rep("x", 128), dm.ZeroTarget{size = 8})
    raises("ValueError", "NUL", dm.create, "a\0b", dm.ZeroTarget{size = 8})
    raises("ValueError", "control", dm.create, "a\nb", dm.ZeroTarget{size = 8})
    raises("ValueError", "must be a string", dm.create, 42, dm.ZeroTarget{size = 8})
    raises("ValueError", "cannot be", dm.create, "..", dm.ZeroTarget{size = 8})
    raises("ValueError", "must be a string", dm.DmDevice.get_by_name, nil)
  end)

  it("refuses bad uuids, tables and options", function()
    raises("ValueError", "129 bytes", dm.create, "x", dm.ZeroTarget{size = 8}, {uuid = string.rep("u", 129)})
    raises("ValueError", "unknown option 'colour'", dm.create, "x", dm.ZeroTarget{size = 8}, {colour = 1})
    raises("ValueError", "must be a boolean", dm.create, "x", dm.ZeroTarget{size = 8}, {readonly = "yes"})
    raises("ValueError", "table is needed", dm.create, "x")
    raises("ValueError", "not a target", dm.create, "x", {1, 2})
    raises("ValueError", "no targets", dm.create, "x", {})
    raises("ValueError", nil, dm.create, "x", 12)
    -- a gap between targets is refused before any ioctl
    raises("ValueError", nil, dm.create, "x", {dm.ZeroTarget{start = 0, size = 8},
      dm.ZeroTarget{start = 16, size = 8}})
  end)

  it("turns every table form into the same rows", function()
    local t = dm.LinearTarget(0, 100, "7:0 0")
    local want = {{start = 0, size = 100, type = "linear", args = "7:0 0"}}
    assert.are.same(want, dm.table_rows(t))
    assert.are.same(want, dm.table_rows({t}))
    assert.are.same(want, dm.table_rows("0 100 linear 7:0 0\n"))
  end)

  it("re-exports every target constructor", function()
    for _, name in ipairs({"LinearTarget", "DelayTarget", "MultipathTarget", "ThinPoolTarget",
        "ThinTarget", "DmTarget", "parse_table", "format_table"}) do
      assert.is_not_nil(dm[name], name)
    end
    assert.are.equal("0 1000000 thin 253:0 1", tostring(dm.ThinTarget(0, 1000000, "253:0 1")))
  end)
end)

describe("sts.dm on a kernel without device-mapper", function()
  local function need_no_dm()
    if dm.available() then pending("this kernel has device-mapper") end
  end

  it("says so plainly", function()
    need_no_dm()
    local ok, why = dm.available()
    assert.is_false(ok)
    assert.matches("device%-mapper", why)
    raises("DmUnavailableError", "no device%-mapper", dm.DmDevice, "dm-0")
    raises("DmUnavailableError", "no device%-mapper", dm.DmDevice, {dm_name = "vg-lv"})
    raises("DmUnavailableError", "no device%-mapper", dm.DmDevice.get_all)
    local err = raises("DmUnavailableError", "no device%-mapper", dm.create, "x", dm.ZeroTarget{size = 8})
    assert.is_true(errors.is(err, "DeviceError"))
    assert.is_nil(dm.version().driver)
    assert.matches("^%d+%.%d+", dm.version().library)
  end)
end)

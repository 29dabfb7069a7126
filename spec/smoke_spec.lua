-- Kernel tier smoke test: proves the kernel under the specs is a real one
-- with device-mapper (in the sandbox of scripts/sts-vm, or a host with dm).
-- Data written through a linear device must land on the loop device under
-- it, shifted by the target's offset.
local kernel = require "helpers.kernel"

local SECTOR = 512

-- A block of `sectors` sectors that differs at every sector and from run to
-- run, so that stale data or a wrong offset cannot match by chance.
local function pattern(sectors, seed)
  local parts = {}
  for s = 0, sectors - 1 do
    local line = string.format("sts smoke %d sector %d ", seed, s)
    parts[#parts + 1] = (line:rep(SECTOR // #line + 1)):sub(1, SECTOR)
  end
  return table.concat(parts)
end

local devs = require "helpers.devices"
local write_at, read_at = devs.write_at, devs.read_at

describe("the sandbox kernel #kernel", function()
  after_each(function() devs.cleanup() end)

  it("maps a linear device onto a loop device at the target's offset", function()
    kernel.need_dm(pending)
    local dm = require "sts.dm"

    local lo = devs.loop(8)
    -- 1 MiB of the loop device, starting 2 MiB in
    local offset, length = 4096, 2048
    local dev = dm.create(devs.name("smoke"),
      dm.LinearTarget{start = 0, size = length, device = lo.path, offset = offset})
    assert.are.equal(length * SECTOR, dev.size)

    local at, count = 100, 16
    local data = pattern(count, os.time())
    write_at(dev.path, at * SECTOR, data)

    assert.are.equal(data, read_at(lo.path, (offset + at) * SECTOR, #data))
    -- and not at the unshifted place: the offset is the kernel's doing
    assert.are_not.equal(data, read_at(lo.path, at * SECTOR, #data))
    assert.are.equal(data, read_at(dev.path, at * SECTOR, #data))
    assert.is_true(dev:remove())
  end)

  it("has every device-mapper target of the sandbox loaded", function()
    kernel.need_dm(pending)
    -- a host kernel loads targets on first use; only the sandbox loads them all up front
    if os.getenv("STS_IN_VM") ~= "1" then pending("only checked inside scripts/sts-vm") end
    local dm = require "sts.dm"
    local loaded = {}
    for _, t in ipairs(dm.targets()) do loaded[t.name] = t.version end
    for _, name in ipairs{"linear", "striped", "error", "zero", "thin-pool", "thin", "cache",
        "era", "delay", "flakey", "snapshot", "snapshot-origin", "multipath", "crypt",
        "integrity", "writecache", "raid", "mirror", "log-writes", "unstriped", "verity"} do
      assert.is_not_nil(loaded[name], "target not loaded: " .. name)
    end
    assert.is_not_nil(dm.version().driver)
  end)

  it("boots with the kernel arguments given to scripts/sts-vm --kernel-arg", function()
    kernel.need_dm(pending)
    -- run-checks boots the kernel tier with sts.tier=kernel on the command line
    if os.getenv("STS_IN_VM") ~= "1" then pending("only checked inside scripts/sts-vm") end
    local f = assert(io.open("/proc/cmdline", "r"))
    local cmdline = f:read("a")
    f:close()
    assert.matches("console=ttyS1", cmdline, 1, true)
    if os.getenv("STS_VM_UDEV") == "1" then
      assert.is_nil(cmdline:find("sts.tier=kernel", 1, true), cmdline)
    else
      assert.matches("sts.tier=kernel", cmdline, 1, true)
    end
  end)

  it("carries the tools kernel tests use, with their libraries", function()
    kernel.need_dm(pending)
    if os.getenv("STS_IN_VM") ~= "1" then pending("only checked inside scripts/sts-vm") end
    local proc = require("sts.core").proc
    -- each must start (a missing shared library gives 127) and know itself
    for _, argv in ipairs{{"thin_check", "-V"}, {"cache_check", "-V"}, {"era_check", "-V"},
        {"mkfs.ext4", "-V"}, {"e2fsck", "-V"}} do
      local r = assert(proc.run(argv, {timeout = 60}))
      assert.are.equal(0, r.rc, table.concat(argv, " ") .. ": " .. r.stderr)
    end
    local lo = devs.loop(8)
    local r = assert(proc.run({"mkfs.ext4", "-q", "-F", lo.path}, {timeout = 120}))
    assert.are.equal(0, r.rc, r.stderr)
    r = assert(proc.run({"e2fsck", "-fn", lo.path}, {timeout = 120}))
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
  end)
end)

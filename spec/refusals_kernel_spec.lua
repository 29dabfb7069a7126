-- Kernel tier: a refused table or message carries the kernel's reason (read
-- from /dev/kmsg), keys stay hidden where a table is shown, and devices made
-- outside the kit can be closed, adopted and named as the holders of a loop.
local dm = require "sts.dm"
local errors = require "sts.errors"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

-- a valid aes-xts-plain64 key: 512 bits in hex
local KEY = string.rep("0123456789abcdef", 8)

local function crypt_over(lo, key)
  return dm.CryptTarget{size = lo.size // 512, cipher = "aes-xts-plain64", key = key,
    device = lo.path}
end

describe("refusals carry the kernel's reason #kernel", function()
  after_each(function() devs.cleanup() end)

  it("a crypt key the kernel cannot decode", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local name = devs.name("badkey")
    local ok, err = pcall(dm.create, name, crypt_over(lo, "not-a-hex-key"))
    assert.is_false(ok)
    assert.is_true(errors.is(err, "DeviceError"), tostring(err))
    if err.kernel_log_unavailable then
      pending("/dev/kmsg unreadable: " .. err.kernel_log_unavailable)
      return
    end
    assert.matches("^load table of " .. name:gsub("%-", "%%-") .. " refused by the kernel: ",
      err.message)
    assert.matches("crypt: Error decoding and setting key", err.message, 1, true)
    assert.is_table(err.kernel_reasons)
    assert.matches("crypt: Error decoding and setting key", err.kernel_reasons[1], 1, true)
    assert.is_false(dm.info(name).exists, "a refused table leaves no device")
  end)

  it("a linear table longer than its device, on create and on reload", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local sectors = lo.size // 512
    local name = devs.name("toobig")
    local ok, err = pcall(dm.create, name, dm.LinearTarget{size = sectors + 8, device = lo.path})
    assert.is_false(ok)
    if err.kernel_log_unavailable then pending("/dev/kmsg unreadable") return end
    assert.matches("refused by the kernel: .*too small for target", err.message)
    -- on a live device: the old table stays, the reason comes back
    local d = dm.create(name, dm.LinearTarget{size = sectors, device = lo.path})
    local before = d.table
    local r, msg, errno, details = d:reload(dm.LinearTarget{size = sectors * 2, device = lo.path})
    assert.is_nil(r)
    -- the kernel checks the size when the table goes live: the resume is refused
    assert.matches("^resume .* refused by the kernel: .*too small for target", msg)
    assert.are.equal(dm.errno.EINVAL, errno)
    assert.matches("too small for target", details.kernel_reasons[1])
    assert.are.equal(before, d.table)
    assert.is_true(d:remove())
  end)

  it("a message the target refuses", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local d = dm.create(devs.name("msg"), dm.LinearTarget{size = lo.size // 512, device = lo.path})
    local r, msg, _, details = d:message(0, "no-such-message")
    assert.is_nil(r)
    if details.kernel_log_unavailable then pending("/dev/kmsg unreadable") return end
    assert.matches("^message to .* refused by the kernel: .*does not support messages", msg)
    assert.is_true(d:remove())
  end)
end)

describe("keys stay hidden #kernel", function()
  after_each(function() devs.cleanup() end)

  it("d.table of a crypt device hides the key, table_text{show_keys=true} shows it", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local d = dm.create(devs.name("crypt"), crypt_over(lo, KEY))
    local live = d:table_text{show_keys = true}
    assert.matches(" crypt aes%-xts%-plain64 " .. KEY .. " 0 ", live)
    assert.is_nil(d.table:find(KEY, 1, true), d.table)
    assert.matches(" crypt aes%-xts%-plain64 %- 0 ", d.table)
    assert.are.equal(d.table, d:table_text())
    local t = d:targets()[1]
    assert.is_nil(tostring(t):find(KEY, 1, true))
    assert.is_nil(require("sts.inspect").inspect(d):find(KEY, 1, true))
    assert.is_nil(require("sts.inspect").inspect(t):find(KEY, 1, true))
    -- the target object keeps the key: its table loads again as it is
    assert.are.equal(KEY, t:params().key)
    assert.is_true(d:reload(d:targets()))
    assert.are.equal(live, d:table_text{show_keys = true})
    assert.is_true(d:remove())
  end)
end)

describe("devices made outside the kit #kernel", function()
  local testkit = require "sts.testkit"
  after_each(function() testkit.cleanup(); devs.cleanup() end)

  it("a DmDevice closes (removes) at the end of its scope, idempotent with remove()", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local name = devs.name("close")
    do
      local d <close> = dm.create(name, dm.LinearTarget{size = lo.size // 512, device = lo.path})
      assert.is_true(dm.info(name).exists)
    end
    assert.is_false(dm.info(name).exists)
    do
      local d <close> = dm.create(name, dm.LinearTarget{size = lo.size // 512, device = lo.path})
      assert.is_true(d:remove())
    end
    assert.is_false(dm.info(name).exists)
  end)

  it("leaks() names the dm device that holds a kit loop, and the teardown says so", function()
    kernel.need_dm(pending)
    local set = testkit.loop_devices(1, 4)
    local lo = set[1]
    local name = devs.name("holder")
    local d = dm.create(name, dm.LinearTarget{size = lo.size // 512, device = lo.path})
    local ok, err = pcall(set.remove, set)
    assert.is_false(ok)
    assert.matches("held by dm%-" .. d.minor .. " " .. name:gsub("%-", "%%-"), tostring(err))
    local found
    for _, leak in ipairs(testkit.leaks()) do
      if leak.kind == "loop" and leak.name == lo.path then found = leak end
    end
    assert.is_table(found, "leaks() lists the loop")
    assert.matches("held by dm%-%d+ " .. name:gsub("%-", "%%-"), found.why)
    assert.are.equal(name, found.holders[1].dm_name)
    -- adopted, the device is the kit's to tear down and to list
    local a = testkit.adopt(d)
    local listed = false
    for _, leak in ipairs(testkit.leaks()) do
      if leak.kind == "dm" and leak.name == name then listed = true end
    end
    assert.is_true(listed, "leaks() lists an adopted device")
    assert.are.same({}, testkit.cleanup())
    assert.is_false(dm.info(name).exists)
    assert.is_true(a.removed)
    -- the loop was left bound with autoclear: with its holder gone it
    -- detaches (or a second remove does), and its file goes
    assert.is_true(lo:remove())
    assert.is_nil(io.open(lo.file, "r"), "the backing file is deleted")
  end)
end)

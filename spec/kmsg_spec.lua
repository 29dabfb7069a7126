-- sts.kmsg on this machine's own kernel log: a reader sees only what is
-- logged after it opened, and a watch picks out device-mapper's reasons.
-- Records are written with /dev/kmsg's own interface (root may log a line
-- by writing it there), so these run on any Linux host where we are root.
local kmsg = require "sts.kmsg"

local function can_log()
  local f = io.open("/dev/kmsg", "w")
  if not f then return false end
  f:close()
  local r = kmsg.open()
  if not r then return false end
  r:close()
  return true
end

local function log(line)
  local f = assert(io.open("/dev/kmsg", "w"))
  f:write(line, "\n")
  f:close()
end

describe("sts.kmsg", function()
  local tag = string.format("sts-kmsg-spec-%d-%d", os.time(), math.random(1e9))

  it("reads only the records logged after the reader opened", function()
    if not can_log() then pending("/dev/kmsg is not readable and writable here (needs root)") return end
    log("<6>" .. tag .. " before")
    local r <close> = assert(kmsg.open())
    log("<5>" .. tag .. " after one")
    log("<6>" .. tag .. " after two")
    local mine = {}
    for _, rec in ipairs(assert(r:read())) do
      if rec.text:find(tag, 1, true) then mine[#mine + 1] = rec end
    end
    assert.are.equal(2, #mine)
    assert.are.equal(tag .. " after one", mine[1].text)
    assert.are.equal(5, mine[1].level)
    assert.is_true(mine[2].seq > mine[1].seq)
    assert.are.same({}, assert(r:read()), "a second read returns nothing already read")
  end)

  it("gives a watch the device-mapper reasons about one device, prefixes taken off", function()
    if not can_log() then pending("/dev/kmsg is not readable and writable here (needs root)") return end
    local w <close> = kmsg.watch()
    assert.is_nil(w.unavailable)
    -- lines shaped like device-mapper's, marked as this spec's own
    log("<6>device-mapper: table: 253:7: " .. tag .. ": reason one")
    log("<6>device-mapper: table: 253:8: " .. tag .. ": another device's")
    log("<6>device-mapper: " .. tag .. ": about no device")
    log("<6>" .. tag .. " not device-mapper")
    local mine = {}
    for _, reason in ipairs(w:dm_reasons(253, 7)) do
      if reason:find(tag, 1, true) then mine[#mine + 1] = reason end
    end
    assert.are.same({tag .. ": reason one", tag .. ": about no device"}, mine)
  end)

  it("refuses to read a closed reader", function()
    if not can_log() then pending("/dev/kmsg is not readable here (needs root)") return end
    local r = assert(kmsg.open())
    r:close()
    r:close()  -- idempotent
    assert.has_error(function() r:read() end, "attempt to use a closed kmsg reader")
  end)

  it("keeps its reader's metatable out of reach", function()
    if not can_log() then pending("/dev/kmsg is not readable here (needs root)") return end
    local r <close> = assert(kmsg.open())
    assert.are.equal("sts.KmsgReader", getmetatable(r))
    assert.has_error(function() r.read(io.stdout) end)
  end)

  it("picks reasons out of record text", function()
    assert.are.equal("crypt: Error decoding and setting key",
                     kmsg.dm_reason("device-mapper: table: 253:0: crypt: Error decoding and setting key", "253:0"))
    assert.is_nil(kmsg.dm_reason("device-mapper: table: 253:1: linear: too small", "253:0"))
    assert.are.equal("ioctl: error adding target to table",
                     kmsg.dm_reason("device-mapper: ioctl: error adding target to table", "253:0"))
    assert.is_nil(kmsg.dm_reason("EXT4-fs (dm-0): mounted filesystem", "253:0"))
  end)
end)

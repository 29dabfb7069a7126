-- Kernel tier: the stack fixtures (snapshot and merge, raid, mirror, crypt,
-- integrity, writecache), each with its failure path, and wait_for's
-- interval re-read on a change that raises no dm event (a merge finishing).
local dm = require "sts.dm"
local errors = require "sts.errors"
local sio = require "sts.io"
local testkit = require "sts.testkit"
local time = require "sts.time"
local kernel = require "helpers.kernel"

local function kit_left()
  local left = {}
  for _, leak in ipairs(testkit.leaks()) do left[#left + 1] = leak.kind .. " " .. leak.name end
  return table.concat(left, ", ")
end

describe("stack fixtures #kernel", function()
  require("sts.busted").guard()

  it("snapshot keeps the old data; merge returns once the status says complete", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 16)
    local base <close> = testkit.linear(los[1])
    local MiB = 1024 * 1024
    assert.is_true(sio.write_pattern(base, {seed = 1, generation = 1, length = MiB}))
    local snap <close> = testkit.snapshot{origin = base, cow_mb = 8, chunk_size = 8}
    local st = snap:status()
    assert.are.equal("snapshot", st.type)
    local before = st.allocated_sectors
    assert.is_true(sio.write_pattern(snap.origin, {seed = 1, generation = 2, length = MiB}))
    assert.is_true(snap:status().allocated_sectors >= before + 2048)
    assert.is_true(sio.verify_pattern(snap.dev, {seed = 1, generation = 1, length = MiB}))
    assert.is_true(sio.verify_pattern(snap.origin, {seed = 1, generation = 2, length = MiB}))
    local t0 = time.now_ms()
    local done = snap:merge{interval_ms = 100}
    local took = time.now_ms() - t0
    assert.is_true(testkit.merge_complete(done))
    assert.are.equal("snapshot-merge", done.type)
    -- a 1 MiB merge takes well under the 60 s timeout: an event-only wait
    -- would have slept all of it
    assert.is_true(took < 20000, "merge took " .. took .. " ms")
    assert.is_true(sio.verify_pattern(snap.origin, {seed = 1, generation = 1, length = MiB}))
    assert.are.equal("linear", snap.origin:targets()[1].type)
    assert.has_error(function() snap:status() end)
  end)

  it("snapshot: a full transient store invalidates it, and it cannot merge", function()
    kernel.need_dm(pending)
    local snap <close> = testkit.snapshot{origin_mb = 8, cow_mb = 1, persistent = false}
    assert.is_true(sio.write_pattern(snap.origin, {seed = 2}))   -- 8 MiB through a 1 MiB store
    local st = testkit.wait_for(snap, function(s) return s.invalid == true end, 10000)
    assert.is_true(st.invalid)
    local ok, err = pcall(snap.merge, snap)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "TestkitError"), tostring(err))
    assert.matches("cannot be merged", err.message)
  end)

  it("snapshot: bad input and a refused chunk size leave nothing", function()
    kernel.need_dm(pending)
    assert.has_error(function() testkit.snapshot{persistent = "yes"} end)
    local ok, err = pcall(testkit.snapshot, {origin_mb = 4, cow_mb = 1, chunk_size = 3})
    assert.is_false(ok)
    assert.is_true(errors.is(err, "DeviceError"), tostring(err))
    assert.are.equal("", kit_left())
  end)

  it("raid1 degrades when a leg fails and recovers when it comes back", function()
    kernel.need_dm(pending)
    local r <close> = testkit.raid{level = "raid1", legs = 2, leg_mb = 8}
    local st = r:wait_sync()
    assert.are.equal("raid1", st.raid_type)
    assert.are.same({"A", "A"}, st.health_chars)
    assert.is_true(sio.write_pattern(r.dev, {seed = 3}))
    st = r:fail_leg(2)
    assert.are.equal("D", st.health_chars[2])
    assert.are.equal(1, st.failed_devices)
    assert.is_true(sio.verify_pattern(r.dev, {seed = 3}))   -- the other leg serves
    r:restore_leg(2)
    st = r:wait_sync()
    assert.are.equal("AA", st.health)
    assert.are.equal(0, st.failed_devices)
    assert.is_true(sio.verify_pattern(r.dev, {seed = 3}))
  end)

  it("raid5 over three legs, and refusals of bad raid input", function()
    kernel.need_dm(pending)
    assert.has_error(function() testkit.raid{level = "raid7"} end)
    assert.has_error(function() testkit.raid{level = "raid5", legs = 2} end)
    local r <close> = testkit.raid{level = "raid5", leg_mb = 8}
    local st = r:wait_sync()
    assert.are.equal(3, st.raid_disks)
    assert.matches("^raid5", st.raid_type)
    assert.has_error(function() r:fail_leg(4) end)
    assert.has_error(function() r:restore_leg(1) end)    -- not failed
  end)

  it("mirror: syncs, loses a leg, syncs again", function()
    kernel.need_dm(pending)
    local m <close> = testkit.mirror{legs = 2, leg_mb = 8}
    local st = m:wait_sync()
    assert.are.equal(2, st.nr_mirrors)
    assert.are.equal("AA", st.health)
    st = m:fail_leg(2)
    assert.are_not.equal("A", st.health_chars[2])
    m:restore_leg(2)
    st = m:wait_sync()
    assert.are.equal("AA", st.health)
  end)

  it("crypt: data round-trips through it and not in clear below it; a bad key is refused", function()
    kernel.need_dm(pending)
    local c <close> = testkit.crypt{size_mb = 8}
    local secret = string.rep("attack at dawn. ", 256)
    assert.is_true(sio.write_block(c.dev, 0, secret))
    assert.are.equal(secret, sio.read_block(c.dev, 0, #secret))
    assert.are_not.equal(secret, sio.read_block(c.backing, 0, #secret))
    assert.is_nil(c.dev.table:find(testkit.TEST_KEY, 1, true))
    local ok, err = pcall(testkit.crypt, {size_mb = 4, key = "zz"})
    assert.is_false(ok)
    assert.is_true(errors.is(err, "DeviceError"), tostring(err))
    if not err.kernel_log_unavailable then assert.matches("Error decoding and setting key", err.message) end
  end)

  it("integrity: maps what the kernel provides, counts no mismatch; bad mode refused", function()
    kernel.need_dm(pending)
    local it_ <close> = testkit.integrity{size_mb = 16, mode = "D"}
    local st = it_:status()
    assert.are.equal("integrity", st.type)
    assert.are.equal(it_.sectors, st.size)
    assert.is_true(sio.write_pattern(it_.dev, {seed = 4}))
    assert.is_true(sio.verify_pattern(it_.dev, {seed = 4}))
    assert.are.equal(0, it_:status().mismatches)
    assert.has_error(function() testkit.integrity{mode = "X"} end)
    local ok, err = pcall(testkit.integrity, {size_mb = 4, hash = "no-such-hash"})
    assert.is_false(ok)
    assert.is_true(errors.is(err, "DeviceError"), tostring(err))
  end)

  it("writecache: writes take cache blocks, flush writes them back; a bad block size is refused", function()
    kernel.need_dm(pending)
    local w <close> = testkit.writecache{origin_mb = 16, cache_mb = 8}
    local st = w:status()
    assert.are.equal(st.total_blocks, st.free_blocks)
    assert.is_true(sio.write_pattern(w.dev, {seed = 5, length = 1024 * 1024}))
    assert.is_true(w:status().free_blocks < st.free_blocks)
    assert.is_false(w:flush().error)
    assert.is_true(sio.verify_pattern(w.dev, {seed = 5, length = 1024 * 1024}))
    local ok, err = pcall(testkit.writecache, {origin_mb = 4, cache_mb = 4, block_size = 1000})
    assert.is_false(ok)
    assert.is_true(errors.is(err, "DeviceError"), tostring(err))
  end)
end)

-- Kernel tier: sts.testkit fixtures, teardown, leaks, faults and waiting
-- against the real device-mapper.
local testkit = require "sts.testkit"
local guard = require "sts.busted"
local dm = require "sts.dm"
local core = require "sts.core"
local loop = require "sts.loop"
local errors = require "sts.errors"
local kernel = require "helpers.kernel"

local MiB = 1024 * 1024

local check = require "helpers.raises"
local function raises(kind, fn, ...) return check.raises(kind, nil, fn, ...) end

-- dm devices of ours in the kernel's own list
local function kit_devices()
  local names = {}
  for _, row in ipairs(core.dm.list() or {}) do
    if row.name:sub(1, #testkit.prefix) == testkit.prefix then names[#names + 1] = row.name end
  end
  table.sort(names)
  return names
end

local function exists(name)
  local info = core.dm.info(name)
  return info ~= nil and info.exists == true
end

local function attached(path)
  for _, lo in ipairs(loop.list()) do
    if lo.path == path then return true end
  end
  return false
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- direct, synced writes so an I/O error reaches us (not the page cache)
local function dd(path, seek_blocks, count, bs)
  return core.proc.run({"dd", "if=/dev/urandom", "of=" .. path, "bs=" .. (bs or 65536),
    "seek=" .. seek_blocks, "count=" .. count, "oflag=direct", "conv=fsync,notrunc"}, {timeout = 60})
end

-- Reads and writes with O_DIRECT (through dd), so what one device of a
-- stack reads is what another wrote, not its own page cache. Offsets and
-- lengths are whole 512-byte sectors' worth; data is padded with zeros.
local function read_at(path, offset, n)
  local first = offset // 512
  local count = (offset + n + 511) // 512 - first
  local r = core.proc.run({"dd", "if=" .. path, "bs=512", "skip=" .. first, "count=" .. count,
    "iflag=direct"}, {timeout = 30})
  assert(r.rc == 0, "read " .. path .. ": " .. r.stderr)
  return r.stdout:sub(offset - first * 512 + 1, offset - first * 512 + n)
end

local function write_at(path, offset, data)
  assert(offset % 512 == 0, "write_at: offset must be a multiple of 512")
  data = data .. string.rep("\0", (512 - #data % 512) % 512)
  local r = core.proc.run({"dd", "of=" .. path, "bs=512", "seek=" .. offset // 512,
    "iflag=fullblock", "oflag=direct", "conv=notrunc"}, {stdin = data, timeout = 30})
  assert(r.rc == 0, "write " .. path .. ": " .. r.stderr)
end

describe("sts.testkit fixtures #kernel", function()
  guard.guard()

  it("loop_devices as <close> and via :remove()", function()
    kernel.need_dm(pending)
    local paths, files = {}, {}
    do
      local los <close> = testkit.loop_devices(2, 4)
      assert.are.equal(2, #los)
      for i, lo in ipairs(los) do
        assert.are.equal(4 * MiB, lo.size)
        assert.is_true(attached(lo.path))
        paths[i], files[i] = lo.path, lo.file
      end
    end
    for i = 1, 2 do
      assert.is_false(attached(paths[i]), paths[i] .. " still attached")
      assert.is_false(file_exists(files[i]), files[i] .. " not deleted")
    end
    local los = testkit.loop_devices(1, 2)
    local path = los[1].path
    assert.is_true(los:remove())
    assert.is_true(los:remove())        -- idempotent
    assert.is_false(attached(path))
  end)

  it("linear over a loop, a DmDevice and a path", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 4)
    local names = {}
    do
      local a <close> = testkit.linear(los[1])
      assert.are.equal(4 * MiB, a.dev.size)
      local b <close> = testkit.linear(a.dev, {size = 2048, offset = 1024})
      assert.are.equal(2048 * 512, b.dev.size)
      local c <close> = testkit.linear(b.path)
      assert.are.equal(2048 * 512, c.dev.size)
      -- b reads a's sectors from 1024 on, c reads b's
      write_at(a.path, 1024 * 512, "through three layers")
      assert.are.equal("through three layers", read_at(a.path, 1024 * 512, 20))
      assert.are.equal("through three layers", read_at(b.path, 0, 20))
      assert.are.equal("through three layers", read_at(c.path, 0, 20))
      names = {a.name, b.name, c.name}
      for _, n in ipairs(names) do assert.is_true(exists(n)) end
    end
    for _, n in ipairs(names) do assert.is_false(exists(n), n .. " left behind") end
    local d = testkit.linear(los[1], {size = 8})
    assert.is_true(d:remove())
    assert.is_false(exists(d.name))
  end)

  it("thin_pool with thins and a snapshot; thins go before the pool", function()
    kernel.need_dm(pending)
    local names
    do
      local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4}
      local thin = pool:create_thin(0, 8192)
      assert.are.equal(8192 * 512, thin.dev.size)
      write_at(thin.path, 0, string.rep("o", 65536))
      local snap = pool:create_snapshot(0, 1)
      write_at(thin.path, 0, string.rep("n", 65536))
      assert.are.equal("o", read_at(snap.path, 0, 1))
      assert.are.equal("n", read_at(thin.path, 0, 1))
      local st = pool:status()
      assert.are.equal("thin-pool", st.type)
      assert.are.equal(2, st.used_data_blocks)
      assert.are.equal(256, st.total_data_blocks)
      assert.is_true(pool:check().succeeded)           -- live, via a metadata snapshot
      names = {thin.name, snap.name, pool.name, pool.data.dm_name, pool.metadata.dm_name}
      for _, n in ipairs(names) do assert.is_true(exists(n)) end
    end
    for _, n in ipairs(names) do assert.is_false(exists(n), n .. " left behind") end

    local pool = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
    local t = pool:create_thin(3, 2048)
    pool:delete_thin(3)
    assert.is_false(exists(t.name))
    assert.is_true(pool:remove())
    assert.is_false(exists(pool.name))
  end)

  it("cache and era, as <close> and via :remove()", function()
    kernel.need_dm(pending)
    local names
    do
      local c <close> = testkit.cache{origin_mb = 16, cache_mb = 4, metadata_mb = 4}
      local e <close> = testkit.era{origin_mb = 8, metadata_mb = 4}
      assert.are.equal("cache", c:status().type)
      assert.are.equal("era", e:status().type)
      names = {c.name, c.origin.dm_name, c.cache.dm_name, c.metadata.dm_name, e.name}
    end
    for _, n in ipairs(names) do assert.is_false(exists(n), n .. " left behind") end
    local c = testkit.cache{origin_mb = 8, cache_mb = 4, metadata_mb = 4}
    assert.is_true(c:remove())
    local e = testkit.era{origin_mb = 8, metadata_mb = 4}
    assert.is_true(e:remove())
    assert.are.same({}, kit_devices())
  end)

  it("cleans up everything when the body raises halfway", function()
    kernel.need_dm(pending)
    local seen = {}
    local function body()
      local los <close> = testkit.loop_devices(1, 4)
      seen.loop, seen.file = los[1].path, los[1].file
      local lin <close> = testkit.linear(los[1])
      local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
      local thin = pool:create_thin(0, 4096)
      seen.names = {lin.name, pool.name, thin.name}
      error("halfway through", 0)
    end
    local ok, err = pcall(body)
    assert.is_false(ok)
    assert.are.equal("halfway through", err)
    assert.are.same({}, kit_devices())
    assert.is_false(attached(seen.loop))
    assert.is_false(file_exists(seen.file))
    assert.are.same({}, testkit.leaks())
  end)

  it("the pool's metadata check on teardown catches damage", function()
    kernel.need_dm(pending)
    local pool = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
    local thin = pool:create_thin(0, 2048)
    write_at(thin.path, 0, string.rep("x", 65536))
    thin:remove()
    -- take the pool away ourselves, then damage its superblock: teardown
    -- finds the pool gone and checks the metadata as it lies on disk
    assert.is_true(pool.dev:remove())
    write_at(pool.metadata.path, 0, string.rep("\255", 4096))
    local err = raises("TestkitError", pool.remove, pool)
    assert.matches("thin_check", err.message)
    assert.are.same({}, kit_devices())        -- and everything went anyway

    -- an undamaged pool passes, and check=false skips the check
    local quiet = testkit.thin_pool{data_mb = 8, metadata_mb = 4, check = false}
    assert.is_true(quiet.dev:remove())
    write_at(quiet.metadata.path, 0, string.rep("\255", 4096))
    assert.is_true(quiet:remove())
  end)

  it("leaks() catches a deliberately leaked device, and the guard's check fails on it", function()
    kernel.need_dm(pending)
    local before = guard.snapshot()
    local name = testkit.prefix .. "leaked"
    local d = dm.create(name, dm.ZeroTarget{size = 8})
    local found
    for _, leak in ipairs(testkit.leaks()) do
      if leak.name == name then found = leak end
    end
    assert.are.same({kind = "dm", name = name, why = "still exists"}, found)
    assert.is_true(d:suspend())
    local new = guard.new_leaks(before, testkit.leaks())
    assert.are.same({{kind = "dm", name = name, why = "left suspended"}}, new)
    -- check() removes what leaked, then fails
    local err = raises("TestkitError", guard.check, before)
    assert.matches(name, err.message, 1, true)
    assert.is_false(exists(name))
    assert.is_true(guard.check(before))
  end)

  it("a device the kit does not know on a fixture: teardown fails fast, the guard's check clears all", function()
    kernel.need_dm(pending)
    local before = guard.snapshot()
    local t0 = core.time.now_ms()
    local ok, err = pcall(function()
      local los <close> = testkit.loop_devices(1, 4)
      local lin <close> = testkit.linear(los[1])
      dm.create(testkit.prefix .. "on-top", dm.LinearTarget{size = 2048, device = lin.path})
    end)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "TestkitError"), tostring(err))
    assert.matches("busy", err.message)
    local took = core.time.now_ms() - t0
    assert.is_true(took < 10000, "teardown of a busy fixture took " .. took .. " ms")
    raises("TestkitError", guard.check, before)
    assert.are.same({}, kit_devices())
    assert.are.same({}, testkit.leaks())
  end)

  it("a leaked fixture is cleaned up through its own teardown by the guard's check", function()
    kernel.need_dm(pending)
    local before = guard.snapshot()
    local pool = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
    pool:create_thin(0, 2048)
    raises("TestkitError", guard.check, before)
    assert.are.same({}, kit_devices())
    assert.is_true(pool.removed)
  end)

  it("cleanup() removes every live fixture and then has nothing left to do", function()
    kernel.need_dm(pending)
    local los = testkit.loop_devices(1, 4)
    local lin = testkit.linear(los[1])
    local name = lin.dev.dm_name
    assert.is_true(exists(name))
    assert.are.same({}, testkit.cleanup())
    assert.is_false(exists(name))
    assert.is_false(attached(los[1].path))
    assert.are.same({}, testkit.leaks())
    assert.are.same({}, testkit.cleanup())
  end)

  it("the guard's check passes over devices that were there before its snapshot", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 4)
    local lin <close> = testkit.linear(los[1])
    local before = guard.snapshot()
    local kinds = {}
    for _, leak in ipairs(before) do kinds[leak.kind] = (kinds[leak.kind] or 0) + 1 end
    assert.are.same({dm = 1, loop = 1}, kinds)
    assert.is_true(guard.check(before))
    assert.is_true(exists(lin.dev.dm_name))  -- and it left them alone
    assert.is_true(attached(los[1].path))
  end)
end)

describe("sts.testkit faults and waiting #kernel", function()
  guard.guard()

  it("injects an error under a thin pool's data device and restores it", function()
    kernel.need_dm(pending)
    local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4}
    local thin = pool:create_thin(0, 16384)
    assert.are.equal(0, dd(thin.path, 0, 4).rc)                -- blocks 0..3 mapped
    local table_before = pool.data.table
    do
      local fault <close> = testkit.inject(pool.data, {type = "error"})
      assert.matches(" error$", pool.data.table)
      local r = dd(thin.path, 8, 4)       -- unprovisioned: the pool must write new data blocks
      assert.are_not.equal(0, r.rc, "a write over an error device succeeded")
      assert.matches("Input/output error", r.stderr, 1, true)
      r = dd(thin.path, 0, 4)             -- mapped blocks fail as well
      assert.are_not.equal(0, r.rc)
      -- a data device error fails the I/O, not the pool: it stays rw and
      -- the thin maps nothing for the failed writes
      local st = pool:status()
      assert.are.equal("rw", st.mode)
      assert.is_nil(st.fail)
      assert.are.equal(4 * 128, thin.dev:status_table()[1].mapped_sectors)
      fault:restore()
    end
    assert.are.equal(table_before, pool.data.table)
    assert.are.equal(0, dd(thin.path, 8, 4).rc)
    assert.are.equal(8 * 128, thin.dev:status_table()[1].mapped_sectors)
    assert.is_true(pool:check().succeeded)    -- and the metadata stayed sound
  end)

  it("an error under a thin pool's metadata device fails the pool, in its typed status", function()
    kernel.need_dm(pending)
    -- the pool cannot commit, so its metadata is not checked on teardown
    local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, check = false}
    local thin = pool:create_thin(0, 16384)
    assert.are.equal(0, dd(thin.path, 0, 4).rc)
    local fault <close> = testkit.inject(pool.metadata, {type = "error"})
    assert.are_not.equal(0, dd(thin.path, 8, 4).rc)   -- the commit after allocating fails
    local st = pool:status()
    assert.are.same({type = "thin-pool", fail = true, start = 0, size = pool.dev.size // 512}, st)
    assert.is_true(thin.dev:status_table()[1].fail)
    fault:restore()
    -- a failed pool stays failed until it is torn down: restoring the
    -- metadata device does not bring it back
    assert.is_true(pool:status().fail)
    assert.are_not.equal(0, dd(thin.path, 16, 1).rc)
  end)

  it("flakey, delay and zero on a sector range leave the rest of the device alone", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 1)
    local lin <close> = testkit.linear(los[1])
    write_at(lin.path, 0, string.rep("d", MiB))
    local original = lin.dev.table

    do
      local z <close> = testkit.inject(lin, {type = "zero", start = 8, size = 8})
      local targets = lin.dev:targets()
      assert.are.equal(3, #targets)
      assert.are.equal("zero", targets[2].type)
      assert.are.equal(8, targets[2].start)
      assert.are.equal("d", read_at(lin.path, 8 * 512 - 1, 1))
      assert.are.equal("\0", read_at(lin.path, 8 * 512, 1))
      assert.are.equal("d", read_at(lin.path, 16 * 512, 1))
    end
    assert.are.equal(original, lin.dev.table)

    local flakey = testkit.inject(lin, {type = "flakey", start = 0, size = 1024, up = 0, down = 60})
    local st = lin.dev:status_table()
    assert.are.equal("flakey", st[1].type)
    assert.are.equal("linear", st[2].type)
    local r = core.proc.run({"dd", "if=" .. lin.path, "of=/dev/null", "bs=512", "count=1",
      "iflag=direct"}, {timeout = 30})
    assert.are_not.equal(0, r.rc, "a read of a down flakey range succeeded")
    r = core.proc.run({"dd", "if=" .. lin.path, "of=/dev/null", "bs=512", "count=1", "skip=1024",
      "iflag=direct"}, {timeout = 30})
    assert.are.equal(0, r.rc, r.stderr)
    assert.is_true(flakey:restore())
    assert.are.equal(original, lin.dev.table)

    local delay = testkit.inject(lin, {type = "delay", start = 0, size = 2048, delay = 200})
    assert.are.equal("delay", lin.dev:status_table()[1].type)
    local t0 = core.time.now_ms()
    r = core.proc.run({"dd", "if=" .. lin.path, "of=/dev/null", "bs=4096", "count=1",
      "iflag=direct"}, {timeout = 30})
    assert.are.equal(0, r.rc, r.stderr)
    assert.is_true(core.time.now_ms() - t0 >= 200, "a delayed read came back early")
    delay:restore()
    assert.are.equal(original, lin.dev.table)
    assert.are.equal("d", read_at(lin.path, 8 * 512, 1))

    raises("ValueError", testkit.inject, lin, {type = "zero", start = 2040, size = 100})
    raises("ValueError", testkit.inject, lin, {type = "bogus"})
  end)

  it("wait_for sees a pool cross its low water mark", function()
    kernel.need_dm(pending)
    -- 16 MiB of 64 KiB blocks = 256 blocks; the event fires when fewer
    -- than 200 are free
    local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, low_water_mark = 200}
    local thin = pool:create_thin(0, 65536)
    assert.is_false(pool:status().used_data_blocks > 56)
    local event_before = pool.dev:info().event_nr
    assert.are.equal(0, dd(thin.path, 0, 64).rc)           -- 64 blocks
    local st = testkit.wait_for(pool, function(s) return s.total_data_blocks - s.used_data_blocks < 200 end, 10000)
    assert.is_true(st.used_data_blocks >= 64)
    assert.is_true(pool.dev:info().event_nr > event_before, "no dm event for the low water mark")
  end)

  it("wait_for times out with a TimeoutError showing the last status", function()
    kernel.need_dm(pending)
    local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
    local t0 = core.time.now_ms()
    local err = raises("TimeoutError", testkit.wait_for, pool.dev,
      function(s) return s.used_data_blocks > 0 end, 300)
    local took = core.time.now_ms() - t0
    assert.is_true(took >= 300 and took < 5000, "waited " .. took .. " ms")
    assert.matches("used_data_blocks=0", err.message, 1, true)
  end)

  it("cleanup_leftovers removes what a killed process left", function()
    kernel.need_dm(pending)
    -- what a SIGKILLed script leaves: a stack under another prefix and a
    -- loop device over a kit file of that prefix, none of it tracked by
    -- this process
    local prefix = "sts-leftover" .. testkit.prefix:match("%d+") .. "-"
    local lo = loop.create{size_mb = 2, tag = prefix}
    local bottom = dm.create(prefix .. "bottom", dm.LinearTarget{size = 2048, device = lo.path})
    dm.create(prefix .. "top", dm.LinearTarget{size = 2048, device = bottom.path})
    assert.is_true(bottom:suspend())
    local removed = testkit.cleanup_leftovers(prefix)
    local set = {}
    for _, n in ipairs(removed) do set[n] = true end
    assert.is_true(set[prefix .. "top"])
    assert.is_true(set[prefix .. "bottom"])
    assert.is_true(set[lo.path])
    assert.is_false(exists(prefix .. "top"))
    assert.is_false(exists(prefix .. "bottom"))
    assert.is_false(attached(lo.path))
    assert.is_false(file_exists(lo.file))
  end)
end)

-- Kernel tier: the typed status parsers (dm.parse_status, d:status_table())
-- against status text from the real kernel, in the states a test can
-- reach: fresh, after writes, failed paths, filled snapshots.
local testkit = require "sts.testkit"
local guard = require "sts.busted"
local dm = require "sts.dm"
local core = require "sts.core"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

local MiB = 1024 * 1024

-- direct writes through dd so the target sees them before we look
local function dd_write(path, seek, count, bs)
  local r = core.proc.run({"dd", "if=/dev/urandom", "of=" .. path, "bs=" .. (bs or 65536),
    "seek=" .. seek, "count=" .. count, "oflag=direct", "conv=notrunc"}, {timeout = 60})
  return r
end

local function dd_read(path, skip, count, bs)
  return core.proc.run({"dd", "if=" .. path, "of=/dev/null", "bs=" .. (bs or 65536),
    "skip=" .. skip, "count=" .. count, "iflag=direct"}, {timeout = 60})
end

local function devt(d) return d.major .. ":" .. d.minor end

describe("typed status from the kernel #kernel", function()
  -- devices a test makes over the kit's fixtures come from a devs.scope()
  -- declared after the fixtures (so it closes first); cleanup() catches
  -- whatever a failed close left
  after_each(function() devs.cleanup() end)
  guard.guard()
  local devices = devs.scope

  -- d:status_table(), checked against dm.parse_status of the raw rows
  -- (read a moment apart, so counters may move: same fields, same types)
  local function typed(d)
    local list = d:status_table()
    local rows = d:status_rows()
    assert.are.equal(#rows, #list)
    for i, row in ipairs(rows) do
      local again = dm.parse_status(row.type, row.args)
      assert.are.equal(row.type, list[i].type)
      assert.are.equal(row.start, list[i].start)
      assert.are.equal(row.size, list[i].size)
      for k, v in pairs(again) do
        assert.are.equal(type(v), type(list[i][k]), "field " .. k)
      end
      for k, v in pairs(list[i]) do
        if k ~= "start" and k ~= "size" then
          assert.are.equal(type(v), type(again[k]), "field " .. k)
        end
      end
    end
    return list[1], list
  end

  it("thin-pool and thin, fresh and after writes", function()
    kernel.need_dm(pending)
    local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128,
      low_water_mark = 10}
    local st = typed(pool.dev)
    assert.are.equal("thin-pool", st.type)
    assert.are.equal(0, st.transaction_id)
    assert.are.equal(256, st.total_data_blocks)
    assert.are.equal(0, st.used_data_blocks)
    assert.are.equal(1024, st.total_metadata_blocks)     -- 4 MiB of 4 KiB blocks
    assert.is_true(st.used_metadata_blocks > 0 and st.used_metadata_blocks < st.total_metadata_blocks,
      "used metadata blocks " .. tostring(st.used_metadata_blocks))
    assert.is_nil(st.held_root)
    assert.are.equal("rw", st.mode)
    assert.are.equal("discard_passdown", st.discard_mode)
    assert.are.equal("queue_if_no_space", st.no_space_policy)
    assert.is_false(st.needs_check)
    assert.is_true(math.type(st.metadata_low_watermark) == "integer")

    local thin = pool:create_thin(0, 32768)
    local ts = typed(thin.dev)
    assert.are.same({type = "thin", start = 0, size = 32768, mapped_sectors = 0}, ts)
    assert.are.equal(0, dd_write(thin.path, 4, 3).rc)      -- blocks 4..6
    ts = typed(thin.dev)
    assert.are.equal(3 * 128, ts.mapped_sectors)
    assert.are.equal(7 * 128 - 1, ts.highest_mapped_sector)
    st = typed(pool.dev)
    assert.are.equal(3, st.used_data_blocks)

    assert.is_true(pool.dev:message(0, "set_transaction_id 0 5"))
    assert.is_true(pool.dev:message(0, "reserve_metadata_snap"))
    st = typed(pool.dev)
    assert.are.equal(5, st.transaction_id)
    assert.is_true(math.type(st.held_root) == "integer" and st.held_root > 0)
    assert.is_true(pool.dev:message(0, "release_metadata_snap"))

    local err_pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4,
      features = {"error_if_no_space", "ignore_discard"}}
    st = typed(err_pool.dev)
    assert.are.equal("error_if_no_space", st.no_space_policy)
    assert.are.equal("ignore_discard", st.discard_mode)
  end)

  it("cache (writethrough and writeback)", function()
    kernel.need_dm(pending)
    local c <close> = testkit.cache{origin_mb = 16, cache_mb = 4, metadata_mb = 4, block_size = 128}
    local st = typed(c.dev)
    assert.are.equal("cache", st.type)
    assert.are.equal(8, st.metadata_block_size)
    assert.are.equal(1024, st.total_metadata_blocks)
    assert.are.equal(128, st.cache_block_size)
    assert.are.equal(64, st.total_cache_blocks)
    assert.are.equal(0, st.used_cache_blocks)
    assert.are.equal(0, st.dirty)
    assert.are.equal("writethrough", st.io_mode)
    assert.are.equal("smq", st.policy)
    assert.are.equal("rw", st.mode)
    assert.is_false(st.needs_check)
    assert.is_true(math.type(st.core_args.migration_threshold) == "integer"
      or type(st.core_args.migration_threshold) == "string")
    assert.are.equal(0, dd_read(c.path, 0, 16).rc)
    st = typed(c.dev)
    assert.is_true(st.read_hits + st.read_misses > 0, "no reads counted")

    local wb <close> = testkit.cache{origin_mb = 16, cache_mb = 4, metadata_mb = 4, block_size = 128,
      features = {"writeback"}}
    assert.are.equal(0, dd_write(wb.path, 0, 8).rc)      -- 8 whole blocks into an empty cache
    st = typed(wb.dev)
    assert.are.equal("writeback", st.io_mode)
    assert.are.equal(8, st.dirty)
    assert.are.equal(8, st.used_cache_blocks)
  end)

  it("era, before and after a checkpoint", function()
    kernel.need_dm(pending)
    local e <close> = testkit.era{origin_mb = 8, metadata_mb = 4, block_size = 128}
    local st = typed(e.dev)
    assert.are.equal("era", st.type)
    assert.are.equal(8, st.metadata_block_size)
    assert.are.equal(1024, st.total_metadata_blocks)
    assert.is_nil(st.held_root)
    local era = st.current_era
    assert.is_true(e.dev:message(0, "checkpoint"))
    assert.are.equal(era + 1, typed(e.dev).current_era)
    assert.is_true(e.dev:message(0, "take_metadata_snap"))
    assert.is_true(math.type(typed(e.dev).held_root) == "integer")
    assert.is_true(e.dev:message(0, "drop_metadata_snap"))
  end)

  it("snapshot: allocated sectors after writes, then Invalid when its store fills", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(2, 8)
    local base <close> = testkit.linear(los[1])
    local cow <close> = testkit.linear(los[2], {size = 2048})   -- a 1 MiB store
    local made <close> = devices()
    -- the snapshot first: snapshot-origin learns the chunk size it splits
    -- writes at when it resumes (made first, it copies only the first
    -- chunk of each write)
    local snap = made:create("snap", string.format("0 %d snapshot %s %s P 8", base.dev.size // 512,
      base.path, cow.path))
    local origin = made:create("origin", string.format("0 %d snapshot-origin %s", base.dev.size // 512,
      base.path))
    assert.are.same({type = "snapshot-origin", start = 0, size = base.dev.size // 512}, typed(origin))
    local st = typed(snap)
    assert.are.equal("snapshot", st.type)
    assert.are.equal(2048, st.total_sectors)
    local fresh = st.allocated_sectors
    assert.is_true(math.type(st.metadata_sectors) == "integer")
    assert.are.equal(0, dd_write(origin.path, 0, 4).rc)     -- 256 KiB copied out
    st = typed(snap)
    assert.is_true(st.allocated_sectors >= fresh + 512, "allocated " .. st.allocated_sectors)
    assert.is_nil(st.invalid)
    dd_write(origin.path, 8, 32)                            -- 2 MiB more: the store overflows
    st = typed(snap)
    assert.are.same({type = "snapshot", start = 0, size = base.dev.size // 512, invalid = true}, st)
  end)

  it("multipath: two paths, one failed by message", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 4)
    local a <close> = testkit.linear(los[1])
    local b <close> = testkit.linear(los[1])
    local made <close> = devices()
    local mp = made:create("mpath", string.format(
      "0 %d multipath 2 queue_mode bio 0 1 1 round-robin 0 2 1 %s 1 %s 1",
      a.dev.size // 512, devt(a.dev), devt(b.dev)))
    local st = typed(mp)
    assert.are.equal(1, st.nr_groups)
    assert.are.equal(2, st.active_paths)
    assert.are.equal(0, st.failed_paths)
    assert.are.equal(devt(a.dev), st.paths[1].device)
    assert.is_true(st.paths[1].active)
    assert.are.equal(0, st.paths[1].fail_count)
    -- a fresh map queues until it has picked a path for its first I/O
    assert.is_boolean(st.queueing)
    assert.are.equal(0, dd_read(mp.path, 0, 1).rc)
    assert.is_false(typed(mp).queueing)
    assert.is_true(mp:message(0, "fail_path " .. devt(b.dev)))
    st = typed(mp)
    assert.are.equal(1, st.failed_paths)
    assert.are.equal("F", st.paths[2].state)
    assert.are.equal(1, st.paths[2].fail_count)
    assert.is_true(mp:message(0, "reinstate_path " .. devt(b.dev)))
    assert.are.equal(2, typed(mp).active_paths)
  end)

  it("raid1 over two linear devices, synced", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(2, 4)
    local a <close> = testkit.linear(los[1])
    local b <close> = testkit.linear(los[2])
    local made <close> = devices()
    local r = made:create("raid1", string.format("0 %d raid raid1 1 0 2 - %s - %s", a.dev.size // 512,
      a.path, b.path))
    local st = testkit.wait_for(r, function(s) return s.sync_action == "idle" and s.health == "AA" end, 30000)
    assert.are.equal("raid1", st.raid_type)
    assert.are.equal(2, st.raid_disks)
    assert.are.same({"A", "A"}, st.health_chars)
    assert.are.equal(0, st.failed_devices)
    assert.are.equal(st.sync_total, st.sync_current)
    assert.are.equal(1.0, st.sync_ratio)
    assert.are.equal(0, st.mismatch_count)
    assert.are.same(st, typed(r))
  end)

  it("striped and mirror", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(2, 4)
    local a <close> = testkit.linear(los[1])
    local b <close> = testkit.linear(los[2])
    local made <close> = devices()
    local sectors = a.dev.size // 512
    local s = made:create("striped", string.format("0 %d striped 2 128 %s 0 %s 0", 2 * sectors,
      a.path, b.path))
    local st = typed(s)
    assert.are.equal(2, st.nr_stripes)
    assert.are.same({devt(a.dev), devt(b.dev)}, st.devices)
    assert.are.equal("AA", st.health)
    assert.is_true(s:remove())
    table.remove(made)
    local m = made:create("mirror", string.format("0 %d mirror core 2 1024 nosync 2 %s 0 %s 0", sectors,
      a.path, b.path))
    st = typed(m)
    assert.are.equal(2, st.nr_mirrors)
    assert.are.equal("AA", st.health)
    assert.are.equal("core", st.log_type)
    assert.are.equal(st.total_regions, st.sync_regions)
  end)

  it("integrity", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 16)
    local lin <close> = testkit.linear(los[1])
    local made <close> = devices()
    -- a first, tiny mapping formats the device and tells how much it provides
    local d = made:create("integrity", string.format("0 8 integrity %s 0 4 D 1 internal_hash:crc32c", lin.path))
    local st = typed(d)
    assert.are.equal("integrity", st.type)
    local provided = st.provided_data_sectors
    assert.is_true(provided > 16384 and provided < 32768, "provides " .. provided)
    assert.are.equal(0, st.mismatches)
    assert.is_true(d:reload(string.format("0 %d integrity %s 0 4 D 1 internal_hash:crc32c", provided,
      lin.path)))
    assert.are.equal(0, dd_write(d.path, 0, 16).rc)
    assert.are.equal(0, dd_read(d.path, 0, 16).rc)
    st = typed(d)
    assert.are.equal(provided, st.size)
    assert.are.equal(0, st.mismatches)
    assert.is_false(st.recalculating == true)
  end)

  it("writecache: free blocks go down as writes are cached", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(2, 8)
    local origin <close> = testkit.linear(los[1])
    local cache <close> = testkit.linear(los[2])
    local made <close> = devices()
    local d = made:create("writecache", string.format("0 %d writecache s %s %s 4096 0",
      origin.dev.size // 512, origin.path, cache.path))
    local st = typed(d)
    assert.are.equal("writecache", st.type)
    assert.is_false(st.error)
    assert.are.equal(0, st.error_code)
    assert.is_true(st.total_blocks > 0)
    assert.are.equal(st.total_blocks, st.free_blocks)
    assert.are.equal(0, dd_write(d.path, 0, 16).rc)         -- 1 MiB = 256 blocks of 4 KiB
    local after = typed(d)
    assert.are.equal(st.free_blocks - 256, after.free_blocks)
    if after.writes then assert.is_true(after.writes >= 16) end
    assert.is_true(d:message(0, "flush"))
  end)

  it("flakey, delay, linear, zero and error", function()
    kernel.need_dm(pending)
    local los <close> = testkit.loop_devices(1, 1)
    local lin <close> = testkit.linear(los[1])
    assert.are.same({type = "linear", start = 0, size = 2048}, typed(lin.dev))
    local made <close> = devices()
    local f = made:create("flakey", string.format("0 2048 flakey %s 0 60 0", lin.path))
    assert.are.same({type = "flakey", start = 0, size = 2048}, typed(f))
    local d = made:create("delay", string.format("0 2048 delay %s 0 0", lin.path))
    local st = typed(d)
    assert.are.equal("delay", st.type)
    assert.are.equal(0, st.delayed_reads)
    assert.are.equal(0, st.delayed_writes)
    local z = made:create("zero", "0 100 zero\n100 50 error")
    local _, list = typed(z)
    assert.are.same({{type = "zero", start = 0, size = 100}, {type = "error", start = 100, size = 50}}, list)
  end)
end)

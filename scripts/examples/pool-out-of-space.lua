-- A thin pool running out of data space, under both no-space policies,
-- then grown and resumed.
--
--   error_if_no_space: a write the pool cannot place fails at once and the
--   typed status says out_of_data_space;
--   queue_if_no_space (the default): the write is held, not failed, until
--   the pool gets more space.
-- Each time the pool is then grown (a second loop device appended to its
-- data device with a two-target table, the pool's table reloaded with the
-- new length) and the writes succeed. Self-checking: exits 0 only when
-- everything held.
--
--   scripts/sts-vm run scripts/examples/pool-out-of-space.lua
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local proc = require "sts.proc"

local BLOCK = 128                      -- sectors: 64 KiB pool blocks
local DATA_MB, EXTRA_MB = 8, 16        -- 128 blocks, then 384

local check, report = testkit.checks()

-- dd with O_DIRECT: the write reaches the pool before dd returns
local function dd_direct(path, seek_mb, mb)
  return proc.run({"dd", "if=/dev/zero", "of=" .. path, "bs=1048576", "seek=" .. seek_mb,
    "count=" .. mb, "oflag=direct", "conv=notrunc"}, {timeout = 120})
end

-- Appends `extra` (a loop object) to the pool's data device and reloads
-- the pool with the new length: thin-pool takes its data size from the
-- length of its own table.
local function grow(pool, extra)
  local old = pool.data.size // 512
  local add = extra.size // 512
  assert(pool.data:reload({
    dm.LinearTarget{start = 0, size = old, device = pool.data_scratch.loop.path, offset = 0},
    dm.LinearTarget{start = old, size = add, device = extra.path, offset = 0},
  }))
  local t = pool.dev:targets()[1]
  local fields = t:params()
  fields.size = old + add
  assert(pool.dev:reload(dm.ThinPoolTarget(fields), {noflush = true}))
  return old + add
end

local function sysctl(name, value)
  local path = "/proc/sys/vm/" .. name
  local f = assert(io.open(path, "r"))
  local old = f:read("l")
  f:close()
  f = assert(io.open(path, "w"))
  assert(f:write(value))
  f:close()
  return old
end

print("== error_if_no_space")
do
  local extra <close> = testkit.loop_devices(1, EXTRA_MB)
  local pool <close> = testkit.thin_pool{data_mb = DATA_MB, metadata_mb = 4, block_size = BLOCK,
    features = {"error_if_no_space"}}
  local thin = pool:create_thin(0, 64 * 2048)              -- 64 MiB virtual over 8 MiB real
  local r = dd_direct(thin.path, 0, 12)
  local st = pool:status()
  print(string.format("wrote 12 MiB into an 8 MiB pool: dd rc %d (%s), %d/%d blocks used, mode %s",
    r.rc, (r.stderr:match("dd: ([^\n]*)") or ""), st.used_data_blocks, st.total_data_blocks,
    tostring(st.mode)))
  check(r.rc ~= 0, "the write failed")
  check(st.mode == "out_of_data_space", "typed status: mode out_of_data_space")
  check(st.no_space_policy == "error_if_no_space", "typed status: no_space_policy error_if_no_space")
  check(st.used_data_blocks == st.total_data_blocks, "every data block is used")

  local total = grow(pool, extra[1])
  st = pool:status()
  print(string.format("grown to %d sectors: %d/%d blocks, mode %s", total, st.used_data_blocks,
    st.total_data_blocks, st.mode))
  check(st.total_data_blocks == total // BLOCK, "the pool sees the new size")
  check(st.mode == "rw", "the pool is writable again")
  r = dd_direct(thin.path, 0, 12)
  check(r.rc == 0, "the same 12 MiB write now succeeds")
  check(pool:status().used_data_blocks == 12 * 16, "12 MiB maps 192 blocks")
end

print("== queue_if_no_space")
do
  local extra <close> = testkit.loop_devices(1, EXTRA_MB)
  local pool <close> = testkit.thin_pool{data_mb = DATA_MB, metadata_mb = 4, block_size = BLOCK}
  local thin = pool:create_thin(0, 64 * 2048)
  -- buffered writes return at once; make the flusher push them out quickly
  -- so the pool meets them while we watch (restored below)
  local old_expire = sysctl("dirty_expire_centisecs", "10")
  local old_writeback = sysctl("dirty_writeback_centisecs", "10")
  local f = assert(io.open(thin.path, "r+b"))
  local chunk = string.rep("q", 1024 * 1024)
  for _ = 1, 12 do assert(f:write(chunk)) end
  assert(f:flush())                     -- into the page cache; not closed (close would wait)
  local ok, st = pcall(testkit.wait_for, pool, function(s) return s.mode == "out_of_data_space" end, 30000)
  check(ok, "the pool reached out_of_data_space: " .. (ok and "" or tostring(st)))
  if ok then
    print(string.format("12 MiB of buffered writes: %d/%d blocks used, mode %s, policy %s",
      st.used_data_blocks, st.total_data_blocks, st.mode, st.no_space_policy))
    check(st.no_space_policy == "queue_if_no_space", "typed status: queue_if_no_space")
    check(st.fail ~= true and pool.dev:info().suspended == false, "the pool holds the I/O, it did not fail")
  end

  grow(pool, extra[1])
  local closed, msg = f:close()         -- waits for the held writes: they complete now
  sysctl("dirty_expire_centisecs", old_expire)
  sysctl("dirty_writeback_centisecs", old_writeback)
  check(closed ~= nil, "the held writes completed after the pool grew " .. (msg or ""))
  local s = proc.run({"sync"}, {timeout = 60})
  check(s.rc == 0, "sync succeeded")
  st = pool:status()
  print(string.format("after growing: %d/%d blocks used, mode %s", st.used_data_blocks,
    st.total_data_blocks, st.mode))
  check(st.mode == "rw", "mode back to rw")
  check(st.used_data_blocks == 12 * 16, "all 12 MiB landed (192 blocks)")
  local rf = assert(io.open(thin.path, "rb"))
  assert(rf:seek("set", 11 * 1024 * 1024))
  check(rf:read(16) == string.rep("q", 16), "the last MiB reads back")
  rf:close()
end
-- both pools were thin_checked on the way out

os.exit(report())

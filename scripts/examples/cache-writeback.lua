-- A writeback cache flushing its dirty blocks on the cleaner policy.
-- dm-cache in writeback mode with the smq policy: full-block writes into
-- an empty cache are promoted at once and stay dirty (the origin does not
-- have them yet). Reloading the same table with the "cleaner" policy
-- makes the cache write every dirty block back; testkit.wait_for follows
-- the typed status on each dm event until dirty reaches 0. The origin
-- device then holds the data. Self-checking: exits 0 only when
-- everything held.
--
--   scripts/sts-vm run scripts/examples/cache-writeback.lua
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local proc = require "sts.proc"
local time = require "sts.time"

local BLOCK = 128                        -- sectors: 64 KiB cache blocks
local MiB = 1024 * 1024

local check, report = testkit.checks()

local function write_direct(path, offset_mb, data)
  local r = proc.run({"dd", "of=" .. path, "bs=65536", "seek=" .. offset_mb * 16,
    "iflag=fullblock", "oflag=direct", "conv=notrunc"}, {stdin = data, timeout = 60})
  assert(r.rc == 0, "write " .. path .. ": " .. r.stderr)
end

local function read_direct(path, offset_mb, mb)
  local r = proc.run({"dd", "if=" .. path, "bs=65536", "skip=" .. offset_mb * 16,
    "count=" .. mb * 16, "iflag=direct"}, {timeout = 60})
  assert(r.rc == 0, "read " .. path .. ": " .. r.stderr)
  return r.stdout
end

local function show(st)
  return string.format("%s/%s cache blocks used, %d dirty, policy %s, io mode %s, %d write hits, %d write misses",
    st.used_cache_blocks, st.total_cache_blocks, st.dirty, st.policy, st.io_mode, st.write_hits,
    st.write_misses)
end

do
  local c <close> = testkit.cache{origin_mb = 32, cache_mb = 8, metadata_mb = 4, block_size = BLOCK,
    features = {"writeback"}, policy = "smq"}
  print("cache " .. c.name .. ": origin " .. c.origin.dm_name .. ", cache " .. c.cache.dm_name)
  local st = c:status()
  print("  " .. show(st))
  check(st.io_mode == "writeback" and st.dirty == 0, "a writeback cache, nothing dirty yet")

  local data = string.rep("cached!\n", 4 * MiB // 8)
  write_direct(c.path, 4, data)                       -- 4 MiB at 4 MiB: 64 whole blocks
  st = c:status()
  print("after writing 4 MiB: " .. show(st))
  check(st.dirty > 0, "dirty blocks in the typed status (" .. st.dirty .. ")")
  check(read_direct(c.origin.path, 4, 1) ~= data:sub(1, MiB), "the origin does not have the data yet")
  check(read_direct(c.path, 4, 4) == data, "the cache device reads the data back")

  -- same table, cleaner policy: write everything back, promote nothing
  local fields = c.dev:targets()[1]:params()
  fields.policy, fields.policy_args = "cleaner", {}
  assert(c.dev:reload(dm.CacheTarget(fields)))
  local t0 = time.now_ms()
  st = testkit.wait_for(c, function(s) return s.dirty == 0 end, 30000)
  print(string.format("cleaner policy: dirty reached 0 after %d ms: %s", time.now_ms() - t0,
    show(st)))
  check(st.policy == "cleaner", "typed status: policy cleaner")
  check(st.dirty == 0, "typed status: no dirty blocks")
  check(read_direct(c.origin.path, 4, 4) == data, "the origin now holds the data")
end

os.exit(report())

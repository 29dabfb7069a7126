-- Kernel tier: resource bounds. One stslua process runs N create/remove
-- cycles (N = $STS_SOAK_CYCLES, default 400 in make check, about 20 s
-- under ASan in the emulated guest; `make soak` runs 10,000) after 300
-- warm-up cycles and reports RSS, the Lua heap and open descriptors
-- (/proc/self/fd) before and after: memory flat, descriptors constant.
-- The cycles run in a child with ASan's quarantine off, so that freed
-- memory held back by the sanitizer is not mistaken for growth.
local kernel = require "helpers.kernel"
local run = require "helpers.run"
local time = require "sts.time"

local CYCLER = [[
local dm = require "sts.dm"
local lfs = require "lfs"
local n = tonumber(arg[1])
local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end
local function fds()
  local count = 0
  for e in lfs.dir("/proc/self/fd") do if e ~= "." and e ~= ".." then count = count + 1 end end
  return count
end
local function cycle(i)
  local d = dm.create("ststest-res-" .. i, dm.ZeroTarget{size = 8})
  local _ = d.table
  assert(d:remove())
end
-- warm-up: the allocator's caches fill over the first cycles. Under ASan
-- they keep stepping up for longer (after 300 cycles, 400 more still grew
-- RSS by 3.2 to 9.7 MB in the guest, while the plain build stayed flat to
-- the kB over 2,000; the soak's 10,000 grew 2 MB in all), so warm up past
-- that before measuring
for i = 1, 1200 do cycle(i) end
collectgarbage()
local rss0, fd0, heap0, t0 = rss_kb(), fds(), collectgarbage("count"), os.clock()
for i = 1, n do cycle(i) end
collectgarbage()
print(("cycles=%d rss_before=%d rss_after=%d fds_before=%d fds_after=%d heap_before=%d heap_after=%d cpu=%.1f")
      :format(n, rss0, rss_kb(), fd0, fds(), math.floor(heap0), math.floor(collectgarbage("count")), os.clock() - t0))
]]

describe("resource bounds #kernel", function()
  it("create/remove cycles keep RSS flat and descriptors constant", function()
    kernel.need_dm(pending)
    local n = math.tointeger(tonumber(os.getenv("STS_SOAK_CYCLES") or "400"))
    assert.is_true(n ~= nil and n > 0, "STS_SOAK_CYCLES must be a positive integer")
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    run.write_file(dir .. "/cycle.lua", CYCLER)
    local t0 = time.now_ms()
    local r = run.stslua({dir .. "/cycle.lua", tostring(n)}, {timeout = 3000,
      env = {ASAN_OPTIONS = "quarantine_size_mb=0:detect_leaks=1:halt_on_error=1"}})
    assert.are.equal(0, r.rc, r.stderr)
    print(("\n%s wall=%.1fs"):format(r.stdout:gsub("\n$", ""), (time.now_ms() - t0) / 1000))
    local rss0, rss1, fd0, fd1, heap0, heap1 = r.stdout:match(
      "rss_before=(%d+) rss_after=(%d+) fds_before=(%d+) fds_after=(%d+) heap_before=(%d+) heap_after=(%d+)")
    assert.is_string(rss0, r.stdout)
    rss0, rss1, fd0, fd1 = tonumber(rss0), tonumber(rss1), tonumber(fd0), tonumber(fd1)
    heap0, heap1 = tonumber(heap0), tonumber(heap1)
    assert.are.equal(fd0, fd1)
    -- flat: the Lua heap within 64 kB; RSS within 4 MB. Under ASan the RSS
    -- moves in one-off steps of a few MB (its allocator maps regions per
    -- size class; a 3,000-cycle run in the guest stayed within 0.2 MB once
    -- warm, yet one step of 3.5 MB was seen after 300 cycles), so the check
    -- of a per-cycle leak is the 10,000 cycles of `make soak`, where 400
    -- bytes a cycle already exceed the bound; unreachable leaks fail the
    -- child's LeakSanitizer at exit in any case.
    assert.is_true(heap1 - heap0 <= 64, ("Lua heap grew from %d kB to %d kB"):format(heap0, heap1))
    -- Under ASan even with its quarantine off the RSS of this workload grew
    -- by 5 to 9 MB over 400 warm cycles in some runs and not at all in
    -- others, while the plain build stayed flat to the kB (4924 kB before
    -- and after, same guest): the sanitizer's allocator, not a leak. So
    -- the bound there is 24 MB (a leak of 60 kB a cycle would still fail
    -- it), 4 MB on a plain build.
    local asan = (os.getenv("ASAN_OPTIONS") or "") ~= ""
    local limit = asan and 24576 or 4096
    assert.is_true(rss1 - rss0 <= limit,
      ("RSS grew from %d kB to %d kB over %d cycles (bound %d kB)"):format(rss0, rss1, n, limit))
  end)
end)

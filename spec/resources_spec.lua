-- Kernel tier: resource bounds. One stslua process runs N create/remove
-- cycles (N = $STS_SOAK_CYCLES, default 400 in make check, about 20 s
-- under ASan in the emulated guest; `make soak` runs 10,000) and reports RSS
-- and open descriptors (/proc/self/fd) after a warm-up, halfway and at the
-- end. Descriptors must not grow; memory must be flat over the second half
-- (the first half still warms the allocator's caches, which do not go back
-- to the kernel). The cycles run in a child with ASan's quarantine off, so that freed
-- memory held back by the sanitizer is not mistaken for growth.
local kernel = require "helpers.kernel"
local run = require "helpers.run"

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
for i = 1, 100 do cycle(i) end
collectgarbage()
local rss0, fd0, t0 = rss_kb(), fds(), os.clock()
for i = 1, n // 2 do cycle(i) end
collectgarbage()
local rss_half = rss_kb()
for i = n // 2 + 1, n do cycle(i) end
collectgarbage()
print(("cycles=%d rss_before=%d rss_half=%d rss_after=%d fds_before=%d fds_after=%d cpu=%.1f")
      :format(n, rss0, rss_half, rss_kb(), fd0, fds(), os.clock() - t0))
]]

describe("resource bounds #kernel", function()
  it("create/remove cycles keep RSS flat and descriptors constant", function()
    kernel.need_dm(pending)
    local n = math.tointeger(tonumber(os.getenv("STS_SOAK_CYCLES") or "400"))
    assert.is_true(n ~= nil and n > 0, "STS_SOAK_CYCLES must be a positive integer")
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    run.write_file(dir .. "/cycle.lua", CYCLER)
    local t0 = os.time()
    local r = run.stslua({dir .. "/cycle.lua", tostring(n)}, {timeout = 3000,
      env = {ASAN_OPTIONS = "quarantine_size_mb=0:detect_leaks=1:halt_on_error=1"}})
    assert.are.equal(0, r.rc, r.stderr)
    print(("\n%s wall=%ds"):format(r.stdout:gsub("\n$", ""), os.time() - t0))
    local rss_half, rss1, fd0, fd1 = r.stdout:match(
      "rss_half=(%d+) rss_after=(%d+) fds_before=(%d+) fds_after=(%d+)")
    assert.is_string(rss_half, r.stdout)
    rss_half, rss1, fd0, fd1 = tonumber(rss_half), tonumber(rss1), tonumber(fd0), tonumber(fd1)
    assert.are.equal(fd0, fd1)
    -- flat over the second half: at most 2 MB or 5% more
    assert.is_true(rss1 - rss_half <= math.max(2048, rss_half // 20),
      ("RSS grew from %d kB to %d kB over the second half"):format(rss_half, rss1))
  end)
end)

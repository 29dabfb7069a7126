-- The stslua side of make bench's thin_dump_stream workload: reads a
-- thin_dump XML file with dmpd.each_mapping and does the same work as
-- scripts/bench/thin_dump_stream.py (count, sum of lengths, a checksum of
-- every field). Prints one line:
--   mappings=N blocks=N checksum=N cpu_s=X wall_s=X peak_rss_mb=X
local dmpd = require "sts.dmpd"
local time = require "sts.time"

local MOD = 1000000007

local function peak_rss_mb()
  local f = assert(io.open("/proc/self/status", "r"))
  for line in f:lines() do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then
      f:close()
      return tonumber(kb) / 1024
    end
  end
  f:close()
  return -1
end

local path = assert(arg[1], "usage: thin_dump_stream.lua DUMP.xml")
local cpu0, wall0 = os.clock(), time.now_ms()
local blocks, checksum = 0, 0
local f = assert(io.open(path, "rb"))
local count = dmpd.each_mapping(f, function(dev_id, origin, data, length, time)
  blocks = blocks + length
  checksum = (checksum * 31 + dev_id + origin * 7 + data * 13 + length * 17 + time) % MOD
end)
f:close()
local cpu, wall = os.clock() - cpu0, (time.now_ms() - wall0) / 1000
print(("mappings=%d blocks=%d checksum=%d cpu_s=%.3f wall_s=%.3f peak_rss_mb=%.1f")
      :format(count, blocks, checksum, cpu, wall, peak_rss_mb()))

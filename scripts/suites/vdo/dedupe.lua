-- dm-vdo deduplication: 8 MiB written twice (the same stamped blocks at
-- two offsets) uses about as many physical blocks as one copy, and the
-- data reads back. (Untested here: the default kernel has no dm-vdo.) Needs a
-- kernel with dm-vdo (6.9 and later; in the matrix, 6.12) and vdoformat.
-- Modelled on Documentation/admin-guide/device-mapper/vdo.rst and lvm2's
-- test/shell/lvcreate-vdo.sh. On 6.12: vdoformat wants 32 MiB slabs
-- and a 0.25 GB index to fit 5 GB; the status line has the index and
-- compression states before the block counts.
-- requires: kernel >= 6.9; target vdo; tool vdoformat
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 5120)   -- sparse: 0.25 GB index (about 2.5 GB), 32 MiB slabs
  suite.must({"vdoformat", "--force", "--logical-size=64M", "--slab-bits=13", "--uds-memory-size=0.25", los[1].path}, {timeout = 300})
  local logical = 64 * 2048
  local v <close> = suite.device("vdo", dm.DmTarget(0, logical, "vdo",
    string.format("V4 %s %d 4096 32768 16380", los[1].path, los[1].size // 4096)))
  -- dedupe needs the index online: it opens in the background
  local online = suite.poll(v, function(s) return s.index_state == "online" end, 60000)
  check(online, "the dedupe index came online")
  local before = v:message(0, "stats")
  assert(suite.write_blocks(v.path, 0, 2048, "vd", 0))
  suite.flush_device(v.path)
  local one = tonumber(v:status():match("vdo %S+ %S+ %S+ %S+ %S+ (%d+)"))
  -- the same bytes again at 16 MiB: every block a duplicate
  assert(suite.write_at(v.path, 4096 * 4096, suite.blocks("vd", 0, 0, 2048)))
  suite.flush_device(v.path)
  local st = v:status()
  print("vdo status: " .. st)
  local used = tonumber(st:match("vdo %S+ %S+ %S+ %S+ %S+ (%d+)"))
  check(one ~= nil and used ~= nil and used - one < 1024,
    ("the second copy took under half its size in new physical blocks (%s -> %s)"):format(tostring(one), tostring(used)))
  suite.check_blocks(v.path, 0, 2048, "vd", 0, "the first copy reads back")
  check(before ~= nil, "vdo answers the stats message")
end
os.exit(suite.report())

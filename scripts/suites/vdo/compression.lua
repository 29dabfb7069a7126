-- dm-vdo compression: 8 MiB of highly compressible blocks written with
-- compression on take fewer physical blocks than logical ones, and the
-- data reads back. Needs a kernel with dm-vdo (6.9 and later; in the
-- matrix, 6.12) and vdoformat (untested here: the default kernel has no
-- dm-vdo). Modelled on
-- Documentation/admin-guide/device-mapper/vdo.rst ("compression"). On
-- 6.12: vdoformat wants 32 MiB slabs and a 0.25 GB index to fit 5 GB.
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
  local v <close> = suite.device("vdoc", dm.DmTarget(0, 64 * 2048, "vdo",
    string.format("V4 %s %d 4096 32768 16380 compression on", los[1].path, los[1].size // 4096)))
  -- used physical blocks count the index and metadata too: compare the growth
  local base = tonumber(v:status():match("vdo %S+ %S+ %S+ %S+ %S+ (%d+)"))
  assert(suite.write_blocks(v.path, 0, 2048, "vc", 0))
  suite.flush_device(v.path)
  local st = v:status()
  print("vdo status: " .. st)
  local used, total = st:match("vdo %S+ %S+ %S+ %S+ %S+ (%d+) (%d+)")
  local grew = used and base and tonumber(used) - base
  check(grew ~= nil and grew < 2048, "fewer new physical blocks used than the 2048 written: " .. tostring(grew))
  suite.check_blocks(v.path, 0, 2048, "vc", 0, "the data reads back")
end
os.exit(suite.report())

-- dm-vdo compression: 8 MiB of highly compressible blocks written with
-- compression on take fewer physical blocks than logical ones, and the
-- data reads back. Needs a kernel with dm-vdo (6.9 and later; in the
-- matrix, 6.12) and vdoformat (untested here: the default kernel has no
-- dm-vdo). Modelled on
-- Documentation/admin-guide/device-mapper/vdo.rst ("compression").
-- requires: kernel >= 6.9; target vdo; tool vdoformat
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 4096)
  suite.must({"vdoformat", "--force", "--logical-size=64M", los[1].path}, {timeout = 300})
  local v <close> = suite.device("vdoc", dm.DmTarget(0, 64 * 2048, "vdo",
    string.format("V4 %s %d 4096 32768 16380 compression on", los[1].path, los[1].size // 4096)))
  assert(suite.write_blocks(v.path, 0, 2048, "vc", 0))
  suite.flush_device(v.path)
  local st = v:status()
  print("vdo status: " .. st)
  local used, total = st:match("vdo %S+ %S+ %S+ (%d+) (%d+)")
  check(used ~= nil and tonumber(used) < 2048, "fewer physical blocks used than the 2048 written: " .. tostring(used))
  suite.check_blocks(v.path, 0, 2048, "vc", 0, "the data reads back")
end
os.exit(suite.report())

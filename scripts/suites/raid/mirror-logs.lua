-- dm-mirror with a core log and with a disk log: each two-leg mirror
-- syncs (typed status: every region in sync, health AA; the disk log
-- reports its own device healthy), and data written through it lands
-- identically on both legs. Modelled on lvm2's test/shell/mirror-*.sh
-- (core and disk logs) and the kernel's dm-log documentation.
-- requires: target mirror
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

for _, kind in ipairs({"core", "disk"}) do
  local legs <close> = suite.raid_legs(2, 4)
  local fields = {size = legs.sectors, log_type = kind, region_size = 1024, mirrors = legs.mirrors}
  local logdev <close> = testkit.loop_devices(1, 1)
  if kind == "disk" then fields.log_device = logdev[1].path end
  local m <close> = suite.device("mir" .. kind, dm.MirrorTarget(fields))
  local ok, st = suite.wait_in_sync(m)
  check(ok, kind .. " log: in sync, " .. st.sync_regions .. "/" .. st.total_regions .. " regions")
  check(st.health == "AA", kind .. " log: health AA")
  print(kind .. " log status: " .. m:status())
  assert(suite.write_blocks(m.path, 0, 512, "mir" .. kind, 0))
  local want = suite.blocks("mir" .. kind, 0, 0, 512)
  check(suite.read_at(legs[1].data.path, 0, 2 * suite.MiB) == want, kind .. " log: leg 1 holds the data")
  check(suite.read_at(legs[2].data.path, 0, 2 * suite.MiB) == want, kind .. " log: leg 2 holds the same")
end
os.exit(suite.report())

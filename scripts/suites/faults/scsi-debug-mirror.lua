-- A medium error under a mirror: two scsi_debug disks are the legs of a
-- dm-mirror (core log). scsi_debug's faults reach every disk at the same
-- sectors, so the second leg starts 20 MiB into its disk: the injected
-- medium error (sectors 4660..4669) lies inside leg 1 and outside leg 2.
-- Once the mirror is in sync and holds a pattern, the error is armed: a
-- direct read of leg 1 there fails with ENODATA, yet every block reads
-- back right through the mirror (the failed read is retried on leg 2), and
-- the typed status marks leg 1 with a read error (health "RA"). Modelled on
-- lvm2's test/shell/mirror-*.sh fault tests, blktests' scsi_debug based
-- tests and Documentation/admin-guide/device-mapper (dm-raid1's read
-- error handling).
-- requires: target mirror
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local sio = require "sts.io"
local check = suite.start()

local LEG = 16 * 2048                     -- 16 MiB legs, in sectors
local LEG2_OFFSET = 20 * 2048             -- past the error range on disk 2
local ERR_START, ERR_COUNT = 4660, 10     -- scsi_debug's medium error sectors
local ENODATA = 61

do
  local sd <close> = testkit.scsi_debug{size_mb = 40, disks = 2}
  local leg1 <close> = suite.device("sdleg", dm.LinearTarget{size = LEG, device = sd.disks[1].path})
  local leg2 <close> = suite.device("sdleg", dm.LinearTarget{size = LEG, device = sd.disks[2].path,
    offset = LEG2_OFFSET})
  local m <close> = suite.device("sdmir", dm.MirrorTarget{size = LEG, log_type = "core",
    region_size = 1024, mirrors = {{device = leg1.path, offset = 0}, {device = leg2.path, offset = 0}}})
  local synced, st = suite.wait_in_sync(m)
  check(synced and st.health == "AA", "the mirror syncs over the scsi_debug legs, health " .. st.health)
  assert(sio.write_pattern(m.path, {seed = 14, generation = 1}))
  check(sio.verify_pattern(leg2.path, {seed = 14, generation = 1}), "leg 2 holds the pattern")

  local arm = not suite.mutate("no-fault")
  if arm then sd:inject{opts = {"medium_err"}, medium_error_start = ERR_START, medium_error_count = ERR_COUNT} end
  local data, msg, errno = sio.read_block(leg1.path, ERR_START * 512, 4096)
  check(data == nil and errno == ENODATA, "a direct read of leg 1 at the armed sectors fails with ENODATA, got "
    .. tostring(errno) .. " " .. tostring(msg))
  local ok, report = sio.verify_pattern(m.path, {seed = 14, generation = 1})
  check(ok, "every block reads back right through the mirror, no I/O error" .. (ok and "" or ": " .. tostring(report)))
  local after = suite.status(m)
  check(after.health == "RA", "typed status: leg 1 has a read error, leg 2 is alive: health " .. after.health)
  sd:clear()
  local log = table.concat(suite.dmesg(), "\n")
  check(log:find("Medium Error", 1, true) ~= nil, "the kernel log has the disk's medium error")
end
os.exit(suite.report())

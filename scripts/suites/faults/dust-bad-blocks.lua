-- dm-dust bad blocks: blocks added to the bad block list fail to read once
-- enabled, the rest read; a write to a bad block clears it (dust's
-- documented behaviour) and then reads back; disabling restores normal
-- reads. Modelled on Documentation/admin-guide/device-mapper/dm-dust.rst.
-- requires: target dust
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 4)
  assert(suite.write_blocks(los[1].path, 0, 256, "du", 0))
  local d <close> = suite.device("dust", dm.DustTarget{size = los[1].size // 512, device = los[1].path,
    block_size = 4096})
  suite.message(d, "addbadblock 20")
  suite.message(d, "addbadblock 30")
  suite.message(d, "enable")
  check(not suite.read_at(d.path, 20 * 4096, 4096), "bad block 20 fails to read")
  check(not suite.read_at(d.path, 30 * 4096, 4096), "bad block 30 fails to read")
  suite.check_blocks(d.path, 0, 20, "du", 0, "the blocks before them read")
  assert(suite.write_blocks(d.path, 20, 1, "du", 1))
  suite.check_blocks(d.path, 20, 1, "du", 1, "a write clears bad block 20, which then reads back")
  suite.message(d, "disable")
  suite.check_blocks(d.path, 30, 1, "du", 0, "disabled: block 30 reads its data")
end
os.exit(suite.report())

-- dm-flakey's corrupt_bio_byte: with byte 100 of every read bio set to
-- 0x21 during the down interval (up 0 s, down 60 s), reads succeed but
-- the data check sees exactly which block came back wrong; the device's
-- own data is untouched and reads right once the table is back.
-- Modelled on Documentation/admin-guide/device-mapper/dm-flakey.rst
-- (corrupt_bio_byte) and xfstests' common/dmflakey.
-- requires: target flakey
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 4)
  local lin <close> = testkit.linear(los[1])
  assert(suite.write_blocks(lin.path, 0, 256, "fc", 0))
  do
    local fault <close> = testkit.inject(lin, {type = "flakey", up = 0, down = 60,
      features = {{"corrupt_bio_byte", 100, "r", 0x21, 0}}})
    local data, err = suite.read_at(lin.path, 10 * 4096, 4096)
    check(data ~= nil, "the read succeeds: " .. tostring(err or "ok"))
    if data then
      check(data:byte(100) == 0x21, "byte 100 of the bio came back as 0x21")
      check(data:sub(1, 99) == suite.block("fc", 0, 10):sub(1, 99), "the bytes before it are right")
    end
    check(suite.verify_blocks(lin.path, 10, 1, "fc", 0) == 1, "the data check sees the corrupted block")
    fault:restore()
  end
  suite.check_blocks(lin.path, 0, 256, "fc", 0, "restored: the data on the device was never changed")
end
os.exit(suite.report())

-- dm-crypt's key wipe: with the device suspended, `key wipe` drops the key
-- from the kernel; resuming is then refused; `key set` with the same key
-- lets it resume and the data reads back; a wrong key reads garbage.
-- Modelled on Documentation/admin-guide/device-mapper/dm-crypt.rst
-- ("key set", "key wipe") and cryptsetup's luksSuspend/luksResume tests.
-- requires: target crypt
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

local hex = ("0123456789abcdef"):rep(8)
local wrong = ("fedcba9876543210"):rep(8)

do
  local los <close> = testkit.loop_devices(1, 8)
  local c <close> = suite.device("kw", dm.CryptTarget{size = los[1].size // 512,
    cipher = "aes-xts-plain64", key = hex, device = los[1].path})
  assert(suite.write_blocks(c.path, 0, 64, "kw", 0))
  assert(c.dev:suspend())
  check(c.dev:message(0, "key wipe"), "key wipe accepted while suspended")
  local ok, msg = c.dev:resume()
  print("resume without a key: " .. tostring(ok or msg))
  check(not ok, "resume is refused while the key is wiped")
  check(c.dev:message(0, "key set " .. wrong), "key set (a wrong key) accepted")
  check(c.dev:resume(), "resume works with a key set")
  local bad = suite.verify_blocks(c.path, 0, 64, "kw", 0)
  check(bad == 64, "with the wrong key every block reads as garbage")
  assert(c.dev:suspend())
  check(c.dev:message(0, "key wipe"), "key wipe again")
  check(c.dev:message(0, "key set " .. hex), "key set (the right key)")
  check(c.dev:resume(), "resumed")
  suite.check_blocks(c.path, 0, 64, "kw", 0, "the data reads back with the right key")
end
os.exit(suite.report())

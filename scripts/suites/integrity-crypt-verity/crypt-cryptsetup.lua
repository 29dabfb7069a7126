-- dm-crypt round trip checked against cryptsetup: 1 MiB written through a
-- crypt device we build (aes-xts-plain64, a known 512-bit key) is not on
-- the backing device in the clear, and a second device opened over the
-- same backing device by cryptsetup (plain mode, the same key from a key
-- file) reads exactly the data. Modelled on cryptsetup's own tests
-- (compat-test, plain mode) and
-- Documentation/admin-guide/device-mapper/dm-crypt.rst.
-- requires: target crypt; tool cryptsetup
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

local key = {}
for i = 1, 64 do key[i] = string.char((i * 37 + 11) % 256) end
key = table.concat(key)
local hex = key:gsub(".", function(c) return ("%02x"):format(c:byte()) end)

do
  local los <close> = testkit.loop_devices(1, 8)
  local c <close> = suite.device("crypt", dm.CryptTarget{size = los[1].size // 512,
    cipher = "aes-xts-plain64", key = hex, device = los[1].path})
  assert(suite.write_blocks(c.path, 0, 256, "cr", 0))
  suite.check_blocks(c.path, 0, 256, "cr", 0, "the crypt device reads the data back")
  local raw = suite.read_at(los[1].path, 0, suite.MiB)
  check(not raw:find("sts cr", 1, true), "the backing device does not hold it in the clear")
  c:remove()
  local keyfile = os.tmpname()
  local _ <close> = suite.defer(function() os.remove(keyfile) end)
  local f = assert(io.open(keyfile, "wb")); f:write(key); f:close()
  local name = testkit.prefix .. "cs"
  local open = suite.run({"cryptsetup", "open", "--type", "plain", "--cipher", "aes-xts-plain64",
    "--key-size", "512", "--hash", "plain", "--key-file", keyfile, los[1].path, name})
  check(open.rc == 0, "cryptsetup open --type plain: rc " .. open.rc .. " " .. open.stderr)
  local _c <close> = suite.defer(function() suite.run({"cryptsetup", "close", name}) end)
  if open.rc == 0 then
    suite.check_blocks("/dev/mapper/" .. name, 0, 256, "cr", 0, "cryptsetup's device reads exactly our data")
  end
end
os.exit(suite.report())

-- dm-verity over a hash tree built by veritysetup: 4 MiB of data and its
-- tree (veritysetup format) give a root hash; a verity device built from
-- our own table with that root hash reads every block and the typed
-- status says verified. Modelled on cryptsetup's verity-compat-test and
-- Documentation/admin-guide/device-mapper/verity.rst.
-- requires: target verity; tool veritysetup
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(2, 4)
  local data, hash = los[1], los[2]
  assert(suite.write_blocks(data.path, 0, 1024, "vy", 0))
  local root, salt = suite.verity_format(data, hash)
  check(root ~= nil and salt ~= nil, "veritysetup printed the root hash and salt")
  local v <close> = suite.verity_device("verity", data, hash, root, salt)
  suite.check_blocks(v.path, 0, 1024, "vy", 0, "every block reads back through verity")
  local st = suite.status(v)
  print("verity status: " .. v:status())
  check(st.valid == true and st.corrupted == false, "typed status: V (verified)")
end
os.exit(suite.report())

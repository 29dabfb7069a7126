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
local dm = require "sts.dm"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(2, 4)
  local data, hash = los[1], los[2]
  assert(suite.write_blocks(data.path, 0, 1024, "vy", 0))
  local fmt = suite.must({"veritysetup", "format", data.path, hash.path})
  local root = fmt.stdout:match("Root hash:%s*(%x+)")
  local salt = fmt.stdout:match("Salt:%s*(%x+)")
  check(root ~= nil and salt ~= nil, "veritysetup printed the root hash and salt")
  local v <close> = suite.device("verity", dm.VerityTarget{size = data.size // 512, data_dev = data.path,
    hash_dev = hash.path, num_data_blocks = 1024, hash_start_block = 1, digest = root, salt = salt},
    {readonly = true})
  suite.check_blocks(v.path, 0, 1024, "vy", 0, "every block reads back through verity")
  local st = suite.status(v)
  print("verity status: " .. v:status())
  check(st.valid == true and st.corrupted == false, "typed status: V (verified)")
end
os.exit(suite.report())

-- dm-verity detects tampering: after veritysetup built the hash tree,
-- one byte of data block 100 is flipped on the data device; through
-- verity that block fails to read, the typed status turns C (corrupted),
-- and the other blocks still read. Modelled on cryptsetup's
-- verity-compat-test (corrupted data) and verity.rst.
-- requires: target verity; tool veritysetup
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(2, 4)
  local data, hash = los[1], los[2]
  assert(suite.write_blocks(data.path, 0, 1024, "vt", 0))
  local root, salt = suite.verity_format(data, hash)
  if not suite.mutate("no-tamper") then
    local b = suite.block("vt", 0, 100)
    assert(suite.write_at(data.path, 100 * 4096, b:sub(1, 99) .. "!" .. b:sub(101)))
  end
  local v <close> = suite.verity_device("vtamper", data, hash, root, salt)
  local got, err = suite.read_at(v.path, 100 * 4096, 4096)
  print("reading the tampered block: " .. (got and "ok" or tostring(err)))
  check(got == nil, "the tampered block fails to read")
  local st = suite.status(v)
  check(st.corrupted == true, "typed status: C (corrupted)")
  suite.check_blocks(v.path, 0, 100, "vt", 0, "the blocks before it read")
  suite.check_blocks(v.path, 101, 923, "vt", 0, "the blocks after it read")
end
os.exit(suite.report())

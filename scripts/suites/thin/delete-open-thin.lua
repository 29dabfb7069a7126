-- Deleting a thin that is still active is refused: the pool keeps it and
-- its data; once its device is removed the delete goes through and the
-- pool gets its blocks back. Modelled on device-mapper-test-suite's thin
-- DeletionTests ("delete an active device fails").
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128}
  local thin = pool:create_thin(7, 8 * 2048)
  assert(suite.write_blocks(thin.path, 0, 256, "del", 0))               -- 16 pool blocks
  local ok, msg = pool.dev:message(0, "delete 7")
  print("delete 7 while active: " .. tostring(ok or msg))
  check(not ok, "delete of an active thin is refused")
  check(pool:status().used_data_blocks == 16, "its 16 blocks are still mapped")
  suite.check_blocks(thin.path, 0, 256, "del", 0, "and its data reads back")
  thin:remove()
  check(pool.dev:message(0, "delete 7"), "after removing the device, delete succeeds")
  check(pool:status().used_data_blocks == 0, "the pool got all 16 blocks back")
  check(not pool.dev:message(0, "delete 7"), "a second delete of the same id is refused")
end
os.exit(suite.report())

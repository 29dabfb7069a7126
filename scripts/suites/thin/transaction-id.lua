-- set_transaction_id is compare-and-swap: a message naming the wrong
-- current id is refused and changes nothing, the right one moves the id,
-- and the new id is what thin_dump reads from the metadata. Modelled on
-- device-mapper-test-suite's thin TransactionIdTests and
-- thin-provisioning.rst (set_transaction_id).
-- requires: target thin-pool; tool thin_dump; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

do
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128}
  check(pool:status().transaction_id == 0, "a new pool is at transaction 0")
  local ok, msg = pool.dev:message(0, "set_transaction_id 5 6")
  print("set_transaction_id 5 6 on a pool at 0: " .. tostring(ok or msg))
  check(not ok, "a mismatched current id is refused")
  check(pool:status().transaction_id == 0, "the id is still 0")
  check(pool.dev:message(0, "set_transaction_id 0 41"), "0 -> 41 accepted")
  check(not pool.dev:message(0, "set_transaction_id 0 42"), "0 -> 42 refused now (current is 41)")
  check(pool.dev:message(0, "set_transaction_id 41 42"), "41 -> 42 accepted")
  check(pool:status().transaction_id == 42, "typed status: transaction 42")
  local thin = pool:create_thin(1, 2048)
  assert(suite.write_blocks(thin.path, 0, 16, "t", 0))
  suite.message(pool, "reserve_metadata_snap")
  local dump = dmpd.parse_thin_dump(dmpd.thin_dump(pool.metadata.path, {metadata_snap = true}))
  suite.message(pool, "release_metadata_snap")
  check(dump.transaction == 42, "thin_dump reads transaction 42, got " .. tostring(dump.transaction))
end
os.exit(suite.report())

-- A held metadata root: reserve_metadata_snap shows a held root in the
-- typed status; thin_dump -m of the held root sees the mappings as they
-- were at the reservation even while the thin keeps being written, the
-- live metadata sees the new ones, and release clears the held root.
-- Modelled on device-mapper-test-suite's thin MetadataSnapTests and
-- thin-provisioning.rst (reserve_metadata_snap).
-- requires: target thin-pool; tool thin_dump; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

local function mapped(dump, id)
  for _, d in ipairs(dump.devices) do
    if d.dev_id == id then return d.mapped_blocks end
  end
end

do
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  local thin = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(thin.path, 0, 160, "held", 0))              -- 10 pool blocks
  check(pool:status().held_root == nil, "no held root at first")
  suite.message(pool, "reserve_metadata_snap")
  local held = pool:status().held_root
  check(held ~= nil and held > 0, "typed status: held root at block " .. tostring(held))
  local writer = pool.dev                                                 -- keep writing while dumping
  assert(suite.write_blocks(thin.path, 160, 320, "held", 1))             -- 20 more
  local snap = dmpd.parse_thin_dump(dmpd.thin_dump(pool.metadata.path, {metadata_snap = true}))
  assert(suite.write_blocks(thin.path, 480, 160, "held", 2))             -- 10 more
  local snap2 = dmpd.parse_thin_dump(dmpd.thin_dump(pool.metadata.path, {metadata_snap = true}))
  check(mapped(snap, 1) == 10, "thin_dump -m: 10 blocks mapped at the reservation, got " .. tostring(mapped(snap, 1)))
  check(mapped(snap2, 1) == 10, "still 10 after more writes")
  check(pool:status().held_root == held, "the held root did not move")
  check(pool:status().used_data_blocks == 40, "the live pool maps all 40")
  suite.message(pool, "release_metadata_snap")
  check(pool:status().held_root == nil, "release clears the held root")
  check(not writer:message(0, "release_metadata_snap"), "a second release is refused")
  suite.check_blocks(thin.path, 0, 160, "held", 0, "data of the first generation")
  suite.check_blocks(thin.path, 160, 320, "held", 1, "of the second")
  suite.check_blocks(thin.path, 480, 160, "held", 2, "of the third")
end
os.exit(suite.report())

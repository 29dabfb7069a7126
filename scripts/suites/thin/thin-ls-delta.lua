-- thin_ls and thin_delta give exact numbers after known writes: thin 1
-- gets 20 pool blocks, snapshot 2 of it then overwrites 5 of them and
-- adds 3 new ones; thin_ls (through a metadata snapshot) reports 20 and
-- 23 mapped, 15 shared, 5 and 8 exclusive; thin_delta reports exactly 5
-- different, 15 same and 3 right-only blocks. Modelled on
-- device-mapper-test-suite's ThinLsTests/ThinDeltaTests and
-- thin-provisioning-tools' thin_ls/thin_delta man pages.
-- requires: target thin-pool; tool thin_ls; tool thin_delta; tool thin_check
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

local PB = 16
do
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  local t1 = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(t1.path, 0, 20 * PB, "ls", 0))
  local t2 = pool:create_snapshot(1, 2)
  assert(suite.write_blocks(t2.path, 4 * PB, 5 * PB, "ls", 1))           -- blocks 4..8
  assert(suite.write_blocks(t2.path, 30 * PB, 3 * PB, "ls", 1))          -- blocks 30..32, new
  suite.message(pool, "reserve_metadata_snap")
  local ls = dmpd.thin_ls(pool.metadata.path, {metadata_snap = true,
    format = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS"})
  local delta = dmpd.thin_delta(pool.metadata.path, {metadata_snap = true, snap1 = 1, snap2 = 2})
  suite.message(pool, "release_metadata_snap")
  check(ls.succeeded and delta.succeeded, "thin_ls and thin_delta ran")
  local rows = {}
  for _, r in ipairs(dmpd.parse_thin_ls(ls.stdout)) do rows[r.dev_id] = r end
  local r1, r2 = rows[1] or {}, rows[2] or {}
  print(("thin 1: %s mapped %s excl %s shared; thin 2: %s mapped %s excl %s shared"):format(
    tostring(r1.mapped_blocks), tostring(r1.exclusive_blocks), tostring(r1.shared_blocks),
    tostring(r2.mapped_blocks), tostring(r2.exclusive_blocks), tostring(r2.shared_blocks)))
  check(r1.mapped_blocks == 20 and r2.mapped_blocks == 23, "mapped: 20 and 23")
  check(r1.shared_blocks == 15 and r2.shared_blocks == 15, "shared: 15 each")
  check(r1.exclusive_blocks == 5 and r2.exclusive_blocks == 8, "exclusive: 5 and 8")
  local d = dmpd.parse_thin_delta(delta.stdout)
  print(("thin_delta 1 -> 2: %d same, %d different, %d left only, %d right only"):format(
    d.blocks.same, d.blocks.different, d.blocks.left_only, d.blocks.right_only))
  check(d.blocks.different == 5 and d.blocks.same == 15 and d.blocks.right_only == 3
    and d.blocks.left_only == 0, "thin_delta: 5 different, 15 same, 3 right only")
  check(pool:status().used_data_blocks == 28, "the pool uses 20 + 5 + 3 = 28 blocks")
  suite.check_blocks(t1.path, 0, 20 * PB, "ls", 0, "thin 1 unchanged")
  suite.check_blocks(t2.path, 4 * PB, 5 * PB, "ls", 1, "snapshot's own writes")
  suite.check_blocks(t2.path, 9 * PB, 11 * PB, "ls", 0, "snapshot's shared blocks")
end
os.exit(suite.report())

-- era_invalidate lists exactly the blocks written since an era: blocks
-- 0-3 are written in one era, a checkpoint, blocks 10-12 in the next, a
-- checkpoint; through a metadata snapshot, era_invalidate --written-since
-- the second era lists exactly 10-12, and since the first era 0-3 and
-- 10-12. Modelled on device-mapper-test-suite's era tests
-- (era_invalidate) and era.rst ("Use cases"). thin-provisioning-tools
-- 1.x (the 6.12 guest's) wants the held root's block after
-- --metadata-snapshot, 0.9 the bare flag.
-- requires: target era; tool era_invalidate
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

local PB = 16                                 -- 4 KiB blocks per 64 KiB era block
local function blocks_of(ranges)
  local list = {}
  for _, r in ipairs(ranges) do
    for b = r.begin, r.begin + r.length - 1 do list[#list + 1] = b end
  end
  table.sort(list)
  return table.concat(list, ",")
end

do
  local e <close> = testkit.era{origin_mb = 8, metadata_mb = 4, block_size = 128}
  local era1 = e:status().current_era
  assert(suite.write_blocks(e.path, 0, 4 * PB, "inv", 0))
  suite.message(e, "checkpoint")
  local era2 = e:status().current_era
  assert(suite.write_blocks(e.path, 10 * PB, 3 * PB, "inv", 1))
  suite.message(e, "checkpoint")
  suite.message(e, "take_metadata_snap")
  -- 0.9's --metadata-snapshot is a flag; 1.x's takes the held root's block
  -- (a bare flag makes 1.x read the next option as its value)
  local snap = true
  if not suite.tool_version("era_invalidate"):match("^0%.") then snap = e:status().held_root end
  local since2 = dmpd.era_invalidate(e.metadata.path, {written_since = era2, metadata_snapshot = snap})
  local since1 = dmpd.era_invalidate(e.metadata.path, {written_since = era1, metadata_snapshot = snap})
  suite.message(e, "drop_metadata_snap")
  check(since2.succeeded and since1.succeeded, "era_invalidate ran: " .. since2.command)
  local b2 = blocks_of(dmpd.parse_era_invalidate(since2.stdout))
  local b1 = blocks_of(dmpd.parse_era_invalidate(since1.stdout))
  print("written since era " .. era2 .. ": " .. b2 .. "; since era " .. era1 .. ": " .. b1)
  check(b2 == "10,11,12", "since the second era: exactly blocks 10-12")
  check(b1 == "0,1,2,3,10,11,12", "since the first era: blocks 0-3 and 10-12")
  suite.check_blocks(e.path, 0, 4 * PB, "inv", 0, "first era's data")
  suite.check_blocks(e.path, 10 * PB, 3 * PB, "inv", 1, "second era's data")
end
os.exit(suite.report())

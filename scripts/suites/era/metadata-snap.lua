-- Era metadata snapshots: take_metadata_snap shows a held root in the
-- typed status, a second take is refused while one is held,
-- drop_metadata_snap clears it, and era_check passes on the stopped
-- target's metadata. Modelled on device-mapper-test-suite's era tests and
-- era.rst ("take_metadata_snap", "drop_metadata_snap").
-- requires: target era; tool era_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

do
  local e <close> = testkit.era{origin_mb = 8, metadata_mb = 4, block_size = 128}
  assert(suite.write_blocks(e.path, 0, 64, "ms", 0))
  check(e:status().held_root == nil, "no held root at first")
  suite.message(e, "take_metadata_snap")
  local held = e:status().held_root
  check(held ~= nil and held > 0, "typed status: held root " .. tostring(held))
  check(not e.dev:message(0, "take_metadata_snap"), "a second take is refused while one is held")
  assert(suite.write_blocks(e.path, 64, 64, "ms", 1))
  suite.message(e, "drop_metadata_snap")
  check(e:status().held_root == nil, "drop clears the held root")
  suite.check_blocks(e.path, 0, 64, "ms", 0, "data before the snapshot")
  suite.check_blocks(e.path, 64, 64, "ms", 1, "data while it was held")
  assert(e.dev:remove())
  check(dmpd.era_check(e.metadata.path).succeeded, "era_check passes")
end
os.exit(suite.report())

-- Checkpoints advance the era: each `checkpoint` message moves the typed
-- status's current era by one, writes between checkpoints read back, and
-- era_dump of the stopped target reads the same current era. Modelled on
-- device-mapper-test-suite's era tests and
-- Documentation/admin-guide/device-mapper/era.rst ("checkpoint").
-- requires: target era; tool era_dump
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local check = suite.start()

do
  local e <close> = testkit.era{origin_mb = 8, metadata_mb = 4, block_size = 128}
  local first = e:status().current_era
  for k = 1, 3 do
    assert(suite.write_blocks(e.path, k * 64, 16, "era", k))
    if not suite.mutate("no-checkpoint") then suite.message(e, "checkpoint") end
  end
  local st = e:status()
  print(("current era: %d at first, %d after three checkpoints"):format(first, st.current_era))
  check(st.current_era == first + 3, "typed status: the era advanced by 3")
  for k = 1, 3 do suite.check_blocks(e.path, k * 64, 16, "era", k, "data of era step " .. k) end
  assert(e.dev:remove())
  local dump = dmpd.parse_era_dump(dmpd.era_dump(e.metadata.path))
  check(dump.current_era == st.current_era, "era_dump reads current era " .. tostring(dump.current_era))
end
os.exit(suite.report())

-- dm-integrity in journal (J) mode detects a changed byte: 1 MiB written
-- through a standalone integrity device (crc32c tags) reads back; with
-- the device down, one byte of one block's data is flipped on the backing
-- device; set up again, a read of that block fails with an I/O error, the
-- typed status counts the mismatch, and the other blocks still read.
-- Modelled on Documentation/admin-guide/device-mapper/dm-integrity.rst
-- and cryptsetup's integritysetup tests (integrity-compat-test).
-- requires: target integrity
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local it <close> = suite.integrity(16, "J")
  print(("integrity: %d sectors provided over a 16 MiB device"):format(it.sectors))
  assert(suite.write_blocks(it.path, 0, 256, "ig", 0))
  suite.flush_device(it.path)
  suite.check_blocks(it.path, 0, 256, "ig", 0, "the data reads back")
  check(suite.status(it.dev).mismatches == 0, "no mismatches yet")
  it.close()
  local found = true
  if not suite.mutate("no-corruption") then
    found = suite.corrupt_last(it.loop.path, it.loop.size, "sts ig gen 0 block 100|")
  end
  check(found, "block 100's data found on the backing device and one byte flipped")
  it.open()
  local data, err = suite.read_at(it.path, 100 * 4096, 4096)
  print("reading block 100: " .. (data and "ok" or tostring(err)))
  check(data == nil, "the read of the changed block fails")
  local st = suite.status(it.dev)
  check(st.mismatches >= 1, "typed status: " .. st.mismatches .. " mismatch(es)")
  suite.check_blocks(it.path, 0, 100, "ig", 0, "the blocks before it read")
  suite.check_blocks(it.path, 101, 155, "ig", 0, "the blocks after it read")
end
os.exit(suite.report())

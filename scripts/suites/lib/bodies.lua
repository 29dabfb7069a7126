--- bodies: scenario bodies that two scenarios share, each taking what
-- differs between them; the scenario files keep their headers (what they
-- check, what they are modelled on) and call one of these.
local suite = require "suite"
local testkit = require "sts.testkit"

local bodies = {}
local MiB = suite.MiB

--- dm-integrity in `mode` ("J" journal, "B" bitmap) detects a byte
-- flipped on the backing device while the device was down.
function bodies.integrity_detects_flip(check, mode)
  local it <close> = suite.integrity(16, mode)
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

--- A 2 MiB discard of a thin with 4 MiB written, on a pool in discard
-- mode `mode` (its feature list `features`): the pool frees exactly those
-- blocks and the range reads zeros; the data device keeps `kept` of the
-- 64 blocks of data (32 when passed down, 64 when not).
function bodies.thin_discard(check, mode, features, kept)
  local pool <close> = testkit.thin_pool{data_mb = 8, metadata_mb = 4, block_size = 128,
    features = features}
  local thin = pool:create_thin(1, 16 * 2048)
  assert(suite.write_blocks(thin.path, 0, 1024, "disc", 0))             -- 4 MiB = 64 pool blocks
  local st = pool:status()
  check(st.discard_mode == mode, "typed status: " .. mode .. ", got " .. tostring(st.discard_mode))
  check(st.used_data_blocks == 64, "64 blocks mapped before the discard")
  check(suite.count_containing(pool.data.path, 8 * MiB, 65536, "sts disc") == 64,
    "the data device holds 64 blocks of data")
  if not suite.mutate("skip-discard") then
    local rc, msg = suite.discard(thin.path, MiB, 2 * MiB)
    check(rc == 0, "blkdiscard of 2 MiB succeeded " .. msg)
  end
  st = pool:status()
  check(st.used_data_blocks == 32, "32 blocks freed: " .. st.used_data_blocks .. " used")
  check(suite.is_zero(suite.read_at(thin.path, MiB, 2 * MiB)), "the discarded range reads zeros")
  suite.check_blocks(thin.path, 0, 256, "disc", 0, "the first MiB is intact")
  suite.check_blocks(thin.path, 768, 256, "disc", 0, "the last MiB is intact")
  local left = suite.count_containing(pool.data.path, 8 * MiB, 65536, "sts disc")
  check(left == kept, ("the data device kept %d blocks of data, has %d"):format(kept, left))
end

return bodies

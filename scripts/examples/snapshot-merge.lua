-- A classic (non-thin) snapshot: data written through the origin after the
-- snapshot leaves the snapshot as it was; merging the snapshot back brings
-- the origin back to that data. Self-checking: exits 0 only when all held.
--
--   scripts/sts-vm run scripts/examples/snapshot-merge.lua
local testkit = require "sts.testkit"
local sio = require "sts.io"
local time = require "sts.time"

local MiB = 1024 * 1024
local check, report = testkit.checks()

do
  local loops <close> = testkit.loop_devices(1, 32)
  local base <close> = testkit.linear(loops[1])
  check(sio.write_pattern(base, {seed = 7, generation = 1, length = 4 * MiB}), "4 MiB written to the base")

  local snap <close> = testkit.snapshot{origin = base, cow_mb = 8, chunk_size = 16}
  local fresh = snap:status()
  check(fresh.type == "snapshot" and fresh.invalid == nil, "snapshot is valid")

  check(sio.write_pattern(snap.origin, {seed = 7, generation = 2, length = 4 * MiB}),
    "4 MiB overwritten through the origin")
  local st = snap:status()
  print(("store: %d of %d sectors allocated (%d metadata)"):format(st.allocated_sectors,
    st.total_sectors, st.metadata_sectors))
  check(st.allocated_sectors - fresh.allocated_sectors >= 4 * MiB // 512, "every chunk copied out")
  check(sio.verify_pattern(snap.dev, {seed = 7, generation = 1, length = 4 * MiB}), "snapshot kept the old data")
  check(sio.verify_pattern(snap.origin, {seed = 7, generation = 2, length = 4 * MiB}), "origin has the new data")

  local t0 = time.now_ms()
  local done = snap:merge()
  print(("merge complete after %d ms: %d of %d sectors allocated"):format(time.now_ms() - t0,
    done.allocated_sectors, done.total_sectors))
  check(testkit.merge_complete(done), "merge status says complete")
  check(sio.verify_pattern(snap.origin, {seed = 7, generation = 1, length = 4 * MiB}),
    "origin reads the snapshot's data after the merge")
end
os.exit(report())

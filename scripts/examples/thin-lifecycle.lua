-- Thin provisioning lifecycle: a pool, a thin device, writes, a snapshot,
-- more writes to the origin, then thin_ls and thin_delta of the live
-- metadata (through a metadata snapshot) to see what is shared and what
-- is not. Self-checking: exits 0 only when everything held.
--
--   scripts/sts-vm run scripts/examples/thin-lifecycle.lua
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"

local BLOCK = 128                       -- sectors: 64 KiB pool blocks
local MiB = 1024 * 1024

local check, report = testkit.checks()

local function write(path, offset, bytes, byte)
  local f = assert(io.open(path, "r+b"))
  assert(f:seek("set", offset))
  assert(f:write(string.rep(byte, bytes)))
  assert(f:close())
end

do
  local pool <close> = testkit.thin_pool{data_mb = 64, metadata_mb = 8, block_size = BLOCK}
  print("pool " .. pool.name .. " over " .. pool.data.dm_name .. " and " .. pool.metadata.dm_name)

  local origin = pool:create_thin(0, 256 * 2048)          -- 256 MiB virtual, over 64 MiB real
  write(origin.path, 0, 4 * MiB, "a")
  local st = pool:status()
  print(string.format("after 4 MiB to thin 0: %d/%d data blocks used", st.used_data_blocks,
    st.total_data_blocks))
  check(st.used_data_blocks == 4 * MiB // (BLOCK * 512), "4 MiB maps exactly 64 blocks")

  local snap = pool:create_snapshot(0, 1)
  write(origin.path, 0, 1 * MiB, "b")                     -- breaks sharing of 16 blocks
  st = pool:status()
  print(string.format("after snapshot and 1 MiB overwrite: %d blocks used", st.used_data_blocks))
  check(st.used_data_blocks == 80, "copy-on-write allocated 16 new blocks")

  local fs = assert(io.open(snap.path, "rb"))
  local first = fs:read(16)
  fs:close()
  check(first == string.rep("a", 16), "the snapshot still reads the old data")

  -- look at the live metadata through a metadata snapshot
  assert(pool.dev:message(0, "reserve_metadata_snap"))
  local ls = dmpd.thin_ls(pool.metadata.path, {metadata_snap = true,
    format = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS"})
  local delta = dmpd.thin_delta(pool.metadata.path, {metadata_snap = true, snap1 = 1, snap2 = 0})
  assert(pool.dev:message(0, "release_metadata_snap"))

  check(ls.succeeded, "thin_ls ran: " .. ls.command)
  local rows = dmpd.parse_thin_ls(ls.stdout)
  for _, row in ipairs(rows) do
    print(string.format("  thin %d: %d mapped, %d exclusive, %d shared", row.dev_id, row.mapped_blocks,
      row.exclusive_blocks, row.shared_blocks))
  end
  check(#rows == 2, "thin_ls lists both devices")

  check(delta.succeeded, "thin_delta ran: " .. delta.command)
  local d = dmpd.parse_thin_delta(delta.stdout)
  local differ, same = 0, 0
  for _, r in ipairs(d.ranges or d) do
    if r.kind == "different" or r.type == "different" then differ = differ + r.length end
    if r.kind == "same" or r.type == "same" then same = same + r.length end
  end
  print(string.format("thin_delta snap 1 -> origin 0: %d blocks differ, %d the same", differ, same))
  check(differ == 16, "16 blocks differ between snapshot and origin")
end
-- the pool went away above: its metadata was thin_checked on the way out

os.exit(report())

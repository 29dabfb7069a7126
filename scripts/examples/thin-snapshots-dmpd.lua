-- Twenty thin devices, each written and snapshotted, then the live pool's
-- metadata read with thin_ls (through a metadata snapshot) and checked with
-- thin_check and thin_dump: every snapshot shares all of its origin's
-- blocks until the origin is written again. Self-checking: exits 0 only
-- when all held.
--
--   scripts/sts-vm run scripts/examples/thin-snapshots-dmpd.lua
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local sio = require "sts.io"

local check, report = testkit.checks()
local THINS = 20
local BLOCK = 128                    -- sectors per pool block: 64 KiB
local BLOCK_BYTES = BLOCK * 512
local WRITTEN = 4                    -- blocks written to each thin

do
  local pool <close> = testkit.thin_pool{data_mb = 64, metadata_mb = 8, block_size = BLOCK}
  for id = 1, THINS do
    local thin = pool:create_thin(id, 2048 * 8)            -- 8 MiB each
    check(sio.write_pattern(thin, {seed = id, length = WRITTEN * BLOCK_BYTES}), "thin " .. id .. " written")
    pool:create_snapshot(id, 100 + id)
  end
  -- one origin written again after its snapshot: its first block is its own now
  local first = pool.thins[1]
  check(sio.write_pattern(first, {seed = 1, generation = 2, length = BLOCK_BYTES}), "thin 1 rewritten")
  local st = pool:status()
  check(st.used_data_blocks == THINS * WRITTEN + 1, ("the pool uses %d blocks"):format(st.used_data_blocks))

  assert(pool.dev:message(0, "reserve_metadata_snap"))
  local ls = dmpd.thin_ls(pool.metadata.path, {metadata_snap = true,
    format = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS"})
  local dump = dmpd.thin_dump(pool.metadata.path, {metadata_snap = true})
  assert(pool.dev:message(0, "release_metadata_snap"))
  check(ls.succeeded, "thin_ls ran: " .. ls.command)
  check(dump.succeeded, "thin_dump ran: " .. dump.command)

  local rows = {}
  for _, row in ipairs(dmpd.parse_thin_ls(ls)) do rows[row.dev_id] = row end
  local devices = 0
  for _ in pairs(rows) do devices = devices + 1 end
  check(devices == 2 * THINS, ("thin_ls lists %d devices"):format(devices))
  for id = 2, THINS do
    local o, s = rows[id] or {}, rows[100 + id] or {}
    check(o.mapped_blocks == WRITTEN and s.mapped_blocks == WRITTEN and o.shared_blocks == WRITTEN
      and s.exclusive_blocks == 0, ("thin %d and its snapshot share all %d blocks"):format(id, WRITTEN))
  end
  local r1 = rows[1] or {}
  check(r1.exclusive_blocks == 1 and r1.shared_blocks == WRITTEN - 1, "thin 1 owns its rewritten block")

  local md = dmpd.parse_thin_dump(dump)
  check(#md.devices == 2 * THINS, ("thin_dump has %d devices"):format(#md.devices))
  local mapped = 0
  for _, dev in ipairs(md.devices) do mapped = mapped + dev.mapped_blocks end
  check(mapped == 2 * THINS * WRITTEN, ("thin_dump counts %d mapped blocks in all"):format(mapped))
  check(pool:check().succeeded, "thin_check of the live pool passes")
end
-- leaving the scope removed the thins and the pool and thin_checked the metadata
os.exit(report())

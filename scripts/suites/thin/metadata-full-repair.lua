-- Out of metadata space, then repaired onto bigger metadata: a pool with
-- 1 MiB of metadata (256 blocks, of which the kernel keeps a tenth in
-- reserve) gets new thin devices (each costs at least a metadata block for
-- its empty mapping tree) until it runs out; the pool then goes read-only
-- (typed status "ro", no needs_check), refuses messages and writes to
-- unprovisioned blocks, and still reads and overwrites what is mapped.
-- With the pool down, thin_check passes on the full metadata, thin_repair
-- copies it onto a 4 MiB device, and the pool comes back over the new one
-- (the metadata swap lvconvert --repair does): rw, 1024 metadata blocks,
-- every thin there, the data intact, new thins and new writes accepted,
-- thin_check clean. Modelled on device-mapper-test-suite's thin
-- metadata-out-of-space tests, lvm2's test/shell/lvconvert-repair-thin.sh
-- and thin-provisioning.rst ("Metadata space exhaustion").
-- requires: target thin-pool; tool thin_check; tool thin_repair; tool thin_dump
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local dmpd = require "sts.dmpd"
local sio = require "sts.io"
local check = suite.start()

local THIN_SECTORS = 16 * 2048
local PATTERN = {seed = 41, generation = 1, length = suite.MiB}

do
  local los <close> = testkit.loop_devices(1, 1)           -- old metadata (1 MiB)
  local big <close> = testkit.loop_devices(1, 4)           -- new metadata (4 MiB)
  local data <close> = testkit.loop_devices(1, 32)
  local old_meta, new_meta = los[1].path, big[1].path
  assert(sio.write_block(old_meta, 0, string.rep("\0", 4096)))
  local function pool_target(meta)
    return dm.ThinPoolTarget{size = data[1].size // 512, metadata_dev = meta, data_dev = data[1].path,
      block_size = 128}
  end
  local made = 1
  do
    local pool <close> = suite.device("mfpool", pool_target(old_meta))
    suite.message(pool, "create_thin 1")
    local thin <close> = suite.device("mfthin", dm.ThinTarget{size = THIN_SECTORS, pool_dev = pool.path, dev_id = 1})
    assert(sio.write_pattern(thin.path, PATTERN))
    local st0 = suite.status(pool)
    check(st0.total_metadata_blocks == 256, "1 MiB of metadata: 256 blocks, got " .. st0.total_metadata_blocks)
    local st = st0
    local refused
    while made < 400 do
      local ok, msg = pool.dev:message(0, "create_thin " .. (made + 1))
      if not ok then refused = msg break end
      made = made + 1
      st = suite.status(pool)
      if st.mode ~= "rw" then break end
    end
    print(("%d thins made; metadata %d/%d used; mode %s"):format(made, st.used_metadata_blocks,
      st.total_metadata_blocks, st.mode))
    check(st.mode == "ro", "typed status: the pool went read-only out of metadata space, mode "
      .. tostring(st.mode) .. (refused and (" (a message was refused first: " .. tostring(refused) .. ")") or ""))
    check(st.needs_check == false, "no needs_check: running out is not damage")
    check(st.used_metadata_blocks > st0.used_metadata_blocks, "the new thins used metadata blocks")
    check(not pool.dev:message(0, "create_thin " .. (made + 1)), "a message is refused while read-only")
    check(not sio.write_block(thin.path, 2 * suite.MiB, string.rep("x", 4096)),
      "a write to an unprovisioned block fails")
    check(sio.verify_pattern(thin.path, PATTERN), "the mapped data still reads back")
  end
  check(made > 10, "more than ten thins fit before the pool ran out: " .. made)
  check(dmpd.thin_check(old_meta).succeeded, "thin_check passes on the full metadata")
  local repair = dmpd.thin_repair{input = old_meta, output = new_meta}
  check(repair.succeeded, "thin_repair onto 4 MiB: " .. repair.command .. " " .. repair.stderr)
  local dump = dmpd.parse_thin_dump(dmpd.thin_dump(new_meta))
  check(#dump.devices == made, ("the repaired metadata has all %d thins, got %d"):format(made, #dump.devices))
  do
    local swap = not suite.mutate("no-swap")
    local pool <close> = suite.device("mfpool", pool_target(swap and new_meta or old_meta))
    local st = suite.status(pool)
    check(st.mode == "rw" and st.needs_check == false, "over the new metadata the pool is rw again, mode " .. st.mode)
    check(st.total_metadata_blocks == 1024, "typed status: 1024 metadata blocks, got " .. st.total_metadata_blocks)
    local thin <close> = suite.device("mfthin", dm.ThinTarget{size = THIN_SECTORS, pool_dev = pool.path, dev_id = 1})
    check(sio.verify_pattern(thin.path, PATTERN), "thin 1's data is intact after the repair")
    local ok = pool.dev:message(0, "create_thin " .. (made + 1))
    check(ok, "a new thin can be made")
    local more = {seed = 41, generation = 2, offset = 2 * suite.MiB, length = suite.MiB}
    check(sio.write_pattern(thin.path, more), "writes to unprovisioned blocks work again")
    check(sio.verify_pattern(thin.path, more), "and read back")
  end
  check(dmpd.thin_check(new_meta).succeeded, "thin_check passes on the new metadata")
end
os.exit(suite.report())

-- Thin pool metadata damage and repair: a pool with two thin devices and
-- known data; the pool is taken down and its metadata superblock wiped;
-- thin_check fails; thin_repair (told the superblock's fields, which are
-- gone) rebuilds the metadata onto a new device; thin_check passes; a new
-- pool over the repaired metadata and the untouched data device serves
-- both thins with their data intact. Self-checking: exits 0 only when
-- everything held.
--
--   scripts/sts-vm run scripts/examples/metadata-repair.lua
local testkit = require "sts.testkit"
local dmpd = require "sts.dmpd"
local dm = require "sts.dm"
local proc = require "sts.proc"

local BLOCK = 128
local MiB = 1024 * 1024

local check, report = testkit.checks()

-- O_DIRECT reads and writes through dd, so the data is on the devices
local function write_direct(path, offset_mb, data)
  local r = proc.run({"dd", "of=" .. path, "bs=1048576", "seek=" .. offset_mb, "iflag=fullblock",
    "oflag=direct", "conv=notrunc"}, {stdin = data, timeout = 60})
  assert(r.rc == 0, "write " .. path .. ": " .. r.stderr)
end

local function read_direct(path, offset_mb, mb)
  local r = proc.run({"dd", "if=" .. path, "bs=1048576", "skip=" .. offset_mb, "count=" .. mb,
    "iflag=direct"}, {timeout = 60})
  return r.rc == 0 and r.stdout or nil, r.stderr
end

-- 1 MiB that differs from MiB to MiB and from thin to thin
local function pattern(thin_id, mb)
  local line = string.format("thin %d MiB %d ", thin_id, mb)
  return (string.rep(line, MiB // #line + 1)):sub(1, MiB)
end

do
  local spare <close> = testkit.loop_devices(1, 8)                 -- for the repaired metadata
  local pool <close> = testkit.thin_pool{data_mb = 32, metadata_mb = 8, block_size = BLOCK,
    check = false}                                                  -- we damage it on purpose
  local sizes = {[1] = 64 * 2048, [2] = 32 * 2048}
  for id = 1, 2 do
    local thin = pool:create_thin(id, sizes[id])
    for mb = 0, 3 do write_direct(thin.path, mb * id, pattern(id, mb)) end
  end
  assert(pool.dev:message(0, "set_transaction_id 0 7"))
  local st = pool:status()
  local data_blocks, used = st.total_data_blocks, st.used_data_blocks
  print(string.format("pool %s: 2 thins, %d/%d data blocks used, transaction %d", pool.name, used,
    data_blocks, st.transaction_id))
  check(used == 8 * MiB // (BLOCK * 512), "8 MiB written maps 128 blocks")
  check(pool:check().succeeded, "thin_check passes on the live metadata")

  -- take the pool down and wipe the superblock
  for i = #pool.thins, 1, -1 do pool.thins[i]:remove() end
  assert(pool.dev:remove())
  local f = assert(io.open(pool.metadata.path, "r+b"))
  assert(f:write(string.rep("\0", 4096)))
  assert(f:close())
  local bad = dmpd.thin_check(pool.metadata.path)
  local said = {}
  for line in (bad.stderr .. "\n" .. bad.stdout):gmatch("[^\n]+") do said[#said + 1] = line end
  print("thin_check of the damaged metadata: rc " .. tostring(bad.rc) .. ": " .. table.concat(said, " | "))
  check(bad.failed, "thin_check fails on the wiped superblock")

  local fixed = spare[1].path
  local rep = dmpd.thin_repair({input = pool.metadata.path, output = fixed, transaction_id = 7,
    data_block_size = BLOCK, nr_data_blocks = data_blocks})
  check(rep.succeeded, "thin_repair rebuilt the metadata: " .. rep.command)
  if not rep.succeeded then print(rep.stderr) end
  local good = dmpd.thin_check(fixed)
  check(good.succeeded, "thin_check passes on the repaired metadata")
  local dump = dmpd.parse_thin_dump(dmpd.thin_dump(fixed))
  check(#dump.devices == 2 and dump.transaction == 7, "the dump has both thins and transaction 7")

  -- a new pool over the repaired metadata and the same data device
  local name = testkit.prefix .. "repaired"
  local devices = {}
  local _ <close> = setmetatable({}, {__close = function()
    for i = #devices, 1, -1 do devices[i]:remove() end
  end})
  devices[1] = dm.create(name, dm.ThinPoolTarget{size = pool.data.size // 512, metadata_dev = fixed,
    data_dev = pool.data.path, block_size = BLOCK, low_water_mark = 0})
  st = devices[1]:status_table()[1]
  print(string.format("repaired pool: %d/%d blocks used, transaction %d, mode %s",
    st.used_data_blocks, st.total_data_blocks, st.transaction_id, st.mode))
  check(st.used_data_blocks == used and st.mode == "rw", "the repaired pool maps the same blocks, rw")
  local intact = true
  for id = 1, 2 do
    local thin = dm.create(name .. "-thin" .. id, dm.ThinTarget{size = sizes[id],
      pool_dev = devices[1].path, dev_id = id})
    devices[#devices + 1] = thin
    for mb = 0, 3 do
      local got = read_direct(thin.path, mb * id, 1)
      if got ~= pattern(id, mb) then intact = false end
    end
  end
  check(intact, "both thins read back all their data")
  write_direct(devices[2].path, 10, pattern(1, 10))
  check(devices[1]:status_table()[1].used_data_blocks == used + 16, "the repaired pool takes new writes")
  for i = #devices, 1, -1 do assert(devices[i]:remove()) end
  devices = {}
  check(dmpd.thin_check(fixed).succeeded, "thin_check passes after the repaired pool went down")
end

os.exit(report())

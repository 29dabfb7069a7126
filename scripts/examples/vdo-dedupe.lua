-- Deduplication and compression on dm-vdo (kernel 6.9 and newer, Debian 13's
-- 6.12). A loop device is formatted with vdoformat (Debian 13's vdo
-- package; the sandbox carries it in with its own C library), the vdo
-- target started on it with compression on, and then written twice: 16 MiB
-- of one repeated 4 KiB block (duplicates), and 16 MiB of distinct but very
-- compressible blocks. The typed status and the target's `stats` message
-- (sts.status.parse_vdo_stats) show the dedupe and compression counters:
-- far fewer physical blocks used than logical blocks written.
-- Self-checking: exits 0 only when everything held, 77 (skipped, with the
-- reason) on a kernel without dm-vdo or a machine without vdoformat.
--
--   scripts/sts-vm --kernel trixie --memory 1536 run scripts/examples/vdo-dedupe.lua
local testkit = require "sts.testkit"
local gate = testkit.gate
local dm = require "sts.dm"
local loop = require "sts.loop"
local status = require "sts.status"
local proc = require "sts.proc"
local time = require "sts.time"

gate.need_target("vdo")
gate.need_tool("vdoformat")

local MiB = 1024 * 1024
local BLOCK = 4096
-- vdo's smallest sensible volume: 32 MiB slabs, a 0.25 GB index (which
-- alone takes about 2.5 GB of the storage) and 2.3 GB left for data; the
-- loop file is sparse, so the guest's RAM holds only what is written
local STORAGE_MB = 5120
local LOGICAL = 4 * 1024 * MiB

local check, report = testkit.checks()

local function must(argv, timeout, stdin)
  local r = proc.run(argv, {timeout = timeout or 300, stdin = stdin})
  if r.rc ~= 0 then
    error(("%s failed (rc %s): %s%s"):format(argv[1], tostring(r.rc), r.stdout, r.stderr), 2)
  end
  return r
end

-- writes `data` at byte `offset` of `path`, past the page cache
local function write_direct(path, offset, data)
  must({"dd", "of=" .. path, "bs=" .. MiB, "seek=" .. offset // MiB, "iflag=fullblock",
        "oflag=direct", "conv=notrunc,fsync", "status=none"}, 120, data)
end

local function read_direct(path, offset, len)
  return must({"dd", "if=" .. path, "bs=" .. MiB, "skip=" .. offset // MiB, "count=" .. len // MiB,
               "iflag=direct", "status=none"}, 120).stdout
end

local function vdo_stats(dev)
  return status.parse_vdo_stats(assert(dev:message(0, "stats")))
end

-- the index comes up after the target does and raises no dm event when
-- it does: look again every 200 ms, for up to a minute
local function wait_index_online(dev)
  local st
  for _ = 1, 300 do
    st = dev:status_table()[1]
    if st.index_state == "online" then return st end
    time.sleep_ms(200)
  end
  return st
end

do
  local lo <close> = loop.create{size_mb = STORAGE_MB}
  local f = must({"vdoformat", "--force", "--logical-size=" .. LOGICAL // MiB .. "M", "--slab-bits=13",
                  "--uds-memory-size=0.25", lo.path}, 600)
  print("vdoformat: " .. (f.stdout:match("[^\n]+") or ""))

  local target = dm.VdoTarget{size = LOGICAL // 512, storage_dev = lo, storage_blocks = lo.size // BLOCK,
                              options = {compression = "on", deduplication = "on"}}
  print("table: " .. tostring(target))
  local dev = dm.create(testkit.prefix .. "vdo", target)
  local _ <close> = setmetatable({}, {__close = function() dev:remove{retry = true} end})

  local st = wait_index_online(dev)
  print(("status: %s mode, index %s, compression %s, %d of %d physical blocks used"):format(
    st.mode, st.index_state, st.compression_state, st.used_physical_blocks, st.total_physical_blocks))
  check(st.type == "vdo" and st.mode == "normal", "the vdo target runs in normal mode")
  check(st.index_state == "online", "its dedupe index came online")
  check(st.compression_state == "online", "compression is on")
  local before = vdo_stats(dev)

  -- duplicates: one 4 KiB block, 4096 times
  local dup = string.rep(string.char(0x5a) .. string.rep("dedupe me ", 409) .. "!!!!!", 1):sub(1, BLOCK)
  local dup_data = string.rep(dup, 16 * MiB // BLOCK)
  write_direct(dev.path, 0, dup_data)
  -- compressible: every block distinct (its number) but mostly one letter
  local parts = {}
  for i = 1, 16 * MiB // BLOCK do
    local head = ("block %08d "):format(i)
    parts[i] = head .. string.rep("c", BLOCK - #head)
  end
  local comp_data = table.concat(parts)
  write_direct(dev.path, 64 * MiB, comp_data)
  must({"sync"})

  check(read_direct(dev.path, 0, 16 * MiB) == dup_data, "the duplicate blocks read back")
  check(read_direct(dev.path, 64 * MiB, 16 * MiB) == comp_data, "the compressible blocks read back")

  local after = vdo_stats(dev)
  if os.getenv("STS_VDO_SHOW_STATS") then
    print(dev:message(0, "stats"))
  end
  st = dev:status_table()[1]
  local logical = after.logicalBlocksUsed - before.logicalBlocksUsed
  local data_used = after.dataBlocksUsed - before.dataBlocksUsed
  local dedupe = after.hashLock and after.hashLock.dedupeAdviceValid or 0
  local concurrent = after.hashLock and after.hashLock.concurrentDataMatches or 0
  local fragments = after.packer and after.packer.compressedFragmentsWritten or 0
  local compressed_blocks = after.packer and after.packer.compressedBlocksWritten or 0
  print(("written: %d logical blocks; stored in %d data blocks (%d physical blocks used in all)"):format(
    logical, data_used, st.used_physical_blocks))
  print(("dedupe: %d blocks matched by the index, %d matched while in flight; compression: %d fragments in %d blocks"):format(
    dedupe, concurrent, fragments, compressed_blocks))
  check(logical == 2 * 16 * MiB // BLOCK, "vdo counts every block written as a logical block")
  check(dedupe + concurrent > 0, "duplicate blocks were deduplicated")
  check(fragments > 0 and compressed_blocks < fragments, "compressible blocks were packed several to a block")
  check(data_used < logical // 4, "far fewer data blocks are stored than were written")
end

os.exit(report())

-- The needs_check flag: a pool whose metadata superblock carries
-- needs_check (set here in the superblock, checksum recomputed, as the
-- kernel does after a metadata failure) comes up read-only with
-- needs_check in its typed status; the thins read, writes to new blocks
-- fail; `thin_check --clear-needs-check-flag` clears it and the pool comes
-- back rw. Modelled on device-mapper-test-suite's thin NeedsCheckTests and
-- thin-provisioning.rst ("needs_check").
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local dmpd = require "sts.dmpd"
local check = suite.start()

-- crc32c (Castagnoli), reflected, no final inversion: what the kernel's
-- dm_bm_checksum builds on
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1 == 1) and ((c >> 1) ~ 0x82F63B78) or (c >> 1) end
  crc_table[i] = c
end
local function crc32c(seed, s)
  local c = seed
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xff] ~ (c >> 8) end
  return c
end
local SB_XOR = 160774            -- the thin superblock's checksum xor (dm-thin-metadata.c)

local function sb_checksum(block) return crc32c(0xffffffff, block:sub(5)) ~ SB_XOR end

do
  local los <close> = testkit.loop_devices(2, 8)
  local meta, data = los[1].path, los[2].path
  assert(suite.write_at(meta, 0, string.rep("\0", 4096)))
  local function pool_target()
    return dm.ThinPoolTarget{size = los[2].size // 512, metadata_dev = meta, data_dev = data,
      block_size = 128}
  end
  do
    local pool <close> = suite.device("ncpool", pool_target())
    suite.message(pool, "create_thin 1")
    local thin <close> = suite.device("ncthin", dm.ThinTarget{size = 8 * 2048, pool_dev = pool.path, dev_id = 1})
    assert(suite.write_blocks(thin.path, 0, 256, "nc", 0))
  end
  local sb = assert(suite.read_at(meta, 0, 4096))
  local stored = string.unpack("<I4", sb)
  check(stored == sb_checksum(sb), "the superblock checksum is computed the kernel's way")
  local flags = string.unpack("<I4", sb, 5)
  if not suite.mutate("no-flag") then flags = flags | 1 end              -- THIN_METADATA_NEEDS_CHECK
  local body = string.pack("<I4", flags) .. sb:sub(9)
  local new = string.pack("<I4", crc32c(0xffffffff, body) ~ SB_XOR) .. body
  assert(suite.write_at(meta, 0, new))
  do
    local pool <close> = suite.device("ncpool", pool_target())
    local st = suite.status(pool)
    check(st.needs_check == true, "typed status: needs_check")
    check(st.mode == "ro", "the pool came up read-only, got " .. tostring(st.mode))
    local thin <close> = suite.device("ncthin", dm.ThinTarget{size = 8 * 2048, pool_dev = pool.path, dev_id = 1})
    suite.check_blocks(thin.path, 0, 256, "nc", 0, "the thin's data reads back")
    check(not suite.write_blocks(thin.path, 512, 16, "nc", 1), "a write to a new block fails")
  end
  local clear = dmpd.thin_check(meta, {clear_needs_check_flag = true})
  check(clear.succeeded, "thin_check --clear-needs-check-flag: " .. clear.command)
  local flags_after = string.unpack("<I4", assert(suite.read_at(meta, 0, 4096)), 5)
  check(flags_after & 1 == 0, "the flag is gone from the superblock")
  do
    local pool <close> = suite.device("ncpool", pool_target())
    local st = suite.status(pool)
    check(st.needs_check == false and st.mode == "rw", "the pool comes back rw without needs_check")
    local thin <close> = suite.device("ncthin", dm.ThinTarget{size = 8 * 2048, pool_dev = pool.path, dev_id = 1})
    check(suite.write_blocks(thin.path, 512, 16, "nc", 1), "writes to new blocks work again")
    suite.check_blocks(thin.path, 0, 256, "nc", 0, "old data intact")
  end
  check(dmpd.thin_check(meta).succeeded, "thin_check passes at the end")
end
os.exit(suite.report())

-- Kernel tier: sts.io patterns through real devices (thin snapshots),
-- power cuts under a file system, log-writes replay with fsck, and
-- scsi_debug disks with medium errors.
local testkit = require "sts.testkit"
local guard = require "sts.busted"
local sio = require "sts.io"
local core = require "sts.core"
local loop = require "sts.loop"
local kernel = require "helpers.kernel"
local files = require "helpers.run"
local read_file = files.read_file
local write_file = files.write_file

local MiB = 1024 * 1024
local BS = 4096

local function run(argv)
  local r = assert(core.proc.run(argv, {timeout = 120}))
  return r
end

local function must(argv)
  local r = run(argv)
  assert(r.rc == 0, table.concat(argv, " ") .. " failed (rc " .. tostring(r.rc) .. "): "
    .. (r.stderr or "") .. (r.stdout or ""))
  return r
end

describe("sts.io on devices #kernel", function()
  guard.guard()

  it("refuses O_DIRECT on tmpfs clearly, and works with direct=false", function()
    kernel.need_dm(pending)
    local path = os.tmpname()   -- the guest's /tmp is tmpfs
    write_file(path, string.rep("\0", 16 * BS))
    local ok, msg, errno, offset = sio.write_pattern(path, {seed = 1})
    if ok then
      os.remove(path)
      pending("this kernel's tmpfs takes O_DIRECT (Linux 6.6 and later)")
    end
    assert.is_nil(ok)
    assert.matches("refuses O_DIRECT", msg, 1, true)
    assert.matches("direct=false", msg, 1, true)
    assert.are.equal(22, errno)
    assert.are.equal(0, offset)
    assert.is_true(sio.write_pattern(path, {seed = 1, direct = false}))
    assert.is_true((sio.verify_pattern(path, {seed = 1, direct = false})))
    os.remove(path)
  end)

  it("shows each generation only where it should be through thin snapshots", function()
    kernel.need_dm(pending)
    local pool <close> = testkit.thin_pool{data_mb = 64, metadata_mb = 8, block_size = 128}
    local sectors = 16 * MiB // 512
    local origin = pool:create_thin(0, sectors)
    local half = 8 * MiB
    assert.is_true(sio.write_pattern(origin, {seed = 9, generation = 1}))
    local snap = pool:create_snapshot(0, 1)
    assert.is_true((sio.verify_pattern(snap, {seed = 9, generation = 1})))
    -- generation 2 on the origin's first half: the snapshot keeps 1
    assert.is_true(sio.write_pattern(origin, {seed = 9, generation = 2, length = half}))
    assert.is_true((sio.verify_pattern(origin, {seed = 9, generation = 2, length = half})))
    assert.is_true((sio.verify_pattern(origin, {seed = 9, generation = 1, offset = half})))
    assert.is_true((sio.verify_pattern(snap, {seed = 9, generation = 1})))
    -- generation 3 on the snapshot's second half: the origin keeps 1 there
    assert.is_true(sio.write_pattern(snap, {seed = 9, generation = 3, offset = half}))
    assert.is_true((sio.verify_pattern(origin, {seed = 9, generation = 1, offset = half})))
    assert.is_true((sio.verify_pattern(snap, {seed = 9, generation = 3, offset = half})))
    assert.is_true((sio.verify_pattern(snap, {seed = 9, generation = 1, length = half})))
    -- and a check against the wrong generation names what is there
    local ok, report = sio.verify_pattern(origin, {seed = 9, generation = 1})
    assert.is_false(ok)
    assert.are.same({newer = half // BS}, report.counts)
    assert.are.equal(0, report.bad_blocks[1].offset)
    assert.are.equal(2, report.bad_blocks[1].found.generation)
  end)

  it("loses every write after a power cut, and only those", function()
    kernel.need_dm(pending)
    local lo <close> = loop.create{size_mb = 16}
    local lin <close> = testkit.linear(lo)
    assert.is_true(sio.write_pattern(lin, {seed = 3, generation = 1}))
    do
      local cut <close> = testkit.power_cut(lin)
      -- the writes succeed, and reach nothing
      assert.is_true(sio.write_pattern(lin, {seed = 3, generation = 2, length = 4 * MiB}))
      assert.is_true(sio.flush(lin))
      cut:restore()
    end
    assert.is_true((sio.verify_pattern(lin, {seed = 3, generation = 1})))
  end)

  it("leaves ext4 as a crash would after a power cut: synced files survive", function()
    kernel.need_dm(pending)
    local lo <close> = loop.create{size_mb = 64}
    local lin <close> = testkit.linear(lo)
    local mnt = "/tmp/sts-power-" .. testkit.prefix
    must({"mkfs.ext4", "-q", "-F", lin.path})
    must({"mkdir", "-p", mnt})
    must({"mount", "-t", "ext4", lin.path, mnt})
    local mounted = true
    local ok, err = pcall(function()
      write_file(mnt .. "/before", "synced before the cut")
      must({"sync"})
      local cut <close> = testkit.power_cut(lin)
      write_file(mnt .. "/after", "written after the cut")
      must({"sync"})
      assert.are.equal("written after the cut", read_file(mnt .. "/after"))  -- the page cache
      must({"umount", mnt})
      mounted = false
      cut:restore()
      -- the journal replays at mount; then the file system is clean
      must({"mount", "-t", "ext4", lin.path, mnt})
      mounted = true
      assert.are.equal("synced before the cut", read_file(mnt .. "/before"))
      assert.is_nil(read_file(mnt .. "/after"))
      must({"umount", mnt})
      mounted = false
      must({"e2fsck", "-f", "-n", lin.path})
    end)
    if mounted then run({"umount", mnt}) end
    run({"rmdir", mnt})
    assert(ok, err)
  end)
end)

describe("log-writes record and replay #kernel", function()
  guard.guard()

  it("replays ext4 to each mark, fsck clean there, files as they were", function()
    kernel.need_dm(pending)
    local data <close> = loop.create{size_mb = 32}
    local target <close> = loop.create{size_mb = 32}
    local lw <close> = testkit.log_writes(data)
    local mnt = "/tmp/sts-lw-" .. testkit.prefix
    must({"mkfs.ext4", "-q", "-F", lw.path})
    lw:mark("mkfs")
    must({"mkdir", "-p", mnt})
    must({"mount", "-t", "ext4", lw.path, mnt})
    local mounted = true
    local ok, err = pcall(function()
      for i = 1, 3 do
        write_file(mnt .. "/file" .. i, string.rep(tostring(i), 10000 * i))
        -- a frozen ext4 has its journal checkpointed: clean for fsck -n
        must({"fsfreeze", "--freeze", mnt})
        lw:mark("file" .. i)
        must({"fsfreeze", "--unfreeze", mnt})
      end
      must({"umount", mnt})
      mounted = false
    end)
    if mounted then run({"umount", mnt}) end
    assert(ok, err)
    local log = lw:finish()
    local checked = {}
    log:replay(target, {on_point = function(p)
      must({"e2fsck", "-f", "-n", target.path})
      checked[#checked + 1] = p.name
      local n = tonumber((p.name or ""):match("^file(%d)$"))
      if n then
        must({"mount", "-t", "ext4", "-o", "ro,noload", target.path, mnt})
        local ok2, err2 = pcall(function()
          for i = 1, 3 do
            local want = i <= n and string.rep(tostring(i), 10000 * i) or nil
            assert.are.equal(want, read_file(mnt .. "/file" .. i), "file" .. i .. " at " .. p.name)
          end
        end)
        must({"umount", mnt})
        assert(ok2, err2)
      end
    end})
    run({"rmdir", mnt})
    assert.are.same({"mkfs", "file1", "file2", "file3", "dm-log-writes-end"}, checked)
  end)
end)

describe("scsi_debug disks #kernel", function()
  guard.guard()

  it("shows a medium error to a reader, with errno and offset", function()
    kernel.need_dm(pending)
    local sd <close> = testkit.scsi_debug{size_mb = 8}
    assert.matches("^/dev/sd", sd.path)
    assert.is_true(sio.write_pattern(sd, {seed = 4}))
    assert.is_true((sio.verify_pattern(sd, {seed = 4})))
    sd:inject{opts = {"medium_err"}, medium_error_start = 4660, medium_error_count = 10}
    local data, msg, errno, offset = sio.read_block(sd, 4660 * 512, 512)
    assert.is_nil(data)
    -- the block layer passes a medium error up as BLK_STS_MEDIUM: ENODATA
    assert.are.equal(61, errno)
    assert.are.equal(4660 * 512, offset)
    assert.matches("offset " .. 4660 * 512, msg, 1, true)
    -- sectors 4660..4669 are in blocks 582 and 583
    local ok, report = sio.verify_pattern(sd, {seed = 4})
    assert.is_false(ok)
    assert.are.same({io_error = 2}, report.counts)
    assert.are.equal(582 * BS, report.bad_blocks[1].offset)
    assert.are.equal(583 * BS, report.bad_blocks[2].offset)
    assert.are.equal(61, report.bad_blocks[1].errno)
    sd:clear()
    assert.is_true((sio.verify_pattern(sd, {seed = 4})))
  end)

  it("times out the commands it is told to ignore; the SCSI layer retries them", function()
    kernel.need_dm(pending)
    local sd <close> = testkit.scsi_debug{size_mb = 4}
    local dir = "/sys/block/" .. sd.name .. "/device/"
    write_file(dir .. "timeout", "2")   -- seconds, instead of 30
    assert.is_true(sio.write_pattern(sd, {seed = 6}))
    -- the SCSI layer's count of commands that timed out, printed as 0x...
    local function timed_out() return assert(tonumber(read_file(dir .. "iotmo_cnt"))) end
    local timeouts = timed_out()
    sd:inject{every_nth = 3, opts = {"timeout"}}
    -- every third command is dropped: it times out, is aborted and retried
    assert.is_true((sio.verify_pattern(sd, {seed = 6})))
    sd:clear()
    local after = timed_out()
    assert.is_true(after > timeouts, ("iotmo_cnt %s -> %s"):format(timeouts, after))
    assert.are.equal("running", (read_file(dir .. "state") or ""):gsub("%s", ""))
  end)

  it("gives several disks from the one module, each with its own data", function()
    kernel.need_dm(pending)
    local sd <close> = testkit.scsi_debug{size_mb = 4, disks = 3}
    assert.are.equal(3, #sd.disks)
    for i, d in ipairs(sd.disks) do assert.is_true(sio.write_pattern(d.path, {seed = i})) end
    for i, d in ipairs(sd.disks) do assert.is_true((sio.verify_pattern(d.path, {seed = i}))) end
    local ok, err = pcall(testkit.scsi_debug, {size_mb = 4})
    assert.is_false(ok)
    assert.matches("already loaded", tostring(err), 1, true)
    -- 4096-byte sectors: scsi_debug's own parameter, seen by the block layer
    sd:remove()
    local big <close> = testkit.scsi_debug{size_mb = 4, sector_size = 4096}
    assert.are.equal("4096", (read_file("/sys/block/" .. big.name .. "/queue/logical_block_size")
      or ""):gsub("%s", ""))
    assert.is_true(sio.write_pattern(big, {seed = 8}))
    assert.is_true((sio.verify_pattern(big, {seed = 8})))
  end)
end)

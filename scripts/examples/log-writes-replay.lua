-- Crash consistency of ext4, the way xfstests checks it with dm-log-writes:
-- record every write of a workload, then replay the log onto a blank
-- device up to each mark and to each FUA write (each point the file
-- system relied on being durable) and check the file system a crash right
-- there would have left.
--
-- ext4 is made and mounted on a log-writes device (testkit.log_writes);
-- each step writes a file, renames or deletes one, syncs and adds a mark.
-- The log is then replayed (sts.logwrites) onto a second device; at each
-- point a throwaway dm snapshot of the replayed device is taken, its
-- journal is recovered (as mounting after the crash would) and `e2fsck -fn`
-- must find it clean; at each mark the files are also read back through a
-- read-only mount and must be what the workload had synced by then.
-- Self-checking: exits 0 only when every point held.
--
--   scripts/sts-vm run scripts/examples/log-writes-replay.lua
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local loop = require "sts.loop"
local proc = require "sts.proc"

local FS_MB = 64
local STEPS = 4

local check, report = testkit.checks()

local function run(argv)
  return assert(proc.run(argv, {timeout = 120}))
end

local function must(argv)
  local r = run(argv)
  assert(r.rc == 0, table.concat(argv, " ") .. " failed (rc " .. tostring(r.rc) .. "): "
    .. (r.stderr or "") .. (r.stdout or ""))
  return r
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function content(i) return ("step %d\n"):format(i):rep(3000 * i) end

-- what each mark must show: name -> {file = content or false}
local expected = {}
local mnt = "/tmp/sts-lwr-" .. testkit.prefix
must({"mkdir", "-p", mnt})

do
  local data <close> = loop.create{size_mb = FS_MB}
  local target <close> = loop.create{size_mb = FS_MB}
  local cow <close> = loop.create{size_mb = FS_MB}
  -- the log device lives as long as lw: the replay below reads it
  local lw <close> = testkit.log_writes(data, {log_mb = 4 * FS_MB})
  local log
  do
    must({"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", lw.path})
    lw:mark("mkfs")
    expected.mkfs = {}
    must({"mount", "-t", "ext4", lw.path, mnt})
    local files = {}
    local ok, err = pcall(function()
      for i = 1, STEPS do
        write_file(mnt .. "/file" .. i, content(i))
        files["file" .. i] = content(i)
        if i == 2 then
          must({"mv", mnt .. "/file1", mnt .. "/renamed1"})
          files.renamed1, files.file1 = files.file1, nil
        elseif i == 4 then
          must({"rm", mnt .. "/file3"})
          files.file3 = nil
        end
        must({"sync"})
        local name = "step" .. i
        lw:mark(name)
        local snapshot = {}
        for k, v in pairs(files) do snapshot[k] = v end
        expected[name] = snapshot
      end
    end)
    run({"umount", mnt})
    assert(ok, err)
    expected["dm-log-writes-end"] = expected["step" .. STEPS]
    log = lw:finish()
  end

  local fua, flush, marks = 0, 0, 0
  for _, e in ipairs(log.entries) do
    if e.fua then fua = fua + 1 end
    if e.flush then flush = flush + 1 end
    if e.mark then marks = marks + 1 end
  end
  print(("log: %d entries, %d marks, %d FUA writes, %d flushes"):format(#log.entries, marks, fua, flush))
  check(fua > 0, "ext4's journal commits reached the log as FUA writes")

  -- fsck of the state a crash at this point leaves, on a snapshot so that
  -- recovering the journal does not touch the replayed device
  local snap_name = testkit.prefix .. "lwr-snap"
  local function crash_check(p)
    local snap = dm.create(snap_name, dm.SnapshotTarget{size = target.size // 512,
      origin = target.path, cow = cow.path, persistent = "N", chunk_size = 8})
    local ok, why = pcall(function()
      local rec = run({"e2fsck", "-y", "-E", "journal_only", snap.path})
      if rec.rc > 1 then error("journal recovery failed (rc " .. rec.rc .. "): " .. rec.stdout .. rec.stderr) end
      local r = run({"e2fsck", "-f", "-n", snap.path})
      if r.rc ~= 0 then error("e2fsck -fn rc " .. r.rc .. ": " .. r.stdout .. r.stderr) end
      local want = p.kind == "mark" and expected[p.name]
      if want then
        must({"mount", "-t", "ext4", "-o", "ro", snap.path, mnt})
        local okm, bad = pcall(function()
          for _, name in ipairs({"file1", "file2", "file3", "file4", "renamed1"}) do
            local got = read_file(mnt .. "/" .. name)
            if got ~= (want[name] or nil) then
              error(("%s: %s"):format(name, got and (#got .. " bytes, not as synced") or "missing"))
            end
          end
        end)
        run({"umount", mnt})
        if not okm then error(bad, 0) end
      end
    end)
    assert(snap:remove())
    return ok, why
  end

  local failed_fua, checked_fua = {}, 0
  log:replay(target, {fua_points = true, on_point = function(p)
    local ok, why = crash_check(p)
    if p.kind == "mark" then
      check(ok, ("mark %-18s (entry %4d): fsck clean%s%s"):format(p.name, p.index,
        expected[p.name] and ", files as synced" or "", ok and "" or (": " .. tostring(why))))
    else
      checked_fua = checked_fua + 1
      if not ok then failed_fua[#failed_fua + 1] = ("entry %d: %s"):format(p.index, tostring(why)) end
    end
  end})
  check(#failed_fua == 0 and checked_fua == fua, ("every FUA point fsck clean (%d of %d)%s"):format(
    checked_fua - #failed_fua, fua, #failed_fua > 0 and (": " .. table.concat(failed_fua, "; ")) or ""))
end

run({"rmdir", mnt})
os.exit(report())

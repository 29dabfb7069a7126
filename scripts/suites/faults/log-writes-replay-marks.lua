-- Crash consistency at every mark, the xfstests way (dm-log-writes plus
-- replay-log): ext4 on a log-writes device (testkit.log_writes) goes
-- through five steps (a directory of new files, an overwrite in place, an
-- append, a truncate, an unlink and a rename), each synced and followed by
-- a mark. The log is replayed (sts.logwrites) onto a blank device and
-- stopped at every mark; there, on a throwaway snapshot of the replayed
-- device, the journal is recovered as a mount after a crash would, `e2fsck
-- -fn` must find it clean, and a read-only mount must show exactly the
-- files, with exactly the contents, the workload had synced by that mark.
-- Modelled on xfstests' generic/455..457 and common/dmlogwrites, and
-- Documentation/admin-guide/device-mapper/log-writes.rst.
-- requires: target log-writes; target snapshot; tool mkfs.ext4; tool e2fsck
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local check = suite.start()

local FS_MB = 48

local function text(name, n) return ("%s line\n"):format(name):rep(n) end

-- the steps: each changes `files` (relative path -> content) and the disk alike
local steps = {
  function(dir, files)
    suite.must({"mkdir", dir .. "/d"})
    for i = 1, 3 do
      files["d/f" .. i] = assert(suite.write_file(dir .. "/d/f" .. i, "f" .. i, 16 * i))
    end
  end,
  function(dir, files)                                  -- overwrite f1 in place, same size
    files["d/f1"] = assert(suite.write_file(dir .. "/d/f1", "f1-new", 16))
  end,
  function(dir, files)                                  -- append to f2
    local add = text("appended", 500)
    local f = assert(io.open(dir .. "/d/f2", "ab"))
    assert(f:write(add))
    assert(f:close())
    files["d/f2"] = files["d/f2"] .. add
  end,
  function(dir, files)                                  -- truncate f3 to 5000 bytes
    suite.must({"truncate", "-s", "5000", dir .. "/d/f3"})
    files["d/f3"] = files["d/f3"]:sub(1, 5000)
  end,
  function(dir, files)                                  -- unlink f1, rename f2
    suite.must({"rm", dir .. "/d/f1"})
    suite.must({"mv", dir .. "/d/f2", dir .. "/d/g2"})
    files["d/f1"], files["d/g2"], files["d/f2"] = nil, files["d/f2"], nil
  end,
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- the files under dir/d, as relative paths -> content
local function tree(dir)
  local got = {}
  local r = suite.run({"ls", "-1", dir .. "/d"})
  if r.rc ~= 0 then return got end
  for name in r.stdout:gmatch("[^\n]+") do got["d/" .. name] = suite.read_file(dir .. "/d/" .. name) end
  return got
end

local function same(a, b)
  for k, v in pairs(a) do if b[k] ~= v then return false, k end end
  for k in pairs(b) do if a[k] == nil then return false, k end end
  return true
end

do
  local los <close> = testkit.loop_devices(3, FS_MB)
  local data, target, cow = los[1], los[2], los[3]
  local expected = {}                                    -- mark name -> files
  local log
  do
    local lw <close> = testkit.log_writes(data, {log_mb = 3 * FS_MB})
    suite.must({"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", lw.path})
    lw:mark("mkfs")
    expected.mkfs = {}
    local skip_sync = suite.mutate("skip-sync")
    local files = {}
    do
      local m <close> = suite.mount(lw.path, "ext4")
      for i, step in ipairs(steps) do
        step(m.dir, files)
        if not skip_sync then suite.must({"sync"}) end
        lw:mark("step" .. i)
        expected["step" .. i] = copy(files)
      end
    end
    expected["dm-log-writes-end"] = copy(files)
    log = lw:finish()
    -- the log device must outlive the replay: keep lw open until then
    local marks = 0
    for _ in pairs(log.marks) do marks = marks + 1 end
    check(marks == #steps + 2, ("the log holds %d marks (%d entries), %d expected"):format(marks,
      log.nr_entries, #steps + 2))

    local seen = 0
    log:replay(target.path, {on_point = function(p)
      if p.kind ~= "mark" then return true end
      seen = seen + 1
      local ok, why = pcall(function()
        local snap <close> = suite.device("lwsnap", dm.SnapshotTarget{size = target.size // 512,
          origin = target.path, cow = cow.path, persistent = "N", chunk_size = 8})
        local rec = suite.run({"e2fsck", "-y", "-E", "journal_only", snap.path})
        if rec.rc > 1 then error("journal recovery rc " .. rec.rc .. ": " .. rec.stdout .. rec.stderr, 0) end
        local fsck = suite.run({"e2fsck", "-f", "-n", snap.path})
        if fsck.rc ~= 0 then error("e2fsck -fn rc " .. fsck.rc .. ": " .. fsck.stdout, 0) end
        local m <close> = suite.mount(snap.path, "ext4", "ro")
        local equal, which = same(expected[p.name] or {}, tree(m.dir))
        if not equal then error("file " .. which .. " is not as synced", 0) end
      end)
      check(ok, ("replayed to mark %-17s (entry %4d): journal recovered, fsck clean, files as synced%s")
        :format(p.name, p.index, ok and "" or (": " .. tostring(why))))
      return true
    end})
    check(seen == #steps + 2, "the replay stopped at every mark: " .. seen)
  end
end
os.exit(suite.report())

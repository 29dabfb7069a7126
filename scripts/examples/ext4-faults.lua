-- I/O errors under a mounted ext4 filesystem and the kernel's reaction.
-- mkfs.ext4 on a linear device, mount it (errors=remount-ro), write files,
-- then swap the linear device's table for the error target under the
-- live filesystem: a write with fsync fails, the kernel logs I/O errors
-- and ext4 errors, ext4 goes read-only and refuses later writes. The original
-- table is put back, the filesystem unmounted, repaired by e2fsck and
-- mounted again: the files written before the fault are intact.
-- Self-checking: exits 0 only when everything held.
--
--   scripts/sts-vm run scripts/examples/ext4-faults.lua
local testkit = require "sts.testkit"
local proc = require "sts.proc"
local time = require "sts.time"

local MiB = 1024 * 1024

local check, report = testkit.checks()

local function run(argv)
  return proc.run(argv, {timeout = 120})
end

local function must(argv)
  local r = run(argv)
  assert(r.rc == 0, table.concat(argv, " ") .. " failed: " .. r.stderr .. r.stdout)
  return r
end

local function dmesg_lines()
  local lines = {}
  for line in must({"dmesg"}).stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- the mount options of `dir` in /proc/mounts, or nil when not mounted
local function mount_options(dir)
  for line in io.lines("/proc/mounts") do
    local mnt, opts = line:match("^%S+ (%S+) %S+ (%S+)")
    if mnt == dir then return opts end
  end
end

local function write_file(path, byte, size)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(string.rep(byte, size))
  local closed, cerr = f:close()
  if not ok then return nil, werr end
  if not closed then return nil, cerr end
  return true
end

local mnt = os.tmpname()
os.remove(mnt)
must({"mkdir", mnt})

do
  local los <close> = testkit.loop_devices(1, 64)
  local lin <close> = testkit.linear(los[1])
  local mounted = false
  local _ <close> = setmetatable({}, {__close = function()
    if mounted then run({"umount", mnt}) end
    os.remove(mnt)
  end})

  must({"mkfs.ext4", "-q", "-F", lin.path})
  must({"mount", "-t", "ext4", "-o", "errors=remount-ro", lin.path, mnt})
  mounted = true
  for i = 1, 4 do assert(write_file(mnt .. "/before-" .. i, string.char(64 + i), MiB)) end
  must({"sync"})
  print("ext4 on " .. lin.dev.dm_name .. " mounted at " .. mnt .. " (" .. mount_options(mnt) .. "), 4 files written")

  local seen = #dmesg_lines()
  do
    local fault <close> = testkit.inject(lin, {type = "error"})
    print("table swapped for: " .. lin.dev.table)
    -- a write with fsync (dd conv=fsync): the data must reach the device
    local w = run({"dd", "if=/dev/zero", "of=" .. mnt .. "/during", "bs=1048576", "count=1", "conv=fsync"})
    -- sync forces a journal commit, which fails too: jbd2 aborts the
    -- journal and ext4 acts on errors=remount-ro (the kernel does that
    -- asynchronously: allow it up to 5 s)
    run({"sync"})
    for _ = 1, 50 do
      local said = false
      local lines = dmesg_lines()
      for i = seen + 1, #lines do
        if lines[i]:find("read-only", 1, true) then said = true end
      end
      if said then break end
      time.sleep_ms(100)
    end
    local ok2, err2 = write_file(mnt .. "/during-2", "y", 4096)
    print(string.format("while failing: write+fsync rc %d (%s); a later write %s", w.rc,
      (w.stderr:match("dd: ([^\n]*)") or "no message"),
      ok2 and "returned ok" or ("failed: " .. tostring(err2))))
    check(w.rc ~= 0, "write+fsync under the error device fails")
    -- 6.1 refuses it with EROFS; 6.12 keeps the mount rw, marks ext4
    -- emergency read-only and fails the write with EIO: refused either way
    local refusal = tostring(err2)
    check(not ok2 and (refusal:find("Read-only file system", 1, true) ~= nil
                       or refusal:find("Input/output error", 1, true) ~= nil),
      "a later write is refused (read-only, or I/O error once ext4 is emergency read-only)")

    local new = {}
    local lines = dmesg_lines()
    for i = seen + 1, #lines do new[#new + 1] = lines[i] end
    local io_errors, ext4_errors, read_only = 0, 0, false
    for _, line in ipairs(new) do
      if line:find("I/O error", 1, true) or line:find("error writing", 1, true) then io_errors = io_errors + 1 end
      if line:find("EXT4-fs", 1, true) and line:lower():find("error") then ext4_errors = ext4_errors + 1 end
      if line:find("read-only", 1, true) then read_only = true end
    end
    print(string.format("kernel log: %d new lines, %d with I/O errors, %d ext4 errors%s", #new,
      io_errors, ext4_errors, read_only and ", remounted read-only" or ""))
    local shown = 0
    for _, line in ipairs(new) do
      if shown < 6 and (line:find("EXT4-fs", 1, true) or line:find("JBD2", 1, true)) then
        print("    " .. line)
        shown = shown + 1
      end
    end
    check(io_errors > 0, "the kernel logged I/O errors")
    check(ext4_errors > 0, "ext4 logged errors")
    check(read_only, "ext4 says it went read-only")
    -- older kernels also flag the mount itself ro; newer ones keep it rw
    -- in /proc/mounts and refuse writes from inside ext4
    print("    mount options now: " .. (mount_options(mnt) or "?"))
    fault:restore()
  end
  print("original table back: " .. lin.dev.table)

  must({"umount", mnt})
  mounted = false
  local fsck = run({"e2fsck", "-f", "-y", lin.path})
  print("e2fsck -f -y: rc " .. fsck.rc .. " (0 clean, 1 errors corrected)")
  check(fsck.rc == 0 or fsck.rc == 1, "e2fsck left a consistent filesystem")
  check(run({"e2fsck", "-f", "-n", lin.path}).rc == 0, "a second e2fsck finds nothing")
  must({"mount", "-t", "ext4", lin.path, mnt})
  mounted = true
  local intact = true
  for i = 1, 4 do
    local f = io.open(mnt .. "/before-" .. i, "rb")
    local data = f and f:read("a")
    if f then f:close() end
    if data ~= string.rep(string.char(64 + i), MiB) then intact = false end
  end
  check(intact, "the 4 files written before the fault are intact")
  check(write_file(mnt .. "/after", "z", MiB) and run({"sync"}).rc == 0, "the filesystem takes writes again")
  must({"umount", mnt})
  mounted = false
end

os.exit(report())

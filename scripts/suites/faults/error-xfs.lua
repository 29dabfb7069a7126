-- I/O errors under a mounted xfs: with the device's table swapped for the
-- error target, a write with fsync fails and xfs shuts itself down (the
-- kernel log says so); with the table restored, the filesystem is
-- unmounted, mounted again (log recovery) and unmounted, xfs_repair -n
-- finds nothing, and the files written before the fault are intact.
-- Modelled on xfstests' dm-error tests (common/dmerror, generic/441) and
-- Documentation/admin-guide/device-mapper's error target.
-- requires: target error; tool mkfs.xfs; tool xfs_repair
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local time = require "sts.time"
local check = suite.start()
suite.need_filesystem("xfs")

do
  local los <close> = testkit.loop_devices(1, 320)       -- mkfs.xfs wants 300 MB at least
  local lin <close> = testkit.linear(los[1])
  suite.must({"mkfs.xfs", "-q", "-f", lin.path}, {timeout = 120})
  local want = {}
  do
    local m <close> = suite.mount(lin.path, "xfs")
    for i = 1, 4 do want[i] = assert(suite.write_file(m.dir .. "/f" .. i, "xfs-" .. i, 256)) end
    suite.must({"sync"})
    local _, mark = suite.dmesg()
    do
      local fault <close> = testkit.inject(lin, {type = "error"})
      local w = suite.run({"dd", "if=/dev/zero", "of=" .. m.dir .. "/during", "bs=65536", "count=4", "conv=fsync"})
      check(w.rc ~= 0, "write+fsync under the error target fails")
      suite.run({"sync"})
      local said = false
      for _ = 1, 30 do
        for _, line in ipairs((suite.dmesg(mark))) do
          if line:lower():find("shut", 1, true) and line:find("XFS", 1, true) then said = true end
        end
        if said then break end
        time.sleep_ms(200)
      end
      check(said, "the kernel log says xfs shut down")
      fault:restore()
    end
    check(m.umount(), "the shut-down filesystem unmounts")
  end
  do
    local m <close> = suite.mount(lin.path, "xfs")           -- log recovery
    local intact = 0
    for i = 1, 4 do if suite.read_file(m.dir .. "/f" .. i) == want[i] then intact = intact + 1 end end
    check(intact == 4, "the files written before the fault are intact (" .. intact .. "/4)")
  end
  local rep = suite.run({"xfs_repair", "-n", lin.path}, {timeout = 120})
  check(rep.rc == 0, "xfs_repair -n finds nothing: rc " .. rep.rc)
end
os.exit(suite.report())

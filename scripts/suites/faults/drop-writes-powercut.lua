-- A power cut simulated with dm-flakey's drop_writes: ext4 with files
-- written and synced, then the device's table swapped for flakey dropping
-- every write; more files are written and synced (they seem to succeed)
-- and the filesystem is unmounted; with the linear table back, e2fsck
-- (journal replay) leaves a clean filesystem, the files synced before the
-- cut are intact and the ones after it are gone. Modelled on xfstests'
-- dm-flakey crash tests (common/dmflakey, _flakey_drop_and_remount) and
-- dm-flakey.rst (drop_writes).
-- requires: target flakey; tool mkfs.ext4; tool e2fsck
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 32)
  local lin <close> = testkit.linear(los[1])
  suite.must({"mkfs.ext4", "-q", "-F", lin.path})
  local want = {}
  do
    local m <close> = suite.mount(lin.path, "ext4")
    for i = 1, 4 do want[i] = assert(suite.write_file(m.dir .. "/before-" .. i, "before-" .. i, 256)) end
    suite.must({"sync"})
    local fault = nil
    if not suite.mutate("no-cut") then
      fault = testkit.inject(lin, {type = "flakey", up = 0, down = 3600, features = {"drop_writes"}})
    end
    for i = 1, 4 do assert(suite.write_file(m.dir .. "/after-" .. i, "after-" .. i, 256)) end
    suite.must({"sync"})
    check(m.umount(), "unmounted (its last writes dropped too)")
    if fault then fault:restore() end
  end
  local fsck = suite.run({"e2fsck", "-f", "-y", lin.path})
  check(fsck.rc == 0 or fsck.rc == 1, "e2fsck -f -y: rc " .. fsck.rc .. " (0 clean, 1 fixed)")
  check(suite.run({"e2fsck", "-f", "-n", lin.path}).rc == 0, "a second e2fsck finds nothing")
  local m <close> = suite.mount(lin.path, "ext4")
  local intact, gone = 0, 0
  for i = 1, 4 do
    if suite.read_file(m.dir .. "/before-" .. i) == want[i] then intact = intact + 1 end
    if not suite.read_file(m.dir .. "/after-" .. i) then gone = gone + 1 end
  end
  check(intact == 4, "the 4 files synced before the cut are intact (" .. intact .. ")")
  check(gone == 4, "the 4 files written after the cut are gone (" .. gone .. ")")
end
os.exit(suite.report())

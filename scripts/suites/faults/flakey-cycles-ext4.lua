-- dm-flakey up/down cycles under ext4: the filesystem's device is
-- swapped for flakey (up 1 s, down 1 s, I/O failing while down) while
-- files are written and fsynced for 6 s; some fsyncs fail; with the
-- linear table back and the filesystem unmounted, e2fsck repairs it
-- (a second e2fsck is clean) and every file whose fsync succeeded before
-- the first failure reads back intact. Modelled on xfstests' generic
-- dm-flakey tests (common/dmflakey) and dm-flakey.rst (up/down intervals).
-- requires: target flakey; tool mkfs.ext4; tool e2fsck
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local time = require "sts.time"
local check = suite.start()

do
  local los <close> = testkit.loop_devices(1, 32)
  local lin <close> = testkit.linear(los[1])
  suite.must({"mkfs.ext4", "-q", "-F", lin.path})
  local good, failed = {}, 0
  do
    local m <close> = suite.mount(lin.path, "ext4", "errors=continue")
    for i = 1, 3 do
      good[#good + 1] = {m.dir .. "/pre-" .. i, assert(suite.write_file(m.dir .. "/pre-" .. i, "pre-" .. i, 128))}
    end
    suite.must({"sync"})
    local fault <close> = testkit.inject(lin, {type = "flakey", up = 1, down = 1})
    local t0 = time.now_ms()
    local n = 0
    while time.now_ms() - t0 < 6000 do
      n = n + 1
      local path = m.dir .. "/cyc-" .. n
      local r = suite.run({"dd", "if=/dev/zero", "of=" .. path, "bs=4096", "count=8", "conv=fsync"})
      if r.rc ~= 0 then failed = failed + 1 end
      time.sleep_ms(100)
    end
    print(("%d writes with fsync during the cycles, %d failed"):format(n, failed))
    check(failed > 0, "some fsyncs failed while the device was down")
    check(failed < n, "some succeeded while it was up")
    fault:restore()
    m.umount()
  end
  local fsck = suite.run({"e2fsck", "-f", "-y", lin.path})
  check(fsck.rc == 0 or fsck.rc == 1, "e2fsck -f -y: rc " .. fsck.rc)
  check(suite.run({"e2fsck", "-f", "-n", lin.path}).rc == 0, "a second e2fsck is clean")
  local m <close> = suite.mount(lin.path, "ext4")
  local intact = 0
  for _, g in ipairs(good) do
    if suite.read_file(g[1]:gsub("^.*/", m.dir .. "/")) == g[2] then intact = intact + 1 end
  end
  check(intact == #good, "the files synced before the cycles are intact (" .. intact .. "/" .. #good .. ")")
end
os.exit(suite.report())

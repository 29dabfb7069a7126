-- Multipath failover and reinstate under running I/O: a writer streams
-- 6 MiB of stamped blocks through a two-path multipath device while path
-- A is failed underneath (its table swapped for the error target) and
-- later restored and reinstated; the writer sees no error, the typed
-- status shows A failed then active again, and all 6 MiB read back
-- through each path. Modelled on lvm2's and the kernel's multipath
-- documentation (Documentation/admin-guide/device-mapper/dm-multipath)
-- and blktests' dm/ multipath tests.
-- requires: target multipath
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local time = require "sts.time"
local check = suite.start()

local function path_state(st, devt)
  for _, p in ipairs(st.paths) do if p.device == devt then return p end end
end

do
  local los <close> = testkit.loop_devices(1, 8)
  local a <close> = testkit.linear(los[1])
  local b <close> = testkit.linear(los[1])
  local A, B = suite.devt(a), suite.devt(b)
  local mp <close> = suite.device("mpio", string.format(
    "0 %d multipath 2 queue_mode bio 0 1 1 round-robin 0 2 1 %s 1 %s 1", los[1].size // 512, A, B))
  local src = os.tmpname()
  local _ <close> = suite.defer(function() os.remove(src) end)
  local f = assert(io.open(src, "wb")); f:write(suite.blocks("mp", 0, 0, 1536)); f:close()
  -- the writer runs in the background while the paths change under it
  local writer = assert(io.popen(string.format(
    "dd if=%s of=%s bs=4096 oflag=direct conv=notrunc 2>&1; echo rc=$?", src, mp.path), "r"))
  time.sleep_ms(300)
  local fault = testkit.inject(a, {type = "error"})
  local ok1, st1 = suite.poll(mp, function(s) local p = path_state(s, A) return p and not p.active end, 20000)
  check(ok1, "typed status: path A failed while the writer ran (fail count " ..
    tostring(path_state(st1, A) and path_state(st1, A).fail_count) .. ")")
  time.sleep_ms(300)
  fault:restore()
  suite.message(mp, "reinstate_path " .. A)
  local st2 = suite.status(mp)
  check(path_state(st2, A).active and st2.active_paths == 2, "path A reinstated: both active")
  local out = writer:read("a")
  writer:close()
  print("writer: " .. (out:gsub("\n", " | ")))
  check(out:match("rc=0") ~= nil, "the writer saw no I/O error")
  suite.check_blocks(mp.path, 0, 1536, "mp", 0, "all 6 MiB read back through the multipath device")
  suite.check_blocks(b.path, 0, 1536, "mp", 0, "and through path B")
end
os.exit(suite.report())

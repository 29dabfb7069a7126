-- Multipath failover across two paths to the same storage: two linear
-- devices over one loop device play the two paths, a multipath device
-- (round-robin, switching path on every I/O) sits over both.
--   1. both paths active; I/O works;
--   2. path A starts failing (its table swapped for the error target):
--      the next I/O through it fails over to B, dm-multipath marks A
--      failed in the typed status, and the I/O still succeeds;
--   3. A is restored and reinstated by message; both active again;
--   4. B is failed by message (fail_path) and I/O keeps working over A.
-- Self-checking: exits 0 only when everything held.
--
--   scripts/sts-vm run scripts/examples/multipath-failover.lua
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local proc = require "sts.proc"


local check, report = testkit.checks()

-- 64 KiB of direct I/O at 1 MiB offset `mb`: 16 separate 4 KiB requests,
-- so round-robin sends some down each path
local function write_direct(path, mb)
  return proc.run({"dd", "if=/dev/urandom", "of=" .. path, "bs=4096", "count=16",
    "seek=" .. mb * 256, "oflag=direct", "conv=notrunc"}, {timeout = 60})
end

local function read_direct(path, mb)
  return proc.run({"dd", "if=" .. path, "bs=4096", "count=16", "skip=" .. mb * 256,
    "iflag=direct"}, {timeout = 60})
end

local function devt(d) return d.major .. ":" .. d.minor end

local function show(st)
  local parts = {}
  for _, p in ipairs(st.paths) do
    parts[#parts + 1] = string.format("%s %s (fails %d)", p.device, p.active and "active" or "FAILED",
      p.fail_count)
  end
  return table.concat(parts, ", ")
end

local function path_state(st, device)
  for _, p in ipairs(st.paths) do
    if p.device == device then return p end
  end
end

do
  local los <close> = testkit.loop_devices(1, 16)
  local a <close> = testkit.linear(los[1])
  local b <close> = testkit.linear(los[1])
  local A, B = devt(a.dev), devt(b.dev)
  local sectors = a.dev.size // 512
  -- bio-based (the default, request-based multipath, refuses paths that
  -- are dm devices: "non-request-stackable"), no hardware handler, one
  -- group of two paths with round-robin, repeat count 1 (next path every I/O)
  local table_text = string.format(
    "0 %d multipath 2 queue_mode bio 0 1 1 round-robin 0 2 1 %s 1 %s 1", sectors, A, B)
  local mp = dm.create(testkit.prefix .. "mpath", table_text)
  local _ <close> = setmetatable({}, {__close = function() mp:remove() end})
  print("multipath " .. mp.dm_name .. " over path A " .. A .. " and path B " .. B)

  local st = mp:status_table()[1]
  print("  " .. show(st))
  check(st.active_paths == 2 and st.failed_paths == 0, "both paths active")
  check(write_direct(mp.path, 0).rc == 0, "I/O through the multipath device works")

  print("== path A fails (error target swapped in under it)")
  do
    local fault <close> = testkit.inject(a, {type = "error"})
    local w = write_direct(mp.path, 1)
    check(w.rc == 0, "I/O still succeeds: it failed over to B")
    st = mp:status_table()[1]
    print("  " .. show(st))
    local pa = path_state(st, A)
    check(pa and not pa.active and pa.fail_count >= 1, "typed status: path A failed, fail count " ..
      tostring(pa and pa.fail_count))
    check(path_state(st, B).active, "typed status: path B still active")
    check(st.active_paths == 1 and st.failed_paths == 1, "1 active, 1 failed")
    check(read_direct(mp.path, 1).rc == 0, "reads work too")
    fault:restore()
  end

  print("== path A restored and reinstated")
  assert(mp:message(0, "reinstate_path " .. A))
  st = mp:status_table()[1]
  print("  " .. show(st))
  check(st.active_paths == 2, "both paths active again")
  check(write_direct(mp.path, 2).rc == 0, "I/O works")

  print("== path B failed by message")
  assert(mp:message(0, "fail_path " .. B))
  st = mp:status_table()[1]
  print("  " .. show(st))
  check(not path_state(st, B).active and path_state(st, A).active, "typed status: B failed, A active")
  local w = write_direct(mp.path, 3)
  check(w.rc == 0, "I/O works over path A alone")
  st = mp:status_table()[1]
  check(path_state(st, A).active and st.failed_paths == 1, "after the I/O: A active, only B failed")
  assert(mp:message(0, "reinstate_path " .. B))
  check(mp:status_table()[1].active_paths == 2, "B reinstated")
  -- both paths read the same storage: what went in through the
  -- multipath device reads back identically through A and through B
  local via_mp = read_direct(mp.path, 3).stdout
  check(via_mp == read_direct(a.path, 3).stdout and via_mp == read_direct(b.path, 3).stdout,
    "the data reads the same through the multipath device and each path")
end

os.exit(report())

-- scripts/bench/run.lua: the benchmarks of `make bench`, run by stslua as
-- root inside the sandbox guest (scripts/sts-vm --build build/bench run ...).
--
--   run.lua [--quick] [--reps N] [--only NAME[,...]] [--sides SIDE[,...]]
--
-- Each workload runs its sides (stslua, the C floor, dmsetup) alternately,
-- A B C, B C A, C A B, ..., REPS rounds (default 5), timed here with the
-- monotonic clock; sides whose runs take under 5 s then go on alternating
-- among themselves up to 25 samples (not with --quick). Then a table of
-- medians and ratios, and one line per workload:
--   BENCH workload=NAME stslua_s=X floor_s=Y dmsetup_s=Z vs_floor=X/Y vs_dmsetup=Z/X
-- --quick shrinks every workload (a smoke run of the driver itself); --only
-- picks workloads (by name or number), --sides picks stslua, floor, dmsetup,
-- fio. pattern_verify (sts.io against fio --verify=crc32c) prints
--   BENCH workload=pattern_verify stslua_s=X fio_s=Y vs_fio=Y/X
-- (vs_fio above 1: stslua is faster).

local core = require("sts.core")
local dm = require("sts.dm")
local loop = require("sts.loop")
local dmpd = require("sts.dmpd")
local sio = require("sts.io")

local now_ms = core.time.now_ms
local run = core.proc.run

local reps, quick, only, sides_wanted = 5, false, nil, nil
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--quick" then
      quick, reps = true, 1
    elseif a == "--reps" and tonumber(arg[i + 1]) then
      reps = math.tointeger(tonumber(arg[i + 1])) or reps
      i = i + 1
    elseif a == "--sides" and arg[i + 1] then
      sides_wanted = {}
      for name in arg[i + 1]:gmatch("[^,]+") do sides_wanted[name] = true end
      i = i + 1
    elseif a == "--only" and arg[i + 1] then
      only = {}
      for name in arg[i + 1]:gmatch("[^,]+") do only[name] = true end
      i = i + 1
    else
      io.stderr:write("run.lua: unknown argument ", a, "\n",
        "usage: run.lua [--quick] [--reps N] [--only NAME[,...]] [--sides SIDE[,...]]\n")
      os.exit(2)
    end
    i = i + 1
  end
end

-- the floor: a Lua C module built from scripts/bench/floor.c (make bench-floor)
local floor do
  local open, why = package.loadlib("build/sts/floor.so", "luaopen_bench_floor")
  if not open then
    io.stderr:write("run.lua: no C floor (build/sts/floor.so): ", tostring(why),
      "\nrun it with: make bench\n")
    os.exit(1)
  end
  floor = open()
end

local function peak_kib()
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

-- runs a dmsetup workload script; raises with its stderr when it fails
local function sh(script, ...)
  local argv = {"/bin/sh", "scripts/bench/" .. script, ...}
  local r = assert(run(argv, {}))
  if r.rc ~= 0 then
    error(("%s failed (rc %s): %s"):format(script, tostring(r.rc), r.stderr or ""))
  end
  if r.stderr and r.stderr ~= "" then io.stderr:write(script, ": ", r.stderr) end
end

local function check(ok, msg, ...)
  if not ok then error(tostring(msg), 2) end
  return ok, msg, ...
end

-- writes zeros over the first mb MiB of path: a loop device's backing file
-- gets all its pages now rather than during a timed run
local function fill_zero(path, mb)
  local r = assert(run({"dd", "if=/dev/zero", "of=" .. path, "bs=1M", "count=" .. mb,
    "conv=fsync"}, {}))
  assert(r.rc == 0, "zeroing " .. path .. " failed: " .. tostring(r.stderr))
end

local function zero_start(path)
  local r = assert(run({"dd", "if=/dev/zero", "of=" .. path, "bs=4096", "count=1",
    "conv=fsync"}, {}))
  assert(r.rc == 0, "zeroing " .. path .. " failed: " .. tostring(r.stderr))
end

-- workloads ----------------------------------------------------------------

local N1 = quick and 10 or 200     -- devices created and removed
local N2 = quick and 20 or 500     -- devices present for get_all
local N3 = quick and 50 or 2000    -- status reads
local THINS = quick and 5 or 50    -- thins (and as many snapshots)
local CHECKS = quick and 3 or 20   -- thin_check runs per sample
local PV_MB = quick and 16 or 256  -- MiB written then verified by pattern_verify

local workloads = {}

workloads[1] = {
  name = "create_remove",
  what = ("create + remove %d linear devices"):format(N1),
  setup = function(w) w.lo = loop.create{size_mb = 1} end,
  teardown = function(w) w.lo:remove() end,
  sides = {
    stslua = function(w)
      local tbl = "0 1 linear " .. w.lo.path .. " 0"
      local devs = {}
      for i = 1, N1 do devs[i] = dm.create("bench-cr-" .. i, tbl) end
      for i = 1, N1 do check(devs[i]:remove()) end
    end,
    floor = function(w) check(floor.create_remove("bench-cr-", N1, w.lo.path)) end,
    dmsetup = function(w) sh("create-remove.sh", "bench-cr-", tostring(N1), w.lo.path) end,
  },
}

workloads[2] = {
  name = "get_all",
  what = ("get_all + name, uuid, table of %d devices"):format(N2),
  setup = function(w)
    w.lo = loop.create{size_mb = 1}
    w.devs = {}
    local tbl = "0 1 linear " .. w.lo.path .. " 0"
    for i = 1, N2 do
      w.devs[i] = dm.create(("bench-ga-%04d"):format(i), tbl, {uuid = ("BENCH-GA-%04d"):format(i)})
    end
  end,
  teardown = function(w)
    for _, d in ipairs(w.devs) do check(d:remove()) end
    w.lo:remove()
  end,
  sides = {
    stslua = function()
      local n = 0
      for _, d in ipairs(dm.DmDevice.get_all()) do
        local name, uuid, tbl = d.dm_name, d.uuid, d.table
        if name and tbl and (uuid or true) then n = n + 1 end
      end
      assert(n >= N2, "get_all saw " .. n .. " devices")
    end,
    floor = function()
      local n = check(floor.get_all())
      assert(n >= N2, "floor saw " .. n .. " devices")
    end,
    dmsetup = function() sh("get-all.sh") end,
  },
}

-- a thin pool over two loop devices, made with sts.dm (no testkit checks)
local function pool_parts(data_mb, meta_mb)
  local data = loop.create{size_mb = data_mb}
  local meta = loop.create{size_mb = meta_mb}
  fill_zero(data.path, data_mb)
  fill_zero(meta.path, meta_mb)
  return data, meta, ("0 %d thin-pool %s %s 128 0"):format(data_mb * 2048, meta.path, data.path)
end

workloads[3] = {
  name = "status",
  what = ("%d status reads of a thin pool"):format(N3),
  setup = function(w)
    w.data, w.meta, w.tbl = pool_parts(64, 8)
    zero_start(w.meta.path)
    w.pool = dm.create("bench-st-pool", w.tbl)
    check(w.pool:message(0, "create_thin 0"))
    -- untimed warm-up: the first reads of a new pool are much slower
    check(floor.status("bench-st-pool", N3 // 4))
    for _ = 1, N3 // 4 do w.pool:status() end
  end,
  teardown = function(w)
    check(w.pool:remove())
    w.meta:remove()
    w.data:remove()
  end,
  sides = {
    stslua = function(w)
      local pool = w.pool
      for _ = 1, N3 do
        local text = pool:status()
        if not text then error("no status") end
      end
    end,
    floor = function() check(floor.status("bench-st-pool", N3)) end,
    dmsetup = function() sh("status.sh", "bench-st-pool", tostring(N3)) end,
  },
}

workloads[4] = {
  name = "thin_lifecycle",
  what = ("thin pool, %d thins, %d snapshots, messages, removal"):format(THINS, THINS),
  setup = function(w) w.data, w.meta, w.tbl = pool_parts(64, 8) end,
  before = function(w) zero_start(w.meta.path) end,
  teardown = function(w)
    w.meta:remove()
    w.data:remove()
  end,
  sides = {
    stslua = function(w)
      local pool = dm.create("bench-tl-pool", w.tbl)
      local function thin(id)
        return dm.create("bench-tl-" .. id, ("0 2048 thin %s %d"):format(pool.path, id))
      end
      local vols = {}
      for id = 0, THINS - 1 do
        check(pool:message(0, "create_thin " .. id))
        vols[#vols + 1] = thin(id)
      end
      for id = 0, THINS - 1 do
        check(pool:message(0, ("create_snap %d %d"):format(THINS + id, id)))
        vols[#vols + 1] = thin(THINS + id)
      end
      for _, v in ipairs(vols) do check(v:remove()) end
      for id = 0, 2 * THINS - 1 do check(pool:message(0, "delete " .. id)) end
      check(pool:remove())
    end,
    dmsetup = function(w)
      sh("thin-lifecycle.sh", "bench-tl-pool", "bench-tl-", w.meta.path, w.data.path,
        tostring(64 * 2048), tostring(THINS))
    end,
  },
}

workloads[5] = {
  name = "thin_check",
  what = ("%d thin_check runs on a metadata file"):format(CHECKS),
  setup = function(w)
    -- metadata worth checking: a pool with thins that hold data
    local data, meta, tbl = pool_parts(64, 8)
    zero_start(meta.path)
    local pool = dm.create("bench-tc-pool", tbl)
    for id = 0, 9 do
      check(pool:message(0, "create_thin " .. id))
      local t = dm.create("bench-tc-" .. id, ("0 8192 thin %s %d"):format(pool.path, id))
      local f = assert(io.open(t.path, "r+b"))
      f:write(string.rep("x", 2 * 1024 * 1024))
      f:close()
      check(t:remove())
    end
    check(pool:remove())
    -- thin_check opens with O_DIRECT, which tmpfs (the guest's /tmp) refuses:
    -- the file lives on an ext4 file system over a loop device
    w.fs = loop.create{size_mb = 32}
    w.mnt = "/tmp/bench-fs"
    for _, argv in ipairs({{"mkfs.ext4", "-q", "-F", w.fs.path}, {"mkdir", "-p", w.mnt},
        {"mount", "-t", "ext4", w.fs.path, w.mnt}}) do
      local r = assert(run(argv, {}))
      assert(r.rc == 0, argv[1] .. " failed: " .. tostring(r.stderr))
    end
    w.file = w.mnt .. "/thin-metadata"
    -- from the loop's backing file: the pool wrote past the block device's
    -- page cache, which may still hold what zero_start wrote
    local r = assert(run({"cp", meta.file, w.file}, {}))
    assert(r.rc == 0, "copying the metadata failed: " .. tostring(r.stderr))
    meta:remove()
    data:remove()
    w.tool = assert(dmpd.tool_path("thin_check"), "no thin_check")
    local first = dmpd.thin_check(w.file)
    assert(first.succeeded, "thin_check fails on the bench metadata: " .. tostring(first.stderr))
  end,
  teardown = function(w)
    os.remove(w.file)
    local r = assert(run({"umount", w.mnt}, {}))
    assert(r.rc == 0, "umount failed: " .. tostring(r.stderr))
    w.fs:remove()
  end,
  sides = {
    stslua = function(w)
      for _ = 1, CHECKS do
        local r = dmpd.thin_check(w.file)
        if not r.succeeded then error("thin_check failed: " .. tostring(r.stderr)) end
      end
    end,
    floor = function(w)
      for _ = 1, CHECKS do
        local rc = check(floor.exec(w.tool, w.file))
        if rc ~= 0 then error("thin_check failed: rc " .. rc) end
      end
    end,
  },
}

-- runs argv, raising with its output when it fails
local function must(argv)
  local r = assert(run(argv, {}))
  if r.rc ~= 0 then
    error(("%s failed (rc %s): %s%s"):format(table.concat(argv, " "), tostring(r.rc),
      r.stdout or "", r.stderr or ""))
  end
  return r
end

-- a brd ram disk of PV_MB + 4 MiB under dm-linear; the sandbox loads brd
-- with its default (small) disks, so it is loaded again with one big one
workloads[6] = {
  name = "pattern_verify",
  what = ("write + verify %d MiB of 4 KiB stamped blocks through dm-linear over brd"):format(PV_MB),
  setup = function(w)
    must({"modprobe", "-r", "brd"})
    must({"modprobe", "brd", "rd_nr=1", "rd_size=" .. (PV_MB + 4) * 1024})
    w.dev = dm.create("bench-pv", dm.LinearTarget{size = PV_MB * 2048, device = "/dev/ram0"})
    -- untimed: brd allocates its pages at the first write of each
    check(sio.fill(w.dev, 0))
    w.gen = 0
  end,
  teardown = function(w)
    check(w.dev:remove())
    must({"modprobe", "-r", "brd"})
    must({"modprobe", "brd"})
  end,
  sides = {
    stslua = function(w)
      w.gen = w.gen + 1
      local opts = {seed = 7, generation = w.gen, block_size = 4096}
      check(sio.write_pattern(w.dev, opts))
      local ok, report = sio.verify_pattern(w.dev, opts)
      if ok ~= true then error("verify_pattern: " .. tostring(report)) end
    end,
    -- the same job: 1 MiB O_DIRECT writes, each 4 KiB stamped with a crc32c
    -- header, then read back and checked
    fio = function(w)
      must({"fio", "--name=pattern_verify", "--filename=" .. w.dev.path, "--rw=write",
        "--bs=1M", "--size=" .. PV_MB .. "M", "--direct=1", "--ioengine=psync",
        "--verify=crc32c", "--verify_interval=4096", "--do_verify=1", "--verify_fatal=1",
        "--output-format=terse"})
    end,
  },
}

-- measuring -------------------------------------------------------------------

local SIDES = {"stslua", "floor", "dmsetup", "fio"}
-- sides whose runs take under FAST_SECONDS are sampled FAST_ROUNDS times
local FAST_SECONDS, FAST_ROUNDS = 5, 25

-- workload 7: the same devices as workload 1, made and removed in bulk by
-- stslua (raw ioctls from BULK_PARALLEL threads, so the kernel's grace
-- periods in each removal overlap), against the floor and dmsetup doing
-- them one by one
local BULK_PARALLEL = 16
workloads[7] = {
  name = "bulk_create_remove",
  what = ("create + remove %d linear devices in bulk (%d threads)"):format(N1, BULK_PARALLEL),
  setup = function(w) w.lo = loop.create{size_mb = 1} end,
  teardown = function(w) w.lo:remove() end,
  sides = {
    stslua = function(w)
      local tbl = "0 1 linear " .. w.lo.path .. " 0"
      local specs = {}
      for i = 1, N1 do specs[i] = {name = "bench-bulk-" .. i, table = tbl} end
      local made, failed = dm.create_all(specs, {parallel = BULK_PARALLEL})
      assert(#failed == 0 and #made == N1, "create_all failed: " .. tostring(failed[1] and failed[1].error))
      local removed, left = dm.remove_all(made, {parallel = BULK_PARALLEL})
      assert(#left == 0 and #removed == N1, "remove_all failed: " .. tostring(left[1] and left[1].error))
    end,
    floor = function(w) check(floor.create_remove("bench-bulk-", N1, w.lo.path)) end,
    dmsetup = function(w) sh("create-remove.sh", "bench-bulk-", tostring(N1), w.lo.path) end,
  },
  -- how the bulk time goes with the number of threads (printed after the table)
  scaling = function(w)
    local tbl = "0 1 linear " .. w.lo.path .. " 0"
    local out = {}
    for _, n in ipairs({1, 2, 4, 8, 16, 32}) do
      local times = {}
      for r = 1, quick and 1 or 3 do
        local specs = {}
        for i = 1, N1 do specs[i] = {name = "bench-bulk-" .. i, table = tbl} end
        local t0 = now_ms()
        local made = dm.create_all(specs, {parallel = n})
        dm.remove_all(made, {parallel = n})
        times[r] = (now_ms() - t0) / 1000
      end
      table.sort(times)
      out[#out + 1] = ("parallel=%d:%.3f"):format(n, times[(#times + 1) // 2])
    end
    return out
  end,
}

local function median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function measure(w)
  local samples = {}
  for _, side in ipairs(SIDES) do
    if not (sides_wanted == nil or sides_wanted[side]) then w.sides[side] = nil end
    if w.sides[side] then samples[side] = {} end
  end
  w:setup()
  local present = {}
  for _, side in ipairs(SIDES) do
    if w.sides[side] then present[#present + 1] = side end
  end
  local function sample(side, rep)
    if w.before then w:before() end
    collectgarbage()
    local t0 = now_ms()
    w.sides[side](w)
    local secs = (now_ms() - t0) / 1000
    samples[side][rep] = secs
    io.write(("  %-14s rep %d %-7s %8.3f s\n"):format(w.name, rep, side, secs))
    io.flush()
  end
  -- the order turns each round (A B C, B C A, C A B, ...): whatever
  -- follows a long run of another side (a pool's first slow reads) is not
  -- always borne by the same side
  local function rounds(sides, from, to)
    for rep = from, to do
      for k = 1, #sides do sample(sides[(rep - 1 + k - 1) % #sides + 1], rep) end
    end
  end
  local ok, err = pcall(function()
    rounds(present, 1, reps)
    -- the guest's timings swing with the host's load by 10 % and more from
    -- one run to the next; sides that take only seconds go on alternating
    -- among themselves to FAST_ROUNDS samples, so their medians (and the
    -- stslua/floor ratio) rest on more than five
    local fast = {}
    for _, side in ipairs(present) do
      if median(samples[side]) < FAST_SECONDS then fast[#fast + 1] = side end
    end
    if #fast > 1 and not quick then rounds(fast, reps + 1, math.max(reps, FAST_ROUNDS)) end
  end)
  w:teardown()
  if not ok then error(err, 0) end
  local result = {name = w.name, what = w.what, peak_kib = peak_kib()}
  for side, list in pairs(samples) do result[side] = median(list) end
  return result
end

-- the guest's CPUs, as /proc/cpuinfo counts them
local function guest_cpus()
  local f = assert(io.open("/proc/cpuinfo", "r"))
  local _, n = f:read("a"):gsub("\nprocessor%s*:", "")
  f:close()
  return n + 1
end

local function fmt_s(v) return v and ("%.3f"):format(v) or "-" end
local function fmt_r(v) return v and ("%.2f"):format(v) or "-" end

io.write(("bench: %d alternations per workload (%d for sides under %d s)%s, kernel %s,"
  .. " dm driver %s\n"):format(reps, quick and reps or math.max(reps, FAST_ROUNDS), FAST_SECONDS,
  quick and " (quick: small sizes)" or "", (io.open("/proc/sys/kernel/osrelease") or
  io.stdin):read("l") or "?", dm.version().driver or "?"))

local results = {}
for i, w in ipairs(workloads) do
  if not only or only[w.name] or only[tostring(i)] then
    io.write(("workload %d %s: %s\n"):format(i, w.name, w.what))
    io.flush()
    results[#results + 1] = measure(w)
  end
end

io.write("\n| workload | stslua s | floor s | dmsetup s | fio s | stslua/floor | dmsetup/stslua | fio/stslua | stslua peak RSS |\n",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
for _, r in ipairs(results) do
  r.vs_floor = r.floor and r.stslua / r.floor
  r.vs_dmsetup = r.dmsetup and r.dmsetup / r.stslua
  r.vs_fio = r.fio and r.fio / r.stslua
  io.write(("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f MiB |\n"):format(r.name, fmt_s(r.stslua),
    fmt_s(r.floor), fmt_s(r.dmsetup), fmt_s(r.fio), fmt_r(r.vs_floor), fmt_r(r.vs_dmsetup),
    fmt_r(r.vs_fio), r.peak_kib / 1024))
end
io.write("\n")
for _, r in ipairs(results) do
  local words = {"BENCH workload=" .. r.name, "stslua_s=" .. fmt_s(r.stslua)}
  if r.floor then words[#words + 1] = "floor_s=" .. fmt_s(r.floor) end
  if r.dmsetup then words[#words + 1] = "dmsetup_s=" .. fmt_s(r.dmsetup) end
  if r.fio then words[#words + 1] = "fio_s=" .. fmt_s(r.fio) end
  if r.vs_floor then words[#words + 1] = "vs_floor=" .. ("%.3f"):format(r.vs_floor) end
  if r.vs_dmsetup then words[#words + 1] = "vs_dmsetup=" .. ("%.3f"):format(r.vs_dmsetup) end
  if r.vs_fio then words[#words + 1] = "vs_fio=" .. ("%.3f"):format(r.vs_fio) end
  io.write(table.concat(words, " "), "\n")
end
for i, w in ipairs(workloads) do
  if w.scaling and (not only or only[w.name] or only[tostring(i)]) then
    w:setup()
    local ok, line = pcall(w.scaling, w)
    w:teardown()
    if ok then
      io.write(("BENCH scaling workload=%s guest_cpus=%d %s\n"):format(w.name, guest_cpus(),
        table.concat(line, " ")))
    else
      io.write("bench: scaling of ", w.name, " failed: ", tostring(line), "\n")
    end
  end
end
io.write(("BENCH peak_rss_kib=%d\n"):format(peak_kib()))

-- scripts/bench/host.lua: the host-side benchmarks of `make bench` (make
-- bench-host), run by stslua on this machine, no sandbox, no root.
--
--   host.lua [--quick] [--reps N] [--mappings N] [--rss-mappings N]
--
-- Workload thin_dump_stream: a thin_dump XML file of MAPPINGS mappings
-- (default 2,000,000; three single mappings to one range, four devices),
-- written with dmpd.write_thin_xml, is read by dmpd.each_mapping
-- (scripts/bench/thin_dump_stream.lua) and by Python's
-- xml.etree.ElementTree.iterparse (scripts/bench/thin_dump_stream.py),
-- each doing the same work, each in its own process, alternately, REPS
-- rounds (default 5). The time of a side is the CPU time (user + sys) its
-- process spent reading, measured inside it: the machine is shared, and
-- wall time then measures the neighbours. Both sides must report the same
-- counts and checksum. Then stslua reads a dump of RSS_MAPPINGS mappings
-- (default 10,000,000) once for its peak RSS. Prints a table and
--   BENCH workload=thin_dump_stream stslua_s=X python_s=Y vs_python=Y/X peak_rss_mb=M

local core = require("sts.core")
local dmpd = require("sts.dmpd")

local run = core.proc.run

local reps, mappings, rss_mappings = 5, 2000000, 10000000
do
  local i = 1
  while arg[i] do
    local a, v = arg[i], math.tointeger(tonumber(arg[i + 1] or ""))
    if a == "--quick" then
      reps, mappings, rss_mappings = 1, 100000, 200000
    elseif a == "--reps" and v then
      reps, i = v, i + 1
    elseif a == "--mappings" and v then
      mappings, i = v, i + 1
    elseif a == "--rss-mappings" and v then
      rss_mappings, i = v, i + 1
    else
      io.stderr:write("host.lua: unknown argument ", a, "\n",
        "usage: host.lua [--quick] [--reps N] [--mappings N] [--rss-mappings N]\n")
      os.exit(2)
    end
    i = i + 1
  end
end

-- the interpreter running this script runs the stslua side too
local STSLUA = arg[-1] or "build/stslua"
local PYTHON = os.getenv("PYTHON") or "python3"

local function tmpdir()
  local r = assert(run({"mktemp", "-d", "/tmp/sts-bench-host.XXXXXX"}))
  assert(r.rc == 0, "mktemp failed: " .. r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

--- Writes a dump of `n` mappings over four devices: per four mappings,
-- three single mappings and one range of three blocks.
local function write_dump(path, n)
  local per = (n + 3) // 4
  local next_dev, data = 0, 0
  return dmpd.write_thin_xml(path, {transaction = 1, time = 1, data_block_size = 128,
                                    nr_data_blocks = 2 * n + 16}, function()
    if next_dev >= 4 or next_dev * per >= n then return nil end
    local id, count = next_dev, math.min(per, n - next_dev * per)
    next_dev = next_dev + 1
    local i = 0
    return {dev_id = id, mappings = function()
      if i >= count then return nil end
      i = i + 1
      data = data + 1
      if i % 4 == 0 then
        local d = data
        data = data + 2
        return i * 4, d, 3, 1
      end
      return i * 4, data, 1, 0
    end}
  end)
end

local function side(argv)
  local r = assert(run(argv, {timeout = 3600}))
  local line = r.stdout:match("(mappings=%S+ blocks=%S+ checksum=%S+ cpu_s=%S+ wall_s=%S+ peak_rss_mb=%S+)")
  if r.rc ~= 0 or not line then
    error(("%s failed (rc %s): %s%s"):format(argv[1], tostring(r.rc), r.stdout, r.stderr), 0)
  end
  local t = {}
  for k, v in line:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) end
  t.sum = line:match("(mappings=%S+ blocks=%S+ checksum=%S+)")
  return t
end

local SIDES = {
  stslua = function(file) return side({STSLUA, "scripts/bench/thin_dump_stream.lua", file}) end,
  python = function(file) return side({PYTHON, "scripts/bench/thin_dump_stream.py", file}) end,
}

local function median(list)
  local s = {table.unpack(list)}
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local dir = tmpdir()
local ok, err = pcall(function()
  local file = dir .. "/dump.xml"
  local w = write_dump(file, mappings)
  print(("thin_dump_stream: %d mappings (%d blocks) in %d devices, %.1f MB of XML")
        :format(w.mappings, w.mapped_blocks, w.devices, io.open(file):seek("end") / 1e6))
  local cpu, wall, rss, sum = {stslua = {}, python = {}}, {stslua = {}, python = {}}, {}, nil
  local order = {"stslua", "python"}
  for round = 1, reps do
    for k = 0, 1 do
      local name = order[(round + k - 1) % 2 + 1]
      local t = SIDES[name](file)
      if sum and t.sum ~= sum then
        error(("%s read something else: %s, not %s"):format(name, t.sum, sum), 0)
      end
      sum = t.sum
      table.insert(cpu[name], t.cpu_s)
      table.insert(wall[name], t.wall_s)
      rss[name] = math.max(rss[name] or 0, t.peak_rss_mb)
      print(("  round %d %-6s cpu %.3f s  wall %.3f s  peak RSS %.1f MB"):format(round, name, t.cpu_s,
                                                                            t.wall_s, t.peak_rss_mb))
    end
  end
  os.remove(file)

  local big = dir .. "/big.xml"
  local wb = write_dump(big, rss_mappings)
  local t = SIDES.stslua(big)
  os.remove(big)
  if t.mappings ~= wb.mappings or t.blocks ~= wb.mapped_blocks then
    error(("stslua read %d mappings (%d blocks) of %d (%d)"):format(t.mappings, t.blocks, wb.mappings,
                                                                   wb.mapped_blocks), 0)
  end
  print(("  %d mappings: stslua cpu %.3f s, wall %.3f s, peak RSS %.1f MB")
        :format(wb.mappings, t.cpu_s, t.wall_s, t.peak_rss_mb))

  local s, p = median(cpu.stslua), median(cpu.python)
  print()
  print("| workload | stslua s | python s | python/stslua | stslua peak RSS (" .. rss_mappings
        .. " mappings) | python peak RSS |")
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  print(("| thin_dump_stream | %.3f | %.3f | %.2f | %.1f MB | %.1f MB |")
        :format(s, p, p / s, t.peak_rss_mb, rss.python))
  print(("(medians of %d; wall medians: stslua %.3f s, python %.3f s)")
        :format(reps, median(wall.stslua), median(wall.python)))
  print(("BENCH workload=thin_dump_stream stslua_s=%.3f python_s=%.3f vs_python=%.2f peak_rss_mb=%.1f")
        :format(s, p, p / s, t.peak_rss_mb))
end)
run({"rm", "-rf", "--", dir})
if not ok then
  io.stderr:write("host.lua: ", tostring(err), "\n")
  os.exit(1)
end

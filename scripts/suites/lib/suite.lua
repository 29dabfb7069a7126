--- suite: what the regression scenarios under scripts/suites/ share.
--
-- A scenario starts with
--
--   package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
--   local suite = require "suite"
--   local check = suite.start()
--
-- The scenario's header is the runner's (sts-test; see
-- sts.runner.requires): `-- requires: target thin-pool >= 1.22; tool
-- thin_check` lines and a `-- quick` line for the subset `make check` runs.
-- sts-test reads it without running the file; suite.start() checks the
-- same needs with sts.gate, so a scenario run on its own skips the same
-- way (`SKIP: reason`, exit 77). The scenario ends with os.exit(suite.report())
-- after its fixtures' scopes (0 pass, 1 fail).
--
-- Data is checked block by block: write_blocks stamps every 4 KiB block
-- with the tag, generation and block number it should hold, and
-- verify_blocks reads them back with O_DIRECT and counts the blocks that
-- differ, so a stale, zeroed or misplaced block is seen, not only an error.
local testkit = require "sts.testkit"
local dm = require "sts.dm"
local core = require "sts.core"
local time = require "sts.time"
local gate = require "sts.gate"
local requires = require "sts.runner.requires"

local suite = {}

suite.BLOCK = 4096
suite.MiB = 1024 * 1024

local check, report = testkit.checks()
suite.check = check

-- requirements ------------------------------------------------------------------

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end
suite.read_file = read_file

--- The scenario's header as the runner reads it (sts.runner.requires).
-- @tparam string path the scenario
-- @treturn table `{requires = {item...}, quick = bool, timeout = seconds|nil}`
function suite.header(path)
  local h, why = requires.read(path)
  if not h then error("suite: " .. tostring(why), 0) end
  return h
end

--- Checks the scenario's header requirements with sts.gate and returns `check`.
-- The runner checks the same header before it starts the scenario; this
-- keeps a scenario run on its own (sts-vm run, stslua) self-checking:
-- an unmet need prints "SKIP: reason" and exits 77.
-- @treturn function check(cond, what)
function suite.start()
  for _, r in ipairs(suite.header(arg[0]).requires) do
    local v = r.version and table.concat(r.version, ".")
    if r.kind == "target" then gate.need_target(r.name, v)
    elseif r.kind == "kernel" then gate.need_kernel(v)
    else gate.need_tool(r.name) end
  end
  print("scenario " .. arg[0] .. " on kernel " .. tostring(gate.kernel_release()))
  return check
end

--- Skips the scenario unless the kernel has filesystem `fstype` (loaded
-- with modprobe when it is a module); the runner's header has no such need.
-- @tparam string fstype e.g. "xfs"
function suite.need_filesystem(fstype)
  suite.run({"modprobe", "-q", fstype}, {timeout = 30})
  for line in (read_file("/proc/filesystems") or ""):gmatch("[^\n]+") do
    if line:match("%s" .. fstype .. "$") then return end
  end
  gate.skip(("the kernel has no %s filesystem (not built in, no module) (kernel %s)")
    :format(fstype, tostring(gate.kernel_release())))
end

--- The version a dmpd tool prints ("0.9.0"), or "?".
function suite.tool_version(name)
  local r = require("sts.dmpd").get_version(name)
  return ((r.stdout or "") .. (r.stderr or "")):match("%d+%.%d+[%.%d]*") or "?"
end

--- Prints the reason and exits 77 (skipped).
-- @tparam string reason
function suite.skip(reason)
  gate.skip(reason)
end

--- Prints PASS or the failure count; the exit status for os.exit.
-- @treturn integer 0 or 1
function suite.report()
  return report()
end

--- Fails the scenario right away (a check that cannot go on).
-- @tparam string what
function suite.fail(what)
  check(false, what)
  error("scenario stopped: " .. what, 0)
end

-- processes --------------------------------------------------------------------------

--- Runs argv (no shell); the CommandResult-like table of core.proc.run.
-- @tparam table argv
-- @tparam[opt] table opts core.proc.run options (timeout defaults to 120 s)
function suite.run(argv, opts)
  opts = opts or {}
  opts.timeout = opts.timeout or 120
  return core.proc.run(argv, opts)
end

--- Runs argv and raises, with its output, when it fails.
-- @tparam table argv
-- @tparam[opt] table opts
function suite.must(argv, opts)
  local r = suite.run(argv, opts)
  if r.rc ~= 0 then
    error(table.concat(argv, " ") .. " failed (rc " .. tostring(r.rc) .. "): " .. r.stderr .. r.stdout, 0)
  end
  return r
end

local function sh_quote(word)
  return "'" .. tostring(word):gsub("'", "'\\''") .. "'"
end

--- Runs several argv lists at the same time and waits for all of them.
-- The commands are started by one `sh` with each word quoted; each one's
-- exit status comes back in order.
-- @tparam table argvs list of argv lists
-- @treturn table the exit statuses
function suite.parallel(argvs, timeout)
  local script = {}
  for i, argv in ipairs(argvs) do
    local words = {}
    for _, w in ipairs(argv) do words[#words + 1] = sh_quote(w) end
    script[#script + 1] = string.format("( %s >/dev/null 2>&1; echo \"%d $?\" ) &", table.concat(words, " "), i)
  end
  script[#script + 1] = "wait"
  local r = suite.must({"sh", "-c", table.concat(script, "\n")}, {timeout = timeout or 120})
  local rcs = {}
  for i, rc in r.stdout:gmatch("(%d+) (%d+)") do rcs[tonumber(i)] = tonumber(rc) end
  return rcs
end

-- block data -----------------------------------------------------------------------------

--- The content block `n` holds for tag and generation: 4 KiB naming all three.
-- @tparam string tag
-- @tparam integer gen
-- @tparam integer n block number on the device
-- @treturn string
function suite.block(tag, gen, n)
  local line = string.format("sts %s gen %d block %d|", tag, gen, n)
  return (line:rep(suite.BLOCK // #line + 1)):sub(1, suite.BLOCK)
end

local function blocks(tag, gen, first, count)
  local parts = {}
  for n = first, first + count - 1 do parts[#parts + 1] = suite.block(tag, gen, n) end
  return table.concat(parts)
end
suite.blocks = blocks

--- Writes bytes at a byte offset with O_DIRECT (dd); true or nil, message.
-- offset and #data are multiples of 4 KiB.
-- io_size (default 4096, a divisor of offset and #data) is the size of
-- each write request.
function suite.write_at(path, offset, data, io_size)
  io_size = io_size or 4096
  local r = suite.run({"dd", "of=" .. path, "bs=" .. io_size, "seek=" .. offset // io_size,
    "iflag=fullblock", "oflag=direct", "conv=notrunc"}, {stdin = data})
  if r.rc ~= 0 then return nil, (r.stderr:match("dd: ([^\n]*)") or r.stderr) end
  return true
end

--- Sends the device a cache flush (fsync of the block device, no data).
function suite.flush_device(path)
  return suite.must({"dd", "if=/dev/null", "of=" .. path, "count=0", "conv=fsync,notrunc"})
end

--- Reads len bytes at a byte offset with O_DIRECT; the bytes, or nil, message.
function suite.read_at(path, offset, len)
  local r = suite.run({"dd", "if=" .. path, "bs=4096", "skip=" .. offset // 4096,
    "count=" .. len // 4096, "iflag=direct"})
  if r.rc ~= 0 then return nil, (r.stderr:match("dd: ([^\n]*)") or r.stderr) end
  return r.stdout
end

--- Stamps blocks first .. first+count-1 (4 KiB blocks) of path.
-- io_size: bytes per write request (default 4096); 65536 writes whole
-- 64 KiB cache/pool blocks at once.
-- @treturn boolean|nil true, or nil and dd's message
function suite.write_blocks(path, first, count, tag, gen, io_size)
  return suite.write_at(path, first * suite.BLOCK, blocks(tag, gen, first, count), io_size)
end

--- How many groups of `per` 4 KiB blocks, of `groups` from block 0, hold
-- exactly tag/gen (e.g. per = 16: whole 64 KiB cache blocks).
function suite.count_intact(path, groups, per, tag, gen)
  local data = suite.read_at(path, 0, groups * per * suite.BLOCK)
  if not data then return 0 end
  local n = 0
  for g = 0, groups - 1 do
    local whole = true
    for i = 0, per - 1 do
      local b = g * per + i
      if data:sub(b * suite.BLOCK + 1, (b + 1) * suite.BLOCK) ~= suite.block(tag, gen, b) then
        whole = false
        break
      end
    end
    if whole then n = n + 1 end
  end
  return n
end

--- Counts the blocks of first .. first+count-1 that do not hold tag/gen.
-- @treturn integer blocks that differ (count when the read failed)
-- @treturn integer|nil the first one that differs
-- @treturn string|nil the read error
function suite.verify_blocks(path, first, count, tag, gen)
  local data, err = suite.read_at(path, first * suite.BLOCK, count * suite.BLOCK)
  if not data then return count, first, err end
  local bad, first_bad = 0, nil
  for i = 0, count - 1 do
    local got = data:sub(i * suite.BLOCK + 1, (i + 1) * suite.BLOCK)
    if got ~= suite.block(tag, gen, first + i) then
      bad = bad + 1
      first_bad = first_bad or first + i
    end
  end
  return bad, first_bad
end

--- check() that blocks hold tag/gen, naming the first bad block on failure.
function suite.check_blocks(path, first, count, tag, gen, what)
  local bad, at, err = suite.verify_blocks(path, first, count, tag, gen)
  local detail = bad == 0 and "" or string.format(" (%d of %d blocks differ, first %s%s)", bad, count,
    tostring(at), err and ": " .. err or "")
  return check(bad == 0, what .. detail)
end

--- true when every byte of s is zero
function suite.is_zero(s)
  return s ~= nil and not s:find("[^%z]")
end

--- Discards a byte range of a block device (blkdiscard); rc and message.
function suite.discard(path, offset, len)
  local r = suite.run({"blkdiscard", "-o", tostring(offset), "-l", tostring(len), path})
  return r.rc, (r.stderr:gsub("%s+$", ""))
end

--- How many `unit`-byte pieces of the first `bytes` of path contain `needle`.
function suite.count_containing(path, bytes, unit, needle)
  local data = assert(suite.read_at(path, 0, bytes))
  local n = 0
  for i = 0, bytes // unit - 1 do
    if data:find(needle, i * unit + 1, true) and data:find(needle, i * unit + 1, true) <= (i + 1) * unit then
      n = n + 1
    end
  end
  return n
end

--- true when this run breaks the scenario on purpose (STS_SUITE_MUTATE=name),
-- to show that its checks fail; says so.
function suite.mutate(name)
  if os.getenv("STS_SUITE_MUTATE") == name then
    print("MUTATION " .. name .. ": this run breaks the scenario on purpose")
    return true
  end
  return false
end

-- devices ----------------------------------------------------------------------------------

local function remove_quietly(d)
  local info = d:info()
  if info and info.exists then
    if info.suspended then d:resume() end
    local ok, msg = d:remove()
    if not ok then io.stderr:write("suite: remove ", d.dm_name, ": ", tostring(msg), "\n") end
  end
end

--- A dm device (name prefixed with the kit's prefix) removed when closed.
-- @tparam string tag part of the name
-- @param tbl a target, a list of targets or table text
-- @tparam[opt] table opts dm.create options
-- @treturn DmDevice to-be-closed through a wrapper: use `local d <close> = suite.device(...)`
local made = 0
function suite.device(tag, tbl, opts)
  made = made + 1
  local d = dm.create(testkit.prefix .. tag .. made, tbl, opts)
  return setmetatable({dev = d, path = d.path, name = d.dm_name}, {
    __index = function(_, k) local v = d[k]
      if type(v) == "function" then return function(_, ...) return v(d, ...) end end
      return v end,
    __close = function() remove_quietly(d) end})
end

--- The first target's typed status of a device or fixture.
function suite.status(d)
  local dev = d.dev or d
  return dev:status_table()[1]
end

--- Reloads a device's table (a target or list), raising on failure.
function suite.reload(d, tbl, opts)
  local dev = d.dev or d
  local ok, msg = dev:reload(tbl, opts)
  if not ok then error("reload " .. dev.dm_name .. ": " .. tostring(msg), 0) end
end

--- Sends a message, raising on failure; returns the target's response.
function suite.message(d, text)
  local dev = d.dev or d
  local ok, msg = dev:message(0, text)
  if not ok then error("message '" .. text .. "' to " .. dev.dm_name .. ": " .. tostring(msg), 0) end
  return ok
end

--- Polls a device's typed status every 100 ms until predicate(status)
-- holds, for targets that raise no dm event when it changes.
-- @treturn boolean|nil true and the status, or nil and the last status
function suite.poll(d, predicate, timeout_ms)
  local t0 = time.now_ms()
  while true do
    local st = suite.status(d)
    if predicate(st) then return true, st end
    if time.now_ms() - t0 > (timeout_ms or 30000) then return nil, st end
    time.sleep_ms(100)
  end
end

--- A to-be-closed value that runs fn when its scope ends.
function suite.defer(fn)
  return setmetatable({}, {__close = function() fn() end})
end

--- Fills a whole device with one byte (O_DIRECT, 1 MiB at a time).
function suite.fill(path, byte, bytes)
  local mb = bytes // suite.MiB
  local chunk = string.rep(byte, suite.MiB)
  local r = suite.run({"dd", "of=" .. path, "bs=1048576", "count=" .. mb, "iflag=fullblock",
    "oflag=direct", "conv=notrunc"}, {stdin = chunk:rep(mb)})
  if r.rc ~= 0 then error("fill " .. path .. ": " .. r.stderr, 0) end
end

--- Writes to a sysfs/procfs file and returns the old value (restore it).
function suite.set_param(path, value)
  local old = (read_file(path) or ""):gsub("%s+$", "")
  local f = assert(io.open(path, "w"))
  assert(f:write(tostring(value)))
  f:close()
  return old
end

--- "major:minor" of a device or fixture
function suite.devt(d)
  local dev = d.dev or d
  return dev.major .. ":" .. dev.minor
end

-- snapshots ------------------------------------------------------------------------------

--- An origin for dm-snapshot: a loop (the real device) and a
-- snapshot-origin device over it, to-be-closed (snapshots taken with
-- :snapshot go first).
-- @tparam integer mb size of the origin
-- @treturn table `{real=, dev=, path=, snaps={}, snapshot=function(cow_mb, persistent)}`
function suite.snapshot_origin(mb)
  local los = testkit.loop_devices(1, mb)
  local real = los[1]
  local sectors = real.size // 512
  local o = {real = real, sectors = sectors, snaps = {}, loops = {los}}
  o.dev = dm.create(testkit.prefix .. "origin" .. real.name, dm.SnapshotOriginTarget{size = sectors,
    origin = real.path})
  o.path = o.dev.path
  --- takes a snapshot (origin suspended around it); returns the DmDevice
  function o.snapshot(cow_mb, persistent, chunk)
    local cow = testkit.loop_devices(1, cow_mb)
    o.loops[#o.loops + 1] = cow
    assert(o.dev:suspend())
    local ok, snap = pcall(dm.create, testkit.prefix .. "snap" .. cow[1].name, dm.SnapshotTarget{
      size = sectors, origin = real.path, cow = cow[1].path, persistent = persistent or "P",
      chunk_size = chunk or 16})
    assert(o.dev:resume())
    if not ok then error(snap, 0) end
    o.snaps[#o.snaps + 1] = snap
    return snap
  end
  return setmetatable(o, {__close = function()
    for i = #o.snaps, 1, -1 do remove_quietly(o.snaps[i]) end
    remove_quietly(o.dev)
    for i = #o.loops, 1, -1 do o.loops[i]:remove() end
  end})
end

--- Starts merging snapshot `snap` of origin `o` back into it: the
-- snapshot device goes, and the origin's table becomes snapshot-merge
-- over the same COW device (unless `skip`, a mutation, holds).
function suite.start_merge(o, snap, skip)
  local fields = snap:targets()[1]:params()
  assert(snap:remove())
  o.snaps = {}
  if not skip then suite.reload(o.dev, dm.SnapshotMergeTarget(fields)) end
end

--- Polls a merging origin until only metadata is left in its COW store.
-- @treturn boolean|nil true and the status, or nil and the last status
function suite.wait_merged(d, timeout_ms)
  return suite.poll(d, function(s)
    return s.allocated_sectors ~= nil and s.allocated_sectors == s.metadata_sectors end,
    timeout_ms or 40000)
end

--- Puts the origin back on snapshot-origin once a merge is done.
function suite.end_merge(o)
  suite.reload(o.dev, dm.SnapshotOriginTarget{size = o.sectors, origin = o.real.path})
end

-- raid legs ------------------------------------------------------------------------------

--- n raid legs, each a metadata and a data device (linear devices over
-- their own loops, so a leg can be failed with testkit.inject), to-be-closed.
-- @treturn table list of `{meta=, data=}` linear fixtures, plus `.devices`
-- for dm.RaidTarget and `.mirrors` for dm.MirrorTarget
function suite.raid_legs(n, data_mb)
  local made = {}
  local legs = {devices = {}, mirrors = {}}
  local metas = testkit.loop_devices(n, 1)
  local datas = testkit.loop_devices(n, data_mb)
  made[#made + 1] = metas
  made[#made + 1] = datas
  for i = 1, n do
    local m = testkit.linear(metas[i])
    local d = testkit.linear(datas[i])
    made[#made + 1] = m
    made[#made + 1] = d
    legs[i] = {meta = m, data = d}
    legs.devices[i] = {metadata = m.path, data = d.path}
    legs.mirrors[i] = {device = d.path, offset = 0}
  end
  legs.sectors = datas[1].size // 512
  return setmetatable(legs, {__close = function()
    for i = #made, 1, -1 do made[i]:remove() end
  end})
end

--- Polls a raid or mirror device until its resync/recovery is done.
function suite.wait_in_sync(d, timeout_ms)
  return suite.poll(d, function(s)
    if s.raid_type then
      return s.sync_action == "idle" and s.sync_current == s.sync_total and not s.health:find("[aD]")
    end
    return s.sync_regions == s.total_regions
  end, timeout_ms or 50000)
end

-- integrity -------------------------------------------------------------------------------

--- A standalone dm-integrity device (internal crc32c tags) over a new
-- loop, sized to what the target provides; to-be-closed.
-- mode "J" (journal) or "B" (bitmap).
function suite.integrity(mb, mode)
  local los = testkit.loop_devices(1, mb)
  local features = {"internal_hash:crc32c"}
  local function target(size)
    return dm.IntegrityTarget{size = size, device = los[1].path, tag_size = 4, mode = mode,
      features = features}
  end
  local name = testkit.prefix .. "integrity" .. los[1].name
  local ok, d = pcall(dm.create, name, target(8))     -- formats the device, says what it provides
  if not ok then los:remove(); error(d, 0) end
  local provided = d:status_table()[1].provided_data_sectors
  d:remove()
  local it = {loop = los[1], sectors = provided, name = name}
  function it.open()
    it.dev = dm.create(name, target(provided))
    it.path = it.dev.path
    return it.dev
  end
  function it.close()
    if it.dev then remove_quietly(it.dev); it.dev = nil end
  end
  it.open()
  return setmetatable(it, {__close = function() it.close(); los:remove() end})
end

--- Flips one byte of the last place `needle` occurs on a device (the data
-- area comes after dm-integrity's journal); true when found.
function suite.corrupt_last(path, bytes, needle)
  local data = assert(suite.read_at(path, 0, bytes))
  local at, pos = nil, 1
  while true do
    local i = data:find(needle, pos, true)
    if not i then break end
    at, pos = i, i + 1
  end
  if not at then return false end
  local sector = (at - 1) // 4096 * 4096
  local block = data:sub(sector + 1, sector + 4096)
  local off = (at - 1) - sector
  local flipped = block:sub(1, off) .. string.char(block:byte(off + 1) ~ 0xff) .. block:sub(off + 2)
  assert(suite.write_at(path, sector, flipped))
  return true
end

-- verity -------------------------------------------------------------------------------

--- Builds the hash tree of `data` on `hash` (veritysetup format).
-- @treturn string,string the root hash and the salt (nil where not printed)
function suite.verity_format(data, hash)
  local fmt = suite.must({"veritysetup", "format", data.path, hash.path})
  return fmt.stdout:match("Root hash:%s*(%x+)"), fmt.stdout:match("Salt:%s*(%x+)")
end

--- A read-only verity device over loops `data` and `hash` (4 KiB blocks,
-- the tree from block 1), to-be-closed.
function suite.verity_device(tag, data, hash, root, salt)
  return suite.device(tag, dm.VerityTarget{size = data.size // 512, data_dev = data.path,
    hash_dev = hash.path, num_data_blocks = data.size // 4096, hash_start_block = 1,
    digest = root, salt = salt}, {readonly = true})
end

-- filesystems -------------------------------------------------------------------------------

--- Mounts a device on a new directory; to-be-closed (unmounts, removes the dir).
-- @treturn table `{dir=, umount=function}`
function suite.mount(path, fstype, options)
  local dir = os.tmpname()
  os.remove(dir)
  suite.must({"mkdir", dir})
  local argv = {"mount", "-t", fstype}
  if options then argv[#argv + 1] = "-o"; argv[#argv + 1] = options end
  argv[#argv + 1] = path
  argv[#argv + 1] = dir
  local r = suite.run(argv)
  if r.rc ~= 0 then
    suite.run({"rmdir", dir})
    error("mount " .. path .. ": " .. r.stderr, 0)
  end
  local m = {dir = dir, mounted = true}
  function m.umount()
    if not m.mounted then return true end
    local u = suite.run({"umount", dir})
    if u.rc ~= 0 then return nil, u.stderr end
    m.mounted = false
    suite.run({"rmdir", dir})
    return true
  end
  return setmetatable(m, {__close = function()
    if m.mounted then
      local ok = m.umount()
      if not ok then suite.run({"umount", "-l", dir}) end
    end
  end})
end

--- Writes a file of n copies of a line naming the file; returns the content.
function suite.write_file(path, name, kib)
  local line = ("file " .. name .. " "):rep(64):sub(1, 1023) .. "\n"
  local data = line:rep(kib)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(data)
  local closed, cerr = f:close()
  if not ok then return nil, werr end
  if not closed then return nil, cerr end
  return data
end

--- Kernel log lines after mark (a count from a previous call); all and the new count.
function suite.dmesg(mark)
  local lines = {}
  for line in suite.must({"dmesg"}).stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local new = {}
  for i = (mark or 0) + 1, #lines do new[#new + 1] = lines[i] end
  return new, #lines
end

return suite

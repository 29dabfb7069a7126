--- sts.testkit.stacks: fixtures for the stacks a storage test builds most:
-- classic snapshots (and merging them back), raid and mirror sets with legs
-- that fail and come back, dm-crypt, dm-integrity and writecache. Each is
-- to-be-closed, tracked by the kit from the moment it exists, torn down
-- newest first, and has a typed `:status()`.
--
-- Every leg, origin and store is a linear device over its own loop device,
-- so a fault can be swapped in under the live stack (`testkit.inject`, or
-- the fixtures' own `fail_leg`).

local dm = require "sts.dm"
local errors = require "sts.errors"
local lifecycle = require "sts.testkit.lifecycle"
local fixtures = require "sts.testkit.fixtures"
local wait = require "sts.testkit.wait"

local new_name, class, unwrap, field = lifecycle.new_name, lifecycle.class, lifecycle.unwrap,
  lifecycle.field
local check_positive_integer = lifecycle.check_positive_integer
local check_fields = errors.check_options
local build_stack, Stack = fixtures.build_stack, fixtures.Stack

local function value_error(fmt, ...) errors.raisef("ValueError", fmt, ...) end
local function kit_error(fmt, ...) errors.raisef("TestkitError", fmt, ...) end

local testkit = {}

-- A fixture class whose instances are stacks: Stack's remove and status,
-- plus what `methods` adds.
local function stack_class(name)
  local c = class(name)
  for k, v in pairs(Stack) do
    if type(v) == "function" and c[k] == nil and k:sub(1, 2) ~= "__" then c[k] = v end
  end
  return c
end

-- dm devices above the top one (a snapshot's origin), removed first
local function remove_extra(self, problems)
  for i = #(self.extra or {}), 1, -1 do
    local ok, msg = lifecycle.remove_dm(self.extra[i])
    if not ok then problems[#problems + 1] = msg end
  end
end

local function stack_remove(self)
  if self.removed then return true end
  local problems = {}
  remove_extra(self, problems)
  local ok, err = pcall(Stack.remove, self)
  if not ok then problems[#problems + 1] = tostring(err) end
  if #problems > 0 then kit_error("remove %s: %s", self.name, table.concat(problems, "; ")) end
  return true
end

-- the path and sector count of a backing given as a fixture, DmDevice,
-- loop or path; nil when none was given
local function backing_of(value, what)
  if value == nil then return nil end
  value = unwrap(value)
  local path = type(value) == "string" and value or field(value, "path")
  if type(path) ~= "string" then value_error("%s: backing must be a fixture, a DmDevice, a loop or a path", what) end
  local bytes = field(value, "size") or require("sts.loop").size_of(path)
  if math.type(bytes) ~= "integer" then value_error("%s: cannot tell the size of %s", what, path) end
  return path, bytes // 512
end

local function optional_positive(opts, names, what)
  for _, n in ipairs(names) do
    if opts[n] ~= nil then check_positive_integer(opts[n], n, what) end
  end
end

-- snapshots ------------------------------------------------------------------------

local Snapshot = stack_class("sts.testkit.Snapshot")

local SNAPSHOT_FIELDS = {origin = true, origin_mb = true, cow_mb = true, chunk_size = true,
  persistent = true, name = true}

--- A classic (non-thin) snapshot: `.origin` (a snapshot-origin device:
-- write here, the snapshot keeps the old data), `.dev` (the snapshot: the
-- frozen view), `.base` (the device under both: the given `origin`, else
-- a new one of `origin_mb`), `.cow` (the exception store, a linear device
-- of `cow_mb` over a loop). chunk_size in sectors (default 8 = 4 KiB).
-- persistent: true (P, default), false (N, transient), or "overflow" (PO:
-- a full store marks the snapshot overflowed instead of invalid).
-- @tparam table opts `origin=`, `origin_mb=64`, `cow_mb=8`, `chunk_size=8`,
-- `persistent=true`, `name=`
-- @treturn table the fixture: `:status()`, `:merge()`, `:remove()`
function testkit.snapshot(opts)
  local what = "testkit.snapshot"
  opts = check_fields(opts, SNAPSHOT_FIELDS, what)
  optional_positive(opts, {"origin_mb", "cow_mb", "chunk_size"}, what)
  local persistent = opts.persistent
  if persistent == nil then persistent = true end
  local store = ({[true] = "P", [false] = "N", overflow = "PO"})[persistent]
  if not store then value_error("%s: persistent must be true, false or \"overflow\"", what) end
  local chunk = opts.chunk_size or 8
  local base_path, base_sectors = backing_of(opts.origin, what)
  local name = dm.check_name(opts.name or new_name("snap"), what .. ": name")
  local parts = {{"cow", opts.cow_mb or 8}}
  if not base_path then table.insert(parts, 1, {"base", opts.origin_mb or 64}) end
  local snap = build_stack("snapshot", name, parts, function(s)
    if base_path then
      s.base_path, s.base_sectors = base_path, base_sectors
    else
      s.base_path, s.base_sectors = s.base.path, s.base.size // 512
    end
    s.chunk_size, s.store = chunk, store
    return dm.SnapshotTarget{size = s.base_sectors, origin = s.base_path, cow = s.cow.path,
      persistent = store, chunk_size = chunk}
  end, Snapshot)
  -- the origin after the snapshot: snapshot-origin learns the chunk size
  -- it splits writes at when it resumes
  local ok, err = pcall(function()
    local origin_name = new_name("origin")
    snap.origin = dm.create(origin_name, dm.SnapshotOriginTarget{size = snap.base_sectors,
      origin = snap.base_path})
    snap.extra = {origin_name}
  end)
  if not ok then
    pcall(snap.remove, snap)
    error(err, 0)
  end
  return snap
end

Snapshot.remove = stack_remove

--- The typed status of the snapshot (snapshot-merge while merging):
-- `allocated_sectors`, `total_sectors`, `metadata_sectors`, or `invalid` /
-- `overflow` / `merge_failed`.
-- @treturn table
function Snapshot:status()
  if self.merged then kit_error("snapshot %s: merged into its origin, there is no snapshot now", self.name) end
  return self.dev:status_table()[1]
end

local MERGE_OPTS = {timeout_ms = "number", interval_ms = "number"}

--- True when a snapshot-merge status says the merge is complete: only the
-- store's own metadata is left allocated.
-- @tparam table st a snapshot-merge typed status
-- @treturn boolean
function testkit.merge_complete(st)
  return st.allocated_sectors ~= nil and st.allocated_sectors == st.metadata_sectors
end

--- Merges the snapshot back into its origin and returns when the merge is
-- complete: the origin then reads as the snapshot did. The procedure (as
-- lvm's): the snapshot is suspended, the origin's table becomes
-- snapshot-merge over the same store (the kernel hands the snapshot's
-- exceptions over when it resumes), the snapshot device goes (it would
-- only give I/O errors now), and when the status says the merge is done
-- (allocated == metadata sectors; the kernel raises no event for that, so
-- `wait_for`'s interval re-read sees it) the origin becomes a plain
-- linear device over the base. Needs a persistent store.
-- @tparam[opt] table opts `timeout_ms` (60000), `interval_ms` (100)
-- @treturn table the last snapshot-merge status (complete)
function Snapshot:merge(opts)
  opts = check_fields(opts, MERGE_OPTS, "snapshot:merge")
  if self.merged then kit_error("snapshot %s: already merged", self.name) end
  if self.store == "N" then kit_error("snapshot %s: a transient (persistent=false) snapshot cannot be merged", self.name) end
  local st = self:status()
  if st.invalid then kit_error("snapshot %s: invalid, cannot be merged", self.name) end
  local merge = dm.SnapshotMergeTarget{size = self.base_sectors, origin = self.base_path,
    cow = self.cow.path, persistent = self.store, chunk_size = self.chunk_size}
  assert(self.dev:suspend())
  local ok, msg = self.origin:reload(merge)
  if not ok then
    self.dev:resume()
    errors.raise("DeviceError", "snapshot " .. self.name .. ": merge refused: " .. msg)
  end
  -- the snapshot device is done with: remove it (resumed first by
  -- remove_by_name), keep the name free for teardown
  local okr, why = lifecycle.remove_dm(self.name)
  if not okr then kit_error("snapshot %s: remove after handover: %s", self.name, why) end
  self.dev = nil
  self.merged = true
  local done = wait.wait_for(self.origin, function(s)
    if s.merge_failed then kit_error("snapshot %s: the kernel says the merge failed", self.name) end
    return testkit.merge_complete(s)
  end, opts.timeout_ms or 60000, {interval_ms = opts.interval_ms})
  local okl, msgl = self.origin:reload(dm.LinearTarget{size = self.base_sectors, device = self.base_path})
  if not okl then kit_error("snapshot %s: origin back to linear: %s", self.name, msgl) end
  return done
end

-- raid and mirror ---------------------------------------------------------------------

-- the data sectors of a raid set of n legs of `leg` sectors each
local RAID_DATA_LEGS = {
  raid0 = function(n) return n end, raid1 = function() return 1 end,
  raid4 = function(n) return n - 1 end, raid5 = function(n) return n - 1 end,
  raid6 = function(n) return n - 2 end, raid10 = function(n) return n / 2 end,
}
local RAID_MIN_LEGS = {raid0 = 2, raid1 = 2, raid4 = 3, raid5 = 3, raid6 = 4, raid10 = 4}
-- a level name as dm-raid takes it ("raid5" is raid5_ls)
local RAID_TYPES = {raid5 = "raid5_ls", raid6 = "raid6_zr", raid4 = "raid4"}

local Raid = stack_class("sts.testkit.Raid")
Raid.remove = stack_remove

local RAID_FIELDS = {level = true, legs = true, leg_mb = true, chunk_size = true,
  region_size = true, nosync = true, name = true}
-- each leg's metadata area: 4 MiB at the start of its loop
local RAID_META_MB = 4

--- A dm-raid set: `legs` legs (default 2; 3 for raid4/5, 4 for raid6 and
-- raid10) of `leg_mb` each (default 16), every leg a metadata and a data
-- linear device over its own loop (`.legs[i] = {meta=, data=}`), so a leg
-- can fail and come back. level: raid1 (default), raid0, raid4, raid5
-- (left symmetric), raid5_la/ra/ls/rs, raid6 (zero restart), raid6_*,
-- raid10. chunk_size in sectors (128 for striped levels). `nosync = true`
-- skips the initial resync.
-- @tparam table opts
-- @treturn table the fixture: `.dev`, `.legs`, `:status()` (typed raid
-- status), `:fail_leg(i)`, `:restore_leg(i)`, `:wait_sync()`, `:remove()`
function testkit.raid(opts)
  local what = "testkit.raid"
  opts = check_fields(opts, RAID_FIELDS, what)
  optional_positive(opts, {"legs", "leg_mb", "chunk_size", "region_size"}, what)
  local level = opts.level or "raid1"
  if type(level) ~= "string" then value_error("%s: level must be a string", what) end
  local family = level:match("^(raid%d+)")
  if not family or not RAID_DATA_LEGS[family] then
    value_error("%s: unknown level %q (raid0, raid1, raid4, raid5, raid6, raid10 or a layout such as raid5_la)",
      what, level)
  end
  local n = opts.legs or RAID_MIN_LEGS[family]
  if n < RAID_MIN_LEGS[family] then value_error("%s: %s needs at least %d legs, got %d", what, level,
    RAID_MIN_LEGS[family], n) end
  if family == "raid10" and n % 2 ~= 0 then value_error("%s: raid10 needs an even number of legs", what) end
  local leg_mb = opts.leg_mb or 16
  local chunk = opts.chunk_size or (family == "raid1" and 0 or 128)
  local name = dm.check_name(opts.name or new_name("raid"), what .. ": name")
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = {"meta" .. i, RAID_META_MB}
    parts[#parts + 1] = {"leg" .. i, leg_mb}
  end
  return build_stack("raid", name, parts, function(s)
    s.level, s.legs = level, {}
    local devices = {}
    local leg_sectors = math.maxinteger
    for i = 1, n do
      s.legs[i] = {meta = s["meta" .. i], data = s["leg" .. i]}
      -- metadata areas start zeroed: a fresh superblock
      local f = assert(io.open(s.legs[i].meta.path, "r+b"))
      assert(f:write(string.rep("\0", 4096)))
      f:close()
      devices[i] = {metadata = s.legs[i].meta.path, data = s.legs[i].data.path}
      leg_sectors = math.min(leg_sectors, s.legs[i].data.size // 512)
    end
    if chunk > 0 then leg_sectors = leg_sectors - leg_sectors % chunk end
    local features = {}
    if opts.region_size then features[#features + 1] = {"region_size", opts.region_size} end
    if opts.nosync then features[#features + 1] = "nosync" end
    s.sectors = math.tointeger(leg_sectors * RAID_DATA_LEGS[family](n))
    return dm.RaidTarget{size = s.sectors, raid_type = RAID_TYPES[level] or level, chunk_size = chunk,
      features = features, devices = devices}
  end, Raid)
end

function Raid:status()
  return self.dev:status_table()[1]
end

local function leg_of(self, i, what)
  if math.type(i) ~= "integer" or not self.legs[i] then
    value_error("%s: leg must be an integer from 1 to %d, got %s", what, #self.legs, tostring(i))
  end
  return self.legs[i]
end

local LEG_WAIT = {timeout_ms = "number"}

-- Swaps the tables of a leg's devices for error targets (kept to put back).
local function fail_devices(leg, devs)
  leg.saved = leg.saved or {}
  for _, d in ipairs(devs) do
    local saved = d:targets()
    local ok, msg = d:reload(dm.ErrorTarget{size = d.size // 512})
    if not ok then kit_error("fail %s: %s", d.dm_name, msg) end
    leg.saved[#leg.saved + 1] = {dev = d, targets = saved}
  end
end

local function restore_devices(leg)
  for i = #(leg.saved or {}), 1, -1 do
    local s = leg.saved[i]
    local ok, msg = s.dev:reload(s.targets)
    if not ok then kit_error("restore %s: %s", s.dev.dm_name, msg) end
  end
  leg.saved = nil
end

-- one direct write to the set, so the kernel meets a failed leg now
local function touch(dev)
  local sio = require "sts.io"
  local data = sio.read_block(dev, 0, 4096)
  if data then sio.write_block(dev, 0, data, {dsync = true}) end
end

-- The fail_leg and restore_leg of raid and mirror sets. `parts(leg)`: the
-- leg's devices to fail; `dead(char)`: whether a health char shows it failed.
local function fail_leg(self, kind, i, opts, parts, dead)
  opts = check_fields(opts, LEG_WAIT, kind .. ":fail_leg")
  local leg = leg_of(self, i, kind .. ":fail_leg")
  if leg.saved then kit_error("%s %s: leg %d is already failed", kind, self.name, i) end
  fail_devices(leg, parts(leg))
  touch(self.dev)
  return wait.wait_for(self.dev, function(st) return dead(st.health_chars[i]) end,
    opts.timeout_ms or 30000)
end

local function restore_leg(self, kind, i)
  local leg = leg_of(self, i, kind .. ":restore_leg")
  if not leg.saved then kit_error("%s %s: leg %d is not failed", kind, self.name, i) end
  restore_devices(leg)
  local ok, msg = self.dev:reload(self.dev:targets())
  if not ok then kit_error("%s %s: reload after restoring leg %d: %s", kind, self.name, i, msg) end
  return self:status()
end

--- Fails leg i: its devices' tables become error targets, a write goes to
-- the set so the kernel meets the failure, and this returns when the
-- status shows the leg dead (`health_chars[i] == "D"`).
-- @tparam integer i the leg, from 1
-- @tparam[opt] table opts `timeout_ms` (30000)
-- @treturn table the typed status
function Raid:fail_leg(i, opts)
  return fail_leg(self, "raid", i, opts, function(leg) return {leg.data, leg.meta} end,
    function(c) return c == "D" end)
end

--- Brings leg i back: its tables are restored and the set reloaded with
-- its own table, which makes dm-raid re-add the leg and start recovering
-- it (wait with `:wait_sync()`).
-- @tparam integer i the leg, from 1
-- @treturn table the typed status right after
function Raid:restore_leg(i)
  return restore_leg(self, "raid", i)
end

--- Waits until the set is in sync with every leg alive: sync_action
-- "idle", sync_current == sync_total, every health char "A".
-- @tparam[opt] table opts `timeout_ms` (120000)
-- @treturn table the typed status
function Raid:wait_sync(opts)
  opts = check_fields(opts, LEG_WAIT, "raid:wait_sync")
  return wait.wait_for(self.dev, function(st)
    return st.health:match("^A+$") ~= nil and st.sync_current == st.sync_total
      and (st.sync_action == nil or st.sync_action == "idle")
  end, opts.timeout_ms or 120000)
end

local Mirror = stack_class("sts.testkit.Mirror")
Mirror.remove = stack_remove

local MIRROR_FIELDS = {legs = true, leg_mb = true, region_size = true, nosync = true, name = true}

--- A dm-mirror set with a core log: `legs` legs (default 2) of `leg_mb`
-- (default 16) each, each a linear device over its own loop
-- (`.legs[i] = {data=}`). region_size in sectors (default 1024).
-- @tparam table opts
-- @treturn table the fixture: `.dev`, `:status()` (typed mirror status),
-- `:fail_leg(i)`, `:restore_leg(i)`, `:wait_sync()`, `:remove()`
function testkit.mirror(opts)
  local what = "testkit.mirror"
  opts = check_fields(opts, MIRROR_FIELDS, what)
  optional_positive(opts, {"legs", "leg_mb", "region_size"}, what)
  local n = opts.legs or 2
  if n < 2 then value_error("%s: a mirror needs at least 2 legs, got %d", what, n) end
  local name = dm.check_name(opts.name or new_name("mirror"), what .. ": name")
  local parts = {}
  for i = 1, n do parts[i] = {"leg" .. i, opts.leg_mb or 16} end
  return build_stack("mirror", name, parts, function(s)
    s.legs = {}
    local mirrors, sectors = {}, math.maxinteger
    for i = 1, n do
      s.legs[i] = {data = s["leg" .. i]}
      mirrors[i] = {device = s.legs[i].data.path, offset = 0}
      sectors = math.min(sectors, s.legs[i].data.size // 512)
    end
    s.sectors = sectors
    return dm.MirrorTarget{size = sectors, log_type = "core", region_size = opts.region_size or 1024,
      log_features = opts.nosync and {"nosync"} or nil, mirrors = mirrors}
  end, Mirror)
end

function Mirror:status()
  return self.dev:status_table()[1]
end

--- Fails leg i (error targets under it, a write to meet it) and returns
-- when the status no longer shows the leg alive.
-- @tparam integer i
-- @tparam[opt] table opts `timeout_ms` (30000)
-- @treturn table the typed status
function Mirror:fail_leg(i, opts)
  return fail_leg(self, "mirror", i, opts, function(leg) return {leg.data} end,
    function(c) return c ~= "A" end)
end

--- Brings leg i back and reloads the mirror with its table (dm-mirror
-- resyncs the regions it marked out of sync).
-- @tparam integer i
-- @treturn table the typed status right after
function Mirror:restore_leg(i)
  return restore_leg(self, "mirror", i)
end

--- Waits until every region is in sync and every leg alive.
-- @tparam[opt] table opts `timeout_ms` (120000)
-- @treturn table the typed status
function Mirror:wait_sync(opts)
  opts = check_fields(opts, LEG_WAIT, "mirror:wait_sync")
  return wait.wait_for(self.dev, function(st)
    return st.sync_regions == st.total_regions and st.health:match("^A+$") ~= nil
  end, opts.timeout_ms or 120000)
end

-- crypt, integrity, writecache ---------------------------------------------------------------

--- The key `testkit.crypt` uses when given none: 512 bits in hex (right for
-- aes-xts-plain64). Not a secret: for tests only.
testkit.TEST_KEY = string.rep("0123456789abcdef", 8)

local Simple = stack_class("sts.testkit.Simple")
Simple.remove = stack_remove

function Simple:status()
  return self.dev:status_table()[1]
end

-- A device over `backing` (or a new scratch device of size_mb), its table
-- from make_target(path, sectors, stack).
local function over_backing(kind, name, backing, size_mb, make_target)
  local path, sectors = backing_of(backing, "testkit." .. kind)
  local parts = path and {} or {{"backing", size_mb}}
  return build_stack(kind, name, parts, function(s)
    if not path then path, sectors = s.backing.path, s.backing.size // 512 end
    s.backing_path, s.backing_sectors = path, sectors
    return make_target(path, sectors, s)
  end, Simple)
end

local CRYPT_FIELDS = {backing = true, size_mb = true, key = "string", cipher = "string", name = true}

--- A dm-crypt device over `backing` (a fixture, DmDevice, loop or path),
-- or over a new device of `size_mb` (default 16). cipher default
-- "aes-xts-plain64", key default `testkit.TEST_KEY` (hex, or a keyring
-- reference ":<len>:<type>:<desc>"). A key the kernel refuses raises
-- DeviceError with the kernel's reason, and nothing is left.
-- @tparam table opts
-- @treturn table the fixture: `.dev`, `.path`, `.key`, `.cipher`, `:remove()`
function testkit.crypt(opts)
  local what = "testkit.crypt"
  opts = check_fields(opts, CRYPT_FIELDS, what)
  optional_positive(opts, {"size_mb"}, what)
  local name = dm.check_name(opts.name or new_name("crypt"), what .. ": name")
  local key, cipher = opts.key or testkit.TEST_KEY, opts.cipher or "aes-xts-plain64"
  local c = over_backing("crypt", name, opts.backing, opts.size_mb or 16, function(path, sectors)
    return dm.CryptTarget{size = sectors, cipher = cipher, key = key, device = path}
  end)
  c.key, c.cipher = key, cipher
  return c
end

local INTEGRITY_FIELDS = {backing = true, size_mb = true, mode = "string", hash = "string",
  tag_size = true, name = true}

--- A dm-integrity device over `backing` or a new device of `size_mb`
-- (default 16): formatted by a first, one-chunk mapping, then mapped whole
-- (`.sectors`: what the kernel provides). mode "J" (journal, default),
-- "D" (direct), "B" (bitmap); hash default "crc32c" (tag_size 4).
-- @tparam table opts
-- @treturn table the fixture: `.dev`, `:status()` (mismatches,
-- provided_data_sectors), `:remove()`
function testkit.integrity(opts)
  local what = "testkit.integrity"
  opts = check_fields(opts, INTEGRITY_FIELDS, what)
  optional_positive(opts, {"size_mb", "tag_size"}, what)
  local mode = opts.mode or "J"
  if not ({J = true, D = true, B = true})[mode] then value_error("%s: mode must be J, D or B", what) end
  local hash = opts.hash or "crc32c"
  local tag = opts.tag_size or (hash == "crc32c" and 4 or 32)
  local name = dm.check_name(opts.name or new_name("integrity"), what .. ": name")
  local function table_of(path, sectors)
    return dm.IntegrityTarget(0, sectors, string.format("%s 0 %d %s 1 internal_hash:%s", path, tag, mode, hash))
  end
  local it = over_backing("integrity", name, opts.backing, opts.size_mb or 16, function(path)
    -- zeroed superblock: the kernel formats the device on the first load
    local f = assert(io.open(path, "r+b"))
    assert(f:write(string.rep("\0", 4096)))
    f:close()
    return table_of(path, 8)
  end)
  local ok, err = pcall(function()
    local provided = it:status().provided_data_sectors
    local okr, msg = it.dev:reload(table_of(it.backing_path, provided))
    if not okr then kit_error("integrity %s: map %d sectors: %s", name, provided, msg) end
    it.sectors = provided
  end)
  if not ok then
    pcall(it.remove, it)
    error(err, 0)
  end
  return it
end

local WRITECACHE_FIELDS = {origin_mb = true, cache_mb = true, block_size = true, cache_type = "string",
  features = "table", name = true}

--- A writecache over a new origin of `origin_mb` (64) with an SSD-type
-- ("s", default) or pmem-type ("p") cache of `cache_mb` (16); block_size
-- in bytes (4096); features as `WritecacheTarget`'s.
-- @tparam table opts
-- @treturn table the fixture: `.dev`, `.origin`, `.cache`, `:status()`
-- (free_blocks, writeback_blocks, ...), `:flush()`, `:remove()`
function testkit.writecache(opts)
  local what = "testkit.writecache"
  opts = check_fields(opts, WRITECACHE_FIELDS, what)
  optional_positive(opts, {"origin_mb", "cache_mb", "block_size"}, what)
  local name = dm.check_name(opts.name or new_name("writecache"), what .. ": name")
  local w = build_stack("writecache", name, {{"cache", opts.cache_mb or 16}, {"origin", opts.origin_mb or 64}},
    function(s)
      local f = assert(io.open(s.cache.path, "r+b"))
      assert(f:write(string.rep("\0", 4096)))
      f:close()
      return dm.WritecacheTarget{size = s.origin.size // 512, cache_type = opts.cache_type or "s",
        origin_dev = s.origin.path, cache_dev = s.cache.path, block_size = opts.block_size or 4096,
        features = opts.features or {}}
    end, Simple)
  w.flush = function(self)
    local ok, msg = self.dev:message(0, "flush")
    if not ok then errors.raise("DeviceError", "writecache " .. self.name .. ": flush: " .. msg) end
    return self:status()
  end
  return w
end

return testkit

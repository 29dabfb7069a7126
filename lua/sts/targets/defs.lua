--- sts.targets.defs: the kernel's target types, one definition each.
-- A definition gives the class name, the kernel type name, the named
-- fields (in the order they appear in the args, which is also the order
-- errors are reported in) and, where the args are not simply those
-- fields one after another, its own build(p, out) and parse(r).
-- normalize(p, cx), when present, fills defaults that depend on other
-- fields and checks what spans several fields; it runs for both forms.
-- The "args:" comment in each is the kernel's argument syntax.
-- Constructor-argument syntax follows the kernel's
-- Documentation/admin-guide/device-mapper/*.rst and drivers/md/dm-*.c.
-- Internal to sts.targets.

local K = require "sts.targets.fields"

local bad = K.bad

-- A field spec: F("offset", K.uint, {default = 0}).
local function F(name, kind, opts)
  local f = {name = name, kind = kind}
  if opts then
    f.default, f.optional = opts.default, opts.optional
  end
  return f
end

local OPTIONAL = {optional = true}

local defs = {}

local function def(d)
  defs[#defs + 1] = d
  return d
end

-- The plain list of atoms kind (selector args, path args, log args):
-- checked like a counted list, written by the owner.
local atom_list = K.atoms()

-- linear, error, zero -----------------------------------------------------------

def {
  name = "LinearTarget", type = "linear",
  -- args: <device> <offset>
  fields = {F("device", K.device), F("offset", K.uint, {default = 0})},
}

-- args: (no arguments)
def {name = "ErrorTarget", type = "error", fields = {}}
-- args: (no arguments)
def {name = "ZeroTarget", type = "zero", fields = {}}

-- striped ---------------------------------------------------------------------

local leg_fields = {F("device", K.device), F("offset", K.uint, {default = 0})}
local legs = K.list_of(leg_fields, {min = 1, coerce = K.bare_device_as("device")})

local function read_legs(r, n, path)
  if 2 * n > r:left() then r:take(2 * n, path .. " (device and offset each)") end
  local out = {}
  for i = 1, n do
    local where = path .. "[" .. i .. "]"
    out[i] = {device = r:word(where .. ".device"), offset = r:uint(where .. ".offset")}
  end
  return out
end

local function emit_legs(list, out)
  for _, leg in ipairs(list) do
    out[#out + 1] = leg.device
    out[#out + 1] = K.int_word(leg.offset)
  end
end

def {
  name = "StripedTarget", type = "striped",
  -- args: <#stripes> <chunk_size> [<device> <offset>]+
  fields = {F("chunk_size", K.uint), F("stripes", legs)},
  build = function(p, out)
    out[#out + 1] = K.int_word(#p.stripes)
    out[#out + 1] = K.int_word(p.chunk_size)
    emit_legs(p.stripes, out)
  end,
  parse = function(r)
    local n = r:uint("number of stripes")
    local chunk = r:uint("chunk_size")
    return {chunk_size = chunk, stripes = read_legs(r, n, "stripes")}
  end,
}

-- delay -------------------------------------------------------------------------

-- A write or flush leg; what is left out is taken from the leg before it.
local delay_leg = K.record {
  F("device", K.device, OPTIONAL), F("offset", K.uint, OPTIONAL), F("delay", K.uint, OPTIONAL),
}

local function fill_leg(leg, from)
  return {
    device = leg.device or from.device,
    offset = leg.offset or from.offset,
    delay = leg.delay or from.delay,
  }
end

def {
  name = "DelayTarget", type = "delay",
  -- args: <device> <offset> <delay> [<write_device> <write_offset> <write_delay> [<flush_device> <flush_offset> <flush_delay>]]
  fields = {
    F("device", K.device), F("offset", K.uint, {default = 0}), F("delay", K.uint),
    F("write", delay_leg, OPTIONAL), F("flush", delay_leg, OPTIONAL),
  },
  normalize = function(p)
    -- the kernel takes 3, 6 or 9 args: a flush leg needs a write leg,
    -- which then defaults to the read leg
    if p.flush and not p.write then p.write = {} end
    if p.write then p.write = fill_leg(p.write, p) end
    if p.flush then p.flush = fill_leg(p.flush, p.write) end
  end,
}

-- flakey, dust --------------------------------------------------------------------

def {
  name = "FlakeyTarget", type = "flakey",
  -- args: <device> <offset> <up> <down> [<#features> <feature>*]
  fields = {
    F("device", K.device), F("offset", K.uint, {default = 0}),
    F("up", K.uint), F("down", K.uint),
    F("features", K.features {
      nargs = {
        corrupt_bio_byte = 4, random_read_corrupt = 1, random_write_corrupt = 1,
        error_reads = 0, drop_writes = 0, error_writes = 0,
      },
    }, OPTIONAL),
  },
}

def {
  name = "DustTarget", type = "dust",
  -- args: <device> <offset> <block_size (bytes)>
  fields = {F("device", K.device), F("offset", K.uint, {default = 0}), F("block_size", K.uint, {default = 512})},
}

-- multipath ----------------------------------------------------------------------

local path_fields = {F("device", K.device), F("args", atom_list, {default = {}})}
local group_fields = {
  F("selector", K.word, {default = "round-robin"}),
  F("selector_args", atom_list, {default = {}}),
  F("paths", K.list_of(path_fields, {min = 1, coerce = K.bare_device_as("device")})),
}
local mpath_features = K.features {
  nargs = {
    pg_init_retries = 1, pg_init_delay_msecs = 1, queue_mode = 1,
    queue_if_no_path = 0, retain_attached_hw_handler = 0,
  },
  count = "always",
}

local function emit_atoms(list, out)
  for _, v in ipairs(list) do
    out[#out + 1] = math.type(v) == "integer" and K.int_word(v) or v
  end
end

local function read_atoms(r, n, path)
  local out = r:take(n, path)
  for i, w in ipairs(out) do out[i] = K.atom(w) end
  return out
end

def {
  name = "MultipathTarget", type = "multipath",
  -- args: <#features> <feature>* <#hw_handler_args> [<hw_handler> <arg>*] <#groups> <initial_group> [<selector> <#selector_args> <arg>* <#paths> <#path_args> [<device> <arg>*]+]*
  fields = {
    F("features", mpath_features, {default = {}}),
    F("hw_handler", K.word, OPTIONAL),
    F("hw_handler_args", atom_list, OPTIONAL),
    F("groups", K.list_of(group_fields)),
    F("initial_group", K.uint, OPTIONAL),
  },
  normalize = function(p, cx)
    if p.hw_handler then
      p.hw_handler_args = p.hw_handler_args or {}
    elseif p.hw_handler_args then
      if #p.hw_handler_args > 0 then bad(cx, "hw_handler_args", "needs hw_handler") end
      p.hw_handler_args = nil
    end
    local n = #p.groups
    if p.initial_group == nil then p.initial_group = n > 0 and 1 or 0 end
    if p.initial_group > n then
      bad(cx, "initial_group", "is %d but there %s only %d group%s", p.initial_group,
        n == 1 and "is" or "are", n, n == 1 and "" or "s")
    end
    for g, group in ipairs(p.groups) do
      local want = #group.paths[1].args
      for i, path in ipairs(group.paths) do
        if #path.args ~= want then
          bad(cx, string.format("groups[%d].paths[%d].args", g, i),
            "has %d item%s but paths[1].args has %d (the kernel takes the same number of"
            .. " arguments for every path of a group)", #path.args, #path.args == 1 and "" or "s", want)
        end
      end
    end
  end,
  build = function(p, out)
    mpath_features.emit(p.features, out)
    if p.hw_handler then
      out[#out + 1] = K.int_word(1 + #p.hw_handler_args)
      out[#out + 1] = p.hw_handler
      emit_atoms(p.hw_handler_args, out)
    else
      out[#out + 1] = "0"
    end
    out[#out + 1] = K.int_word(#p.groups)
    out[#out + 1] = K.int_word(p.initial_group)
    for _, group in ipairs(p.groups) do
      out[#out + 1] = group.selector
      out[#out + 1] = K.int_word(#group.selector_args)
      emit_atoms(group.selector_args, out)
      out[#out + 1] = K.int_word(#group.paths)
      out[#out + 1] = K.int_word(#group.paths[1].args)
      for _, path in ipairs(group.paths) do
        out[#out + 1] = path.device
        emit_atoms(path.args, out)
      end
    end
  end,
  parse = function(r)
    local p = {features = mpath_features.read(r, "features")}
    local hw = r:counted("hw_handler arguments")
    if #hw > 0 then
      p.hw_handler = hw[1]
      p.hw_handler_args = {}
      for i = 2, #hw do p.hw_handler_args[i - 1] = K.atom(hw[i]) end
    end
    local ngroups = r:uint("number of priority groups")
    p.initial_group = r:uint("initial priority group")
    p.groups = {}
    for g = 1, ngroups do
      local at = "groups[" .. g .. "]"
      local group = {selector = r:word(at .. ".selector")}
      group.selector_args = read_atoms(r, r:uint("number of " .. at .. ".selector_args"), at .. ".selector_args")
      local npaths = r:uint("number of " .. at .. ".paths")
      local nargs = r:uint("number of path arguments of " .. at)
      group.paths = {}
      if npaths * (1 + nargs) > r:left() then
        r:take(npaths * (1 + nargs), at .. ".paths (with their arguments)")
      end
      for i = 1, npaths do
        local pat = at .. ".paths[" .. i .. "]"
        group.paths[i] = {device = r:word(pat .. ".device"), args = read_atoms(r, nargs, pat .. ".args")}
      end
      p.groups[g] = group
    end
    return p
  end,
}

-- thin provisioning ------------------------------------------------------------------

def {
  name = "ThinPoolTarget", type = "thin-pool",
  -- args: <metadata_dev> <data_dev> <block_size> <low_water_mark> [<#features> <feature>*]
  fields = {
    F("metadata_dev", K.device), F("data_dev", K.device),
    F("block_size", K.uint), F("low_water_mark", K.uint, {default = 0}),
    F("features", K.features {
      nargs = {
        skip_block_zeroing = 0, ignore_discard = 0, no_discard_passdown = 0, read_only = 0,
        error_if_no_space = 0,
      },
    }, OPTIONAL),
  },
}

def {
  name = "ThinTarget", type = "thin",
  -- args: <pool_dev> <dev_id> [<external_origin_dev>]
  fields = {F("pool_dev", K.device), F("dev_id", K.uint), F("external_origin_dev", K.device, OPTIONAL)},
}

-- cache, era, writecache -------------------------------------------------------------

def {
  name = "CacheTarget", type = "cache",
  -- args: <metadata_dev> <cache_dev> <origin_dev> <block_size> <#features> <feature>* <policy> <#policy_args> <policy_arg>*
  fields = {
    F("metadata_dev", K.device), F("cache_dev", K.device), F("origin_dev", K.device),
    F("block_size", K.uint),
    F("features", K.features {count = "always"}, {default = {}}),
    F("policy", K.word, {default = "default"}),
    F("policy_args", K.atoms {even = true}, {default = {}}),
  },
}

def {
  name = "EraTarget", type = "era",
  -- args: <metadata_dev> <origin_dev> <block_size>
  fields = {F("metadata_dev", K.device), F("origin_dev", K.device), F("block_size", K.uint)},
}

def {
  name = "WritecacheTarget", type = "writecache",
  -- args: <p|s> <origin_dev> <cache_dev> <block_size (bytes)> <#options> <option>*
  fields = {
    F("cache_type", K.choice {"s", "p"}, {default = "s"}),
    F("origin_dev", K.device), F("cache_dev", K.device),
    F("block_size", K.uint, {default = 4096}),
    F("features", K.features {
      count = "always",
      nargs = {
        start_sector = 1, high_watermark = 1, low_watermark = 1, writeback_jobs = 1,
        autocommit_blocks = 1, autocommit_time = 1, max_age = 1, pause_writeback = 1,
      },
    }, {default = {}}),
  },
}

-- snapshots ----------------------------------------------------------------------------

local persistence = K.choice {"P", "PO", "N", "p", "po", "n"}
local snapshot_fields = {
  F("origin", K.device), F("cow", K.device),
  F("persistent", persistence, {default = "P"}),
  F("chunk_size", K.uint),
  F("features", K.features {}, OPTIONAL),
}
-- snapshot, snapshot-merge args: <origin> <cow> <P|PO|N> <chunk_size> [<#features> <feature>*]

def {name = "SnapshotTarget", type = "snapshot", fields = snapshot_fields}
def {name = "SnapshotMergeTarget", type = "snapshot-merge", fields = snapshot_fields}
def {
  name = "SnapshotOriginTarget", type = "snapshot-origin",
  -- args: <origin>
  fields = {F("origin", K.device)},
}

-- crypt, integrity, verity ------------------------------------------------------------------

def {
  name = "CryptTarget", type = "crypt",
  -- args: <cipher> <key> <iv_offset> <device> <offset> [<#options> <option>*]
  fields = {
    F("cipher", K.word), F("key", K.word), F("iv_offset", K.uint, {default = 0}),
    F("device", K.device), F("offset", K.uint, {default = 0}),
    F("features", K.features {colon = "all"}, OPTIONAL),
  },
}

def {
  name = "IntegrityTarget", type = "integrity",
  -- args: <device> <reserved_sectors> <tag_size|-> <D|J|B|R|I> <#options> <option>*
  fields = {
    F("device", K.device), F("offset", K.uint, {default = 0}),
    F("tag_size", K.uint_or_dash, {default = "-"}),
    F("mode", K.choice {"J", "D", "B", "R", "I"}, {default = "J"}),
    F("features", K.features {colon = "first", count = "always"}, {default = {}}),
  },
}

def {
  name = "VerityTarget", type = "verity",
  -- args: <version> <data_dev> <hash_dev> <data_block_size> <hash_block_size> <num_data_blocks> <hash_start_block> <algorithm> <digest> <salt> [<#options> <option>*]
  fields = {
    F("version", K.uint, {default = 1}),
    F("data_dev", K.device), F("hash_dev", K.device),
    F("data_block_size", K.uint, {default = 4096}), F("hash_block_size", K.uint, {default = 4096}),
    F("num_data_blocks", K.uint), F("hash_start_block", K.uint),
    F("algorithm", K.word, {default = "sha256"}),
    F("digest", K.word), F("salt", K.word, {default = "-"}),
    F("features", K.features {
      nargs = {
        use_fec_from_device = 1, fec_roots = 1, fec_blocks = 1, fec_start = 1,
        root_hash_sig_key_desc = 1,
      },
    }, OPTIONAL),
  },
}

-- raid, mirror -------------------------------------------------------------------------------

local raid_features = K.features {
  nargs = {
    rebuild = 1, daemon_sleep = 1, min_recovery_rate = 1, max_recovery_rate = 1,
    write_mostly = 1, max_write_behind = 1, stripe_cache = 1, region_size = 1,
    raid10_copies = 1, raid10_format = 1, delta_disks = 1, data_offset = 1,
    journal_dev = 1, journal_mode = 1,
  },
}
local raid_member = {F("metadata", K.device_or_dash, {default = "-"}), F("data", K.device_or_dash)}

def {
  name = "RaidTarget", type = "raid",
  -- args: <raid_type> <#params> <chunk_size> [<param>]* <#devices> [<metadata_dev|-> <data_dev|->]+
  fields = {
    F("raid_type", K.word), F("chunk_size", K.uint),
    F("features", raid_features, {default = {}}),
    F("devices", K.list_of(raid_member, {min = 1, coerce = K.bare_device_as("data")})),
  },
  build = function(p, out)
    local words = raid_features.words(p.features)
    out[#out + 1] = p.raid_type
    out[#out + 1] = K.int_word(1 + #words)
    out[#out + 1] = K.int_word(p.chunk_size)
    table.move(words, 1, #words, #out + 1, out)
    out[#out + 1] = K.int_word(#p.devices)
    for _, d in ipairs(p.devices) do
      out[#out + 1] = d.metadata
      out[#out + 1] = d.data
    end
  end,
  parse = function(r)
    local p = {raid_type = r:word("raid_type")}
    local params = r:counted("raid parameters")
    if #params == 0 then r:fail("the raid parameters must start with chunk_size") end
    p.chunk_size = r:as_uint(params[1], "chunk_size")
    p.features = raid_features.group(r, table.move(params, 2, #params, 1, {}), "raid parameters")
    local n = r:uint("number of devices")
    if 2 * n > r:left() then r:take(2 * n, "devices (metadata and data each)") end
    p.devices = {}
    for i = 1, n do
      local at = "devices[" .. i .. "]"
      p.devices[i] = {metadata = r:word(at .. ".metadata"), data = r:word(at .. ".data")}
    end
    return p
  end,
}

local mirror_features = K.features {}
local log_flags = K.features {}

def {
  name = "MirrorTarget", type = "mirror",
  -- args: <log_type> <#log_args> <log_arg>* <#mirrors> [<device> <offset>]+ [<#features> <feature>*]
  fields = {
    F("log_type", K.word, {default = "core"}),
    F("log_device", K.device, OPTIONAL),
    F("region_size", K.uint, OPTIONAL),
    F("log_features", log_flags, OPTIONAL),
    F("log_args", atom_list, OPTIONAL),
    F("mirrors", legs),
    F("features", mirror_features, OPTIONAL),
  },
  normalize = function(p, cx)
    local lt = p.log_type
    if lt == "core" or lt == "disk" then
      if p.region_size == nil then bad(cx, "region_size", "is required with log_type %q", lt) end
      if lt == "disk" and p.log_device == nil then bad(cx, "log_device", "is required with log_type \"disk\"") end
      if lt == "core" and p.log_device ~= nil then bad(cx, "log_device", "is not used with log_type \"core\"") end
      if p.log_args ~= nil then
        bad(cx, "log_args", "is only for other log types; core and disk logs take region_size,"
          .. " log_device and log_features")
      end
      if p.log_features and #p.log_features == 0 then p.log_features = nil end
    else
      for _, name in ipairs {"log_device", "region_size", "log_features"} do
        if p[name] ~= nil then bad(cx, name, "is only for the core and disk log types (use log_args)") end
      end
      p.log_args = p.log_args or {}
    end
  end,
  build = function(p, out)
    out[#out + 1] = p.log_type
    local words = {}
    if p.log_type == "core" or p.log_type == "disk" then
      if p.log_type == "disk" then words[#words + 1] = p.log_device end
      words[#words + 1] = K.int_word(p.region_size)
      if p.log_features then
        local flags = log_flags.words(p.log_features)
        table.move(flags, 1, #flags, #words + 1, words)
      end
    else
      emit_atoms(p.log_args, words)
    end
    out[#out + 1] = K.int_word(#words)
    table.move(words, 1, #words, #out + 1, out)
    out[#out + 1] = K.int_word(#p.mirrors)
    emit_legs(p.mirrors, out)
    mirror_features.emit(p.features, out)
  end,
  parse = function(r)
    local p = {log_type = r:word("log_type")}
    local words = r:counted("log arguments")
    if p.log_type == "core" or p.log_type == "disk" then
      local i = 1
      if p.log_type == "disk" then
        p.log_device = words[1] or r:fail("a disk log needs log_device and region_size")
        i = 2
      end
      p.region_size = r:as_uint(words[i] or r:fail("the log arguments need region_size"), "region_size")
      if #words > i then p.log_features = table.move(words, i + 1, #words, 1, {}) end
    else
      p.log_args = {}
      for i, w in ipairs(words) do p.log_args[i] = K.atom(w) end
    end
    p.mirrors = read_legs(r, r:uint("number of mirrors"), "mirrors")
    p.features = mirror_features.read(r, "features")
    return p
  end,
}

-- log-writes, unstriped ------------------------------------------------------------------------

def {
  name = "LogWritesTarget", type = "log-writes",
  -- args: <device> <log_device>
  fields = {F("device", K.device), F("log_device", K.device)},
}

def {
  name = "UnstripedTarget", type = "unstriped",
  -- args: <num_stripes> <chunk_size> <stripe> <device> <offset>
  fields = {
    F("num_stripes", K.uint), F("chunk_size", K.uint), F("stripe", K.uint),
    F("device", K.device), F("offset", K.uint, {default = 0}),
  },
  normalize = function(p, cx)
    if p.stripe >= p.num_stripes then
      bad(cx, "stripe", "is %d but stripes are numbered from 0 to num_stripes-1 (%d)", p.stripe, p.num_stripes - 1)
    end
  end,
}


-- switch, ebs, zoned, clone, vdo (6.12's targets, and ebs and clone that
-- Debian's kernels leave out) ---------------------------------------------------

local switch_args = K.features {count = "always"}

def {
  name = "SwitchTarget", type = "switch",
  doc = "<num_paths> <region_size> <num_optional_args> [<optional_args>...] [<dev_path> <offset>]+",
  fields = {
    F("region_size", K.uint),
    F("features", switch_args, {default = {}}),
    F("paths", legs),
  },
  build = function(p, out)
    out[#out + 1] = K.int_word(#p.paths)
    out[#out + 1] = K.int_word(p.region_size)
    switch_args.emit(p.features, out)
    emit_legs(p.paths, out)
  end,
  parse = function(r)
    local n = r:uint("number of paths")
    local p = {region_size = r:uint("region_size")}
    p.features = switch_args.read(r, "features")
    p.paths = read_legs(r, n, "paths")
    return p
  end,
}

def {
  name = "EbsTarget", type = "ebs",
  doc = "<dev path> <offset> <emulated sector size> [<underlying sector size>]",
  fields = {
    F("device", K.device), F("offset", K.uint, {default = 0}),
    F("emulated_sector_size", K.uint), F("underlying_sector_size", K.uint, OPTIONAL),
  },
}

def {
  name = "ZonedTarget", type = "zoned",
  doc = "<zoned block dev> | <regular dev> <zoned block dev>+ (formatted by dmzadm)",
  fields = {F("devices", K.list_of({F("device", K.device)}, {min = 1, coerce = K.bare_device_as("device")}))},
  build = function(p, out)
    for _, d in ipairs(p.devices) do out[#out + 1] = d.device end
  end,
  parse = function(r)
    local p = {devices = {}}
    if r:left() == 0 then r:fail("zoned needs at least one device") end
    while r:left() > 0 do
      p.devices[#p.devices + 1] = {device = r:word("devices[" .. (#p.devices + 1) .. "]")}
    end
    return p
  end,
}

local clone_features = K.features {}
local clone_core = K.atoms {even = true}

def {
  name = "CloneTarget", type = "clone",
  doc = "<metadata dev> <destination dev> <source dev> <region size>"
    .. " [<#feature args> [<feature arg>]* [<#core args> [<core arg>]*]]",
  fields = {
    F("metadata_dev", K.device), F("dest_dev", K.device), F("source_dev", K.device),
    F("region_size", K.uint),
    F("features", clone_features, OPTIONAL),
    F("core_args", clone_core, OPTIONAL),
  },
  normalize = function(p)
    -- core args come after the feature count: write "0" features for them
    if p.core_args and not p.features then p.features = {} end
  end,
  build = function(p, out)
    for _, k in ipairs {"metadata_dev", "dest_dev", "source_dev"} do out[#out + 1] = p[k] end
    out[#out + 1] = K.int_word(p.region_size)
    clone_features.emit(p.features, out)
    if p.core_args then clone_core.emit(p.core_args, out) end
  end,
  parse = function(r)
    local p = {metadata_dev = r:word("metadata_dev"), dest_dev = r:word("dest_dev"),
               source_dev = r:word("source_dev"), region_size = r:uint("region_size")}
    p.features = clone_features.read(r, "features")
    if r:left() > 0 then p.core_args = clone_core.read(r, "core_args") end
    return p
  end,
}

-- vdo's optional parameters are key/value pairs with no count word
local vdo_options = K.atoms {even = true}

def {
  name = "VdoTarget", type = "vdo",
  doc = "V4 <storage device> <storage device size (4096-byte blocks)> <minimum I/O size>"
    .. " <block map cache size (blocks)> <block map era length> [<key> <value>]*",
  fields = {
    F("version", K.choice {"V4", "V2", "V0"}, {default = "V4"}),
    F("storage_dev", K.device), F("storage_blocks", K.uint),
    F("minimum_io_size", K.uint, {default = 4096}),
    F("block_map_cache_blocks", K.uint, {default = 32768}),
    F("block_map_era_length", K.uint, {default = 16380}),
    F("options", vdo_options, {default = {}}),
  },
  normalize = function(p, cx)
    if p.minimum_io_size ~= 512 and p.minimum_io_size ~= 4096 then
      bad(cx, "minimum_io_size", "must be 512 or 4096 (bytes), got %d", p.minimum_io_size)
    end
  end,
  build = function(p, out)
    out[#out + 1] = p.version
    out[#out + 1] = p.storage_dev
    for _, k in ipairs {"storage_blocks", "minimum_io_size", "block_map_cache_blocks", "block_map_era_length"} do
      out[#out + 1] = K.int_word(p[k])
    end
    emit_atoms(p.options, out)
  end,
  parse = function(r)
    local p = {version = r:word("version")}
    if p.version ~= "V4" and p.version ~= "V2" and p.version ~= "V0" then
      r:fail("vdo's first argument must be its table version (V4), got " .. p.version)
    end
    p.storage_dev = r:word("storage_dev")
    p.storage_blocks = r:uint("storage_blocks")
    p.minimum_io_size = r:uint("minimum_io_size")
    p.block_map_cache_blocks = r:uint("block_map_cache_blocks")
    p.block_map_era_length = r:uint("block_map_era_length")
    if r:left() % 2 ~= 0 then r:fail("vdo's optional parameters must be key/value pairs") end
    p.options = read_atoms(r, r:left(), "options")
    return p
  end,
}
-- the default positional build and parse ---------------------------------------------------------

for _, d in ipairs(defs) do
  if not d.build then
    d.build = function(p, out)
      for _, f in ipairs(d.fields) do
        if p[f.name] ~= nil then f.kind.emit(p[f.name], out) end
      end
    end
  end
  if not d.parse then
    d.parse = function(r)
      local p = {}
      for _, f in ipairs(d.fields) do
        if not (f.optional and r:left() == 0) then p[f.name] = f.kind.read(r, f.name) end
      end
      return p
    end
  end
end

return defs

-- Host tier: sts.targets, the dm table target constructors (pure Lua).
local targets = require "sts.targets"

local check = require "helpers.raises"
local value_error = check.value_error

local KEY = "babebabebabebabebabebabebabebabe"
local DIGEST = "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076"
local SALT = "1234000000000000000000000000000000000000000000000000000000000000"

-- Every target type, in table form, with the args it must build and the
-- params that must come back (defaults filled in). `line` is a table line
-- as the kernel prints it (devices as major:minor), whose params must
-- rebuild the same args.
local cases = {
  {class = "LinearTarget", type = "linear",
    fields = {start = 0, size = 2048, device = "/dev/loop0", offset = 0},
    args = "/dev/loop0 0",
    line = "0 2048 linear 7:0 2048"},
  {class = "LinearTarget", type = "linear",
    fields = {size = 2048, device = "7:0"},
    args = "7:0 0",
    params = {start = 0, size = 2048, device = "7:0", offset = 0}},
  {class = "StripedTarget", type = "striped",
    fields = {size = 4096, chunk_size = 128, stripes = {{device = "7:0", offset = 0}, {device = "7:1", offset = 2048}}},
    args = "2 128 7:0 0 7:1 2048",
    line = "0 4096 striped 2 128 7:0 0 7:1 0"},
  {class = "DelayTarget", type = "delay",
    fields = {size = 100, device = "253:0", offset = 0, delay = 100},
    args = "253:0 0 100",
    line = "0 100 delay 253:0 0 100"},
  {class = "DelayTarget", type = "delay",
    fields = {size = 100, device = "7:0", offset = 2048, delay = 0, write = {device = "7:1", offset = 4096, delay = 400}},
    args = "7:0 2048 0 7:1 4096 400",
    line = "0 100 delay 7:0 2048 0 7:1 4096 400"},
  {class = "DelayTarget", type = "delay",
    fields = {size = 100, device = "7:0", delay = 50, write = {device = "7:1", delay = 100}, flush = {delay = 333}},
    args = "7:0 0 50 7:1 0 100 7:1 0 333",
    params = {start = 0, size = 100, device = "7:0", offset = 0, delay = 50,
      write = {device = "7:1", offset = 0, delay = 100}, flush = {device = "7:1", offset = 0, delay = 333}},
    line = "0 100 delay 7:0 0 50 7:1 0 100 7:0 0 333"},
  {class = "ErrorTarget", type = "error", fields = {size = 100}, args = "", line = "0 100 error"},
  {class = "ZeroTarget", type = "zero", fields = {start = 0, size = 100}, args = "", line = "0 100 zero"},
  {class = "FlakeyTarget", type = "flakey",
    fields = {size = 100, device = "7:0", up = 5, down = 1,
      features = {"drop_writes", {"corrupt_bio_byte", 32, "r", 1, 0}}},
    args = "7:0 0 5 1 6 drop_writes corrupt_bio_byte 32 r 1 0",
    line = "0 100 flakey 7:0 0 5 1 0"},
  {class = "FlakeyTarget", type = "flakey",
    fields = {size = 100, device = "7:0", up = 0, down = 10, features = {"error_reads", {"random_write_corrupt", 1000000}}},
    args = "7:0 0 0 10 3 error_reads random_write_corrupt 1000000",
    line = "0 100 flakey 7:0 0 1 1"},
  {class = "MultipathTarget", type = "multipath",
    fields = {size = 2097152, groups = {{selector = "round-robin",
      paths = {{device = "8:32", args = {1000}}, {device = "8:48", args = {1000}}}}}},
    args = "0 0 1 1 round-robin 0 2 1 8:32 1000 8:48 1000",
    params = {start = 0, size = 2097152, features = {}, initial_group = 1, groups = {{
      selector = "round-robin", selector_args = {},
      paths = {{device = "8:32", args = {1000}}, {device = "8:48", args = {1000}}}}}},
    line = "0 2097152 multipath 0 0 1 1 round-robin 0 2 1 8:32 1000 8:48 1000"},
  {class = "MultipathTarget", type = "multipath",
    fields = {size = 2097152, features = {"queue_if_no_path", {"pg_init_retries", 5}}, hw_handler = "alua",
      initial_group = 2, groups = {
        {selector = "service-time", paths = {{device = "8:16", args = {1, 1}}}},
        {selector = "service-time", paths = {{device = "8:32", args = {1, 1}}}}}},
    args = "3 queue_if_no_path pg_init_retries 5 1 alua 2 2 service-time 0 1 2 8:16 1 1 service-time 0 1 2 8:32 1 1",
    params = {start = 0, size = 2097152, features = {"queue_if_no_path", {"pg_init_retries", 5}},
      hw_handler = "alua", hw_handler_args = {}, initial_group = 2, groups = {
        {selector = "service-time", selector_args = {}, paths = {{device = "8:16", args = {1, 1}}}},
        {selector = "service-time", selector_args = {}, paths = {{device = "8:32", args = {1, 1}}}}}},
    line = "0 2097152 multipath 1 queue_if_no_path 1 alua 1 1 queue-length 0 2 1 8:16 1 8:32 1"},
  {class = "ThinPoolTarget", type = "thin-pool",
    fields = {size = 1000000, metadata_dev = "253:0", data_dev = "253:1", block_size = 128,
      low_water_mark = 32768, features = {"skip_block_zeroing"}},
    args = "253:0 253:1 128 32768 1 skip_block_zeroing",
    line = "0 2097152 thin-pool 7:1 7:0 128 0 1 skip_block_zeroing"},
  {class = "ThinPoolTarget", type = "thin-pool",
    fields = {size = 2097152, metadata_dev = "7:1", data_dev = "7:0", block_size = 1024},
    args = "7:1 7:0 1024 0",
    params = {start = 0, size = 2097152, metadata_dev = "7:1", data_dev = "7:0", block_size = 1024, low_water_mark = 0},
    line = "0 2097152 thin-pool 7:1 7:0 128 0 0"},
  {class = "ThinTarget", type = "thin",
    fields = {size = 1000000, pool_dev = "253:0", dev_id = 1},
    args = "253:0 1",
    line = "0 2097152 thin 253:2 0"},
  {class = "ThinTarget", type = "thin",
    fields = {size = 1000000, pool_dev = "/dev/mapper/pool", dev_id = 0, external_origin_dev = "/dev/image"},
    args = "/dev/mapper/pool 0 /dev/image",
    line = "0 2097152 thin 253:2 7 7:3"},
  {class = "CacheTarget", type = "cache",
    fields = {size = 41943040, metadata_dev = "253:1", cache_dev = "253:2", origin_dev = "253:3", block_size = 512,
      features = {"writethrough"}, policy = "smq", policy_args = {"migration_threshold", 2048}},
    args = "253:1 253:2 253:3 512 1 writethrough smq 2 migration_threshold 2048",
    line = "0 41943040 cache 253:1 253:2 253:3 1024 1 writeback mq 4 sequential_threshold 1024 random_threshold 8"},
  {class = "CacheTarget", type = "cache",
    fields = {size = 100, metadata_dev = "253:1", cache_dev = "253:2", origin_dev = "253:3", block_size = 512},
    args = "253:1 253:2 253:3 512 0 default 0",
    params = {start = 0, size = 100, metadata_dev = "253:1", cache_dev = "253:2", origin_dev = "253:3",
      block_size = 512, features = {}, policy = "default", policy_args = {}},
    line = "0 100 cache 253:1 253:2 253:3 512 2 metadata2 writethrough smq 0"},
  {class = "EraTarget", type = "era",
    fields = {size = 100, metadata_dev = "253:1", origin_dev = "253:2", block_size = 128},
    args = "253:1 253:2 128",
    line = "0 100 era 253:1 253:2 8192"},
  {class = "WritecacheTarget", type = "writecache",
    fields = {size = 100, origin_dev = "253:1", cache_dev = "253:2", features = {{"high_watermark", 60}, "nofua"}},
    args = "s 253:1 253:2 4096 3 high_watermark 60 nofua",
    line = "0 100 writecache p 253:1 253:2 4096 4 start_sector 0 autocommit_time 1000"},
  {class = "SnapshotTarget", type = "snapshot",
    fields = {size = 2097152, origin = "254:11", cow = "254:12", chunk_size = 16},
    args = "254:11 254:12 P 16",
    params = {start = 0, size = 2097152, origin = "254:11", cow = "254:12", persistent = "P", chunk_size = 16},
    line = "0 2097152 snapshot 254:11 254:12 P 16"},
  {class = "SnapshotTarget", type = "snapshot",
    fields = {size = 2097152, origin = "254:11", cow = "254:12", persistent = "N", chunk_size = 8,
      features = {"discard_zeroes_cow", "discard_passdown_origin"}},
    args = "254:11 254:12 N 8 2 discard_zeroes_cow discard_passdown_origin",
    line = "0 2097152 snapshot 254:11 254:12 PO 16 1 discard_zeroes_cow"},
  {class = "SnapshotOriginTarget", type = "snapshot-origin",
    fields = {size = 2097152, origin = "254:11"},
    args = "254:11",
    line = "0 2097152 snapshot-origin 254:11"},
  {class = "SnapshotMergeTarget", type = "snapshot-merge",
    fields = {size = 2097152, origin = "254:11", cow = "254:12", chunk_size = 16},
    args = "254:11 254:12 P 16",
    line = "0 8388608 snapshot-merge 254:11 254:12 P 16"},
  {class = "CryptTarget", type = "crypt",
    fields = {size = 100, cipher = "aes-xts-plain64", key = KEY, device = "7:0",
      features = {"allow_discards", {"sector_size", 4096}, {"integrity", 28, "aead"}}},
    args = "aes-xts-plain64 " .. KEY .. " 0 7:0 0 3 allow_discards sector_size:4096 integrity:28:aead",
    line = "0 100 crypt aes-cbc-essiv:sha256 :32:logon:my_prefix:my_key 0 7:0 0"},
  {class = "IntegrityTarget", type = "integrity",
    fields = {size = 100, device = "7:0",
      features = {{"journal_sectors", 1024}, {"internal_hash", "crc32c"}, {"meta_device", "7:1"}}},
    args = "7:0 0 - J 3 journal_sectors:1024 internal_hash:crc32c meta_device:7:1",
    line = "0 100 integrity 7:0 0 4 J 7 journal_sectors:130944 interleave_sectors:32768 buffer_sectors:128"
      .. " journal_watermark:50 commit_time:10000 internal_hash:hmac(sha256):0123456789abcdef fix_padding"},
  {class = "VerityTarget", type = "verity",
    fields = {size = 2097152, data_dev = "/dev/sda1", hash_dev = "/dev/sda2", num_data_blocks = 262144,
      hash_start_block = 1, digest = DIGEST, salt = SALT},
    args = "1 /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 " .. DIGEST .. " " .. SALT,
    line = "0 2097152 verity 1 8:1 8:2 4096 4096 262144 1 sha256 " .. DIGEST .. " -"
      .. " 9 ignore_zero_blocks use_fec_from_device 8:3 fec_roots 2 fec_blocks 263000 fec_start 0"},
  {class = "RaidTarget", type = "raid",
    fields = {size = 1960893648, raid_type = "raid4", chunk_size = 2048,
      devices = {{data = "8:17"}, {data = "8:33"}, {data = "8:49"}, {data = "8:65"}, {data = "8:81"}}},
    args = "raid4 1 2048 5 - 8:17 - 8:33 - 8:49 - 8:65 - 8:81",
    params = {start = 0, size = 1960893648, raid_type = "raid4", chunk_size = 2048, features = {},
      devices = {{metadata = "-", data = "8:17"}, {metadata = "-", data = "8:33"}, {metadata = "-", data = "8:49"},
        {metadata = "-", data = "8:65"}, {metadata = "-", data = "8:81"}}},
    line = "0 1960893648 raid raid4 4 2048 sync min_recovery_rate 20 5 8:17 8:18 8:33 8:34 8:49 8:50 8:65 8:66 8:81 8:82"},
  {class = "RaidTarget", type = "raid",
    fields = {size = 100, raid_type = "raid1", chunk_size = 0, features = {"nosync", {"region_size", 1024}},
      devices = {{metadata = "253:1", data = "253:2"}, {metadata = "-", data = "-"}}},
    args = "raid1 4 0 nosync region_size 1024 2 253:1 253:2 - -",
    line = "0 100 raid raid10 5 64 raid10_copies 2 raid10_format far 4 - 8:1 - 8:2 - 8:3 - 8:4"},
  {class = "MirrorTarget", type = "mirror",
    fields = {size = 100, region_size = 1024, mirrors = {{device = "8:16"}, {device = "8:32"}}, features = {"handle_errors"}},
    args = "core 1 1024 2 8:16 0 8:32 0 1 handle_errors",
    params = {start = 0, size = 100, log_type = "core", region_size = 1024,
      mirrors = {{device = "8:16", offset = 0}, {device = "8:32", offset = 0}}, features = {"handle_errors"}},
    line = "0 100 mirror core 2 1024 nosync 2 8:16 0 8:32 0 2 handle_errors keep_log"},
  {class = "MirrorTarget", type = "mirror",
    fields = {size = 100, log_type = "disk", log_device = "253:5", region_size = 1024, log_features = {"nosync"},
      mirrors = {{device = "8:16", offset = 0}, {device = "8:32", offset = 384}}},
    args = "disk 3 253:5 1024 nosync 2 8:16 0 8:32 384",
    line = "0 100 mirror disk 2 253:5 1024 2 8:16 0 8:32 0"},
  {class = "MirrorTarget", type = "mirror",
    fields = {size = 100, log_type = "userspace", log_args = {"clustered-disk", "uuid-1", 1024},
      mirrors = {{device = "8:16", offset = 0}}},
    args = "userspace 3 clustered-disk uuid-1 1024 1 8:16 0",
    line = "0 100 mirror userspace 2 clustered-core 512 1 8:16 0"},
  {class = "LogWritesTarget", type = "log-writes",
    fields = {size = 100, device = "/dev/sdb", log_device = "/dev/sdc"},
    args = "/dev/sdb /dev/sdc",
    line = "0 100 log-writes 8:16 8:32"},
  {class = "UnstripedTarget", type = "unstriped",
    fields = {size = 512, num_stripes = 2, chunk_size = 256, stripe = 1, device = "/dev/nvme0n1"},
    args = "2 256 1 /dev/nvme0n1 0",
    line = "0 512 unstriped 4 256 3 253:0 0"},
  {class = "DustTarget", type = "dust",
    fields = {size = 33552384, device = "/dev/vdb1", block_size = 4096},
    args = "/dev/vdb1 0 4096",
    line = "0 33552384 dust 252:17 0 512"},
  {class = "SwitchTarget", type = "switch",
    fields = {size = 16384, region_size = 64, paths = {{device = "7:0"}, {device = "7:1", offset = 8}}},
    args = "2 64 0 7:0 0 7:1 8",
    params = {start = 0, size = 16384, region_size = 64, features = {},
              paths = {{device = "7:0", offset = 0}, {device = "7:1", offset = 8}}},
    line = "0 16384 switch 2 64 0 7:0 0 7:1 0"},
  {class = "EbsTarget", type = "ebs",
    fields = {size = 2048, device = "7:0", emulated_sector_size = 8},
    args = "7:0 0 8",
    params = {start = 0, size = 2048, device = "7:0", offset = 0, emulated_sector_size = 8},
    line = "0 2048 ebs 7:0 0 8 1"},
  {class = "ZonedTarget", type = "zoned",
    fields = {size = 2048, devices = {"8:0"}},
    args = "8:0",
    params = {start = 0, size = 2048, devices = {{device = "8:0"}}},
    line = "0 2048 zoned 7:0 8:16"},
  {class = "CloneTarget", type = "clone",
    fields = {size = 2048, metadata_dev = "7:0", dest_dev = "7:1", source_dev = "7:2", region_size = 8},
    args = "7:0 7:1 7:2 8",
    params = {start = 0, size = 2048, metadata_dev = "7:0", dest_dev = "7:1", source_dev = "7:2", region_size = 8},
    line = "0 2048 clone 7:0 7:1 7:2 8 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1"},
  {class = "VdoTarget", type = "vdo",
    fields = {size = 2097152, storage_dev = "7:0", storage_blocks = 262144},
    args = "V4 7:0 262144 4096 32768 16380",
    params = {start = 0, size = 2097152, version = "V4", storage_dev = "7:0", storage_blocks = 262144,
              minimum_io_size = 4096, block_map_cache_blocks = 32768, block_map_era_length = 16380, options = {}},
    line = "0 2097152 vdo V4 /dev/dm-1 262144 4096 32768 16380 compression on"},
}

describe("sts.targets seed contract", function()
  it("keeps the seed's examples word for word", function()
    local t = targets.LinearTarget(0, 1000000, "253:0 0")
    assert.are.equal("0 1000000 linear 253:0 0", tostring(t))
    assert.are.equal(0, t.start)
    assert.are.equal(1000000, t.size)
    assert.are.equal("253:0 0", t.args)
    assert.are.equal("linear", t.type)
    assert.are.equal("0 1000000 delay 253:0 0 100", tostring(targets.DelayTarget(0, 1000000, "253:0 0 100")))
    assert.are.equal("0 1000000 multipath 2 1 round-robin 0 2 1 8:32 1000 8:48 1000",
      tostring(targets.MultipathTarget(0, 1000000, "2 1 round-robin 0 2 1 8:32 1000 8:48 1000")))
    assert.are.equal("0 1000000 thin-pool 253:0 253:1 128 32768 1 skip_block_zeroing",
      tostring(targets.ThinPoolTarget(0, 1000000, "253:0 253:1 128 32768 1 skip_block_zeroing")))
    assert.are.equal("0 1000000 thin 253:0 1", tostring(targets.ThinTarget(0, 1000000, "253:0 1")))
    assert.are.equal("thin-pool", targets.ThinPoolTarget(0, 1000000, "253:0 253:1 128 32768 1 skip_block_zeroing").type)
  end)

  it("reads the seed's thin-pool args back as named fields", function()
    local t = targets.ThinPoolTarget(0, 1000000, "253:0 253:1 128 32768 1 skip_block_zeroing")
    assert.are.same({start = 0, size = 1000000, metadata_dev = "253:0", data_dev = "253:1", block_size = 128,
      low_water_mark = 32768, features = {"skip_block_zeroing"}}, t:params())
  end)

  it("says why the seed's multipath args do not parse as a multipath table", function()
    -- the seed's example is not what the kernel accepts: its feature count
    -- of 2 swallows "1 round-robin"
    local t = targets.MultipathTarget(0, 1000000, "2 1 round-robin 0 2 1 8:32 1000 8:48 1000")
    value_error(function() return t:params() end, "multipath target args", "selector_args")
  end)
end)

describe("sts.targets constructors", function()
  for i, c in ipairs(cases) do
    it(string.format("builds %s from named fields (case %d) and reads them back", c.type, i), function()
      local ctor = targets[c.class]
      local t = ctor(c.fields)
      assert.are.equal(c.type, t.type)
      assert.are.equal(c.args, t.args)
      assert.are.equal(c.fields.start or 0, t.start)
      assert.are.equal(c.fields.size, t.size)
      local head = string.format("%d %d %s", t.start, t.size, c.type)
      assert.are.equal(c.args == "" and head or head .. " " .. c.args, t:line{show_keys = true})
      assert.are.equal(tostring(t), t:line())
      assert.are.equal("sts." .. c.class, getmetatable(t).__name)
      assert.is_true(targets.is_target(t))
      -- params give back what was written (with defaults filled in)
      local p = t:params()
      if c.params then
        assert.are.same(c.params, p)
      else
        local want = {}
        for k, v in pairs(c.fields) do want[k] = v end
        want.start = want.start or 0
        for k, v in pairs(p) do
          if want[k] == nil then want[k] = v end -- a default the case left out
        end
        assert.are.same(want, p)
      end
      -- and rebuild the same target
      assert.are.equal(t.args, ctor(p).args)
      assert.is_true(ctor(p):equals(t))
    end)

    it(string.format("takes %s in the raw form (case %d) with the same params", c.type, i), function()
      local ctor = targets[c.class]
      local t = ctor(7, c.fields.size, c.args)
      assert.are.equal(c.args, t.args)
      assert.are.equal(7, t.start)
      local p = t:params()
      assert.are.equal(7, p.start)
      p.start = c.fields.start or 0
      assert.are.same(ctor(c.fields):params(), p)
    end)

    if c.line then it(string.format("reads a kernel %s line and rebuilds its args (case %d)", c.type, i), function()
      local t = targets.parse_line(c.line)
      assert.are.equal(c.type, t.type)
      assert.are.equal("sts." .. c.class, getmetatable(t).__name)
      assert.are.equal(c.line, t:line{show_keys = true})
      assert.are.equal(targets.hide_table_keys(c.line), tostring(t))
      local again = targets[c.class](t:params())
      assert.are.equal(t.args, again.args)
      assert.is_true(again == t)
    end) end
  end

  it("has a typed class for every kernel target type", function()
    local want = {"cache", "clone", "crypt", "delay", "dust", "ebs", "era", "error", "flakey", "integrity",
      "linear", "log-writes", "mirror", "multipath", "raid", "snapshot", "snapshot-merge", "snapshot-origin",
      "striped", "switch", "thin", "thin-pool", "unstriped", "vdo", "verity", "writecache", "zero", "zoned"}
    assert.are.same(want, targets.types())
    for _, name in ipairs(want) do
      assert.are.equal("function", type(targets.classes[name]))
    end
    local covered = {}
    for _, c in ipairs(cases) do covered[c.type] = true end
    for _, name in ipairs(want) do assert.is_true(covered[name], name .. " has no test case") end
  end)

  it("names every class after its type", function()
    for _, c in ipairs(cases) do
      assert.are.equal(targets[c.class], targets.classes[c.type])
    end
  end)

  it("prints error and zero targets without a trailing space", function()
    assert.are.equal("0 100 error", tostring(targets.ErrorTarget(0, 100)))
    assert.are.equal("0 100 zero", tostring(targets.ZeroTarget(0, 100, "")))
    assert.are.equal("8 100 zero", tostring(targets.ZeroTarget{start = 8, size = 100}))
  end)

  it("folds whitespace in raw args", function()
    local t = targets.LinearTarget(0, 100, "  7:0 \t 0  ")
    assert.are.equal("7:0 0", t.args)
    assert.are.equal("0 100 linear 7:0 0", tostring(t))
  end)

  it("takes integral floats as integers", function()
    local t = targets.LinearTarget{start = 0.0, size = 2048.0, device = "7:0", offset = 8.0}
    assert.are.equal(math.type(t.size), "integer")
    assert.are.equal("0 2048 linear 7:0 8", tostring(t))
    assert.are.equal(math.type(targets.ZeroTarget(1.0, 2.0).start), "integer")
  end)

  it("writes policy args given as a map in key order", function()
    local t = targets.CacheTarget{size = 100, metadata_dev = "253:1", cache_dev = "253:2", origin_dev = "253:3",
      block_size = 512, policy = "mq", policy_args = {sequential_threshold = 1024, random_threshold = 8}}
    assert.are.equal("253:1 253:2 253:3 512 0 mq 4 random_threshold 8 sequential_threshold 1024", t.args)
    assert.are.same({"random_threshold", 8, "sequential_threshold", 1024}, t:params().policy_args)
  end)

  it("takes colon features written as one word", function()
    local t = targets.CryptTarget{size = 8, cipher = "aes-xts-plain64", key = KEY, device = "7:0",
      features = {"sector_size:4096"}}
    assert.are.equal("aes-xts-plain64 " .. KEY .. " 0 7:0 0 1 sector_size:4096", t.args)
    assert.are.same({{"sector_size", 4096}}, t:params().features)
    -- integrity splits only at the first colon: the rest is the value
    local i = targets.IntegrityTarget{size = 8, device = "7:0", tag_size = 32, mode = "B",
      features = {"internal_hash:hmac(sha256):0123", {"meta_device", "7:1"}}}
    assert.are.equal("7:0 0 32 B 2 internal_hash:hmac(sha256):0123 meta_device:7:1", i.args)
    assert.are.same({{"internal_hash", "hmac(sha256):0123"}, {"meta_device", "7:1"}}, i:params().features)
  end)

  it("keeps an explicit empty feature list apart from none", function()
    local base = {size = 8, metadata_dev = "7:1", data_dev = "7:0", block_size = 128}
    assert.are.equal("7:1 7:0 128 0", targets.ThinPoolTarget(base).args)
    base.features = {}
    assert.are.equal("7:1 7:0 128 0 0", targets.ThinPoolTarget(base).args)
    assert.is_nil(targets.ThinPoolTarget(0, 8, "7:1 7:0 128 0"):params().features)
    assert.are.same({}, targets.ThinPoolTarget(0, 8, "7:1 7:0 128 0 0"):params().features)
  end)

  it("takes bare devices as stripes, paths, mirrors and raid members", function()
    local lo = {path = "/dev/loop3"}
    assert.are.equal("2 64 /dev/loop3 0 7:4 0",
      targets.StripedTarget{size = 128, chunk_size = 64, stripes = {lo, "7:4"}}.args)
    assert.are.equal("0 0 1 1 round-robin 0 1 0 8:16",
      targets.MultipathTarget{size = 8, groups = {{paths = {"8:16"}}}}.args)
    assert.are.equal("core 1 64 1 /dev/loop3 0",
      targets.MirrorTarget{size = 8, region_size = 64, mirrors = {lo}}.args)
    assert.are.equal("raid1 1 0 2 - 8:1 - 8:2",
      targets.RaidTarget{size = 8, raid_type = "raid1", chunk_size = 0, devices = {"8:1", "8:2"}}.args)
  end)

  it("lets a multipath have no groups", function()
    local t = targets.MultipathTarget{size = 8, features = {"queue_if_no_path"}, groups = {}}
    assert.are.equal("1 queue_if_no_path 0 0 0", t.args)
    assert.are.same({start = 0, size = 8, features = {"queue_if_no_path"}, groups = {}, initial_group = 0},
      t:params())
  end)

  it("writes device args of features from device objects", function()
    local t = targets.RaidTarget{size = 8, raid_type = "raid5_ls", chunk_size = 128,
      features = {{"journal_dev", {major = 253, minor = 9}}, {"delta_disks", -1}},
      devices = {"8:1", "8:2", "8:3"}}
    assert.are.equal("raid5_ls 5 128 journal_dev 253:9 delta_disks -1 3 - 8:1 - 8:2 - 8:3", t.args)
    assert.are.same({{"journal_dev", "253:9"}, {"delta_disks", -1}}, t:params().features)
  end)

  it("gives a DmTarget for any type", function()
    local t = targets.DmTarget(0, 100, "switch", "2 128 0 7:0 0 7:1 0")
    assert.are.equal("0 100 switch 2 128 0 7:0 0 7:1 0", tostring(t))
    assert.are.equal("sts.DmTarget", getmetatable(t).__name)
    assert.are.same({start = 0, size = 100, type = "switch", args = "2 128 0 7:0 0 7:1 0"}, t:params())
    assert.is_true(targets.DmTarget(t:params()) == t)
    assert.are.equal("0 8 error", tostring(targets.DmTarget{size = 8, type = "error"}))
    assert.are.equal("", targets.DmTarget(0, 8, "zero").args)
    -- a DmTarget of a known type equals the typed target with the same line
    assert.is_true(targets.DmTarget(0, 100, "linear", "7:0 0") == targets.LinearTarget(0, 100, "7:0 0"))
    assert.is_true(targets.LinearTarget(0, 100, "7:0 0"):equals(targets.DmTarget(0, 100, "linear", "7:0 0")))
    assert.is_false(targets.LinearTarget(0, 100, "7:0 0"):equals(targets.LinearTarget(0, 100, "7:0 8")))
    assert.is_false(targets.LinearTarget(0, 100, "7:0 0") == targets.LinearTarget(8, 100, "7:0 0"))
    assert.is_false(targets.LinearTarget(0, 100, "7:0 0"):equals("0 100 linear 7:0 0"))
  end)
end)

describe("sts.targets devices", function()
  it("takes paths, major:minor strings and objects with major/minor or path", function()
    local function args(dev) return targets.LinearTarget{size = 8, device = dev}.args end
    assert.are.equal("/dev/loop0 0", args("/dev/loop0"))
    assert.are.equal("7:0 0", args("7:0"))
    assert.are.equal("253:4 0", args({major = 253, minor = 4, path = "/dev/dm-4"}))
    assert.are.equal("/dev/loop1 0", args({path = "/dev/loop1"}))
    assert.are.equal("/dev/loop1 0", args({path = "/dev/loop1", major = "7"}))
    -- objects with metatables (as loop objects are)
    assert.are.equal("/dev/loop2 0", args(setmetatable({}, {__index = {path = "/dev/loop2"}})))
  end)

  it("takes userdata devices, even ones whose fields raise", function()
    -- a closed file handle stands in for a C device object
    local u = io.tmpfile()
    u:close()
    debug.setmetatable(u, {__index = {major = 253, minor = 7, path = "/dev/dm-7"}})
    assert.are.equal("253:7 0", targets.LinearTarget{size = 8, device = u}.args)
    local p = io.tmpfile()
    p:close()
    debug.setmetatable(p, {__index = function(_, key)
      if key == "path" then return "/dev/mapper/x" end
      error("attempt to use a closed device")
    end})
    assert.are.equal("/dev/mapper/x 0", targets.LinearTarget{size = 8, device = p}.args)
    local broken = io.tmpfile()
    broken:close()
    debug.setmetatable(broken, {__index = function() error("closed") end})
    value_error(function() return targets.LinearTarget{size = 8, device = broken} end,
      "linear target", "'device'", "neither integer major/minor")
  end)

  it("refuses what is not a device", function()
    local function dev(d) return function() return targets.LinearTarget{size = 8, device = d} end end
    value_error(dev(42), "linear target", "'device'", "got number")
    value_error(dev("loop0"), "'device'", "neither an absolute path")
    value_error(dev("/dev/my disk"), "'device'", "whitespace")
    value_error(dev(""), "'device'", "empty")
    value_error(dev({}), "'device'", "neither integer major/minor fields nor a path field")
    value_error(dev({path = "dev/loop0"}), "'device'", "neither an absolute path")
    value_error(function()
      return targets.ThinTarget{size = 8, pool_dev = "253:0", dev_id = 1, external_origin_dev = true}
    end, "'external_origin_dev'", "boolean")
    value_error(function()
      return targets.StripedTarget{size = 8, chunk_size = 8, stripes = {{device = "7:0"}, {device = 5}}}
    end, "striped target", "'stripes[2].device'")
  end)
end)

describe("sts.targets bad input", function()
  it("refuses bad starts and sizes, in both forms", function()
    value_error(function() return targets.LinearTarget(-1, 8, "7:0 0") end, "linear target", "start", "negative")
    value_error(function() return targets.LinearTarget(2.5, 8, "7:0 0") end, "start", "integer", "2.5")
    value_error(function() return targets.LinearTarget("0", 8, "7:0 0") end, "start", "got string")
    value_error(function() return targets.LinearTarget(nil, 8, "7:0 0") end, "start", "got nil")
    value_error(function() return targets.LinearTarget(0, 0, "7:0 0") end, "size must be positive")
    value_error(function() return targets.LinearTarget(0, -8, "7:0 0") end, "size", "negative")
    value_error(function() return targets.LinearTarget(0, 2.5, "7:0 0") end, "size", "2.5")
    value_error(function() return targets.LinearTarget(0, 2^63, "7:0 0") end, "size", "2^63")
    value_error(function() return targets.LinearTarget(0, 1e300, "7:0 0") end, "size", "2^63")
    value_error(function() return targets.LinearTarget(0, 0/0, "7:0 0") end, "size", "integer")
    value_error(function() return targets.LinearTarget(math.maxinteger, 8, "7:0 0") end, "beyond")
    value_error(function() return targets.ZeroTarget{size = 0} end, "zero target", "size must be positive")
    value_error(function() return targets.ZeroTarget{start = -8, size = 8} end, "zero target", "start", "negative")
    value_error(function() return targets.ZeroTarget{size = 2.5} end, "zero target", "size", "2.5")
    value_error(function() return targets.ZeroTarget{size = "8"} end, "zero target", "size", "string")
    value_error(function() return targets.ZeroTarget{} end, "zero target", "missing required field 'size'")
    value_error(function() return targets.DmTarget(0, 0, "zero") end, "DmTarget", "size must be positive")
  end)

  it("refuses newlines and NULs in args", function()
    value_error(function() return targets.LinearTarget(0, 8, "7:0 0\n0 8 zero") end, "linear target", "newline")
    value_error(function() return targets.LinearTarget(0, 8, "7:0\r0") end, "newline")
    value_error(function() return targets.LinearTarget(0, 8, "7:0\0 0") end, "NUL")
    value_error(function() return targets.DmTarget(0, 8, "foo", "a\nb") end, "DmTarget", "newline")
    value_error(function() return targets.LinearTarget(0, 8, 42) end, "args must be a string")
  end)

  it("names unknown fields and the target type", function()
    value_error(function() return targets.LinearTarget{size = 8, device = "7:0", devce = "7:1"} end,
      "linear target", "unknown field 'devce'")
    value_error(function() return targets.ThinPoolTarget{size = 8, metadata_dev = "7:1", data_dev = "7:0",
      block_size = 128, feature = {}} end, "thin-pool target", "unknown field 'feature'")
    value_error(function() return targets.DelayTarget{size = 8, device = "7:0", delay = 1, write = {dealy = 5}} end,
      "delay target", "unknown field 'write.dealy'")
    value_error(function() return targets.MultipathTarget{size = 8, groups = {{paths = {{device = "8:16",
      arg = {1}}}}}} end, "multipath target", "unknown field 'groups[1].paths[1].arg'")
    value_error(function() return targets.LinearTarget{0, 8} end, "linear target", "unexpected number key 1")
    value_error(function() return targets.DmTarget{size = 8, type = "zero", kind = "x"} end,
      "DmTarget", "unknown field \"kind\"")
  end)

  it("names missing required fields", function()
    value_error(function() return targets.LinearTarget{size = 8} end, "linear target", "missing required field 'device'")
    value_error(function() return targets.ThinTarget{size = 8, pool_dev = "253:0"} end,
      "thin target", "missing required field 'dev_id'")
    value_error(function() return targets.StripedTarget{size = 8, chunk_size = 8, stripes = {{offset = 0}}} end,
      "striped target", "missing required field 'stripes[1].device'")
    value_error(function() return targets.MirrorTarget{size = 8, mirrors = {"8:16"}} end,
      "mirror target", "'region_size'", "required")
    value_error(function() return targets.MirrorTarget{size = 8, log_type = "disk", region_size = 8,
      mirrors = {"8:16"}} end, "'log_device'", "required")
    value_error(function() return targets.DmTarget{size = 8} end, "DmTarget", "missing required field 'type'")
    value_error(function() return targets.DmTarget{type = "zero"} end, "DmTarget", "missing required field 'size'")
  end)

  it("refuses wrong field types and values", function()
    local function thin(f)
      return function()
        local fields = {size = 8, pool_dev = "253:0", dev_id = 1}
        for k, v in pairs(f) do fields[k] = v end
        return targets.ThinTarget(fields)
      end
    end
    value_error(thin{dev_id = "1"}, "thin target", "'dev_id'", "must be an integer, got string")
    value_error(thin{dev_id = -1}, "'dev_id'", "non-negative")
    value_error(thin{dev_id = 1.5}, "'dev_id'", "1.5")
    value_error(function() return targets.ThinPoolTarget{size = 8, metadata_dev = "7:1", data_dev = "7:0",
      block_size = 128, features = "skip_block_zeroing"} end, "thin-pool target", "'features'", "list")
    value_error(function() return targets.ThinPoolTarget{size = 8, metadata_dev = "7:1", data_dev = "7:0",
      block_size = 128, features = {"skip block zeroing"}} end, "'features[1]'", "one word")
    value_error(function() return targets.SnapshotTarget{size = 8, origin = "7:0", cow = "7:1", chunk_size = 8,
      persistent = "X"} end, "snapshot target", "'persistent'", "one of P, PO, N")
    value_error(function() return targets.IntegrityTarget{size = 8, device = "7:0", tag_size = "four"} end,
      "'tag_size'", "\"-\"")
    value_error(function() return targets.WritecacheTarget{size = 8, cache_type = "ssd", origin_dev = "7:0",
      cache_dev = "7:1"} end, "'cache_type'", "one of s, p")
    value_error(function() return targets.CryptTarget{size = 8, cipher = "aes-xts-plain64", key = 1234,
      device = "7:0"} end, "crypt target", "'key'", "must be a string")
    value_error(function() return targets.StripedTarget{size = 8, chunk_size = 8, stripes = {}} end,
      "'stripes'", "at least 1")
    value_error(function() return targets.StripedTarget{size = 8, chunk_size = 8, stripes = {x = 1}} end,
      "'stripes'", "plain list")
    value_error(function() return targets.CacheTarget{size = 8, metadata_dev = "7:0", cache_dev = "7:1",
      origin_dev = "7:2", block_size = 64, policy_args = {"migration_threshold"}} end,
      "cache target", "'policy_args'", "even")
    value_error(function() return targets.UnstripedTarget{size = 8, num_stripes = 2, chunk_size = 8, stripe = 2,
      device = "7:0"} end, "unstriped target", "'stripe'")
    value_error(function() return targets.LinearTarget(targets.LinearTarget(0, 8, "7:0 0")) end,
      "linear target", "params()")
  end)

  it("checks feature arguments", function()
    local function flakey(features)
      return function()
        return targets.FlakeyTarget{size = 8, device = "7:0", up = 1, down = 1, features = features}
      end
    end
    value_error(flakey{"corrupt_bio_byte"}, "flakey target", "'features[1]'", "takes 4 arguments")
    value_error(flakey{{"corrupt_bio_byte", 32, "r"}}, "'features[1]'", "takes 4 arguments, got 2")
    value_error(flakey{{"drop_writes", 1}}, "'features[1]'", "takes 0 arguments")
    value_error(flakey{{}}, "'features[1]'", "empty table")
    value_error(flakey{{"corrupt_bio_byte", 32, "r", 1.5, 0}}, "'features[1][4]'", "1.5")
    value_error(flakey{{"corrupt_bio_byte", 32, true, 1, 0}}, "'features[1][3]'", "boolean")
    value_error(flakey{42}, "'features[1]'", "feature name")
    value_error(function() return targets.MultipathTarget{size = 8, features = {{"queue_mode"}},
      groups = {}} end, "multipath target", "takes 1 argument")
  end)

  it("checks what spans several fields", function()
    value_error(function() return targets.MultipathTarget{size = 8, initial_group = 2,
      groups = {{paths = {"8:16"}}}} end, "multipath target", "'initial_group'", "only 1 group")
    value_error(function() return targets.MultipathTarget{size = 8, groups = {{paths = {
      {device = "8:16", args = {1}}, {device = "8:32"}}}}} end,
      "'groups[1].paths[2].args'", "same number of arguments")
    value_error(function() return targets.MultipathTarget{size = 8, hw_handler_args = {1}, groups = {}} end,
      "'hw_handler_args'", "needs hw_handler")
    value_error(function() return targets.MirrorTarget{size = 8, region_size = 8, log_device = "7:0",
      mirrors = {"8:16"}} end, "'log_device'", "not used")
    value_error(function() return targets.MirrorTarget{size = 8, log_type = "userspace", region_size = 8,
      mirrors = {"8:16"}} end, "'region_size'", "log_args")
  end)

  it("refuses bad DmTarget types", function()
    value_error(function() return targets.DmTarget(0, 8, "thin pool") end, "DmTarget", "one word")
    value_error(function() return targets.DmTarget(0, 8, "") end, "DmTarget", "one word")
    value_error(function() return targets.DmTarget(0, 8, 42) end, "DmTarget", "type must be a string")
    value_error(function() return targets.DmTarget(0, 8, "a-very-long-target-name") end, "longer than")
  end)
end)

describe("sts.targets params of raw args", function()
  local function bad_params(ctor, args, ...)
    local t = ctor(0, 8, args)
    return value_error(function() return t:params() end, ...)
  end

  it("raises a ValueError naming the type and the problem", function()
    bad_params(targets.ThinTarget, "253:0", "thin target args \"253:0\"", "missing dev_id")
    bad_params(targets.LinearTarget, "7:0 x", "linear target args", "offset", "non-negative integer", "\"x\"")
    bad_params(targets.LinearTarget, "7:0 0 9", "linear target args", "unexpected extra argument", "\"9\"")
    bad_params(targets.LinearTarget, "loop0 0", "linear target args", "'device'", "absolute path")
    bad_params(targets.ErrorTarget, "x", "error target args", "unexpected extra argument")
    bad_params(targets.ThinPoolTarget, "7:1 7:0 128 0 3 skip_block_zeroing", "thin-pool target args",
      "count says 3 but only 1 word follows")
    bad_params(targets.FlakeyTarget, "7:0 0 1 1 2 corrupt_bio_byte 32", "flakey target args",
      "corrupt_bio_byte", "needs 4 arguments")
    bad_params(targets.StripedTarget, "2 128 7:0 0", "striped target args", "stripes")
    bad_params(targets.StripedTarget, "0 128", "striped target args", "at least 1")
    bad_params(targets.DelayTarget, "7:0 0 10 7:1", "delay target args", "write.offset")
    bad_params(targets.MultipathTarget, "0 0 1 2 round-robin 0 1 1 8:16 1", "multipath target args",
      "'initial_group'")
    bad_params(targets.MultipathTarget, "0 0 1 1 round-robin 0 2 1 8:16 1", "multipath target args", "paths")
    bad_params(targets.RaidTarget, "raid1 0 2 - 8:1 - 8:2", "raid target args", "chunk_size")
    bad_params(targets.RaidTarget, "raid1 1 0 3 - 8:1 - 8:2", "raid target args", "devices")
    bad_params(targets.MirrorTarget, "core 0 1 8:16 0", "mirror target args", "region_size")
    bad_params(targets.CacheTarget, "7:0 7:1 7:2 64 0 smq 1 x", "cache target args", "even")
    bad_params(targets.IntegrityTarget, "7:0 0 - J", "integrity target args", "missing number of features")
    bad_params(targets.UnstripedTarget, "2 256 5 7:0 0", "unstriped target args", "'stripe'")
    bad_params(targets.SnapshotTarget, "7:0 7:1 X 16", "snapshot target args", "'persistent'")
  end)

  it("reads integers, words and devices in feature arguments", function()
    local t = targets.FlakeyTarget(0, 8, "7:0 0 1 1 5 corrupt_bio_byte 224 w 0 32")
    assert.are.same({{"corrupt_bio_byte", 224, "w", 0, 32}}, t:params().features)
    -- a word that only looks like a number keeps its spelling
    local v = targets.VerityTarget(0, 8, "1 8:1 8:2 4096 4096 8 1 sha256 " .. DIGEST
      .. " 0123 2 root_hash_sig_key_desc 007")
    local p = v:params()
    assert.are.equal("0123", p.salt)
    assert.are.same({{"root_hash_sig_key_desc", "007"}}, p.features)
    assert.are.equal(v.args, targets.VerityTarget(p).args)
  end)
end)

describe("sts.targets tables", function()
  local kernel_table = table.concat({
    "0 2048 linear 7:0 0",
    "2048 1024 thin-pool 7:1 7:0 128 0 1 skip_block_zeroing",
    "3072 1024 multipath 0 0 1 1 round-robin 0 2 1 8:32 1000 8:48 1000",
    "4096 512 error",
    "4608 512 sts-unknown 2 128 0 7:0 0 7:1 0",
  }, "\n")

  it("parses a kernel table into typed targets and formats it back", function()
    local list = targets.parse_table(kernel_table .. "\n")
    assert.are.equal(5, #list)
    local names = {}
    for i, t in ipairs(list) do names[i] = getmetatable(t).__name end
    assert.are.same({"sts.LinearTarget", "sts.ThinPoolTarget", "sts.MultipathTarget", "sts.ErrorTarget",
      "sts.DmTarget"}, names)
    assert.are.equal(2048, list[2].start)
    assert.are.equal("", list[4].args)
    assert.are.equal("sts-unknown", list[5].type)
    assert.are.equal(kernel_table, targets.format_table(list))
    assert.are.equal(5120, targets.check_table(list))
    assert.are.same({}, targets.parse_table(""))
    assert.are.same({}, targets.parse_table("\n\n"))
    assert.are.equal("", targets.format_table({}))
  end)

  it("formats what it parses from every case's kernel line", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.line then
        assert.are.equal(c.line, targets.format_table(targets.parse_table(c.line), {show_keys = true}))
        n = n + 1
      end
    end
    assert.is_true(n >= 30)
  end)

  it("folds whitespace and trailing spaces the kernel leaves", function()
    local list = targets.parse_table("0 100 multipath 0 0 1 1 round-robin 0 1 1 8:16 1000 \n")
    assert.are.equal("0 0 1 1 round-robin 0 1 1 8:16 1000", list[1].args)
    local t = targets.parse_line("  0   100\tlinear  7:0   0  ")
    assert.are.equal("0 100 linear 7:0 0", tostring(t))
  end)

  it("formats a lone target as a table of one", function()
    assert.are.equal("0 8 zero", targets.format_table(targets.ZeroTarget{size = 8}))
  end)

  it("refuses gaps, overlaps and tables not starting at 0", function()
    local a = targets.ZeroTarget{start = 0, size = 8}
    local b = targets.ZeroTarget{start = 16, size = 8}
    local c = targets.ZeroTarget{start = 4, size = 8}
    local d = targets.ZeroTarget{start = 8, size = 8}
    value_error(function() return targets.check_table({a, b}) end,
      "gap of 8 sectors", "target 1 (ends at sector 8)", "target 2 (starts at sector 16)")
    value_error(function() return targets.format_table({a, c}) end,
      "target 2 (starts at sector 4) overlaps target 1 (ends at sector 8)")
    value_error(function() return targets.format_table({d}) end, "target 1 (zero) starts at sector 8",
      "sector 0")
    value_error(function() return targets.check_table({a, d, a}) end, "target 3", "overlaps target 2")
    value_error(function() return targets.check_table({}) end, "no targets")
    value_error(function() return targets.check_table({a, "0 8 zero"}) end, "item 2 is not a target")
    value_error(function() return targets.check_table("0 8 zero") end, "expected a list")
    assert.are.equal(16, targets.check_table({a, d}))
    -- plain rows with the target fields are checked too
    assert.are.equal(8, targets.check_table({{start = 0, size = 8, type = "zero", args = ""}}))
    value_error(function() return targets.check_table({{start = 0, size = 0, type = "zero"}}) end,
      "target 1 (zero)", "size must be positive")
  end)

  it("refuses malformed lines, naming them", function()
    value_error(function() return targets.parse_line("0 100") end, "table line \"0 100\"", "<start> <size> <type>")
    value_error(function() return targets.parse_line("x 100 zero") end, "start must be a sector number", "\"x\"")
    value_error(function() return targets.parse_line("0 -5 zero") end, "size must be a sector number")
    value_error(function() return targets.parse_line("0 0 zero") end, "size must be positive")
    value_error(function() return targets.parse_line("0 99999999999999999999 zero") end, "size")
    value_error(function() return targets.parse_line("0 8 zero\n8 8 zero") end, "line break")
    value_error(function() return targets.parse_line(42) end, "expected a string")
    value_error(function() return targets.parse_table("0 8 zero\n8 8\n") end, "table line 2", "\"8 8\"")
    value_error(function() return targets.parse_table("0 8 zero\0") end, "NUL")
    value_error(function() return targets.parse_table(nil) end, "expected a string")
    -- a line is read as a typed target even when its args are wrong for
    -- the type; params() says what is wrong
    local t = targets.parse_line("0 8 linear 7:0")
    value_error(function() return t:params() end, "linear target args", "missing offset")
  end)
end)

describe("sts.targets keys", function()
  local KEY = string.rep("ab", 32)
  it("shows crypt keys as '-' and keyring keys as they are", function()
    local t = targets.CryptTarget{size = 8, cipher = "aes-xts-plain64", key = KEY, device = "7:0"}
    assert.are.equal("0 8 crypt aes-xts-plain64 - 0 7:0 0", tostring(t))
    assert.are.equal("0 8 crypt aes-xts-plain64 " .. KEY .. " 0 7:0 0", t:line{show_keys = true})
    assert.are.equal(KEY, t:params().key)
    assert.are.equal("aes-cbc-essiv:sha256 :32:logon:my_prefix:my_key 0 7:0 0",
      targets.hide_keys("crypt", "aes-cbc-essiv:sha256 :32:logon:my_prefix:my_key 0 7:0 0"))
    assert.are.equal("0 8 crypt aes-xts-plain64 - 0 7:0 0",
      targets.format_table({t}))
    assert.are.equal(t:line{show_keys = true}, targets.format_table({t}, {show_keys = true}))
  end)

  it("hides integrity's internal_hash, journal_crypt and journal_mac keys", function()
    local args = "7:0 0 - J 4 internal_hash:hmac(sha256):" .. KEY .. " journal_crypt:ctr(aes):" .. KEY
      .. " journal_mac:hmac(sha256):" .. KEY .. " buffer_sectors:128"
    assert.are.equal("7:0 0 - J 4 internal_hash:hmac(sha256):- journal_crypt:ctr(aes):-"
      .. " journal_mac:hmac(sha256):- buffer_sectors:128", targets.hide_keys("integrity", args))
    assert.are.equal("7:0 0 - J 1 internal_hash:crc32c",
      targets.hide_keys("integrity", "7:0 0 - J 1 internal_hash:crc32c"))
    local text = "0 8 linear 7:0 0\n8 8 crypt aes-xts-plain64 " .. KEY .. " 0 7:1 0\n16 8 integrity " .. args
    local hidden = targets.hide_table_keys(text)
    assert.is_nil(hidden:find(KEY, 1, true))
    assert.matches("^0 8 linear 7:0 0\n8 8 crypt aes%-xts%-plain64 %- 0 7:1 0\n16 8 integrity 7:0 ", hidden)
    assert.are.equal("0 8 linear 7:0 0", targets.hide_table_keys("0 8 linear 7:0 0"))
  end)

  it("the REPL's printer hides them too", function()
    local t = targets.CryptTarget{size = 8, cipher = "aes-xts-plain64", key = KEY, device = "7:0"}
    assert.are.equal('CryptTarget(0, 8, "aes-xts-plain64 - 0 7:0 0")', require("sts.inspect").inspect(t))
  end)
end)

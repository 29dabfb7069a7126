-- sts.dmpd with the real tools on metadata files: build -> restore ->
-- check -> dump -> parse, damage and repair, deltas, listings.
-- Assertions are on succeeded/failed and parsed values, never on a
-- version's exit codes or wording.

local dmpd = require("sts.dmpd")
local h = require("fixtures.dmpd.helpers")

local md = require("fixtures.dmpd.metadata")
local POOL, CACHE, ERA = md.POOL, md.CACHE, md.ERA

describe("sts.dmpd round trips with the real tools", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function() h.rmdir(dir) end)

  it("thin: build, restore, check, dump, parse gives the table back", function()
    local meta = dir .. "/tmeta"
    local r = dmpd.restore("thin", POOL, meta)
    assert.is_true(r.succeeded, r.stderr)
    local check = dmpd.thin_check(meta)
    assert.is_true(check.succeeded)
    local info = dmpd.parse_check(check)
    assert.is_true(info.succeeded)
    assert.are.equal(3, info.transaction_id)
    assert.are.equal("integer", math.type(info.metadata_free_blocks))
    assert.is_true(info.metadata_free_blocks > 0)
    local dump = dmpd.thin_dump(meta)
    assert.is_true(dump.succeeded)
    local parsed = dmpd.parse_thin_dump(dump)
    h.assert_contains(POOL, parsed)
    -- fields a generation leaves out (1.x: flags) come back as the
    -- kernel's defaults; then it is plain equality on both
    assert.are.same(POOL, parsed)
    -- the same through dmpd.thin_restore and a hand-written XML file
    h.write(dir .. "/pool.xml", dmpd.thin_xml(POOL))
    h.sparse(dir .. "/tmeta2", 8 * 1024 * 1024)
    r = dmpd.thin_restore({input = dir .. "/pool.xml", output = dir .. "/tmeta2"})
    assert.is_true(r.succeeded, r.stderr)
    h.assert_contains(POOL, dmpd.parse_thin_dump(dmpd.thin_dump(dir .. "/tmeta2")))
  end)

  it("thin: defaults in the table are filled in (mapped_blocks from the mappings)", function()
    local meta = dir .. "/tmeta"
    local small = {data_block_size = 128, nr_data_blocks = 100,
                   devices = {{dev_id = 0, mappings = {{origin = 5, data = 7, length = 3}, {origin = 9, data = 1}}}}}
    assert.is_true(dmpd.restore("thin", small, meta).succeeded)
    local d = dmpd.parse_thin_dump(dmpd.thin_dump(meta))
    h.assert_contains(small, d)
    assert.are.equal(4, d.devices[1].mapped_blocks)
    assert.are.equal(0, d.transaction)
    assert.are.same({origin = 9, data = 1, length = 1, time = 0}, d.devices[1].mappings[2])
  end)

  it("thin: restore refuses a mapping beyond the data device", function()
    local bad = {data_block_size = 128, nr_data_blocks = 100,
                 devices = {{dev_id = 1, mappings = {{origin = 0, data = 100, length = 1}}}}}
    local r = dmpd.restore("thin", bad, dir .. "/tmeta")
    assert.is_true(r.failed)
    assert.is_false(r.succeeded)
    assert.is_false(r.timed_out)
    bad.devices[1].mappings[1] = {origin = 0, data = 95, length = 10}
    assert.is_true(dmpd.restore("thin", bad, dir .. "/tmeta").failed)
    bad.devices[1].mappings[1] = {origin = 0, data = 90, length = 10}
    assert.is_true(dmpd.restore("thin", bad, dir .. "/tmeta").succeeded)
  end)

  it("thin: an overwritten superblock fails thin_check; thin_repair's output passes", function()
    local meta, fixed = dir .. "/tmeta", dir .. "/fixed"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    h.overwrite(meta, 0, 4096, "\0")
    local check = dmpd.thin_check(meta)
    assert.is_true(check.failed)
    assert.is_true(#check.stderr + #check.stdout > 0)
    assert.is_true(#dmpd.parse_check(check).messages > 0)
    assert.is_nil(dmpd.parse_check(check).transaction_id)

    h.sparse(fixed, 8 * 1024 * 1024)
    -- the superblock is gone, so its fields come from the command line
    local r = dmpd.thin_repair({input = meta, output = fixed, transaction_id = POOL.transaction,
                                data_block_size = POOL.data_block_size,
                                nr_data_blocks = POOL.nr_data_blocks})
    assert.is_true(r.succeeded, r.stderr)
    assert.is_true(dmpd.thin_check(fixed).succeeded)
    local d = dmpd.parse_thin_dump(dmpd.thin_dump(fixed))
    h.assert_contains(POOL.devices, d.devices)
    assert.are.equal(POOL.transaction, d.transaction)
    assert.are.equal(POOL.nr_data_blocks, d.nr_data_blocks)
  end)

  it("thin: damage inside the superblock is caught by --super-block-only too", function()
    local meta = dir .. "/tmeta"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    assert.is_true(dmpd.thin_check(meta, {super_block_only = true}).succeeded)
    h.overwrite(meta, 100, 64, "\255")
    assert.is_true(dmpd.thin_check(meta, {super_block_only = true}).failed)
    assert.is_true(dmpd.ThinCheck:run(meta, {quiet = true}).failed)
  end)

  it("thin_delta between a thin device and its snapshot", function()
    local meta = dir .. "/tmeta"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    for _, verbose in ipairs({false, true}) do
      local r = dmpd.thin_delta(meta, {snap1 = 2, thin2 = 1, verbose = verbose})
      assert.is_true(r.succeeded, r.stderr)
      local d = dmpd.parse_thin_delta(r)
      assert.are.equal(2, d.left)
      assert.are.equal(1, d.right)
      assert.are.equal(3, d.transaction)
      assert.are.same({same = 15, different = 5, left_only = 2, right_only = 1}, d.blocks)
      local kinds = {}
      for _, range in ipairs(d.ranges) do kinds[#kinds + 1] = range.type .. "@" .. range.begin end
      assert.are.same({"same@0", "different@10", "same@15", "right_only@40", "left_only@50"}, kinds)
      if verbose then
        assert.are.equal(10, d.ranges[2].left_data_begin)
        assert.are.equal(100, d.ranges[2].right_data_begin)
        assert.are.equal(200, d.ranges[5].data_begin)
      end
    end
  end)

  it("thin_ls: typed rows, any field list, with and without headers", function()
    local meta = dir .. "/tmeta"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    local fields = "DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_SECTORS,EXCLUSIVE_SECTORS,"
      .. "SHARED_SECTORS,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES,MAPPED,EXCLUSIVE,SHARED,TRANSACTION,"
      .. "CREATE_TIME,SNAP_TIME"
    local with = dmpd.thin_ls(meta, {format = fields})
    local without = dmpd.thin_ls(meta, {o = fields, no_headers = true})
    assert.is_true(with.succeeded)
    assert.is_true(without.succeeded)
    local a, b = dmpd.parse_thin_ls(with), dmpd.parse_thin_ls(without)
    assert.are.same(a, b)
    assert.are.equal(2, #a)
    local one = a[1]
    assert.are.equal(1, one.dev_id)
    assert.are.equal(21, one.mapped_blocks)
    assert.are.equal(6, one.exclusive_blocks)
    assert.are.equal(15, one.shared_blocks)
    assert.are.equal(21 * 128, one.mapped_sectors)
    assert.are.equal(21 * 128 * 512, one.mapped_bytes)
    assert.are.equal(one.mapped_bytes, one.mapped_approx_bytes)
    assert.are.equal(one.exclusive_bytes, one.exclusive_approx_bytes)
    assert.are.equal(0, one.transaction)
    assert.are.equal(0, one.create_time)
    assert.are.equal(1, one.snap_time)
    assert.are.equal(2, a[2].dev_id)
    assert.are.equal(7, a[2].exclusive_blocks)
    -- the default columns
    local rows = dmpd.parse_thin_ls(dmpd.thin_ls(meta))
    assert.are.equal(2, #rows)
    assert.are.equal(1, rows[1].dev_id)
    assert.are.equal(21 * 128 * 512, rows[1].mapped_approx_bytes)
  end)

  it("thin_rmap: which thin blocks use a data region", function()
    local meta = dir .. "/tmeta"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    local r = dmpd.thin_rmap(meta, {region = {"0..20", "200..202"}})
    assert.is_true(r.succeeded, r.stderr)
    local rows = dmpd.parse_thin_rmap(r)
    local seen = {}
    for _, row in ipairs(rows) do
      seen[#seen + 1] = ("%d+%d:%d@%d"):format(row.data_begin, row.length, row.dev_id, row.origin_begin)
    end
    table.sort(seen)
    assert.are.same({"0+10:1@0", "0+20:2@0", "15+5:1@15", "200+2:2@50"}, seen)
  end)

  it("thin_metadata_size and cache_metadata_size as sectors", function()
    local small = dmpd.metadata_size("thin", {block_size = "64k", pool_size = "1g", max_thins = 1})
    local big = dmpd.metadata_size("thin", {block_size = "64k", pool_size = "1t", max_thins = 1000})
    assert.are.equal("integer", math.type(small))
    assert.is_true(small > 0 and big > small)
    local r = dmpd.thin_metadata_size({block_size = "64k", pool_size = "1t", max_thins = 1000, unit = "s"})
    assert.are.equal(big, dmpd.metadata_size(r))
    local cache = dmpd.metadata_size("cache", {block_size = 128, device_size = 2 * 1024 * 1024})
    assert.are.equal("integer", math.type(cache))
    assert.is_true(cache > 0)
    local none, failed = dmpd.metadata_size("thin", {pool_size = "1t"})  -- block size missing
    assert.is_nil(none)
    assert.is_true(failed.failed)
  end)

  it("cache: build, restore, check, dump, parse gives the table back", function()
    local meta = dir .. "/cmeta"
    local r = dmpd.restore("cache", CACHE, meta)
    assert.is_true(r.succeeded, r.stderr)
    local check = dmpd.parse_check(dmpd.cache_check(meta))
    assert.is_true(check.succeeded)
    assert.are.same({}, check.messages)
    -- 0.9 names the stages it examines; 1.x's cache_check prints nothing
    if dmpd.version().major == 0 then
      assert.are.equal("examining superblock", check.stages[1])
    else
      assert.are.same({}, check.stages)
    end
    local dump = dmpd.CacheDump:run(meta)
    assert.is_true(dump.succeeded)
    h.assert_contains(CACHE, dmpd.parse_cache_dump(dump))
    assert.are.same(CACHE, dmpd.parse_cache_dump(dump))
    h.overwrite(meta, 0, 4096, "\0")
    assert.is_true(dmpd.cache_check(meta).failed)
    assert.is_true(dmpd.cache_dump(meta).failed)
  end)

  it("cache: repair and writeback on files", function()
    local meta, fixed = dir .. "/cmeta", dir .. "/fixed"
    assert.is_true(dmpd.restore("cache", CACHE, meta).succeeded)
    h.sparse(fixed, 8 * 1024 * 1024)
    local r = dmpd.cache_repair({input = meta, output = fixed})
    assert.is_true(r.succeeded, r.stderr)
    h.assert_contains(CACHE, dmpd.parse_cache_dump(dmpd.cache_dump(fixed)))

    -- the dirty cache block 3 holds origin block 7: writeback copies it
    local block = 128 * 512
    local fast, origin = dir .. "/fast", dir .. "/origin"
    h.sparse(fast, 16 * block)
    h.sparse(origin, 16 * block)
    h.overwrite(fast, 3 * block, block, "D")
    r = dmpd.cache_writeback({metadata_device = meta, fast_device = fast, origin_device = origin,
                              no_metadata_update = true, timeout = 30})
    assert.is_true(r.succeeded, r.stderr)
    local f = assert(io.open(origin, "rb"))
    f:seek("set", 7 * block)
    local copied = f:read(block)
    f:seek("set", 10 * block)
    local clean = f:read(block)
    f:close()
    assert.are.equal(string.rep("D", block), copied)
    assert.are.equal(string.rep("\0", block), clean)
  end)

  it("era: build, restore, check, dump, parse gives the table back", function()
    local meta = dir .. "/emeta"
    local r = dmpd.restore("era", ERA, meta)
    assert.is_true(r.succeeded, r.stderr)
    assert.is_true(dmpd.era_check(meta).succeeded)
    local dump = dmpd.era_dump(meta)
    assert.is_true(dump.succeeded)
    assert.are.same(ERA, dmpd.parse_era_dump(dump))
    local logical = dmpd.parse_era_dump(dmpd.EraDump:run(meta, {logical = true}))
    assert.are.equal(3, logical.current_era)
    assert.are.equal(16, logical.nr_blocks)
    -- --logical folds the writesets into the era array
    assert.are.same({}, logical.writesets)
    assert.are.same({{block = 0, era = 2}, {block = 1, era = 1}, {block = 5, era = 2},
                     {block = 7, era = 3}, {block = 9, era = 1}}, logical.era_array)
    h.overwrite(meta, 0, 4096, "\0")
    assert.is_true(dmpd.era_check(meta).failed)
  end)

  it("era_invalidate lists the blocks written since an era", function()
    local meta = dir .. "/emeta"
    assert.is_true(dmpd.restore("era", ERA, meta).succeeded)
    for since, want in pairs(md.ERA_WRITTEN_SINCE) do
      local r = dmpd.era_invalidate(meta, {written_since = since})
      assert.is_true(r.succeeded, r.stderr)
      local blocks = {}
      for _, range in ipairs(dmpd.parse_era_invalidate(r)) do
        for b = range.begin, range.begin + range.length - 1 do blocks[#blocks + 1] = b end
      end
      table.sort(blocks)
      assert.are.same(want, blocks, "written since " .. since)
    end
  end)

  it("era: the builder refuses writesets the newer tools cannot dump", function()
    local function era(writesets)
      return {block_size = 128, nr_blocks = 16, current_era = 3, writesets = writesets}
    end
    local check = require "helpers.raises"
    check.raises("ValueError", "current_era 3", function() dmpd.era_xml(era({{era = 2}})) end)
    check.raises("ValueError", "no writeset of era 2", function() dmpd.era_xml(era({{era = 1}, {era = 3}})) end)
    check.raises("ValueError", "given twice", function() dmpd.era_xml(era({{era = 3}, {era = 3}})) end)
    -- kept eras 1..3, the oldest with nothing written: both dump it back
    local t = era({{era = 1, nr_bits = 16, blocks = {}}, {era = 2, nr_bits = 16, blocks = {4}},
                   {era = 3, nr_bits = 16, blocks = {}}})
    t.uuid, t.era_array = "", {}
    local meta = dir .. "/emeta"
    assert.is_true(dmpd.restore("era", t, meta).succeeded)
    assert.are.same(t, dmpd.parse_era_dump(dmpd.era_dump(meta)))
  end)

  it("thin: leaves shared by a snapshot (1.x's <def>/<ref>) dump as every device's mappings", function()
    local meta, xml_file = dir .. "/tmeta", dir .. "/shared.xml"
    h.write(xml_file, md.shared_xml())
    h.sparse(meta, 8 * 1024 * 1024)
    local r = dmpd.thin_restore({input = xml_file, output = meta})
    if dmpd.version().major == 0 then
      -- 0.9's thin_restore does not know <def>/<ref>
      assert.is_true(r.failed)
      return
    end
    assert.is_true(r.succeeded, r.stderr)
    local dump = dmpd.thin_dump(meta)
    assert.matches("<ref ", dump.stdout, 1, true)
    assert.are.same(md.SHARED, dmpd.parse_thin_dump(dump))
    -- restored again from the builder's XML (no <def>), the same metadata
    local again = dir .. "/again"
    assert.is_true(dmpd.restore("thin", md.SHARED, again).succeeded)
    assert.are.same(md.SHARED, dmpd.parse_thin_dump(dmpd.thin_dump(again)))
  end)

  it("thin_trim needs a real data device: on a file it fails cleanly", function()
    local meta, data = dir .. "/tmeta", dir .. "/data"
    assert.is_true(dmpd.restore("thin", POOL, meta).succeeded)
    h.sparse(data, 1000 * 128 * 512)
    local r = dmpd.thin_trim({metadata_dev = meta, data_dev = data, timeout = 30})
    assert.is_false(r.timed_out)
    assert.is_true(r.failed)
    assert.are.same({"--data-dev=" .. data, "--metadata-dev=" .. meta}, {table.unpack(r.argv, 2)})
  end)
end)

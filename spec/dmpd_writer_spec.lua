-- dmpd.write_thin_xml: thin metadata XML streamed to a file from lists or
-- iterators, restored by the real tools; a million mappings restored and
-- checked (spec/thin_stream_rss_spec.lua streams ten million).

local dmpd = require("sts.dmpd")
local h = require("fixtures.dmpd.helpers")
local check = require("helpers.raises")

local SB = {uuid = "u&<>\"", time = 1, transaction = 2, flags = 0, version = 2,
            data_block_size = 128, nr_data_blocks = 100}

describe("sts.dmpd.write_thin_xml", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function() h.rmdir(dir) end)

  it("writes what thin_xml writes, from lists or from iterators", function()
    local pool = {uuid = SB.uuid, time = 1, transaction = 2, flags = 0, version = 2,
                  data_block_size = 128, nr_data_blocks = 100,
                  devices = {{dev_id = 1, mapped_blocks = 3, transaction = 0, creation_time = 0, snap_time = 0,
                              mappings = {{origin = 0, data = 0, length = 2, time = 0},
                                          {origin = 5, data = 9, length = 1, time = 1}}},
                             {dev_id = 4, mapped_blocks = 0, transaction = 1, creation_time = 2, snap_time = 3,
                              mappings = {}}}}
    local path = dir .. "/a.xml"
    local sum = dmpd.write_thin_xml(path, SB, pool.devices)
    assert.are.same({devices = 2, mappings = 2, mapped_blocks = 3}, sum)
    assert.are.same(pool, dmpd.parse_thin_dump(h.read(path)))
    assert.are.same(dmpd.parse_thin_dump(dmpd.thin_xml(pool)), dmpd.parse_thin_dump(h.read(path)))

    -- devices and mappings from iterators; mapped_blocks counted as written
    local i, d = 0, 0
    dmpd.write_thin_xml(path, SB, function()
      d = d + 1
      if d == 1 then
        return {dev_id = 1, mappings = function()
          i = i + 1
          if i == 1 then return 0, 0, 2, 0 end
          if i == 2 then return {origin = 5, data = 9, time = 1} end
        end}
      elseif d == 2 then
        return {dev_id = 4, transaction = 1, creation_time = 2, snap_time = 3, mappings = function() end}
      end
    end)
    assert.are.same(pool, dmpd.parse_thin_dump(h.read(path)))
  end)

  it("names the bad field and leaves no file", function()
    local path = dir .. "/bad.xml"
    local function refused(pattern, sb, devices)
      check.raises("ValueError", pattern, dmpd.write_thin_xml, path, sb, devices)
      assert.is_false(h.exists(path))
    end
    refused("data_block_size.*required", {nr_data_blocks = 1}, {})
    refused("devices%[1%]%.dev_id", SB, {{dev_id = -1}})
    local n = 0
    refused("devices%[2%]%.mappings%[3%]%.data", SB, function()
      n = n + 1
      if n > 2 then return nil end
      local k = 0
      return {dev_id = n, mappings = function()
        k = k + 1
        if k <= 3 then return k, (n == 2 and k == 3) and -1 or k end
      end}
    end)
    refused("mappings%[1%]%.length.*at least 1", SB, {{dev_id = 1, mappings = {{origin = 0, data = 0, length = 0}}}})
    refused("mappings%[1%]%.time", SB, {{dev_id = 1, mappings = {{origin = 0, data = 0, time = "0"}}}})
    refused("mappings", SB, {{dev_id = 1, mappings = 7}})
    refused("devices", SB, 7)
    check.raises("ValueError", "path", dmpd.write_thin_xml, nil, SB, {})
    check.raises("DmpdError", "cannot create", dmpd.write_thin_xml, dir .. "/no/such/dir.xml", SB, {})
    -- an error inside an iterator comes through as raised, and the file goes too
    local ok, err = pcall(dmpd.write_thin_xml, path, SB, function() error({mine = true}) end)
    assert.is_false(ok)
    assert.is_true(err.mine)
    assert.is_false(h.exists(path))
  end)

  it("restores a million mappings that thin_check passes and thin_ls and thin_dump agree on", function()
    local N, DEVICES = 1000000, 4
    local per = N // DEVICES
    local next_dev = 0
    local xml = dir .. "/big.xml"
    local sum = dmpd.write_thin_xml(xml, {transaction = 7, data_block_size = 128, nr_data_blocks = N + 64},
      function()
        if next_dev == DEVICES then return nil end
        local id, i = next_dev, 0
        next_dev = next_dev + 1
        return {dev_id = id, mappings = function()
          if i == per then return nil end
          i = i + 1
          -- every other block of the device, data blocks interleaved by device
          return 2 * i, (i - 1) * DEVICES + id, 1, id
        end}
      end)
    assert.are.same({devices = DEVICES, mappings = N, mapped_blocks = N}, sum)
    local meta = dir .. "/meta"
    h.sparse(meta, 128 * 1024 * 1024)
    local r = dmpd.thin_restore({input = xml, output = meta})
    assert.is_true(r.succeeded, r.stderr)
    os.remove(xml)
    local c = dmpd.thin_check(meta)
    assert.is_true(c.succeeded, c.stderr)
    assert.are.equal(7, dmpd.parse_check(c).transaction_id)
    local ls = dmpd.thin_ls(meta, {format = "DEV,MAPPED_BLOCKS"})
    assert.is_true(ls.succeeded, ls.stderr)
    local rows = dmpd.parse_thin_ls(ls)
    assert.are.equal(DEVICES, #rows)
    for i, row in ipairs(rows) do
      assert.are.same({dev_id = i - 1, mapped_blocks = per}, row)
    end
    -- and the dump, streamed back, is what was written
    local dump = dmpd.thin_dump(meta, {output_file = dir .. "/back.xml"})
    assert.is_true(dump.succeeded, dump.stderr)
    local count, per_dev, bad = 0, {}, 0
    dmpd.each_mapping(dump, function(dev, origin, data, length, time)
      count = count + length
      per_dev[dev] = (per_dev[dev] or 0) + length
      if origin % 2 ~= 0 or time ~= dev or data % DEVICES ~= dev then bad = bad + 1 end
    end)
    assert.are.equal(N, count)
    assert.are.same({[0] = per, per, per, per}, per_dev)
    assert.are.equal(0, bad)
  end)
end)

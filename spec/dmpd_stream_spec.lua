-- The streaming thin_dump reader (sts.dmpd.stream over the C core's
-- thindump): the same results as the tree reader on what both tool
-- generations write, its fast path the same as expat alone on any input,
-- files as well as strings, and bad input.

local dmpd = require("sts.dmpd")
local stream = require("sts.dmpd.stream")
local parse = require("sts.dmpd.parse")
local h = require("fixtures.dmpd.helpers")
local gens = require("helpers.dmpd_generations")
local check = require("helpers.raises")

-- every call the reader makes, as text: mappings, starts, ends, and the error
local function events(input, fast)
  local ev = {}
  local ok, err = pcall(stream.read, input, function(...)
    ev[#ev + 1] = table.concat({...}, ",")
  end, function(name, attrs)
    local kv = {}
    for k, v in pairs(attrs) do kv[#kv + 1] = k .. "=" .. v end
    table.sort(kv)
    ev[#ev + 1] = name .. ":" .. table.concat(kv, " ")
  end, function(name)
    ev[#ev + 1] = "/" .. name
  end, fast)
  if not ok then ev[#ev + 1] = "error " .. tostring(err) end
  return table.concat(ev, "\n")
end

-- what a 1.x thin_dump writes: no flags, shared subtrees, no final newline
local DUMP_1X = [==[
<superblock uuid="" time="2" transaction="3" version="2" data_block_size="128" nr_data_blocks="1000">
  <def name="21">
    <range_mapping origin_begin="0" data_begin="0" length="10" time="0"/>
    <single_mapping origin_block="12" data_block="30" time="1"/>
  </def>
  <device dev_id="1" mapped_blocks="12" transaction="0" creation_time="0" snap_time="1">
    <ref name="21"/>
    <single_mapping origin_block="40" data_block="300" time="2"/>
  </device>
  <device dev_id="2" mapped_blocks="11" transaction="1" creation_time="1" snap_time="1">
    <ref name="21"/>
  </device>
</superblock>]==]

-- what 0.9 writes: every field, a final newline
local DUMP_09 = [==[
<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">
  <device dev_id="1" mapped_blocks="21" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="20" time="0"/>
    <single_mapping origin_block="40" data_block="300" time="2"/>
  </device>
</superblock>
]==]

-- the same dump in every spelling XML allows and the fast path must leave to expat
local ODD = [==[
<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment: <single_mapping origin_block="1" data_block="1" time="1"/> -->
<superblock uuid="a&amp;b" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">
  <def name="d"><range_mapping origin_begin="0" data_begin="0" length="10" time="0"/></def>
  <device dev_id="1" mapped_blocks="21" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="10" time="0"/><single_mapping origin_block="5" data_block="6" time="0"/>
    <single_mapping origin_block='40' data_block = "300"	time="2" />
    <single_mapping
      origin_block="41" data_block="311" time="2"/>
    <single_mapping time="2" data_block="322" origin_block="42" extra="x"/>
    <single_mapping origin_block="&#52;3" data_block="333" time="2"/>
    <!-- <single_mapping origin_block="1" data_block="1" time="1"/> -->
    <![CDATA[ <single_mapping origin_block="1" data_block="1" time="1"/> ]]>
    <?pi <single_mapping origin_block="1" data_block="1" time="1"/> ?>
    <ref name="d"/>
    <unknown><single_mapping origin_block="44" data_block="344" time="2"/></unknown>
  </device>
  <device dev_id="2" mapped_blocks="0" transaction="0" creation_time="0" snap_time="0"/>
</superblock>
]==]

describe("sts.dmpd streaming reader", function()
  it("reads mappings as ranges and expands shared subtrees where they are referred to", function()
    local seen = {}
    local n = dmpd.each_mapping(DUMP_1X, function(dev, origin, data, length, time)
      seen[#seen + 1] = {dev, origin, data, length, time}
    end)
    assert.are.equal(5, n)
    assert.are.same({{1, 0, 0, 10, 0}, {1, 12, 30, 1, 1}, {1, 40, 300, 1, 2},
                     {2, 0, 0, 10, 0}, {2, 12, 30, 1, 1}}, seen)
  end)

  it("joins a mapping that carries a run on, as parse_thin_dump does, and reads an absent time as 0", function()
    local seen = {}
    dmpd.each_mapping([==[
<superblock data_block_size="128" nr_data_blocks="100">
  <def name="s"><range_mapping origin_begin="0" data_begin="10" length="5" time="0"/></def>
  <device dev_id="1">
    <ref name="s"/>
    <range_mapping origin_begin="5" data_begin="15" length="2" time="0"/>
    <single_mapping origin_block="7" data_block="17"/>
    <single_mapping origin_block="8" data_block="18" time="1"/>
  </device>
  <device dev_id="1">
    <single_mapping origin_block="9" data_block="19" time="1"/>
  </device>
</superblock>]==], function(...) seen[#seen + 1] = {...} end)
    assert.are.same({{1, 0, 10, 8, 0}, {1, 8, 18, 1, 1}, {1, 9, 19, 1, 1}}, seen)
  end)

  it("gives parse_thin_dump the tree reader's results", function()
    for _, text in ipairs({DUMP_09, DUMP_1X, ODD}) do
      assert.are.same(parse.thin_dump_tree(text), dmpd.parse_thin_dump(text))
    end
    local d = dmpd.parse_thin_dump(ODD)
    assert.are.equal("a&b", d.uuid)
    assert.are.same({0, 5, 40, 41, 42, 43, 0, 44}, (function()
      local o = {}
      for i, m in ipairs(d.devices[1].mappings) do o[i] = m.origin end
      return o
    end)())
    assert.are.same({}, d.devices[2].mappings)
  end)

  it("takes expat's path for every unusual spelling, with the same calls", function()
    for _, text in ipairs({DUMP_09, DUMP_1X, ODD}) do
      local fast = events(text, true)
      assert.are.equal(events(text, false), fast)
      assert.is_nil(fast:find("error", 1, true))
    end
  end)

  it("gives the same calls and errors as expat alone on damaged dumps", function()
    local snippets = {"<!--", "-->", "<![CDATA[", "]]>", '"', "'", "<", ">", "&amp;", "&amp", ";", "/",
      " ", "\n", "\r", "\r\n", "<!DOCTYPE x>", "<?pi x?>", "?>", "=", "\xC3", "\xA9", "\1",
      "99999999999999999999", '<ref name="d"/>', '<def name="d">', "</def>", "</device>",
      '<device dev_id="9">', '<single_mapping origin_block="1" data_block="2" time="3"/>',
      '<range_mapping origin_begin="1" data_begin="2" length="4" time="3"/>'}
    -- a fixed seed: a failure names a case that can be replayed
    math.randomseed(16)
    local differ, failed = {}, 0
    for case = 1, 1500 do
      local t = ODD
      for _ = 1, math.random(1, 3) do
        local pos = math.random(1, #t)
        if math.random() < 0.4 then
          t = t:sub(1, pos - 1) .. t:sub(pos + math.random(1, 5))
        else
          t = t:sub(1, pos - 1) .. snippets[math.random(#snippets)] .. t:sub(pos)
        end
      end
      local fast = events(t, true)
      if fast:find("\nerror ") then failed = failed + 1 end
      if fast ~= events(t, false) then differ[#differ + 1] = case end
    end
    assert.are.same({}, differ)
    assert.is_true(failed > 100 and failed < 1500, "the mutations make some dumps bad and leave some good")
  end)

  it("reads files, results and strings alike, across read boundaries", function()
    local dir = h.mkdtemp()
    local path = dir .. "/dump.xml"
    local ok, err = pcall(function()
      -- about 1.5 MB: several of the reader's 256 KiB reads, tags cut at their ends
      local i = 0
      dmpd.write_thin_xml(path, {data_block_size = 128, nr_data_blocks = 100000}, {
        {dev_id = 3, mappings = function()
          i = i + 1
          if i > 20000 then return nil end
          return i, 2 * i, 1 + i % 3, i % 5
        end}})
      local text = h.read(path)
      local expected = events(text, false)
      assert.are.equal(expected, events(text, true))
      local f = assert(io.open(path, "rb"))
      assert.are.equal(expected, events(f, true))
      f:close()
      assert.are.equal(expected, events({stdout = "", output_file = path}, true))
      assert.are.equal(expected, events({stdout = text}, true))
      assert.are.equal(20000, dmpd.each_mapping(text, function() end))
    end)
    h.rmdir(dir)
    assert(ok, err)
  end)

  it("refuses what is not a dump, naming the problem", function()
    local function raises(pattern, input, fn)
      check.raises("DmpdError", pattern, dmpd.each_mapping, input, fn or function() end)
    end
    raises("no <superblock>", "<other/>")
    raises("malformed XML at line 1", "bad checksum in superblock")
    raises("malformed XML at line 3", '<superblock>\n<device dev_id="1">\n</superblock>')
    raises("dev_id", '<superblock><device dev_id="x"/></superblock>')
    raises("data_block' missing", '<superblock><device dev_id="1"><single_mapping origin_block="1"/></device></superblock>')
    raises("not a number %(99999999999999999999%)",
           '<superblock><device dev_id="1"><single_mapping origin_block="1" data_block="99999999999999999999" time="0"/></device></superblock>')
    raises("outside a device", '<superblock><single_mapping origin_block="1" data_block="1" time="0"/></superblock>')
    raises("unknown <def> 'nope'", '<superblock><device dev_id="1"><ref name="nope"/></device></superblock>')
    raises("before <device>", '<x><device dev_id="1"/></x>')
    check.raises("DmpdError", "cannot read", dmpd.each_mapping, {stdout = "", output_file = "/nonexistent/x"},
                 function() end)
  end)

  it("survives any Lua value and callbacks that raise or close the file", function()
    check.raises("ValueError", "fn must be a function", dmpd.each_mapping, DUMP_1X, 5)
    check.raises("ValueError", "expected thin_dump output", dmpd.each_mapping, 42, function() end)
    check.raises("ValueError", "expected thin_dump output", dmpd.each_mapping, nil, function() end)
    local core = require("sts.core").thindump
    for _, bad in ipairs({{}, 1, true, print, io.stdout, coroutine.create(print)}) do
      assert.is_false(pcall(core.read, bad, function() end))
      assert.is_false(pcall(core.read, DUMP_1X, bad ~= print and bad or nil))
    end
    assert.is_false(pcall(core.read, DUMP_1X, print, 5))
    local f = assert(io.tmpfile())
    f:write(DUMP_1X)
    f:seek("set", 0)
    f:close()
    check.raises("ValueError", "closed", dmpd.each_mapping, f, function() end)
    assert.is_false(pcall(core.read, f, function() end))
    -- a callback error comes through as it was raised
    local ok, err = pcall(dmpd.each_mapping, DUMP_1X, function() error({mine = true}) end)
    assert.is_false(ok)
    assert.is_true(err.mine)
    local g = assert(io.tmpfile())
    g:write(DUMP_1X, string.rep(" ", 300000), "<!-- -->")
    g:seek("set", 0)
    ok, err = pcall(dmpd.each_mapping, g, function() g:close() end)
    assert.is_false(ok)
    assert.matches("closed", tostring(err))
  end)
end)

-- the tools in effect: the host tier runs the dmpd specs once per generation
describe("sts.dmpd streaming reader on what the " .. gens.current() .. " tools write", function()
  -- an origin, a snapshot of it, and the origin rewritten after the snapshot
  local POOL = {
    uuid = "", time = 2, transaction = 3, data_block_size = 128, nr_data_blocks = 5000,
    devices = {
      {dev_id = 1, transaction = 0, creation_time = 0, snap_time = 1, mappings = {
        {origin = 0, data = 0, length = 600, time = 0}, {origin = 700, data = 1000, length = 1, time = 2}}},
      {dev_id = 2, transaction = 1, creation_time = 1, snap_time = 1, mappings = {
        {origin = 0, data = 0, length = 600, time = 0}, {origin = 900, data = 2000, length = 3, time = 1}}},
    },
  }
  do
    it("reads a thin_dump as the tree reader does", function()
      local dir = h.mkdtemp()
      local ok, err = pcall(function()
        local meta = dir .. "/meta"
        local r = dmpd.restore("thin", POOL, meta)
        assert.is_true(r.succeeded, r.stderr)
        local dump = dmpd.thin_dump(meta)
        assert.is_true(dump.succeeded, dump.stderr)
        local tree = parse.thin_dump_tree(dump)
        assert.are.same(tree, dmpd.parse_thin_dump(dump))
        assert.are.equal(events(dump.stdout, false), events(dump.stdout, true))
        assert.are.equal(2, #tree.devices)
        -- to a file, then streamed from it
        local to_file = dmpd.thin_dump(meta, {output_file = dir .. "/dump.xml"})
        assert.is_true(to_file.succeeded, to_file.stderr)
        assert.are.same(tree, dmpd.parse_thin_dump(to_file))
        local blocks = 0
        assert.are.equal(4, dmpd.each_mapping(to_file, function(_, _, _, length) blocks = blocks + length end))
        assert.are.equal(1204, blocks)
      end)
      h.rmdir(dir)
      assert(ok, err)
    end)
  end
end)

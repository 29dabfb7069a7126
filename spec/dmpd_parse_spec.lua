-- sts.dmpd parsers and builders on text, no tools involved: the shapes
-- of output different tool versions print, and bad input.

local dmpd = require("sts.dmpd")
local xml = require("sts.dmpd.xml")

local check = require "helpers.raises"
local function raises(kind, f, pattern) return check.raises(kind, pattern, f) end

describe("sts.dmpd.xml", function()
  it("reads elements and attributes in both quote styles, blanks around '='", function()
    local seen = {}
    xml.each([==[<?xml version="1.0"?>
      <!-- a comment with <tags> -->
      <!DOCTYPE superblock>
      <root a="1" b = '2'  c=
        "x y">
        <![CDATA[ <ignored/> ]]>
        <leaf v="&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&unknown;"/>
        <leaf v='say "hi"' w="it's > fine"/>
      </root>]==], function(name, attrs) seen[#seen + 1] = {name, attrs} end)
    assert.are.same({
      {"root", {a = "1", b = "2", c = "x y"}},
      {"leaf", {v = "<>&\"'AB&unknown;"}},
      {"leaf", {v = 'say "hi"', w = "it's > fine"}},
    }, seen)
  end)

  it("builds a tree and reports start and end of empty elements", function()
    local tree = xml.tree("<a><b x='1'/><c><d/></c></a>")
    assert.are.equal("a", tree.name)
    assert.are.equal(2, #tree.children)
    assert.are.equal("1", tree.children[1].attrs.x)
    assert.are.equal("d", tree.children[2].children[1].name)
    local events = {}
    xml.each("<a><b/></a>", function(n) events[#events + 1] = "+" .. n end,
                            function(n) events[#events + 1] = "-" .. n end)
    assert.are.same({"+a", "+b", "-b", "-a"}, events)
  end)

  it("escapes what it writes so that it reads back", function()
    local nasty = "a<b>&c\"d'e\nf\tg"
    local tag = xml.tag("x", {{"v", nasty}, {"n", 5}}, true)
    assert.are.equal(nasty, xml.tree(tag).attrs.v)
    assert.are.equal("5", xml.tree(tag).attrs.n)
  end)

  it("raises DmpdError on malformed XML, saying where", function()
    raises("DmpdError", function() xml.each("<a><b></a>") end, "does not match")
    raises("DmpdError", function() xml.each("<a>") end, "unclosed")
    raises("DmpdError", function() xml.each("<a x=1/>") end, "unquoted")
    raises("DmpdError", function() xml.each('<a x="1/>') end, "unterminated")
    raises("DmpdError", function() xml.each("<a/><b/>") end, "more than one root")
    raises("DmpdError", function() xml.each("no xml here") end, "no element")
    raises("DmpdError", function() xml.each("<a>\n\n<!-- open") end, "line 3")
    raises("ValueError", function() xml.each(nil) end)
  end)
end)

describe("sts.dmpd.parse_check", function()
  it("reads KEY=value lines from either stream, stages and messages", function()
    -- the older tools: values on stdout, progress on stderr
    local old = {stdout = "TRANSACTION_ID=2\nMETADATA_FREE_BLOCKS=2047\n",
                 stderr = "examining superblock\nexamining devices tree\nchecking space map counts\n",
                 succeeded = true}
    local info = dmpd.parse_check(old)
    assert.are.equal(2, info.transaction_id)
    assert.are.equal(2047, info.metadata_free_blocks)
    assert.are.same({"examining superblock", "examining devices tree", "checking space map counts"},
                    info.stages)
    assert.are.same({}, info.messages)
    assert.is_true(info.succeeded)
    -- everything on one stream, problems indented below a stage
    info = dmpd.parse_check("examining superblock\n  superblock is corrupt\n    bad checksum\n"
                            .. "TRANSACTION_ID=9\nSOME_FLAG=yes\n")
    assert.are.equal(9, info.transaction_id)
    assert.are.equal("yes", info.some_flag)
    assert.are.same({"superblock is corrupt", "bad checksum"}, info.messages)
    assert.is_nil(info.succeeded)
  end)

  it("reads 1.x's stage titles and leaves its progress lines out", function()
    local info = dmpd.parse_check({stdout = "TRANSACTION_ID=3\nMETADATA_FREE_BLOCKS=2037\n",
                                   stderr = "Checking thin metadata\ndevice details tree\nmapping tree\n"
                                     .. "Progress: 40%\ndata space map\nmetadata space map\n",
                                   succeeded = true})
    assert.are.same({"Checking thin metadata", "device details tree", "mapping tree", "data space map",
                     "metadata space map"}, info.stages)
    assert.are.same({}, info.messages)
    assert.are.equal(3, info.transaction_id)
    info = dmpd.parse_check({stdout = "", stderr = "Checking era metadata\nbad checksum in superblock\n",
                             succeeded = false})
    assert.are.same({"Checking era metadata"}, info.stages)
    assert.are.same({"bad checksum in superblock"}, info.messages)
  end)

  it("rejects what is not output", function()
    raises("ValueError", function() dmpd.parse_check(42) end, "parse_check")
  end)
end)

describe("sts.dmpd.parse_thin_ls", function()
  local HEADED = [[
DEV MAPPED_BLOCKS EXCLUSIVE_BLOCKS  MAPPED EXCLUSIVE TRANSACTION
  1           110               10 7040KiB    640KiB           0
  2           100                0 6.25MiB         0           1
]]

  it("types the fields named in the header", function()
    local rows = dmpd.parse_thin_ls(HEADED)
    assert.are.same({
      {dev_id = 1, mapped_blocks = 110, exclusive_blocks = 10, mapped_approx_bytes = 7040 * 1024,
       exclusive_approx_bytes = 640 * 1024, transaction = 0},
      {dev_id = 2, mapped_blocks = 100, exclusive_blocks = 0, mapped_approx_bytes = 6553600,
       exclusive_approx_bytes = 0, transaction = 1},
    }, rows)
  end)

  it("takes the fields from the argument or the result's -o without a header", function()
    local text = "1 110\n2 100\n"
    local want = {{dev_id = 1, mapped_blocks = 110}, {dev_id = 2, mapped_blocks = 100}}
    assert.are.same(want, dmpd.parse_thin_ls(text, "DEV,MAPPED_BLOCKS"))
    assert.are.same(want, dmpd.parse_thin_ls(text, {"dev", "mapped_blocks"}))
    assert.are.same(want, dmpd.parse_thin_ls({stdout = text, argv = {"thin_ls", "--no-headers",
                                              "--format=DEV,MAPPED_BLOCKS", "/m"}}))
    assert.are.same(want, dmpd.parse_thin_ls({stdout = text, argv = {"thin_ls", "-o",
                                              "DEV,MAPPED_BLOCKS", "/m"}}))
    assert.are.same({}, dmpd.parse_thin_ls(""))
  end)

  it("reads 1.x's size spellings and its HIGHEST_* columns", function()
    local rows = dmpd.parse_thin_ls([[
DEV  MAPPED EXCLUSIVE HIGHEST_BLOCK HIGHEST_MAPPED
  1 1344KiB        0b            40        2623KiB
  2   2Tib       1kB             0             0b
]])
    assert.are.same({{dev_id = 1, mapped_approx_bytes = 1344 * 1024, exclusive_approx_bytes = 0, highest_block = 40,
                      highest_mapped_approx_byte = 2623 * 1024},
                     {dev_id = 2, mapped_approx_bytes = 2 * 2^40, exclusive_approx_bytes = 1000, highest_block = 0,
                      highest_mapped_approx_byte = 0}}, rows)
  end)

  it("falls back to the default columns and complains about a mismatch", function()
    local rows = dmpd.parse_thin_ls("1 1MiB 0 1\n")
    assert.are.same({{dev_id = 1, mapped_approx_bytes = 1048576, create_time = 0, snap_time = 1}}, rows)
    raises("DmpdError", function() dmpd.parse_thin_ls("1 2 3\n", "DEV,MAPPED_BLOCKS") end, "columns")
    raises("ValueError", function() dmpd.parse_thin_ls("", 5) end, "fields")
  end)
end)

describe("sts.dmpd.parse_thin_dump", function()
  it("reads superblock, devices and both mapping kinds", function()
    local d = dmpd.parse_thin_dump([[
<superblock uuid="a&amp;b" time="4" transaction="5" flags="0" version="2" data_block_size="128" nr_data_blocks="99">
  <device dev_id="7" mapped_blocks="3" transaction="1" creation_time="2" snap_time="3">
    <range_mapping origin_begin="0" data_begin="10" length="2" time="1"/>
    <single_mapping origin_block="9" data_block="40" time="2"/>
  </device>
  <device dev_id="8" mapped_blocks="0" transaction="1" creation_time="2" snap_time="3">
  </device>
</superblock>]])
    assert.are.same({
      uuid = "a&b", time = 4, transaction = 5, flags = 0, version = 2, data_block_size = 128,
      nr_data_blocks = 99,
      devices = {
        {dev_id = 7, mapped_blocks = 3, transaction = 1, creation_time = 2, snap_time = 3,
         mappings = {{origin = 0, data = 10, length = 2, time = 1}, {origin = 9, data = 40, length = 1, time = 2}}},
        {dev_id = 8, mapped_blocks = 0, transaction = 1, creation_time = 2, snap_time = 3, mappings = {}},
      },
    }, d)
  end)

  it("expands shared <def>/<ref> subtrees and keeps unknown attributes", function()
    local d = dmpd.parse_thin_dump([[
<superblock uuid="" time="0" transaction="0" data_block_size="64" nr_data_blocks="10" extra="x">
  <def name="s1">
    <range_mapping origin_begin="0" data_begin="0" length="3" time="0"/>
  </def>
  <device dev_id="1" mapped_blocks="4" transaction="0" creation_time="0" snap_time="0">
    <ref name="s1"/>
    <single_mapping origin_block="5" data_block="5" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">
    <ref name="s1"/>
  </device>
</superblock>]])
    assert.are.equal("x", d.extra)
    assert.are.equal(2, #d.devices[1].mappings)
    assert.are.same({origin = 0, data = 0, length = 3, time = 0}, d.devices[2].mappings[1])
    assert.are_not.equal(d.devices[1].mappings[1], d.devices[2].mappings[1])
    raises("DmpdError", function()
      dmpd.parse_thin_dump('<superblock><device dev_id="1"><ref name="nope"/></device></superblock>')
    end, "unknown")
  end)

  it("gives absent attributes the kernel's defaults, one shape for both generations", function()
    -- 1.x leaves out flags when needs_check is clear; a hand-made dump may leave out more
    local d = dmpd.parse_thin_dump([[
<superblock data_block_size="128" nr_data_blocks="10">
  <device dev_id="4">
    <range_mapping origin_begin="0" data_begin="1" length="2"/>
    <single_mapping origin_block="7" data_block="9"/>
  </device>
</superblock>]])
    assert.are.same({uuid = "", time = 0, transaction = 0, flags = 0, version = 2,
                     data_block_size = 128, nr_data_blocks = 10,
                     devices = {{dev_id = 4, mapped_blocks = 3, transaction = 0, creation_time = 0,
                                 snap_time = 0,
                                 mappings = {{origin = 0, data = 1, length = 2, time = 0},
                                             {origin = 7, data = 9, length = 1, time = 0}}}}}, d)
    -- needs_check as 1.x prints it
    assert.are.equal(1, dmpd.parse_thin_dump(
      '<superblock uuid="" time="0" transaction="0" flags="1" version="2" data_block_size="8" nr_data_blocks="1"/>').flags)
  end)

  it("joins a run that a shared subtree split, as 0.9 prints it", function()
    local d = dmpd.parse_thin_dump([[
<superblock uuid="" time="0" transaction="0" version="2" data_block_size="64" nr_data_blocks="100">
  <def name="1"><range_mapping origin_begin="0" data_begin="10" length="5" time="0"/></def>
  <device dev_id="1" mapped_blocks="9" transaction="0" creation_time="0" snap_time="0">
    <ref name="1"/>
    <range_mapping origin_begin="5" data_begin="15" length="3" time="0"/>
    <single_mapping origin_block="8" data_block="40" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="6" transaction="0" creation_time="0" snap_time="0">
    <single_mapping origin_block="5" data_block="15" time="1"/>
    <ref name="1"/>
  </device>
</superblock>]])
    assert.are.same({{origin = 0, data = 10, length = 8, time = 0}, {origin = 8, data = 40, length = 1, time = 0}},
                    d.devices[1].mappings)
    -- not a continuation (origin goes back): kept apart
    assert.are.same({{origin = 5, data = 15, length = 1, time = 1}, {origin = 0, data = 10, length = 5, time = 0}},
                    d.devices[2].mappings)
  end)

  it("raises DmpdError on output that is not a dump", function()
    raises("DmpdError", function() dmpd.parse_thin_dump("<other/>") end, "superblock")
    raises("DmpdError", function()
      dmpd.parse_thin_dump('<superblock><device dev_id="x"/></superblock>')
    end, "dev_id")
    raises("DmpdError", function()
      dmpd.parse_thin_dump('<superblock><device dev_id="1"><single_mapping origin_block="1"/></device></superblock>')
    end, "data_block")
    raises("DmpdError", function() dmpd.parse_thin_dump("bad checksum in superblock") end)
  end)
end)

describe("sts.dmpd.parse_cache_dump and parse_era_dump", function()
  it("read cache mappings, hints and discards", function()
    local c = dmpd.parse_cache_dump([[
<superblock uuid="" block_size="128" nr_cache_blocks="16" policy="smq" hint_width="4">
  <mappings><mapping cache_block="1" origin_block="2" dirty="true"/></mappings>
  <hints><hint cache_block="1" data="AAAAAA=="/></hints>
  <discards><discard dbegin="3" dend="5"/></discards>
</superblock>]])
    assert.are.same({uuid = "", block_size = 128, nr_cache_blocks = 16, policy = "smq", hint_width = 4,
                     mappings = {{cache_block = 1, origin_block = 2, dirty = true}},
                     hints = {{cache_block = 1, data = "AAAAAA=="}},
                     discards = {{dbegin = 3, dend = 5}}}, c)
    raises("DmpdError", function()
      dmpd.parse_cache_dump('<superblock><mapping cache_block="1" origin_block="2" dirty="maybe"/></superblock>')
    end, "dirty")
  end)

  it("list only set writeset bits and non-zero eras", function()
    local e = dmpd.parse_era_dump([[
<superblock uuid="" block_size="8" nr_blocks="4" current_era="2">
  <writeset era="1" nr_bits="4">
    <bit block="0" value="false"/><bit block="1" value="true"/>
    <bit block="2" value="false"/><bit block="3" value="true"/>
  </writeset>
  <era_array><era block="0" era="0"/><era block="1" era="1"/><era block="2" era="0"/></era_array>
</superblock>]])
    assert.are.same({uuid = "", block_size = 8, nr_blocks = 4, current_era = 2,
                     writesets = {{era = 1, nr_bits = 4, blocks = {1, 3}}},
                     era_array = {{block = 1, era = 1}}}, e)
    raises("DmpdError", function() dmpd.parse_era_dump('<superblock><bit block="1" value="true"/></superblock>') end)
  end)
end)

describe("sts.dmpd.parse_thin_delta", function()
  it("reads plain and verbose deltas into the same ranges", function()
    local plain = dmpd.parse_thin_delta([[
<superblock uuid="" time="1" transaction="2" data_block_size="128" nr_data_blocks="100">
  <diff left="1" right="2">
    <same begin="0" length="4"/>
    <different begin="4" length="1"/>
    <right_only begin="9" length="2"/>
  </diff>
</superblock>]])
    local verbose = dmpd.parse_thin_delta([[
<superblock uuid="" time="1" transaction="2" data_block_size="128" nr_data_blocks="100">
  <diff left="1" right="2">
    <same>
      <range begin="0" data_begin="0" length="4"/>
    </same>
    <different>
      <range begin="4" left_data_begin="4" right_data_begin="50" length="1"/>
    </different>
    <right_only>
      <range begin="9" data_begin="60" length="2"/>
    </right_only>
  </diff>
</superblock>]])
    for _, d in ipairs({plain, verbose}) do
      assert.are.equal(1, d.left)
      assert.are.equal(2, d.right)
      assert.are.same({same = 4, different = 1, left_only = 0, right_only = 2}, d.blocks)
      assert.are.equal(3, #d.ranges)
      assert.are.equal("different", d.ranges[2].type)
    end
    assert.are.equal(50, verbose.ranges[2].right_data_begin)
    assert.are.equal(60, verbose.ranges[3].data_begin)
    assert.is_nil(plain.ranges[3].data_begin)
  end)
end)

describe("sts.dmpd small parsers", function()
  it("parse metadata sizes in any of the printed forms", function()
    assert.are.equal(9088, dmpd.parse_metadata_size("9088 sectors\n"))
    assert.are.equal(1073224, dmpd.parse_metadata_size(
      'thin_metadata_size - 1073224 sectors estimated metadata area size for "--block-size=64k"\n'))
    assert.are.equal(1073224, dmpd.parse_metadata_size("1073224\n"))
    assert.are.equal(1073224, dmpd.parse_metadata_size("1073224s\n"))
    assert.are.equal(4096, dmpd.parse_metadata_size("2 mebibytes\n"))
    assert.are.equal(2, dmpd.parse_metadata_size("1000 bytes\n"))
    assert.are.equal(4, dmpd.parse_metadata_size("2k"))
    raises("DmpdError", function() dmpd.parse_metadata_size("no number here") end)
  end)

  it("parse versions, era_invalidate and thin_rmap output", function()
    assert.are.same({major = 0, minor = 9, patch = 0, text = "0.9.0"}, dmpd.parse_version("0.9.0\n"))
    -- -V with the tool's name first, and forms with fewer or more parts
    assert.are.same({major = 1, minor = 1, patch = 0, text = "1.1.0"},
                    dmpd.parse_version("thin_check 1.1.0\n"))
    assert.are.same({major = 1, minor = 3, patch = 0, text = "1.3"}, dmpd.parse_version("era_dump 1.3"))
    assert.are.same({major = 1, minor = 0, patch = 0, text = "1.0.0-rc1"}, dmpd.parse_version("1.0.0-rc1"))
    assert.are.same({major = 0, minor = 9, patch = 0, text = "0.9.0"},
                    dmpd.parse_version({stdout = "0.9.0\n", stderr = ""}))
    assert.is_nil(dmpd.parse_version("unknown"))
    assert.is_nil(dmpd.parse_version(""))
    assert.are.same({{begin = 0, length = 2}, {begin = 7, length = 1}},
                    dmpd.parse_era_invalidate('<blocks>\n  <range begin="0" end = "2"/>\n  <block block="7"/>\n</blocks>'))
    assert.are.same({{data_begin = 0, length = 10, dev_id = 1, origin_begin = 5}},
                    dmpd.parse_thin_rmap("data 0..10 -> thin(1) 5..15\n"))
  end)

  it("read an output_file a result streamed to", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('<superblock uuid="" time="0" transaction="6" data_block_size="8" nr_data_blocks="1"/>')
    f:close()
    local d = dmpd.parse_thin_dump({stdout = "", output_file = path})
    os.remove(path)
    assert.are.equal(6, d.transaction)
    raises("DmpdError", function() dmpd.parse_thin_dump({stdout = "", output_file = path}) end, "cannot read")
  end)
end)

describe("sts.dmpd builders", function()
  it("write what the parsers read back", function()
    local pool = {uuid = "u&<>\"", time = 1, transaction = 2, flags = 0, version = 2,
                  data_block_size = 128, nr_data_blocks = 10,
                  devices = {{dev_id = 1, mapped_blocks = 3, transaction = 0, creation_time = 0, snap_time = 0,
                              mappings = {{origin = 0, data = 0, length = 2, time = 0},
                                          {origin = 5, data = 9, length = 1, time = 1}}}}}
    assert.are.same(pool, dmpd.parse_thin_dump(dmpd.thin_xml(pool)))
    local cache = {uuid = "", block_size = 64, nr_cache_blocks = 8, policy = "mq", hint_width = 4,
                   mappings = {{cache_block = 0, origin_block = 3, dirty = true}},
                   hints = {{cache_block = 0, data = "AQIDBA=="}}, discards = {}}
    assert.are.same(cache, dmpd.parse_cache_dump(dmpd.cache_xml(cache)))
    local era = {uuid = "", block_size = 8, nr_blocks = 4, current_era = 3,
                 writesets = {{era = 2, nr_bits = 4, blocks = {0, 3}}, {era = 3, nr_bits = 4, blocks = {}}},
                 era_array = {{block = 2, era = 1}}}
    assert.are.same(era, dmpd.parse_era_dump(dmpd.era_xml(era)))
  end)

  it("name the bad field", function()
    raises("ValueError", function() dmpd.thin_xml({nr_data_blocks = 1}) end, "data_block_size.*required")
    raises("ValueError", function()
      dmpd.thin_xml({data_block_size = 1, nr_data_blocks = 1, devices = {{dev_id = 1, mappings = {{origin = 0}}}}})
    end, "devices%[1%]%.mappings%[1%]%.data")
    raises("ValueError", function()
      dmpd.thin_xml({data_block_size = 1, nr_data_blocks = 1, devices = {{dev_id = -1}}})
    end, "devices%[1%]%.dev_id")
    raises("ValueError", function()
      dmpd.thin_xml({data_block_size = "128", nr_data_blocks = 1})
    end, "data_block_size")
    raises("ValueError", function()
      dmpd.thin_xml({data_block_size = 1, nr_data_blocks = 1,
                     devices = {{dev_id = 1, mappings = {{origin = 0, data = 0, length = 0}}}}})
    end, "length")
    raises("ValueError", function() dmpd.thin_xml({data_block_size = 1.5, nr_data_blocks = 1}) end)
    raises("ValueError", function() dmpd.thin_xml("pool") end, "table expected")
    raises("ValueError", function()
      dmpd.cache_xml({block_size = 1, nr_cache_blocks = 1, mappings = {{cache_block = 0, origin_block = 0, dirty = "no"}}})
    end, "mappings%[1%]%.dirty")
    raises("ValueError", function()
      dmpd.cache_xml({block_size = 1, nr_cache_blocks = 1, hints = {{cache_block = 0, data = "not base64!"}}})
    end, "hints%[1%]%.data")
    raises("ValueError", function()
      dmpd.cache_xml({block_size = 1, nr_cache_blocks = 1, discards = {{dbegin = 0, dend = 1}}})
    end, "discards")
    raises("ValueError", function()
      dmpd.era_xml({block_size = 1, nr_blocks = 4, current_era = 1, writesets = {{era = 1, blocks = {4}}}})
    end, "writesets%[1%]%.blocks%[1%]")
    raises("ValueError", function() dmpd.era_xml({block_size = 1, nr_blocks = 4}) end, "current_era")
    raises("ValueError", function() dmpd.restore("raid", {}, "/tmp/x") end, "kind")
    raises("ValueError", function() dmpd.metadata_size("raid") end)
  end)
end)

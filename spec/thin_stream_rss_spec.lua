-- Ten million thin mappings written with dmpd.write_thin_xml and streamed
-- back through dmpd.each_mapping in under 64 MB. Apart from the dmpd_*
-- specs, which the host tier runs once per tools generation: no tool runs
-- here.

local h = require("fixtures.dmpd.helpers")
local proc = require("sts.core").proc

describe("sts.dmpd streaming reader at scale", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function() h.rmdir(dir) end)

  it("streams a dump of ten million mappings in under 64 MB (plain build, own process)", function()
    -- RSS is a property of the plain build: ASan's shadow memory and
    -- quarantine would measure the sanitizer. The bench's reader script
    -- reports its own peak RSS.
    local stslua = "build/stslua"
    if not proc.which(stslua) then return pending("no plain build (make)") end
    local N = 10000000
    local xml = dir .. "/huge.xml"
    local gen = proc.run({stslua, "-e", ([[
      local dmpd = require "sts.dmpd"
      local d, i = -1, 0
      local s = dmpd.write_thin_xml(%q, {data_block_size = 128, nr_data_blocks = %d}, function()
        d = d + 1
        if d == 2 then return nil end
        i = 0
        return {dev_id = d, mappings = function()
          if i == %d then return nil end
          i = i + 1
          return 2 * i, i, 1, 0  -- a hole after each block: no runs to join
        end}
      end)
      print(s.mappings)]]):format(xml, N + 1, N // 2)}, {timeout = 600})
    assert.are.equal(0, gen.rc, gen.stderr)
    assert.are.equal(tostring(N), (gen.stdout:gsub("%s+$", "")))
    local r = proc.run({stslua, "scripts/bench/thin_dump_stream.lua", xml}, {timeout = 600})
    os.remove(xml)
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal(tostring(N), r.stdout:match("mappings=(%d+)"))
    assert.are.equal(tostring(N), r.stdout:match("blocks=(%d+)"))
    local rss = tonumber(r.stdout:match("peak_rss_mb=([%d.]+)"))
    assert.is_true(rss > 0 and rss < 64, "peak RSS " .. tostring(rss) .. " MB")
  end)
end)

-- The bad-input matrix: public functions called with wrong types, nil,
-- out-of-range and fractional numbers, empty strings, NUL bytes, newlines,
-- over-long names, names with '/', unknown target types and unknown option
-- fields. Each must be refused with a clear error naming what is wrong (an
-- sts ValueError, or Lua's own "bad argument") -- never a crash, never a
-- different error kind, and (on this host, which has no device-mapper)
-- never a DmUnavailableError: that would mean the check came after an ioctl.
local errors = require "sts.errors"
local dm = require "sts.dm"
local targets = require "sts.targets"
local dmpd = require "sts.dmpd"
local loop = require "sts.loop"
local proc = require("sts.core").proc

-- calls fn(...) and returns the error message, asserting that the call was
-- refused as bad input and that the message matches `names` (a Lua pattern
-- for the argument or field the message must name)
local function refused(names, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then
    local args = table.pack(...)
    for i = 1, args.n do args[i] = tostring(args[i]) end
    error(("expected a refusal naming %s, but the call succeeded with (%s)")
          :format(names, table.concat(args, ", ", 1, args.n)), 2)
  end
  local msg
  if type(err) == "table" then
    assert(errors.is(err, "ValueError"),
      "expected a ValueError naming " .. names .. ", got " .. tostring(err))
    msg = err.message
  else
    assert(type(err) == "string", "error is neither a message nor an sts error: " .. type(err))
    assert(err:find("bad argument", 1, true) or err:find("bad option", 1, true),
      "expected a 'bad argument' error, got: " .. err)
    msg = err
  end
  assert(msg:find(names), ("the error does not name %s: %s"):format(names, msg))
  return msg
end

local LONG = string.rep("n", 128)
local HUGE_SIZES = {2^63, math.maxinteger, math.mininteger, -1, 0.5, 1e300, 0/0, 1/0}
local WRONG_TYPES = {true, {}, function() end, io.stdout}

describe("bad input", function()
  describe("sts.dm names", function()
    local bad_names = {"", LONG, "a/b", "a\0b", "a\nb", "a\tb", ".", ".."}
    it("create refuses bad names before any ioctl", function()
      for _, name in ipairs(bad_names) do
        refused("name", dm.create, name, dm.ZeroTarget{size = 8})
      end
      for _, v in ipairs(WRONG_TYPES) do refused("name", dm.create, v, dm.ZeroTarget{size = 8}) end
      refused("name", dm.create, nil, dm.ZeroTarget{size = 8})
      refused("name", dm.create, 42, dm.ZeroTarget{size = 8})
    end)

    it("check_name, get_by_name and DmDevice refuse the same names", function()
      for _, name in ipairs(bad_names) do
        refused("name", dm.check_name, name)
        refused("name", dm.DmDevice.get_by_name, name)
        refused("name", dm.DmDevice, {dm_name = name})
      end
      refused("name", dm.DmDevice.get_by_name, nil)
    end)

    it("DmDevice refuses wrong types, unknown fields and non-dm paths", function()
      for _, v in ipairs({true, 42, function() end}) do refused("DmDevice", dm.DmDevice, v) end
      refused("DmDevice", dm.DmDevice, nil)
      refused("bogus", dm.DmDevice, {bogus = 1})
      refused("DmDevice", dm.DmDevice, {})
      refused("path", dm.DmDevice, {path = "/dev/sda"})
      refused("path", dm.DmDevice, {path = 7})
    end)
  end)

  describe("sts.dm create options and tables", function()
    it("refuses unknown option fields and wrong option types", function()
      refused("bogus", dm.create, "sts-bad", dm.ZeroTarget{size = 8}, {bogus = true})
      refused("readonly", dm.create, "sts-bad", dm.ZeroTarget{size = 8}, {readonly = "yes"})
      refused("uuid", dm.create, "sts-bad", dm.ZeroTarget{size = 8}, {uuid = string.rep("u", 129)})
      refused("uuid", dm.create, "sts-bad", dm.ZeroTarget{size = 8}, {uuid = 5})
      refused("opt", dm.create, "sts-bad", dm.ZeroTarget{size = 8}, "readonly")
    end)

    it("refuses bad tables before any ioctl", function()
      refused("table", dm.create, "sts-bad", nil)
      refused("table", dm.create, "sts-bad", 42)
      refused("table", dm.create, "sts-bad", {42})
      refused("table", dm.create, "sts-bad", "0 8 zero\0")
      refused("size", dm.create, "sts-bad", "0 -8 zero")
      refused("sector", dm.create, "sts-bad", "8 8 zero")
    end)
  end)

  describe("target constructors", function()
    local makers = {}
    for name, fn in pairs(dm) do
      if name:match("Target$") and name ~= "DmTarget" then makers[#makers + 1] = name end
    end
    table.sort(makers)

    it("every constructor refuses bad sizes and starts, naming them", function()
      assert.is_true(#makers >= 20)
      for _, name in ipairs(makers) do
        -- the raw form (start, size, args): size and start are checked
        -- before the target's own fields
        -- math.maxinteger sectors is a valid size for the kernel's table
        -- parser (sector_t is 64 bits), so it is not in this list
        for _, size in ipairs({2^63, math.mininteger, -1, 0.5, 1e300, 0/0, 1/0}) do
          refused("size", dm[name], 0, size, "")
        end
        refused("size", dm[name], 0, 0, "")
        refused("size", dm[name], 0, "8", "")
        refused("size", dm[name], 0, nil, "")
        refused("start", dm[name], -1, 8, "")
        refused("start", dm[name], 1.5, 8, "")
        refused("start", dm[name], 2^63, 8, "")
      end
    end)

    it("every constructor refuses unknown fields and wrong argument types", function()
      for _, name in ipairs(makers) do
        refused("no_such_field", dm[name], {size = 8, no_such_field = 1})
        -- anything but a table is the raw form's start
        for _, v in ipairs({true, function() end, "text"}) do
          refused("start", dm[name], v)
        end
        refused("start", dm[name], nil)
      end
    end)

    it("refuses newlines and NUL bytes in raw args", function()
      for _, args in ipairs({"7:0 0\n0 8 zero", "7:0\0 0", "7:0 0\r"}) do
        refused("args", dm.LinearTarget, 0, 8, args)
        refused("args", dm.DmTarget, 0, 8, "linear", args)
      end
    end)

    it("refuses bad devices, offsets and named fields", function()
      refused("device", dm.LinearTarget, {size = 8})
      refused("device", dm.LinearTarget, {size = 8, device = ""})
      refused("device", dm.LinearTarget, {size = 8, device = "a b"})
      refused("device", dm.LinearTarget, {size = 8, device = {}})
      refused("offset", dm.LinearTarget, {size = 8, device = "7:0", offset = -1})
      refused("offset", dm.LinearTarget, {size = 8, device = "7:0", offset = 2^63})
      refused("block_size", dm.ThinPoolTarget, {size = 8, metadata_dev = "7:0", data_dev = "7:1",
                                                 block_size = 0.5})
      refused("dev_id", dm.ThinTarget, {size = 8, pool_dev = "253:0", dev_id = -1})
      refused("stripes", dm.StripedTarget, {size = 8, chunk_size = 8, stripes = "7:0"})
      refused("features", dm.FlakeyTarget, {size = 8, device = "7:0", up = 1, down = 1,
                                             features = {{}}})
    end)

    it("DmTarget and parse_table refuse unknown target types and junk", function()
      refused("type", dm.DmTarget, 0, 8, "", "")
      refused("type", dm.DmTarget, 0, 8, "a b", "")
      refused("type", dm.DmTarget, 0, 8, nil, "")
      refused("table", dm.parse_table, 42)
      refused("table", dm.parse_table, nil)
      refused("size", dm.parse_table, "0 99999999999999999999999 zero")
      refused("start", dm.parse_table, "x 8 zero")
      refused("line", dm.parse_line, "0 8")
      refused("list", dm.format_table, "0 8 zero")
      refused("list", dm.check_table, 42)
    end)

    -- an unknown (out-of-tree) type's status is kept raw by design
    it("parse_status refuses bad types and non-strings", function()
      refused("type", dm.parse_status, nil, "")
      refused("type", dm.parse_status, 42, "")
      refused("status", dm.parse_status, "thin", nil)
      refused("status", dm.parse_status, "thin", 42)
    end)
  end)

  describe("sts.dmpd", function()
    it("refuses bad options, naming the option", function()
      refused("option", dmpd.options_to_argv, "quiet")
      refused("option", dmpd.options_to_argv, {[1] = "x"})
      refused("bad key", dmpd.options_to_argv, {["bad key"] = true})
      refused("nested", dmpd.options_to_argv, {nested = {a = 1}})
      refused("list", dmpd.options_to_argv, {list = {{}}})
      refused("x", dmpd.options_to_argv, {x = "a\0b"})
      refused("x", dmpd.options_to_argv, {x = 1.5})
      refused("x", dmpd.options_to_argv, {x = function() end})
      refused("option", dmpd.options_to_argv, {["-x"] = true})
    end)

    it("tool functions refuse bad inputs before running anything", function()
      refused("device or file", dmpd.thin_check, 42)
      refused("device or file", dmpd.thin_check, "")
      refused("device or file", dmpd.thin_check, "a\0b")
      refused("bogus", dmpd.thin_check, "/dev/null", {bogus = {a = 1}})
      refused("timeout", dmpd.thin_check, "/dev/null", {timeout = -1})
      refused("tool", dmpd.tool, "thin check")
      refused("tool", dmpd.tool, 42)
      refused("bogus", dmpd.metadata_size, "bogus", {})
    end)

    it("parsers refuse what is not output and builders name the bad field", function()
      for _, f in ipairs({"parse_check", "parse_thin_ls", "parse_thin_dump", "parse_cache_dump",
                          "parse_era_dump", "parse_thin_delta", "parse_thin_rmap",
                          "parse_era_invalidate"}) do
        refused("output", dmpd[f], 42)
        refused("output", dmpd[f], nil)
      end
      refused("thin_xml", dmpd.thin_xml, 42)
      refused("data_block_size", dmpd.thin_xml, {nr_data_blocks = 8})
      refused("nr_data_blocks", dmpd.thin_xml, {data_block_size = 128, nr_data_blocks = -1})
      refused("devices", dmpd.thin_xml, {data_block_size = 128, nr_data_blocks = 8, devices = 7})
      refused("block_size", dmpd.cache_xml, {block_size = 0.5, nr_cache_blocks = 8})
      refused("era_xml", dmpd.era_xml, "x")
    end)
  end)

  describe("sts.loop", function()
    it("create refuses bad sizes, files and fields before any ioctl", function()
      for _, size in ipairs(HUGE_SIZES) do refused("size", loop.create, {size_mb = size}) end
      refused("size", loop.create, {size_mb = 0})
      refused("size", loop.create, {size_mb = "8"})
      refused("size", loop.create, {size = -512})
      refused("bogus", loop.create, {size_mb = 8, bogus = 1})
      refused("file", loop.create, {file = ""})
      refused("file", loop.create, {file = "a\0b"})
      refused("file", loop.create, {file = 42})
      refused("read_only", loop.create, {size_mb = 8, read_only = "yes"})
      refused("dir", loop.create, {size_mb = 8, dir = 42})
      refused("create", loop.create, "8")
    end)
  end)

  describe("sts.testkit constructors", function()
    local testkit = require "sts.testkit"
    it("refuse bad fields and sizes before making anything", function()
      refused("bogus", testkit.thin_pool, {bogus = 1})
      refused("data_mb", testkit.thin_pool, {data_mb = -1})
      refused("data_mb", testkit.thin_pool, {data_mb = 2^63})
      refused("block_size", testkit.thin_pool, {block_size = 0.5})
      refused("bogus", testkit.cache, {bogus = 1})
      refused("bogus", testkit.era, {bogus = 1})
      refused("n", testkit.loop_devices, -1)
      refused("n", testkit.loop_devices, 1.5)
      refused("size_mb", testkit.loop_devices, 1, -1)
      refused("backing", testkit.linear, nil)
      refused("backing", testkit.linear, 42)
      refused("name", testkit.thin_pool, {name = "a/b"})
      refused("name", testkit.thin_pool, {name = string.rep("p", 128)})
      refused("origin_mb", testkit.cache, {origin_mb = 0})
      refused("name", testkit.era, {name = ""})
      refused("metadata_mb", testkit.era, {metadata_mb = -8})
      refused("testkit.inject", testkit.inject, {}, {type = "error"})
      refused("testkit.wait_for", testkit.wait_for, 42, function() return true end)
      refused("timeout_ms", testkit.wait_for, {}, function() return true end, 1.5)
    end)
  end)

  describe("sts.core proc.run", function()
    it("refuses bad argv, NUL bytes, unknown fields and bad timeouts", function()
      refused("#1", proc.run, nil)
      refused("#1", proc.run, "/bin/true")
      refused("argv", proc.run, {})
      refused("argv", proc.run, {42})
      refused("argv", proc.run, {"/bin/echo", "a\0b"})
      refused("argv", proc.run, {"/bin/echo", {}})
      refused("bogus", proc.run, {"/bin/true"}, {bogus = 1})
      refused("timeout", proc.run, {"/bin/true"}, {timeout = -1})
      refused("timeout", proc.run, {"/bin/true"}, {timeout = "1"})
      refused("timeout", proc.run, {"/bin/true"}, {timeout = 0/0})
      refused("env", proc.run, {"/bin/true"}, {env = {["A=B"] = "x"}})
      refused("env", proc.run, {"/bin/true"}, {env = {A = "x\0y"}})
      refused("env", proc.run, {"/bin/true"}, {env = "A=B"})
      refused("stdin", proc.run, {"/bin/true"}, {stdin = 42})
      refused("cwd", proc.run, {"/bin/true"}, {cwd = 42})
      refused("output_file", proc.run, {"/bin/true"}, {output_file = {}})
    end)
  end)

  -- Every C entry point of sts.core, each argument position in turn given
  -- a proxy table (every metamethod records that it ran) and foreign
  -- userdata. The C layer reads raw, so no metamethod may run; foreign
  -- userdata must be refused where a value of another type is checked, and
  -- nothing may crash (this file runs under ASan+UBSan in make check).
  describe("sts.core under proxy tables and foreign userdata", function()
    local core = require "sts.core"
    local touched
    local function proxy()
      local mt = {}
      for _, event in ipairs({"__index", "__newindex", "__len", "__pairs", "__call",
          "__tostring", "__eq", "__lt", "__le", "__concat", "__close"}) do
        mt[event] = function() touched = event end
      end
      return setmetatable({}, mt)
    end
    local good = {
      ["dm.list"] = {}, ["dm.info"] = {"sts-x"}, ["dm.info_devno"] = {0, 0},
      ["dm.create"] = {"sts-x", {{start = 0, size = 8, type = "zero", args = ""}}, {}},
      ["dm.load"] = {"sts-x", {{start = 0, size = 8, type = "zero", args = ""}}, {}},
      ["dm.clear"] = {"sts-x"}, ["dm.suspend"] = {"sts-x", {}}, ["dm.resume"] = {"sts-x"},
      ["dm.remove"] = {"sts-x", {}}, ["dm.table"] = {"sts-x", {}}, ["dm.status"] = {"sts-x", {}},
      ["dm.message"] = {"sts-x", 0, "m"}, ["dm.deps"] = {"sts-x"},
      ["dm.rename"] = {"sts-x", "sts-y"}, ["dm.set_uuid"] = {"sts-x", "u"},
      ["dm.wait_event"] = {"sts-x", 0, 0}, ["dm.newdevice"] = {{dm_name = "x"}},
      ["dm.fields"] = {core.dm.newdevice({dm_name = "x"})},
      ["proc.run"] = {{"/bin/true"}, {}}, ["proc.which"] = {"true"},
      ["loop.attach"] = {"/nonexistent/sts-x", {}}, ["loop.detach"] = {"/nonexistent/sts-x"},
      ["loop.backing"] = {"/nonexistent/sts-x"}, ["loop.size"] = {"/nonexistent/sts-x"},
      ["loop.sparse_file"] = {"/nonexistent/sts-x-XXXXXX", 1},
      ["time.sleep_ms"] = {0},
      ["proc.spawn"] = {{"/bin/true"}, {}},
      ["io.read"] = {"/nonexistent/sts-x", 0, 1, {}},
      ["io.write"] = {"/nonexistent/sts-x", 0, "d", {}},
      ["io.fill"] = {"/nonexistent/sts-x", 0, 512, "ab", {}},
      ["io.write_pattern"] = {"/nonexistent/sts-x", 0, 4096, 4096, 1, 1, {}},
      ["io.verify_pattern"] = {"/nonexistent/sts-x", 0, 4096, 4096, 1, 1, {max_report = 1}},
      ["io.discard"] = {"/nonexistent/sts-x", 0, 512},
      ["io.zeroout"] = {"/nonexistent/sts-x", 0, 512},
      ["io.invalidate"] = {"/nonexistent/sts-x"}, ["io.flush"] = {"/nonexistent/sts-x"},
      ["io.is_block"] = {"/nonexistent/sts-x"}, ["io.list_dir"] = {"/nonexistent/sts-x"},
      ["io.crc32c"] = {"data"},
      ["thindump.read"] = {"<superblock/>", function() end},
      ["dm.create_all"] = {{}, 1}, ["dm.remove_all"] = {{}, 1},
    }
    -- the entry points with no arguments, and set_device_index (it
    -- installs the metatable's __index for the whole state) are left out
    local names = {}
    for name in pairs(good) do names[#names + 1] = name end
    table.sort(names)

    it("covers every function of sts.core but the argument-less ones", function()
      local skip = {["dm.available"] = true, ["dm.versions"] = true,
        ["dm.target_versions"] = true, ["dm.device_metatable"] = true,
        ["dm.set_device_index"] = true, ["time.now_ms"] = true, ["io.crc_impl"] = true,
        ["kmsg.open"] = true,
        -- it would credit this machine's random pool with the spec's bytes
        ["random.reseed"] = true}
      for _, part in ipairs({"dm", "proc", "loop", "time", "io", "kmsg", "thindump", "random"}) do
        for fname, f in pairs(core[part]) do
          local name = part .. "." .. fname
          if type(f) == "function" and not skip[name] then
            assert.is_not_nil(good[name], name .. " is not in the matrix")
          end
        end
      end
    end)

    for _, name in ipairs(names) do
      it(name .. " runs no metamethod and refuses foreign userdata", function()
        local part, fname = name:match("^(%a+)%.([%w_]+)$")
        local f = core[part][fname]
        local args = good[name]
        for pos = 1, #args do
          for _, bad in ipairs({proxy(), io.stdout, core.dm.newdevice({dm_name = "x"})}) do
            local call = table.move(args, 1, #args, 1, {})
            call[pos] = bad
            touched = nil
            local ok, err = pcall(f, table.unpack(call, 1, #args))
            assert.is_nil(touched, name .. " argument " .. pos .. " ran its " .. tostring(touched))
            -- thindump.read's source may be a file handle (no C function
            -- takes a positional boolean: flags are named in a table)
            local takes_any = name == "thindump.read" and pos == 1
            if type(bad) == "userdata" and type(args[pos]) ~= "userdata" and not takes_any then
              assert.is_false(ok, name .. " took userdata as argument " .. pos)
              assert.matches("bad argument", tostring(err))
            end
          end
        end
      end)
    end
  end)
end)

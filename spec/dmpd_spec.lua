-- sts.dmpd: tool objects, module functions, options to argv, running

local dmpd = require("sts.dmpd")
local errors = require("sts.errors")
local time = require("sts.time")
local proc = require("sts.core").proc
local h = require("fixtures.dmpd.helpers")

local SEED_TOOLS = {
  CacheCheck = "cache_check", CacheDump = "cache_dump", CacheRepair = "cache_repair",
  CacheRestore = "cache_restore", CacheMetadataSize = "cache_metadata_size",
  ThinCheck = "thin_check", ThinDump = "thin_dump", ThinRepair = "thin_repair",
  ThinRestore = "thin_restore", ThinMetadataSize = "thin_metadata_size", ThinTrim = "thin_trim",
  ThinLs = "thin_ls", ThinDelta = "thin_delta",
  EraCheck = "era_check", EraDump = "era_dump", EraRepair = "era_repair", EraRestore = "era_restore",
}

-- a small valid pool, restored into `path`
local POOL = {
  data_block_size = 128, nr_data_blocks = 1000, transaction = 1, time = 1,
  devices = {{dev_id = 1, mappings = {{origin = 0, data = 0, length = 10}}}},
}

local function restore_pool(path)
  local r = dmpd.restore("thin", POOL, path)
  assert(r.succeeded, tostring(r) .. r.stderr)
end

local check = require "helpers.raises"
local function raises_value_error(f, pattern) return check.raises("ValueError", pattern, f) end

describe("sts.dmpd tools", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function()
    dmpd.set_tool_path()
    h.rmdir(dir)
  end)

  it("has one object per seed tool, with its name", function()
    for class, name in pairs(SEED_TOOLS) do
      assert.are.equal(name, dmpd[class].name, class)
      assert.are.equal("function", type(dmpd[name]), name)
      assert.are.equal(dmpd[class], dmpd.tool(name))
    end
    assert.are.equal("thin_check", dmpd.ThinCheck.name)
  end)

  it("lists the tools beyond the seed", function()
    for _, name in ipairs({"cache_writeback", "era_invalidate", "thin_rmap"}) do
      assert.are.equal("function", type(dmpd[name]), name)
      assert.are.equal(name, dmpd.tool(name).name)
    end
    assert.are.equal("cache_writeback", dmpd.CacheWriteback.name)
    assert.are.equal("era_invalidate", dmpd.EraInvalidate.name)
    assert.are.equal("thin_rmap", dmpd.ThinRmap.name)
    -- an unknown but well-formed name gets an object too; a bad one does not
    assert.are.equal("thin_future", dmpd.tool("thin_future").name)
    raises_value_error(function() dmpd.tool("../bin/sh") end, "not a dmpd tool name")
  end)

  -- what each generation's package really ships (Debian 12's 0.9.0,
  -- Debian 13's 1.1.0); 1.x's era_repair and thin_shrink are inside
  -- pdata_tools only, with no link of their own
  local ONLY_1X = {"era_repair", "thin_migrate", "thin_metadata_pack", "thin_metadata_unpack", "thin_shrink"}
  local MULTICALL_ONLY_1X = {era_repair = true, thin_shrink = true}

  it("finds the installed tools, the multi-call binary's included, as the generation ships them", function()
    local v = assert(dmpd.version(), "thin_check prints a version")
    local installed = dmpd.installed()
    local set = {}
    for _, n in ipairs(installed) do set[n] = true end
    for _, name in pairs(SEED_TOOLS) do
      if name ~= "era_repair" then
        assert.is_true(set[name], name .. " should be installed")
        assert.is_true(dmpd.tool(name):available(), name)
        assert.matches("/" .. name .. "$", dmpd.tool(name):path())
      end
    end
    for _, name in ipairs({"cache_writeback", "era_invalidate", "thin_rmap"}) do
      assert.is_true(set[name], name .. " should be installed")
    end
    for _, name in ipairs(ONLY_1X) do
      assert.are.equal(v.major >= 1, set[name] == true, name .. " with tools " .. v.text)
      assert.are.equal(v.major >= 1, dmpd.tool(name):available(), name .. " with tools " .. v.text)
    end
    if v.major >= 1 then
      -- a tool only the multi-call binary has runs as `pdata_tools NAME`
      for name in pairs(MULTICALL_ONLY_1X) do
        local r = dmpd.tool(name):help()
        assert.is_true(r.succeeded, name .. ": " .. tostring(r))
        assert.matches("/pdata_tools$", r.argv[1])
        assert.are.same({name, "--help"}, {r.argv[2], r.argv[3]})
        assert.are.equal(r.argv[1], dmpd.tool(name):path())
      end
    end
  end)

  it("runs the generation of the tools this run was asked for", function()
    local v = assert(dmpd.version())
    assert.are.equal("integer", math.type(v.major))
    assert.are.equal("integer", math.type(v.minor))
    assert.are.equal("integer", math.type(v.patch))
    assert.matches("^%d+%.%d+", v.text)
    -- the host tier runs the dmpd specs once per generation and says which
    local want = os.getenv("STS_DMPD_GENERATION")
    if want then
      assert.are.equal(want, want == "0.9" and ("%d.%d"):format(v.major, v.minor) or tostring(v.major),
                       "STS_DMPD_GENERATION=" .. want .. " but the tools are " .. v.text)
    end
    assert.are.same(v, dmpd.ThinCheck:version())
    assert.are.same(v, dmpd.version("thin_check"))
    assert.are.same(v, dmpd.version(dmpd.ThinDump))
    local none, r = dmpd.version("thin_not_a_real_tool")
    assert.is_nil(none)
    assert.are.equal(127, r.rc)
    raises_value_error(function() dmpd.version("no such tool") end, "not a dmpd tool name")
  end)

  it("gives help and version of every installed tool, by object and by name", function()
    local generation = assert(dmpd.version())
    for _, name in ipairs(dmpd.tools) do
      local tool = dmpd.tool(name)
      if tool:available() then
        local help = tool:help()
        assert.is_true(help.succeeded, name .. " --help: " .. tostring(help))
        assert.is_true(#(help.stdout .. help.stderr) > 0, name)
        assert.are.equal(tool:path(), help.argv[1])
        assert.are.equal("--help", help.argv[#help.argv])
        local version = dmpd.get_version(name)
        assert.is_true(version.succeeded, name)
        local v = tool:version()
        assert.is_truthy(v, name .. " version: " .. version.stdout)
        assert.are.same(generation, v, name)
        assert.are.same(v, dmpd.parse_version(version))
        assert.are.equal(help.stdout, dmpd.get_help(name).stdout)
      else
        local help = tool:help()
        assert.are.equal(127, help.rc)
        assert.is_true(help.failed)
        assert.is_nil(tool:version())
      end
    end
    raises_value_error(function() dmpd.get_help("no such tool") end)
    raises_value_error(function() dmpd.ThinCheck.run("/x") end, "tool:run")
    raises_value_error(function() dmpd.ThinCheck.version() end, "tool:version")
  end)

  it("runs every installed tool through its object and its function", function()
    local missing = dir .. "/missing-metadata"
    for _, name in ipairs(dmpd.tools) do
      local tool = dmpd.tool(name)
      if tool:available() then
        local by_object = tool:run(missing, {timeout = 20})
        local by_function = dmpd[name](missing, {timeout = 20})
        for _, r in ipairs({by_object, by_function}) do
          assert.is_true(dmpd.is_result(r))
          assert.is_false(r.timed_out, name)
          -- nothing to work on: every tool fails, but it did run
          assert.is_true(r.failed, name .. " on a missing file: " .. tostring(r))
          assert.are_not.equal(127, r.rc, name)
          assert.are.equal(tool:path(), r.argv[1])
          assert.are.equal(missing, r.argv[#r.argv])
        end
      end
    end
  end)

  it("runs a check on real metadata and reports success", function()
    local meta = dir .. "/meta"
    restore_pool(meta)
    local r = dmpd.ThinCheck:run(meta, {quiet = true})
    assert.is_true(r.succeeded)
    assert.is_false(r.failed)
    assert.are.equal(0, r.rc)
    assert.are.equal(r.rc, r.exit_status)
    assert.is_nil(r.signal)
    assert.is_false(r.timed_out)
    assert.are.same({dmpd.ThinCheck:path(), "--quiet", meta}, r.argv)
    assert.is_true(dmpd.thin_check(meta).succeeded)
    assert.is_true(r:check() == r)
  end)

  it("accepts run(opts) for the tools that take no device", function()
    local meta = dir .. "/meta"
    h.write(dir .. "/pool.xml", dmpd.thin_xml(POOL))
    h.sparse(meta, 8 * 1024 * 1024)
    local r = dmpd.ThinRestore:run({input = dir .. "/pool.xml", output = meta})
    assert.is_true(r.succeeded, r.stderr)
    r = dmpd.thin_restore({input = dir .. "/pool.xml", output = meta, quiet = true})
    assert.is_true(r.succeeded, r.stderr)
    r = dmpd.ThinRestore:run(nil, {i = dir .. "/pool.xml", o = meta})
    assert.is_true(r.succeeded, r.stderr)
    assert.are.same({"-i", dir .. "/pool.xml", "-o", meta}, {table.unpack(r.argv, 2)})
  end)

  it("reports a failing tool in the result and raises only on check()", function()
    local r = dmpd.thin_check(dir .. "/nothing-here")
    assert.is_true(r.failed)
    assert.is_false(r.succeeded)
    assert.is_truthy(r.rc)
    assert.are_not.equal(0, r.rc)
    assert.is_true(#r.stderr > 0)
    local ok, err = pcall(r.check, r)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "CommandError"))
    assert.matches("thin_check", err.message, 1, true)
  end)
end)

describe("sts.dmpd options to argv", function()
  local argv = dmpd.options_to_argv

  it("maps every value type", function()
    assert.are.same({"--super-block-only"}, argv({super_block_only = true}))
    assert.are.same({}, argv({super_block_only = false}))
    assert.are.same({}, argv({}))
    assert.are.same({}, argv(nil))
    assert.are.same({"--input=/x/y"}, argv({input = "/x/y"}))
    assert.are.same({"--transaction-id=42"}, argv({transaction_id = 42}))
    assert.are.same({"--nr-data-blocks=7"}, argv({nr_data_blocks = 7.0}))
    assert.are.same({"-q"}, argv({q = true}))
    assert.are.same({"-o", "/tmp/out file"}, argv({o = "/tmp/out file"}))
    assert.are.same({"-m", "5"}, argv({m = 5}))
    assert.are.same({"--region=0..5", "--region=10..20"}, argv({region = {"0..5", "10..20"}}))
    assert.are.same({"-r", "a", "-r", "b"}, argv({r = {"a", "b"}}))
    assert.are.same({}, argv({region = {}}))
    assert.are.same({"--verbose", "--verbose", "--xx="}, argv({xx = "", verbose = {true, true}}))
    assert.are.same({"--verbose", "-x", "", "--xx="}, argv({xx = "", x = "", verbose = true}))
  end)

  it("sorts keys for a stable order and leaves out the run controls", function()
    assert.are.same({"--aa", "--bb=2", "--c-d=x", "-z"},
                    argv({z = true, c_d = "x", bb = 2, aa = true, timeout = 5,
                          output_file = "/f", cwd = "/"}))
  end)

  it("rejects other value types, naming the option", function()
    raises_value_error(function() argv({ratio = 1.5}) end, "'ratio'")
    raises_value_error(function() argv({cb = print}) end, "'cb'.*function")
    raises_value_error(function() argv({map = {a = 1}}) end, "'map'.*list")
    raises_value_error(function() argv({deep = {{1}}}) end, "'deep'")
    raises_value_error(function() argv({flags = {"a", false}}) end, "'flags'")
    raises_value_error(function() argv({[1] = "x"}) end, "option names must be strings")
    raises_value_error(function() argv({["bad key"] = true}) end, "'bad key'")
    raises_value_error(function() argv({nul = "a\0b"}) end, "'nul'.*NUL")
    raises_value_error(function() argv("--quiet") end, "options must be a table")
    raises_value_error(function() dmpd.thin_check("/x", {quiet = {x = 1}, timeout = 1}) end)
    raises_value_error(function() dmpd.thin_check("/x", {timeout = -1}) end, "timeout")
    raises_value_error(function() dmpd.thin_check("/x", {timeout = "1"}) end, "timeout")
    raises_value_error(function() dmpd.thin_check("/x", {output_file = 5}) end, "output_file")
    raises_value_error(function() dmpd.thin_check(42) end, "device or file")
    raises_value_error(function() dmpd.thin_check("") end, "device or file")
  end)

  it("puts options before the device and passes them to the tool as given", function()
    local r = dmpd.thin_ls("/nonexistent/meta", {no_headers = true, o = "DEV", m = false})
    assert.are.same({"--no-headers", "-o", "DEV", "/nonexistent/meta"}, {table.unpack(r.argv, 2)})
  end)
end)

describe("sts.dmpd file names", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function() h.rmdir(dir) end)

  local NAMES = {
    "with space", "quote'single", 'quote"double', "semi;colon", "$(touch INJECTED)",
    "`touch INJECTED`", "back\\slash", "glob*?[x]", "new\nline", "&& touch INJECTED",
    "tab\there", "star*", "~tilde", "#hash", "-dash-leading", "--double-dash",
  }

  it("reach the tool as exactly one argument, never through a shell", function()
    local meta = dir .. "/meta"
    restore_pool(meta)
    for _, name in ipairs(NAMES) do
      local path = dir .. "/" .. name
      h.copy(meta, path)
      local r = dmpd.thin_check(path)
      assert.is_true(r.succeeded, ("thin_check of %q: %s"):format(path, r.stderr))
      assert.are.equal(path, r.argv[#r.argv])
      local d = dmpd.parse_thin_dump(dmpd.thin_dump(path))
      assert.are.equal(1, d.transaction)
    end
    assert.is_false(h.exists(dir .. "/INJECTED"))
    assert.is_false(h.exists("INJECTED"))
  end)

  it("keep a leading '-' from being taken as an option", function()
    local meta = dir .. "/meta"
    restore_pool(meta)
    for _, name in ipairs({"-meta", "--help", "-q", "-"}) do
      h.copy(meta, dir .. "/" .. name)
      local r = dmpd.thin_dump(name, {cwd = dir})
      assert.is_true(r.succeeded, ("thin_dump of %q: %s"):format(name, r.stderr))
      assert.are.equal("./" .. name, r.argv[#r.argv])
      assert.are.equal(1, dmpd.parse_thin_dump(r).transaction)
    end
    -- in option values too
    local r = dmpd.thin_restore({input = dir .. "/missing.xml", output = "-out"})
    assert.are.equal("--output=-out", r.argv[#r.argv])
  end)

  it("show in `command` quoted so that sh reads back the same argv", function()
    local words = {"plain", "", "a b", "it's", '"dq"', "$HOME", "`id`", "a\nb", "x;y", "*", "~",
                   "--k=v w", "#c", "\\", "é", "a=b"}
    local r = dmpd.thin_check("/nonexistent", {region = words})
    assert.matches("thin_check", r.command, 1, true)
    -- the spec (never the library) asks a shell to print the words back
    local echoed = assert(proc.run({"/bin/sh", "-c", "printf '%s\\0' " .. r.command}))
    assert.are.equal(0, echoed.rc)
    local back = {}
    for w in echoed.stdout:gmatch("([^%z]*)%z") do back[#back + 1] = w end
    assert.are.same(r.argv, back)
    -- a first word holding "=" is not taken for an assignment
    local q = dmpd.quote_argv({"A=b", "c"})
    echoed = assert(proc.run({"/bin/sh", "-c", "printf '%s\\0' " .. q}))
    assert.are.equal("A=b\0c\0", echoed.stdout)
  end)
end)

describe("sts.dmpd running", function()
  local dir
  before_each(function() dir = h.mkdtemp() end)
  after_each(function()
    dmpd.set_tool_path()
    h.rmdir(dir)
  end)

  it("reports a tool that is not installed with rc 127", function()
    dmpd.set_tool_path("era_repair", dir .. "/bin/era_repair")
    local r = dmpd.era_repair({input = "/dev/null", output = "/dev/null"})
    assert.are.equal(127, r.rc)
    assert.is_true(r.failed)
    assert.is_false(r.succeeded)
    assert.matches("era_repair", r.stderr, 1, true)
    -- with no override, a tool nowhere on the system (era_repair on Debian, or a made-up one)
    dmpd.set_tool_path()
    local t = dmpd.tool("thin_not_a_real_tool")
    assert.is_false(t:available())
    r = t:run("/x")
    assert.are.equal(127, r.rc)
    assert.matches("thin_not_a_real_tool", r.stderr, 1, true)
    r = dmpd.get_version("thin_not_a_real_tool")
    assert.are.equal(127, r.rc)
  end)

  it("uses another build of the tools from set_tool_path", function()
    local pdata = assert(dmpd.tool_path("pdata_tools"))
    assert(proc.which(pdata), "pdata_tools is installed")
    local bin = dir .. "/bin"
    assert.are.equal(0, proc.run({"mkdir", bin}).rc)
    assert.are.equal(0, proc.run({"ln", "-s", pdata, bin .. "/thin_check"}).rc)
    local meta = dir .. "/meta"
    restore_pool(meta)

    dmpd.set_tool_path(bin)
    local r = dmpd.thin_check(meta)
    assert.are.equal(bin .. "/thin_check", r.argv[1])
    assert.is_true(r.succeeded)
    -- a tool missing from the chosen place is missing, not taken from PATH
    r = dmpd.thin_dump(meta)
    assert.are.equal(127, r.rc)
    assert.matches(bin .. "/thin_dump", r.stderr, 1, true)

    dmpd.set_tool_path()
    dmpd.set_tool_path("thin_dump", bin .. "/thin_check")  -- one tool: any program
    assert.are.equal(bin .. "/thin_check", dmpd.thin_dump(meta).argv[1])
    assert.are_not.equal(bin .. "/thin_check", dmpd.thin_check(meta).argv[1])
    dmpd.set_tool_path("thin_dump", nil)
    assert.are_not.equal(bin .. "/thin_check", dmpd.thin_dump(meta).argv[1])
    raises_value_error(function() dmpd.set_tool_path("not a tool", "/x") end)
    raises_value_error(function() dmpd.set_tool_path("/dir", "/x") end)
  end)

  it("runs a tool that only the multi-call binary has as `pdata_tools NAME`", function()
    local pdata = assert(proc.which(dmpd.tool_path("pdata_tools")), "pdata_tools is installed")
    local bin = dir .. "/bin"
    assert.are.equal(0, proc.run({"mkdir", bin}).rc)
    assert.are.equal(0, proc.run({"ln", "-s", pdata, bin .. "/pdata_tools"}).rc)
    local meta = dir .. "/meta"
    restore_pool(meta)
    dmpd.set_tool_path(bin)
    local r = dmpd.thin_check(meta)
    assert.is_true(r.succeeded, r.stderr)
    assert.are.same({bin .. "/pdata_tools", "thin_check", meta}, r.argv)
    assert.are.equal(bin .. "/pdata_tools", dmpd.ThinCheck:path())
    assert.is_truthy(dmpd.ThinCheck:version())
    local set = {}
    for _, n in ipairs(dmpd.installed()) do set[n] = true end
    assert.is_true(set.thin_dump and set.era_invalidate)
    -- a name the binary does not list stays missing
    r = dmpd.tool("thin_not_a_real_tool"):run(meta)
    assert.are.equal(127, r.rc)
    -- a per-tool override is taken as it is, never completed from pdata_tools
    dmpd.set_tool_path()
    dmpd.set_tool_path("thin_dump", bin .. "/thin_dump")
    assert.are.equal(127, dmpd.thin_dump(meta).rc)
  end)

  it("uses the directories in STS_DMPD_PATH", function()
    local lua = proc.which("lua5.4")
    assert(lua, "lua5.4 is installed")
    local bin = dir .. "/bin"
    assert.are.equal(0, proc.run({"mkdir", bin}).rc)
    assert.are.equal(0, proc.run({"ln", "-s", dmpd.tool_path("pdata_tools"), bin .. "/thin_check"}).rc)
    local script = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "build/?.so;" .. package.cpath
      local dmpd = require "sts.dmpd"
      io.write(dmpd.ThinCheck:run("/x").argv[1], "\n", dmpd.ThinDump:run("/x").rc, "\n")
    ]]
    local r = assert(proc.run({lua, "-e", script}, {env = {STS_DMPD_PATH = "/nonexistent:" .. bin}}))
    assert.are.equal(0, r.rc, r.stderr)
    assert.are.equal(bin .. "/thin_check\n127\n", r.stdout)
    assert.are.equal("STS_DMPD_PATH", dmpd.ENV_PATH)
  end)

  it("kills a hung tool on timeout and says so", function()
    -- a stand-in for a hung thin_check: sleep(1) run under its name
    dmpd.set_tool_path("thin_check", assert(proc.which("sleep")))
    local t0 = time.now_ms()
    local r = dmpd.thin_check("30", {timeout = 0.5})
    assert.is_true(time.now_ms() - t0 < 5000)
    assert.is_true(r.timed_out)
    assert.is_true(r.failed)
    assert.is_false(r.succeeded)
    assert.are.equal(0.5, r.timeout)
    assert.is_truthy(r.signal)
    assert.matches("timed out", tostring(r))
    local ok, err = pcall(r.check, r)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "TimeoutError"))
  end)

  it("streams a big dump to output_file or captures it, without deadlock", function()
    -- 60000 single mappings: a thin_dump of about 4.5 MB
    local n = 60000
    local mappings = {}
    for i = 1, n do mappings[i] = {origin = 2 * i, data = i, length = 1, time = 0} end
    local pool = {data_block_size = 128, nr_data_blocks = n + 1, transaction = 7,
                  devices = {{dev_id = 3, mappings = mappings}}}
    local meta = dir .. "/meta"
    local r = dmpd.restore("thin", pool, meta, {file_size = 64 * 1024 * 1024, timeout = 60})
    assert.is_true(r.succeeded, r.stderr)

    local captured = dmpd.thin_dump(meta, {timeout = 60})
    assert.is_true(captured.succeeded)
    assert.is_true(#captured.stdout > 4 * 1024 * 1024)

    local out = dir .. "/dump.xml"
    local streamed = dmpd.thin_dump(meta, {output_file = out, timeout = 60})
    assert.is_true(streamed.succeeded)
    assert.are.equal("", streamed.stdout)
    assert.are.equal(out, streamed.output_file)
    assert.are.equal(captured.stdout, h.read(out))

    local d = dmpd.parse_thin_dump(streamed)  -- reads the file it streamed to
    assert.are.equal(n, #d.devices[1].mappings)
    assert.are.equal(n, d.devices[1].mapped_blocks)
    assert.are.same({origin = 2 * n, data = n, length = 1, time = 0}, d.devices[1].mappings[n])
  end)

  it("returns a failed result when output_file cannot be created", function()
    local r = dmpd.thin_dump("/nonexistent", {output_file = dir .. "/no/such/dir/out"})
    assert.is_true(r.failed)
    assert.is_nil(r.rc)
    assert.matches("output_file", r.stderr, 1, true)
    assert.matches("not run", tostring(r))
  end)
end)

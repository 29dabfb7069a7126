-- The REPL's printer (sts.inspect), its completer (sts.repl) and stslua's
-- REPL on a terminal: Tab, printing, Ctrl-C at the prompt.
local inspect = require("sts.inspect").inspect
local repl = require "sts.repl"
local dm = require "sts.dm"
local status = require "sts.status"
local run = require "helpers.run"
local tty = require "helpers.tty"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"

describe("sts.inspect", function()
  it("prints scalars as Lua literals", function()
    assert.are.equal('"a\\"b\\\\c\\n\\t\\0\\127"', inspect('a"b\\c\n\t\0\127'))
    assert.are.equal("42", inspect(42))
    assert.are.equal("1.0", inspect(1.0))
    assert.are.equal("0.1", inspect(0.1))
    assert.are.equal("0.33333333333333331", inspect(1 / 3))
    assert.are.equal("nil", inspect(nil))
    assert.are.equal("true", inspect(true))
    assert.are.equal(1 / 3, load("return " .. inspect(1 / 3))())
  end)

  it("prints tables sequence first, then keys sorted, nested, as valid Lua", function()
    local t = {3, 2, 1, zeta = 1, alpha = {x = 1}, ["two words"] = 2, [10] = "ten", ["end"] = 0, [false] = "f"}
    local text = inspect(t, {width = 100})
    assert.are.equal('{3, 2, 1, alpha={x=1}, ["end"]=0, ["two words"]=2, zeta=1, [10]="ten", [false]="f"}',
      text)
    assert.are.same(t, load("return " .. text)())
    assert.are.equal("{}", inspect({}))
  end)

  it("stops at the depth and marks cycles", function()
    local t = {a = {b = {c = {d = 1}}}}
    assert.are.equal("{a={b={c={...}}}}", inspect(t))
    assert.are.equal("{a={...}}", inspect(t, {depth = 1}))
    assert.are.equal("{...}", inspect(t, {depth = 0}))
    assert.are.equal("{a={b={c={d=1}}}}", inspect(t, {depth = 4}))
    local loop = {name = "loop"}
    loop.self = loop
    assert.are.equal('{name="loop", self=<cycle>}', inspect(loop))
  end)

  it("breaks a table wider than the width into lines, sequence items filled", function()
    local list = {}
    for i = 1, 12 do list[i] = i * 1000 end
    assert.are.equal(table.concat({
      "{",
      "  1000, 2000, 3000, 4000, 5000,",
      "  6000, 7000, 8000, 9000, 10000,",
      "  11000, 12000,",
      "  name=\"thousands\"",
      "}"}, "\n"), inspect({name = "thousands", table.unpack(list)}, {width = 34}))
    for line in inspect({list = list, more = list}, {width = 40}):gmatch("[^\n]+") do
      assert.is_true(#line <= 40, line)
    end
  end)

  it("prints targets as the constructor call that makes them", function()
    local t = dm.LinearTarget{size = 2048, device = "7:0", offset = 16}
    assert.are.equal('LinearTarget(0, 2048, "7:0 16")', inspect(t))
    assert.are.equal('DmTarget(8, 16, "foo", "a b")', inspect(dm.DmTarget(8, 16, "foo", "a b")))
    assert.are.equal('{ZeroTarget(0, 8, "")}', inspect({dm.ZeroTarget{size = 8}}))
    local again = load("local dm = ...; return dm." .. inspect(t))(dm)
    assert.are.equal(t, again)
  end)

  it("prints typed status with type, start and size first", function()
    local st = status.parse_line("0 2048 thin-pool 1 10/100 20/200 - rw discard_passdown queue_if_no_space - 1024")
    local text = inspect(st)
    assert.matches('^{\n  type="thin%-pool", start=0, size=2048, discard_mode="discard_passdown",\n', text)
    assert.truthy(text:find("used_data_blocks=20", 1, true), text)
    assert.are.same(st, load("return " .. text)())
  end)

  it("prints a CommandResult as a summary, long output cut", function()
    local r = require("sts.dmpd").thin_check("/nonexistent/metadata")
    local text = inspect(r)
    assert.matches('^CommandResult{command="[^"]*thin_check /nonexistent/metadata", rc=%d+, stdout="", stderr="', text)
    assert.is_nil(text:find("timed_out", 1, true))
    local long = setmetatable({command = "x", rc = 0, stdout = ("y"):rep(500), stderr = ""},
      getmetatable(r))
    assert.truthy(inspect(long):find('stdout="' .. ("y"):rep(60) .. '"...(500 bytes)', 1, true),
      inspect(long))
  end)

  it("prints other objects through __tostring and never raises", function()
    assert.are.equal("ValueError: bad", inspect(require("sts.errors").new("ValueError", "bad")))
    local broken = setmetatable({}, {__tostring = function() error("no") end})
    assert.are.equal("<table: __tostring failed>", inspect(broken))
    assert.matches("^function: ", inspect(print))
  end)

  it("refuses bad options, naming them", function()
    local check = require "helpers.raises"
    check.value_error(function() inspect(1, {deep = 1}) end, "inspect: unknown option 'deep'")
    check.value_error(function() inspect(1, {depth = -1}) end,
      "inspect: depth must be a non-negative integer, got -1")
    check.value_error(function() inspect(1, {width = 2.5}) end, "width must be a non-negative integer")
    check.value_error(function() inspect(1, {depth = "3"}) end, "option 'depth' must be a number")
    check.value_error(function() inspect(1, 5) end, "inspect: expected a table of options, got number")
  end)
end)

describe("sts.repl", function()
  it("formats the values of a line: top-level strings as they are, the rest inspected", function()
    assert.are.equal('1\tnil\ttext\t{"nested"}', repl.format(1, nil, "text", {"nested"}))
    assert.are.equal("", repl.format())
  end)

  it("completes globals, keywords, fields, methods and string methods", function()
    local obj = setmetatable({label = "x"}, {__index = {status = function() end, status_table = function() end}})
    local env = {obj = obj, sts = require "sts", print = print, s = "text", nested = {inner = {value = 1}}}
    assert.are.same({"obj:status", "obj:status_table"}, repl.complete("obj:st", env))
    assert.are.same({"obj.label", "obj.status", "obj.status_table"}, repl.complete("obj.", env))
    assert.are.same({"sts.dm.LinearTarget"}, repl.complete("sts.dm.Li", env))
    assert.are.same({"nested.inner.value"}, repl.complete("nested.inner.v", env))
    assert.are.same({"print"}, repl.complete("pri", env))
    assert.are.same({"function"}, repl.complete("func", env))
    assert.are.same({"s:upper"}, repl.complete("s:up", env))
    assert.are.same({}, repl.complete("missing.x", env))
    assert.are.same({}, repl.complete("obj..x", env))
    assert.are.same({}, repl.complete("obj:label", env))  -- a field is no method
  end)

  it("lists a DmDevice's methods and fields from its metatable, calling nothing", function()
    local mt = debug.getregistry()["sts.DmDevice"]
    assert.is_table(mt.__methods)
    assert.is_function(mt.__methods.status)
    for _, field in ipairs({"dm_name", "name", "path", "size", "table", "uuid"}) do
      assert.truthy(#repl.complete("d." .. field, {d = setmetatable({}, mt)}) > 0, field)
    end
  end)

  it("refuses a word that is not a string", function()
    assert.has_error(function() repl.complete(nil) end, "complete: word must be a string, got nil")
  end)
end)

describe("the stslua REPL on a terminal", function()
  local session

  after_each(function()
    if session then session:close() end
    session = nil
  end)

  local function start()
    if not tty.available() then pending("tmux is not installed (scripts/install-deps)") end
    session = tty.start({run.stslua_path()}, {STSLUA_HISTORY = "", TERM = "screen"})
    session:wait_for("stslua> ")
    return session
  end

  it("completes d:st<Tab> to d:status on a DmDevice, and lists the candidates", function()
    local s = start()
    -- a DmDevice from its fields, made without a kernel: Tab reads only its metatable
    s:send('require "sts.dm"; d = require("sts.core").dm.newdevice{dm_name = "x", major = 253, minor = 3}',
           {key = "Enter"})
    local before = #s:wait_for("stslua> ", 20) - #"stslua> "
    s:send("d:st", {key = "Tab"})
    s:wait_for("stslua> d:status", before)
    -- a Tab on a word it did not change lists the candidates
    s:send({key = "Tab"}, {key = "Tab"})
    s:wait_for("d:status_table", before)
    s:send({key = "C-c"})
    s:wait_for("^C\nstslua> ", before)
  end)

  it("completes table fields and globals with Tab", function()
    local s = start()
    s:send("config = {verbose = true, volume = 11}", {key = "Enter"})
    s:send("config.vol", {key = "Tab"}, " + 1", {key = "Enter"})
    s:wait_for("stslua> config.volume + 1\n12\n")
    s:send("string.fo", {key = "Tab"}, '("%d", 7)', {key = "Enter"})
    s:wait_for('stslua> string.format("%d", 7)\n7\n')
  end)

  it("prints tables and sts objects readably", function()
    local s = start()
    s:send('{b = 2, a = {1, 2}, "first"}', {key = "Enter"})
    s:wait_for('\n{"first", a={1, 2}, b=2}\n')
    s:send('sts.dm.LinearTarget{size = 8, device = "7:0"}', {key = "Enter"})
    s:wait_for('\nLinearTarget(0, 8, "7:0 0")\n')
    s:send('"plain text"', {key = "Enter"})
    s:wait_for('stslua> "plain text"\nplain text\n')
  end)

  it("cancels the line at Ctrl-C, and a pending chunk, and keeps running", function()
    local s = start()
    s:send("error('never run')")
    -- keys not yet read when Ctrl-C comes are dropped by the terminal itself
    s:wait_for("stslua> error('never run')")
    s:send({key = "C-c"})
    s:wait_for("stslua> error('never run')^C\nstslua> ")
    s:send("for i = 1, 2 do", {key = "Enter"}, "print('never')")
    s:wait_for("stslua>> print('never')")
    s:send({key = "C-c"})
    s:send("6 * 7", {key = "Enter"})
    local screen = s:wait_for("stslua> 6 * 7\n42\n")
    assert.is_nil(screen:find("never run\n", 1, true), screen)
    assert.is_nil(screen:find("\nnever\n", 1, true), screen)
    s:send({key = "C-d"})
    assert.are.equal(0, s:exit_status())
  end)
end)

describe("the REPL with a real DmDevice #kernel", function()
  after_each(function() devs.cleanup() end)

  it("completes its methods and fields and prints its summary", function()
    kernel.need_dm(pending)
    local lo = devs.loop(1)
    local name = devs.name("repl")
    local d = dm.create(name, dm.LinearTarget{size = 2048, device = lo.path})
    assert.are.same({"d:status", "d:status_rows", "d:status_table"}, repl.complete("d:st", {d = d}))
    assert.are.same({"d.table", "d.table_text", "d.targets"}, repl.complete("d.ta", {d = d}))
    local devt = devs.read_at("/sys/class/block/" .. lo.name .. "/dev", 0, 64):gsub("\n", "")
    assert.are.equal(('DmDevice{dm_name="%s", name="%s", size=1048576, table="0 2048 linear %s 0"}')
      :format(name, d.name, devt), inspect(d))
    assert.are.equal('{LinearTarget(0, 2048, "' .. devt .. ' 0")}', inspect(d:targets()))
    assert.matches('^{type="linear", start=0, size=2048}$', inspect(d:status_table()[1]))
    -- the REPL itself, Tab included (readline reads the pipe as it would a terminal)
    local r = run.stslua({"-i"}, {stdin = ("d = sts.dm.DmDevice{dm_name = %q}\nd:st\t()\nd\n"):format(name)})
    assert.are.equal(0, r.rc, r.stderr)
    local out = r.stdout:gsub("\a", "")
    assert.truthy(out:find("stslua> d:status()\n0 2048 linear", 1, true), out)  -- linear has no status words
    assert.truthy(out:find('\nDmDevice{dm_name="' .. name .. '", name="' .. d.name, 1, true), out)
    assert.is_true(d:remove())
    -- a field that cannot be read any more shows the error's kind
    assert.are.equal(('DmDevice{dm_name="%s", name="%s", size=1048576, table=<DeviceNotFoundError>}')
      :format(name, d.name), inspect(d))
  end)
end)

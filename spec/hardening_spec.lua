-- Host tier: the C layer under hostile Lua values and the process runner's
-- hardening (issue 17). Crashes are tried in child interpreters, which must
-- end with status 0 or 1 and never by a signal. The kernel-side parts
-- (wait_event, remove retries, loop detach, two runs at once) are in
-- hardening_kernel_spec.lua.
local run = require "helpers.run"
local proc = require "sts.proc"
local time = require "sts.time"
local errors = require "sts.errors"

-- runs `code` in a child interpreter; asserts it was not killed by a signal
-- and exited 0 or 1; returns the result
local function survives(code, what)
  local r = run.stslua({"-e", code}, {timeout = 60})
  assert.is_nil(r.signal, (what or code) .. ": killed by signal " .. tostring(r.signal)
    .. "\n" .. r.stderr)
  assert.is_truthy(r.rc == 0 or r.rc == 1, (what or code) .. ": exit status " .. tostring(r.rc)
    .. "\n" .. r.stderr)
  return r
end

-- A table whose metamethods answer a different value on every read: a
-- string first, then nil, a number, a table. Raw reads see an empty table.
local PROXY = [[
local function proxy(first)
  local n = 0
  local answers = {first, nil, 42, {}, "x\0y"}
  return setmetatable({}, {
    __index = function() n = n + 1; return answers[(n - 1) % #answers + 1] end,
    __len = function() return 3 end,
    __pairs = function() error("pairs must not be called") end,
  })
end
local core = require "sts.core"
]]

describe("the C entry points under hostile values", function()
  it("DmDevice's __index taken from its metatable and called with anything", function()
    local r = survives([[
local dm = require "sts.dm"
local core = require "sts.core"
local d = core.dm.newdevice({dm_name = "x", minor = 1})
local index = debug.getmetatable(d).__index
for _, v in ipairs({1, "s", {}, io.stdout, print, coroutine.create(print), true}) do
  local ok, err = pcall(index, v, "dm_name")
  assert(not ok and tostring(err):find("sts.DmDevice expected"), tostring(err))
end
assert(index(d, "dm_name") == "x")
print("ok")]], "__index on foreign values")
    assert.are.equal("ok\n", r.stdout)
  end)

  it("protects the DmDevice metatable", function()
    local core = require "sts.core"
    local d = core.dm.newdevice({dm_name = "x", minor = 1})
    assert.are_not.equal("table", type(getmetatable(d)))
    assert.has_error(function() setmetatable(d, {}) end)
  end)

  it("refuses foreign userdata wherever a DmDevice or a box is expected", function()
    survives([[
local core = require "sts.core"
for _, v in ipairs({io.stdout, 1, {}, "x"}) do
  assert(not pcall(core.dm.fields, v))
end
print("ok")]])
  end)

  it("reads target lists raw: proxies and lying __len reach no libdevmapper call", function()
    local r = survives(PROXY .. [[
local cdm = core.dm
local cases = {
  proxy({start = 0, size = 8, type = "zero", args = ""}),
  {proxy(0)},
  {setmetatable({}, {__index = {start = 0, size = 8, type = "zero", args = ""}})},
  {{start = 0, size = 8, type = proxy("zero"), args = ""}},
  {{start = 0, size = 8, type = "zero", args = io.stdout}},
}
for i, targets in ipairs(cases) do
  local ok, err = pcall(cdm.create, "sts-hostile", targets)
  assert(not ok, "case " .. i .. " was accepted")
  assert(tostring(err):find("bad argument"), "case " .. i .. ": " .. tostring(err))
  ok, err = pcall(cdm.load, "sts-hostile", targets)
  assert(not ok and tostring(err):find("bad argument"), "load, case " .. i .. ": " .. tostring(err))
end
print("ok")]], "proxy target lists")
    assert.are.equal("ok\n", r.stdout)
  end)

  it("reads run's argv, env and options raw", function()
    local r = survives(PROXY .. [[
local run = core.proc.run
local function refused(...)
  local ok, err = pcall(run, ...)
  assert(not ok, "accepted")
  return tostring(err)
end
-- a proxy argv: raw, it is empty
assert(refused(proxy("/bin/true")):find("at least the program"))
-- argv entries that are proxies or foreign userdata
assert(refused({"/bin/true", proxy("x")}):find("argv%[2%]"))
assert(refused({"/bin/true", io.stdout}):find("argv%[2%]"))
-- a proxy options table: raw it is empty, so the run goes ahead
local res = run({"/bin/true"}, proxy("x"))
assert(res and res.rc == 0, "a proxy options table")
-- env values that are proxies
assert(refused({"/bin/true"}, {env = {X = proxy("v")}}):find("env"))
-- options of the wrong type
assert(refused({"/bin/true"}, {cwd = io.stdout}):find("cwd"))
assert(refused({"/bin/true"}, {stdin = {}}):find("stdin"))
print("ok")]], "proxy argv")
    assert.are.equal("ok\n", r.stdout)
  end)

  it("names the unknown option of a C entry point", function()
    local core = require "sts.core"
    local ok, err = pcall(core.proc.run, {"/bin/true"}, {stdn = "x"})
    assert.is_false(ok)
    assert.matches("unknown field 'stdn'", err)
    ok, err = pcall(core.dm.remove, "x", {retyr = true})
    assert.is_false(ok)
    assert.matches("unknown field 'retyr'", err)
    ok, err = pcall(core.loop.attach, "/nonexistent", {readonly = true})
    assert.is_false(ok)
    assert.matches("unknown field 'readonly'", err)
  end)
end)

describe("the process runner's hardening", function()
  it("kills the whole process group on timeout, grandchildren too", function()
    local r = proc.run({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, {timeout = 0.5})
    assert.is_true(r.timed_out)
    local pid = assert(r.stdout:match("^(%d+)"), r.stdout)
    -- the grandchild is gone or a zombie waiting for init, never sleeping on
    local deadline = time.now_ms() + 2000
    local state
    repeat
      local f = io.open("/proc/" .. pid .. "/stat", "r")
      state = f and f:read("l"):match("%) (%a)")
      if f then f:close() end
    until state == nil or state == "Z" or time.now_ms() > deadline
    assert.is_truthy(state == nil or state == "Z", "grandchild " .. pid .. " is in state " .. tostring(state))
  end)

  it("passes only descriptors 0-2 to the child", function()
    local files = {}
    for i = 1, 6 do files[i] = assert(io.open("/etc/hostname", "r")) end
    local r = proc.run({"ls", "/proc/self/fd"})
    for _, f in ipairs(files) do f:close() end
    -- 0, 1, 2 and the directory ls itself has open
    local fds = {}
    for fd in r.stdout:gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
    assert.is_true(#fds <= 4, "the child sees " .. #fds .. " descriptors: " .. r.stdout)
    for _, fd in ipairs(fds) do assert.is_true(fd <= 3, "descriptor " .. fd .. " leaked") end
  end)

  it("runs children with SIGCHLD ignored by whoever started us", function()
    local bash = run.which("bash")
    if not bash then pending("no bash here to start us with SIGCHLD ignored") end
    local r = run.run({bash, "-c", 'trap "" CHLD; exec "$0" -e "$1"', run.stslua_path(), [[
local f = io.open("/proc/self/status"); local st = f:read("a"); f:close()
local ign = tonumber(st:match("SigIgn:%s*(%x+)"), 16)
assert(ign & (1 << 16) ~= 0, "SIGCHLD is not ignored: the test proves nothing")
local r, msg = require("sts.proc").run({"/bin/true"})
assert(r, msg)
assert(r.rc == 0, "rc " .. tostring(r.rc))
print("ok")]]})
    assert.are.equal("ok\n", r.stdout, r.stderr)
  end)

  it("takes any timeout up to math.huge without spinning", function()
    local c0 = os.clock()
    local r = proc.run({"sleep", "0.5"}, {timeout = 1e10})
    assert.are.equal(0, r.rc)
    assert.is_true(os.clock() - c0 < 0.25, "CPU time while waiting: " .. (os.clock() - c0) .. " s")
    r = proc.run({"true"}, {timeout = math.huge})
    assert.are.equal(0, r.rc)
    assert.has_error(function() proc.run({"true"}, {timeout = 0 / 0}) end)
  end)

  it("stops the child's group on our SIGINT and lets Ctrl-C end the script", function()
    local pidfile = os.tmpname()
    finally(function() os.remove(pidfile) end)
    local after, ok, err = run.interrupt(([[
local time = require "sts.time"
local ok, err = pcall(require("sts.proc").run,
  {"/bin/sh", "-c", "sleep 30 & echo $! > %s; wait"})
print(time.now_ms(), ok, err)]]):format(pidfile), 3)
    assert.are.equal("false", ok)
    assert.matches("interrupted", err)
    assert.is_true(after < 1000, "run returned " .. after .. " ms after the SIGINT")
    local pid = (run.read_file(pidfile) or ""):match("^(%d+)")
    assert.is_string(pid, "the child wrote no pid")
    local f = io.open("/proc/" .. pid .. "/stat", "r")
    local state = f and f:read("l"):match("%) (%a)")
    if f then f:close() end
    assert.is_truthy(state == nil or state == "Z", "the grandchild lives on: " .. tostring(state))
  end)
end)

describe("EINTR in our own waits", function()
  it("sleep_ms returns to Lua on a signal, so Ctrl-C stops it", function()
    local after, ok, err = run.interrupt([[
local time = require "sts.time"
local ok, err = pcall(time.sleep_ms, 20000)
print(time.now_ms(), ok, err)]], 3)
    assert.are.equal("false", ok)  -- the interrupt hook's error, once back in Lua
    assert.matches("interrupted", err)
    assert.is_true(after < 1000, "sleep_ms returned " .. after .. " ms after the SIGINT")
  end)
end)

describe("errors from libdevmapper's task creation", function()
  it("carry the real errno, not ENOMEM", function()
    local core = require "sts.core"
    if core.dm.available() then pending("device-mapper is usable here") end
    for _ = 1, 2 do  -- libdevmapper logs only the first failure
      local ok, msg, err = core.dm.list()
      assert.is_nil(ok)
      assert.are_not.equal(core.dm.errno.ENOMEM, err, msg)
      assert.is_nil(msg:find("allocate memory", 1, true), msg)
    end
  end)
end)

describe("fixture teardown", function()
  local lifecycle = require "sts.testkit.lifecycle"
  local Broken = lifecycle.class("sts.testkit.Broken")
  function Broken:remove()
    lifecycle.untrack(self)
    error("teardown failed: device busy", 0)
  end
  local function broken() return lifecycle.track(setmetatable({name = "broken1"}, Broken)) end

  it("appends a teardown failure to a pending string error as a warning", function()
    local ok, err = pcall(function()
      local f <close> = broken()
      error("the test's own failure", 0)
    end)
    assert.is_false(ok)
    assert.matches("^the test's own failure", err)
    assert.matches("warning: teardown of broken1 failed too: teardown failed: device busy", err)
  end)

  it("appends it to a pending sts error, which stays the same object", function()
    local original = errors.new("DeviceError", "the real failure")
    local ok, err = pcall(function()
      local f <close> = broken()
      error(original, 0)
    end)
    assert.is_false(ok)
    assert.are.equal(original, err)
    assert.matches("^the real failure", err.message)
    assert.matches("teardown failed: device busy", err.message)
  end)

  it("still fails the test when the teardown fails with no error pending", function()
    local ok, err = pcall(function()
      local f <close> = broken()
    end)
    assert.is_false(ok)
    assert.matches("teardown failed: device busy", err)
  end)
end)

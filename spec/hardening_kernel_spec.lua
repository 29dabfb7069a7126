-- Kernel tier: the hardening of issue 17 where a kernel is needed: Ctrl-C
-- during wait_event, the bounded EBUSY remove policy, loop detach that is
-- confirmed, a child stuck in state D reported instead of waited on,
-- libdevmapper's control descriptor close-on-exec, fixture teardown
-- failures shown with the test's own error, and two runs at once that do
-- not touch each other's devices.
local dm = require "sts.dm"
local loop = require "sts.loop"
local proc = require "sts.proc"
local time = require "sts.time"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"
local run = require "helpers.run"

-- the linear device `tag` over a fresh loop, removed after the test
local function linear(tag)
  local lo = devs.loop(4)
  return dm.create(devs.name(tag), dm.LinearTarget{size = 2048, device = lo.path}), lo
end

describe("hardening #kernel", function()
  after_each(function() devs.cleanup() end)

  it("SIGINT during wait_event returns control within a second", function()
    kernel.need_dm(pending)
    local d = linear("wait")
    local after, ok, err = run.interrupt(([[
local time = require "sts.time"
local d = require("sts.dm").DmDevice{dm_name = %q}
local ok, err = pcall(d.wait_event, d)
print(time.now_ms(), ok, err)]]):format(d.dm_name), 3)
    assert.are.equal("false", ok)
    assert.matches("interrupted", err)
    assert.is_true(after < 1000, "wait_event returned " .. after .. " ms after the SIGINT")
  end)

  it("retries a busy remove for a bounded time, ours only", function()
    kernel.need_dm(pending)
    local d = linear("busy")
    local holder = assert(io.open(d.path, "rb"))
    local t0 = time.now_ms()
    local ok, msg, err = d:remove()
    local short = time.now_ms() - t0
    t0 = time.now_ms()
    local ok2, _, err2 = d:remove{retry = true}
    local long = time.now_ms() - t0
    holder:close()
    assert.is_nil(ok, "removed while held open")
    assert.are.equal(dm.errno.EBUSY, err, msg)
    assert.is_nil(ok2)
    assert.are.equal(dm.errno.EBUSY, err2)
    assert.is_true(short >= 900 and short < 2500, "remove gave up after " .. short .. " ms")
    -- 5 s of our retries; with libdevmapper's retry on top it took 40 s
    assert.is_true(long >= 4500 and long < 8000, "remove{retry=true} gave up after " .. long .. " ms")
    assert.is_true(d:remove())
  end)

  it("reports a loop still held open as bound with autoclear, and detaches it later", function()
    kernel.need_dm(pending)
    local lo = loop.create{size_mb = 1}
    local holder = assert(io.open(lo.path, "rb"))
    local ok, msg, err = lo:remove()
    assert.is_nil(ok, "the loop was reported detached while held open")
    assert.matches("autoclear", msg)
    assert.are.equal(dm.errno.EBUSY, err)
    holder:close()
    -- the kernel detaches it on the last close; remove then finds it gone
    local deadline = time.now_ms() + 5000
    local f
    repeat
      f = io.open("/sys/block/" .. lo.name .. "/loop/backing_file", "r")
      if f then f:close(); time.sleep_ms(20) end
    until not f or time.now_ms() > deadline
    assert.is_nil(f, lo.name .. " still bound after its last opener closed it")
    assert.is_true(lo:remove())
    assert.is_nil(io.open(lo.file, "r"), "the backing file is left")
  end)

  it("reports a child stuck in state D after SIGKILL instead of waiting for it", function()
    kernel.need_dm(pending)
    local d = linear("stuck")
    assert.is_true(d:suspend())
    local t0 = time.now_ms()
    -- direct I/O to a suspended device waits in the kernel: SIGKILL cannot end it
    local r = proc.run({"dd", "if=" .. d.path, "of=/dev/null", "bs=4096", "count=1",
                        "iflag=direct"}, {timeout = 0.5})
    local took = time.now_ms() - t0
    assert.is_true(d:resume())
    assert.is_true(r.timed_out)
    assert.are.equal("D", r.stuck)
    assert.is_true(took < 10000, "the run took " .. took .. " ms")
    -- the resumed device lets it go; a later run reaps it
    time.sleep_ms(200)
    proc.run({"true"})
  end)

  it("marks libdevmapper's control descriptor close-on-exec; children see 0-2 only", function()
    kernel.need_dm(pending)
    local d = linear("cloexec")
    assert.is_true(d:exists())
    local found
    local ls = proc.run({"ls", "/proc/self/fd"})
    local lfs = require "lfs"
    for fd in lfs.dir("/proc/self/fd") do
      local attr = lfs.symlinkattributes("/proc/self/fd/" .. fd)
      if attr and attr.target == "/dev/mapper/control" then
        local f = assert(io.open("/proc/self/fdinfo/" .. fd, "r"))
        local flags = tonumber(f:read("a"):match("flags:%s*(%d+)"), 8)
        f:close()
        found = true
        assert.is_true(flags & 0x80000 ~= 0, "control fd " .. fd .. " lacks O_CLOEXEC")
      end
    end
    assert.is_true(found, "no control descriptor found")
    local n = 0
    for _ in ls.stdout:gmatch("%d+") do n = n + 1 end
    assert.is_true(n <= 4, "the child sees: " .. ls.stdout)
  end)

  it("shows the test's own error with the teardown failure as a warning", function()
    kernel.need_dm(pending)
    local testkit = require "sts.testkit"
    local holder
    local ok, err = pcall(function()
      local lin <close> = testkit.linear(devs.loop(4))
      holder = assert(io.open(lin.dev.path, "rb"))  -- makes the teardown fail
      error("the test's own failure", 0)
    end)
    assert.is_false(ok)
    assert.matches("^the test's own failure", err)
    assert.matches("warning: teardown of .* failed too", err)
    holder:close()
    assert.are.same({}, testkit.cleanup())
    assert.are.same({}, testkit.leaks())
  end)

  it("two runs at once: cleanup_leftovers of one leaves the other's devices", function()
    kernel.need_dm(pending)
    local testkit = require "sts.testkit"
    local loops <close> = testkit.loop_devices(1, 4)
    local mine <close> = testkit.linear(loops[1])
    local dir = run.tmpdir()
    finally(function() run.rmtree(dir) end)
    -- the other run: makes a pool stack, then ends without its teardown
    -- (as a killed run would), saying its prefix
    run.write_file(dir .. "/other.lua", [[
local testkit = require "sts.testkit"
local pool = testkit.thin_pool{data_mb = 8, metadata_mb = 4}
io.stdout:write(testkit.prefix, "\n")
if arg[1] == "clean-own" then
  -- a third run cleaning up only what it made, while ours is alive
  testkit.cleanup_leftovers(testkit.prefix)
end
os.exit(0, false)]])
    local r = run.stslua({dir .. "/other.lua"}, {timeout = 120})
    local other = assert(r.stdout:match("^(sts%-%d+%-)\n"), r.stdout .. r.stderr)
    local left = dm.names_with_prefix(other)
    assert.is_true(#left >= 3, "the other run left " .. #left .. " devices")
    local r2 = run.stslua({dir .. "/other.lua", "clean-own"}, {timeout = 120})
    assert.are.equal(0, r2.rc, r2.stderr)
    -- neither the third run's cleanup nor ours of the other's prefix touches ours
    testkit.cleanup_leftovers(other)
    assert.are.same({}, dm.names_with_prefix(other))
    assert.is_true(mine.dev:exists(), "our device went with the other run's cleanup")
    local ours_bound = false
    for _, lo in ipairs(loop.list()) do
      if lo.file and lo.file:find(testkit.prefix, 1, true) then ours_bound = true end
      assert.is_nil(lo.file and lo.file:find(other, 1, true), "the other run's loop is left")
    end
    assert.is_true(ours_bound, "our loop went with the other run's cleanup")
    mine:remove()
    loops:remove()
    assert.are.same({}, testkit.leaks())
  end)
end)

-- Kernel tier: faults. A refused table leaves no device (checked through the
-- kernel's own list), a refused reload leaves the old table live and the
-- device resumed, a raising fixture body cleans up, a killed script's
-- leftovers are removed by testkit.cleanup_leftovers, and a thin pool out
-- of data or of metadata space is reported through typed status instead of
-- hanging.
--
-- What the kit promises on signals: testkit installs no signal handler, so
-- SIGTERM (like SIGKILL) ends a script without its to-be-closed teardown.
-- The remedy is testkit.cleanup_leftovers(prefix) with the dead process's
-- prefix ("sts-<pid>-"), tested here for both signals.
local dm = require "sts.dm"
local core = require "sts.core"
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"
local run = require "helpers.run"

local function kernel_has(name) return devs.kernel_names()[name] == true end

local function names_with(prefix)
  local out = {}
  for name in pairs(devs.kernel_names()) do
    if name:sub(1, #prefix) == prefix then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

-- A child stslua that builds a thin pool with a thin, says its prefix,
-- then is killed by `signal` before its scope ends.
local CHILD = [[
local testkit = require "sts.testkit"
local proc = require("sts.core").proc
local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
pool:create_thin(0, 8192)
io.stdout:write(testkit.prefix, "\n"); io.stdout:flush()
proc.run({"/bin/sh", "-c", "kill -" .. arg[1] .. " $PPID"})
proc.run({"/bin/sleep", "30"})
error("still alive after the signal")
]]

describe("faults #kernel", function()
  after_each(function() devs.cleanup() end)

  it("a refused table on create leaves no device in the kernel's list", function()
    kernel.need_dm(pending)
    local name = devs.name("refused")
    -- a linear target over a device that does not exist is refused by the kernel
    local made, msg = pcall(dm.create, name, dm.DmTarget(0, 8, "linear", "/dev/sts-no-such-device 0"))
    assert.is_false(made, "the kernel took a linear target over a missing device")
    assert.is_string(tostring(msg))
    assert.is_false(kernel_has(name))
    assert.is_nil(dm.DmDevice.get_by_name(name))
  end)

  it("a refused reload keeps the old table live and the device resumed", function()
    kernel.need_dm(pending)
    local lo = devs.loop(4)
    local name = devs.name("reload")
    local d = dm.create(name, dm.LinearTarget{size = 2048, device = lo.path})
    local before = d.table
    local ok, msg = d:reload(dm.DmTarget(0, 2048, "linear", "/dev/sts-no-such-device 0"))
    assert.is_nil(ok)
    assert.is_string(msg)
    assert.are.equal(before, d.table)
    local info = d:info()
    assert.is_false(info.suspended)
    assert.is_false(info.inactive_table)
    -- and it still does I/O
    devs.write_at(d.path, 0, "still here")
    assert.are.equal("still here", devs.read_at(d.path, 0, 10))
    assert.is_true(d:remove())
    assert.is_false(kernel_has(name))
  end)

  it("a fixture body that raises still tears everything down", function()
    kernel.need_dm(pending)
    local testkit = require "sts.testkit"
    local ok, err = pcall(function()
      local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
      pool:create_thin(0, 8192)
      error("the test body fails")
    end)
    assert.is_false(ok)
    assert.matches("the test body fails", tostring(err))
    assert.are.same({}, names_with(testkit.prefix))
    assert.are.same({}, testkit.leaks())
  end)

  for _, signal in ipairs({"TERM", "KILL"}) do
    it("cleanup_leftovers removes what a SIG" .. signal .. "ed script left", function()
      kernel.need_dm(pending)
      local testkit = require "sts.testkit"
      local dir = run.tmpdir()
      finally(function() run.rmtree(dir) end)
      run.write_file(dir .. "/child.lua", CHILD)
      local r = run.stslua({dir .. "/child.lua", signal}, {timeout = 120})
      local prefix = r.stdout:match("^(sts%-%d+%-)\n")
      assert.is_string(prefix, "the child printed no prefix: " .. r.stdout .. r.stderr)
      assert.are.equal(signal == "TERM" and 15 or 9, r.signal,
        ("rc=%s stdout=%s stderr=%s"):format(tostring(r.rc), r.stdout, r.stderr))
      local left = names_with(prefix)
      assert.is_true(#left >= 4, "expected the pool stack left behind, got " .. #left)
      local removed = testkit.cleanup_leftovers(prefix)
      assert.is_true(#removed >= #left)
      assert.are.same({}, names_with(prefix))
      for _, lo in ipairs(require("sts.loop").list()) do
        assert.is_nil(lo.file and lo.file:match("/sts%-loop%-[^/]*$"), "loop left: " .. lo.path)
      end
    end)
  end

  it("a thin pool out of data space says so in typed status, without hanging", function()
    kernel.need_dm(pending)
    local testkit = require "sts.testkit"
    local pool <close> = testkit.thin_pool{data_mb = 4, metadata_mb = 4, block_size = 128,
                                           features = {"error_if_no_space"}, check = false}
    local thin = pool:create_thin(0, 64 * 2048)   -- 64 MB over a 4 MB pool
    local f = assert(io.open(thin.dev.path, "r+b"))
    local chunk = string.rep("x", 1024 * 1024)
    local failed = false
    for _ = 1, 8 do
      local ok = f:write(chunk) and f:flush()
      if not ok then failed = true break end
    end
    f:close()   -- may report the error of the last buffered write
    local st = testkit.wait_for(pool.dev, function(s) return s.mode == "out_of_data_space" end, 10000)
    assert.are.equal("out_of_data_space", st.mode)
    assert.are.equal("error_if_no_space", st.no_space_policy)
    assert.are.equal(st.total_data_blocks, st.used_data_blocks)
    assert.is_true(failed or st.used_data_blocks == st.total_data_blocks)
  end)

  it("a thin pool out of metadata space turns read-only in typed status, without hanging", function()
    kernel.need_dm(pending)
    local testkit = require "sts.testkit"
    -- 1 MB of metadata is 256 blocks; each new thin takes a btree root, so
    -- a couple of hundred create_thin messages use it all up (about 2 s)
    local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 1, block_size = 128,
                                           features = {"error_if_no_space"}, check = false}
    local failed_at, msg
    for id = 0, 2000 do
      local ok, why = pool.dev:message(0, "create_thin " .. id)
      if not ok then failed_at, msg = id, why break end
    end
    assert.is_number(failed_at, "metadata never ran out")
    assert.is_string(msg)
    local st = pool:status()
    assert.are.equal("ro", st.mode)
    assert.are.equal(st.total_metadata_blocks, st.used_metadata_blocks)
  end)

  it("methods refuse bad arguments on a live device before any ioctl", function()
    kernel.need_dm(pending)
    local errors = require "sts.errors"
    local name = devs.name("args")
    local d = dm.create(name, dm.ZeroTarget{size = 8})
    local function refused(fn, ...)
      local ok, err = pcall(fn, d, ...)
      local args = table.pack(...)
      for i = 1, args.n do args[i] = tostring(args[i]) end
      assert.is_false(ok, "accepted: " .. table.concat(args, ", ", 1, args.n))
      assert.is_true(errors.is(err, "ValueError") or tostring(err):find("bad argument", 1, true) ~= nil,
                     tostring(err))
    end
    refused(d.rename, "a/b")
    refused(d.rename, string.rep("n", 128))
    refused(d.set_uuid, string.rep("u", 129))
    refused(d.message, -1, "x")
    refused(d.message, 0, nil)
    refused(d.suspend, {bogus = true})
    refused(d.remove, {force = "yes"})
    refused(d.reload, 42)
    assert.is_true(kernel_has(name))
    assert.is_false(d:info().suspended)
    assert.is_true(d:remove())
  end)
end)

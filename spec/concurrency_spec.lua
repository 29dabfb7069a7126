-- Kernel tier: two stslua processes create and remove 100 devices each
-- (distinct names) at the same time, both listing every device while the
-- other churns. The only error allowed is the documented race of listing:
-- a device listed by one ioctl can be gone by the next (DeviceNotFoundError).
-- Nothing may be left behind.
local kernel = require "helpers.kernel"
local devs = require "helpers.devices"
local run = require "helpers.run"

local WORKER = [[
local dm = require "sts.dm"
local errors = require "sts.errors"
local tag, n = arg[1], tonumber(arg[2])
local made, listed, races = 0, 0, 0
for i = 1, n do
  local d = dm.create(("ststest-cc-%s-%d"):format(tag, i), dm.ZeroTarget{size = 8})
  made = made + 1
  local ok, list = pcall(dm.DmDevice.get_all)
  if ok then
    for _, other in ipairs(list) do
      local ok_name, err = pcall(function() return other.dm_name, other.size end)
      if not ok_name then
        if errors.is(err, "DeviceNotFoundError") then races = races + 1 else error(err) end
      end
    end
    listed = listed + 1
  elseif errors.is(list, "DeviceNotFoundError") then
    races = races + 1
  else
    error(list)
  end
  assert(d:remove())
end
print(("done %s made=%d listed=%d races=%d"):format(tag, made, listed, races))
]]

describe("concurrency #kernel", function()
  it("two processes churn 100 devices each while listing", function()
    kernel.need_dm(pending)
    local dir = run.tmpdir()
    finally(function()
      run.rmtree(dir)
      require("sts.dm").sweep("ststest-cc-")  -- what a failed worker left
    end)
    run.write_file(dir .. "/worker.lua", WORKER)
    -- the shell only starts both and collects each one's exit status
    -- (a bare `wait` would return 0 whatever they did); every path is an
    -- argument, not part of the script
    local sh = [[
"$1" "$2/worker.lua" a 100 > "$2/a.out" 2>&1 & a=$!
"$1" "$2/worker.lua" b 100 > "$2/b.out" 2>&1 & b=$!
wait "$a"; echo "a=$?"
wait "$b"; echo "b=$?"]]
    local r = run.run({"/bin/sh", "-c", sh, "sh", run.stslua_path(), dir}, {timeout = 600})
    assert.are.equal(0, r.rc, r.stderr)
    for _, tag in ipairs({"a", "b"}) do
      local out = run.read_file(dir .. "/" .. tag .. ".out") or ""
      assert.are.equal(tag .. "=0", r.stdout:match(tag .. "=%d+"), "worker " .. tag .. " failed:\n" .. out)
      assert.matches("done " .. tag .. " made=100 listed=%d+ races=%d+", out)
    end
    for name in pairs(devs.kernel_names()) do
      assert.is_nil(name:match("^ststest%-cc%-"), "left behind: " .. name)
    end
  end)
end)

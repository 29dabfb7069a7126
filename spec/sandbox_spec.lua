-- Sandbox tier: specs run on this machine that start guests with
-- scripts/sts-vm and check what the guest was given. scripts/run-checks
-- runs them after the kernel tier, only when a guest can start here
-- (tag #sandbox; the host tier leaves them out).
local run = require "helpers.run"

-- a directory of its own under the system's temporary directory
local function scratch_dir()
  local r = run.run({"mktemp", "-d", "/tmp/sts-sandbox-spec.XXXXXX"})
  assert(r.rc == 0, r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- scripts/sts-vm with args, quiet unless `loud` (then its progress lines,
-- such as how the guest started, are on stderr)
local function sts_vm(args, loud)
  local argv = {run.path("scripts/sts-vm"), "--timeout", "300"}
  if not loud then argv[#argv + 1] = "-q" end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return run.run(argv, {timeout = 360})
end

describe("scripts/sts-vm run #sandbox", function()
  local dir
  before_each(function() dir = scratch_dir() end)
  after_each(function() run.run({"rm", "-rf", dir}) end)

  it("carries the script's directory and --with DIR, both on package.path", function()
    run.run({"mkdir", "-p", dir .. "/test", dir .. "/lib/kit"})
    write(dir .. "/test/helper.lua", "return {answer = function() return 41 + 1 end}\n")
    write(dir .. "/lib/kit/init.lua", "return {name = 'kit from --with'}\n")
    write(dir .. "/test/data.txt", "beside the script\n")
    write(dir .. "/test/main.lua", [[
local helper = require "helper"
local kit = require "kit"
local f = assert(io.open(arg[0]:match("^(.*)/") .. "/data.txt"))
print("answer=" .. helper.answer(), "kit=" .. kit.name, "data=" .. f:read("l"))
f:close()
]])
    local r = sts_vm({"--with", dir .. "/lib", "run", dir .. "/test/main.lua"})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    assert.matches("answer=42\tkit=kit from --with\tdata=beside the script", r.stdout, 1, true)
  end)

  it("puts the directory of a script inside the repo on package.path", function()
    -- scripts/examples/ is carried as part of the repo copy; a module next to
    -- a script there must be found without --with
    local r = sts_vm({"run", "spec/fixtures/sandbox/uses-sibling.lua"})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    assert.matches("sibling says hello", r.stdout, 1, true)
  end)

  it("refuses a script directory larger than it carries, naming --with", function()
    run.run({"truncate", "-s", "65M", dir .. "/big.img"})
    write(dir .. "/main.lua", "print('should not run')\n")
    local r = sts_vm({"run", dir .. "/main.lua"})
    assert.are.equal(125, r.rc)
    assert.matches("more than the 64 MiB carried into the guest", r.stderr, 1, true)
    assert.matches("--with DIR", r.stderr, 1, true)
    assert.not_matches("should not run", r.stdout, 1, true)
  end)

  it("refuses a --with that is not a directory", function()
    write(dir .. "/main.lua", "print(1)\n")
    local r = sts_vm({"--with", dir .. "/nope", "run", dir .. "/main.lua"})
    assert.are.equal(125, r.rc)
    assert.matches("--with: not a readable directory", r.stderr, 1, true)
  end)
end)

describe("scripts/sts-vm --saved-state #sandbox", function()
  -- each restored guest must be a fresh machine with the run's own files,
  -- its own clock and its own random state, however many started from the
  -- same saved guest

  local dir
  before_each(function() dir = scratch_dir() end)
  after_each(function() run.run({"rm", "-rf", dir}) end)

  local function field(out, name) return out:match(name .. "=(%S+)") end

  it("starts each run from one saved guest, with the run's files, clock and randomness", function()
    write(dir .. "/probe.lua", [[
local f = assert(io.open("/dev/urandom", "rb"))
local bytes = f:read(16):gsub(".", function(c) return string.format("%02x", c:byte()) end)
f:close()
print("arg=" .. tostring(arg[1]), "time=" .. os.time(), "random=" .. bytes)
]])
    local outs = {}
    for i = 1, 2 do
      local before = os.time()
      local r = sts_vm({"--saved-state", "run", dir .. "/probe.lua", "run" .. i}, true)
      assert.are.equal(0, r.rc, r.stdout .. r.stderr)
      -- the first may have had to save one; the second must not
      if i == 2 then assert.matches("guest (saved start)", r.stderr, 1, true) end
      assert.are.equal("run" .. i, field(r.stdout, "arg"), r.stdout)
      local t = tonumber(field(r.stdout, "time"))
      assert.is_true(t >= before - 2 and t <= os.time() + 2,
                     "guest clock " .. tostring(t) .. " not within the run's time")
      outs[i] = {r = r, random = field(r.stdout, "random")}
    end
    assert.are_not.equal(outs[1].random, outs[2].random, "two restored guests drew the same random bytes")
  end)

  it("boots cold, and says so, where a saved guest cannot serve", function()
    write(dir .. "/main.lua", "print('ran')\n")
    local r = sts_vm({"--saved-state", "--disk", "16M", "run", dir .. "/main.lua"}, true)
    assert.are.equal(0, r.rc, r.stderr)
    assert.matches("--saved-state does not apply to --disk: cold boot", r.stderr, 1, true)
    assert.matches("ran", r.stdout, 1, true)
  end)
end)


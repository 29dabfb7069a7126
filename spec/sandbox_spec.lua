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

local function sts_vm(args)
  local argv = {run.path("scripts/sts-vm"), "-q", "--timeout", "300"}
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

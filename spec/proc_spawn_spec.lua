-- Host tier: sts.proc.spawn (core.proc.spawn), a child left running (the
-- suite runner's parallel guests).
local proc = require "sts.proc"
local run = require "helpers.run"

describe("sts.proc.spawn", function()
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rmtree(dir) end)

  it("runs argv with stdout and stderr into one file and reports the exit status", function()
    local out = dir .. "/out"
    local c = assert(proc.spawn({"sh", "-c", "echo to-out; echo to-err >&2; exit 3"},
                                {output_file = out, env = {STS_X = "1"}}))
    assert.is_true(math.type(c.pid) == "integer" and c.pid > 0)
    local rc, sig = c:wait()
    assert.are.equal(3, rc)
    assert.is_nil(sig)
    assert.is_nil(c.pid)
    assert.are.equal("to-out\nto-err\n", run.read_file(out))
    -- asking again gives the same answer
    assert.are.equal(3, (c:poll()))
  end)

  it("poll says nil while the child runs; kill ends it with the signal", function()
    local c = assert(proc.spawn({"sleep", "30"}))
    assert.is_nil(c:poll())
    assert.is_true(c:kill(9))
    local rc, sig = c:wait()
    assert.is_nil(rc)
    assert.are.equal(9, sig)
    assert.is_nil(c:kill())   -- reaped: nothing to signal
  end)

  it("uses cwd and env", function()
    local out = dir .. "/out"
    local c = assert(proc.spawn({"sh", "-c", "pwd; echo $STS_SPAWN_X"},
                                {output_file = out, cwd = dir, env = {STS_SPAWN_X = "here"}}))
    assert.are.equal(0, (c:wait()))
    assert.are.equal(dir .. "\nhere\n", run.read_file(out))
  end)

  it("a missing program has ended with 127 and says why", function()
    local c = assert(proc.spawn({"sts-no-such-program"}))
    assert.are.equal(127, (c:poll()))
    assert.are.equal("sts-no-such-program: command not found", c.error)
  end)

  it("closing a running child kills and reaps it", function()
    local pid
    do
      local c <close> = assert(proc.spawn({"sleep", "30"}))
      pid = c.pid
    end
    -- reaped: no process of that pid is our child any more
    local r = run.run({"sh", "-c", "kill -0 " .. pid .. " 2>/dev/null && echo alive || echo gone"})
    assert.are.equal("gone\n", r.stdout)
  end)

  it("refuses bad arguments with a clear error", function()
    assert.has_error(function() proc.spawn({}) end)
    assert.has_error(function() proc.spawn("sh") end)
    assert.has_error(function() proc.spawn({"sh"}, {bogus = 1}) end,
                     "bad option to 'spawn' (unknown field 'bogus')")
    assert.has_error(function() proc.spawn({"sh"}, {output_file = 5}) end,
                     "bad option 'output_file' to 'spawn' (string expected)")
    assert.has_error(function() proc.spawn({"sh"}, {env = "x"}) end,
                     "bad option 'env' to 'spawn' (table expected)")
    local c, msg = proc.spawn({"true"}, {output_file = dir .. "/no/such/dir/out"})
    assert.is_nil(c)
    assert.matches("output_file", msg)
    local c2, msg2 = proc.spawn({"true"}, {cwd = dir .. "/nope"})
    assert.is_nil(c2)
    assert.matches("cwd", msg2)
    local c3 = assert(proc.spawn({"true"}))
    assert.has_error(function() c3:kill(-1) end)
    assert.are.equal(0, (c3:wait()))
  end)
end)

-- Host tier: the gating helpers of sts.gate answer from the real kernel
-- release, the real device-mapper (or its absence) and the real tools, and
-- skip a busted test (pending) or a script (exit 77) with the reason.
local gate = require "sts.gate"
local testkit = require "sts.testkit"
local run = require "helpers.run"
local proc = require("sts.core").proc

local function release()
  local f = assert(io.open("/proc/sys/kernel/osrelease"))
  local r = f:read("l")
  f:close()
  return r
end

describe("sts.gate", function()
  it("is testkit.gate too", function()
    assert.are.equal(gate, testkit.gate)
  end)

  it("splits versions and kernel releases into numbers", function()
    assert.are.same({6, 12, 117}, gate.version_numbers("6.12.117+deb13-cloud-amd64"))
    assert.are.same({6, 1, 0}, gate.version_numbers("6.1.0-57-cloud-amd64"))
    assert.are.same({1, 1}, gate.version_numbers("1.1"))
    assert.is_nil(gate.version_numbers("cloud"))
    assert.is_nil(gate.version_numbers(nil))
  end)

  it("compares versions number by number, missing parts as 0", function()
    assert.are.equal(-1, gate.compare_versions("6.1.0", "6.12"))
    assert.are.equal(1, gate.compare_versions("6.12.117+deb13", "6.12"))
    assert.are.equal(0, gate.compare_versions("6.12", "6.12.0"))
    assert.are.equal(1, gate.compare_versions("1.10", "1.9"))
    assert.has_error(function() gate.compare_versions("x", "1") end)
  end)

  it("knows the running kernel's release", function()
    assert.are.equal(release(), gate.kernel_release())
    assert.is_true((gate.kernel("2.6")))
    local ok, why = gate.kernel("999.0")
    assert.is_false(ok)
    assert.matches("needs kernel 999.0 or newer; this one is " .. release():gsub("%p", "%%%0"), why)
  end)

  it("refuses a version that is not one", function()
    assert.has_error(function() gate.kernel("new") end)
    assert.has_error(function() gate.target("thin", "latest") end)
    assert.has_error(function() gate.tool("sh", "any") end)
  end)

  it("finds programs, and their versions", function()
    assert.is_true((gate.tool("sh")))
    local ok, why = gate.tool("sts-no-such-program")
    assert.is_false(ok)
    assert.are.equal("the program sts-no-such-program is not installed", why)
    -- the host's thin-provisioning-tools, through sts.dmpd's lookup
    local v = require("sts.dmpd").parse_version(require("sts.dmpd").get_version("thin_check")).text
    assert.is_truthy(v, "no thin_check version")
    v = v.text
    assert.is_true((gate.tool("thin_check", v)))
    ok, why = gate.tool("thin_check", "99.0")
    assert.is_false(ok)
    assert.are.equal(("thin_check is version %s, older than 99.0"):format(v), why)
  end)

  it("says why a target is missing", function()
    local ok, why = gate.target("sts-no-such-target")
    assert.is_false(ok)
    -- no device-mapper on a host, or no such target on a kernel with it
    assert.is_truthy(why:match("^no device%-mapper: ") or why:match("^the kernel's dm target sts%-no%-such%-target is missing"), why)
  end)

  it("skips a busted test through pending, with the reason", function()
    local ok, err = pcall(gate.need_tool, "sts-no-such-program")
    assert.is_false(ok)
    assert.are.equal("pending", (getmetatable(err) or {}).__type)
    assert.are.equal("the program sts-no-such-program is not installed", err.message)
    -- a need that is met returns
    assert.has_no_error(function() gate.need_tool("sh") end)
  end)

  it("ends a script with status 77 and the reason", function()
    local r = assert(proc.run({run.stslua_path(), "-e",
      [[require("sts.gate").need_kernel("999.1"); print("not reached")]]}, {timeout = 60}))
    assert.are.equal(77, r.rc)
    assert.are.equal("", r.stdout)
    assert.matches("^SKIP: needs kernel 999.1 or newer; this one is ", r.stderr)
    r = assert(proc.run({run.stslua_path(), "-e",
      [[require("sts.gate").need_kernel("2.6"); print("ran")]]}, {timeout = 60}))
    assert.are.equal(0, r.rc)
    assert.are.equal("ran\n", r.stdout)
  end)
end)

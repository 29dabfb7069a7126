-- Kernel tier: the guest is the one scripts/sts-vm was asked for: the
-- kernel release (--kernel), the thin-provisioning-tools it carries
-- (--dmpd; sts.dmpd finds them through STS_DMPD_PATH) and, on a kernel with
-- dm-vdo, Debian 13's vdoformat running on Debian 13's own C library
-- beside the guest's, which stays the host's.
local dmpd = require "sts.dmpd"
local gate = require "sts.gate"
local proc = require("sts.core").proc

local function need_guest(pending_fn)
  if os.getenv("STS_IN_VM") ~= "1" then pending_fn("only in the sandbox's guest (scripts/sts-vm)") end
end

-- the version a C library prints when run as a program (through `loader`,
-- its own dynamic loader, when given)
local function libc_version(path, loader)
  local argv = loader and {loader, "--library-path", path:match("^(.*)/"), path} or {path}
  local r = proc.run(argv, {timeout = 30})
  assert.are.equal(0, r.rc, path .. ": " .. r.stderr)
  return assert(r.stdout:match("release version (%d+%.%d+)"), r.stdout)
end

describe("the sandbox's kernel and tools #kernel", function()
  it("boots the kernel it was asked for", function()
    need_guest(pending)
    local want = assert(os.getenv("STS_VM_KERNEL_RELEASE"), "sts-vm sets STS_VM_KERNEL_RELEASE")
    assert.are.equal(want, gate.kernel_release())
  end)

  it("carries the chosen thin-provisioning-tools, found through STS_DMPD_PATH", function()
    need_guest(pending)
    local want = assert(os.getenv("STS_VM_DMPD_VERSION"), "sts-vm sets STS_VM_DMPD_VERSION")
    assert.are.equal("/usr/sbin", os.getenv("STS_DMPD_PATH"))
    assert.are.equal("/usr/sbin/thin_check", dmpd.tool_path("thin_check"))
    local r = dmpd.get_version("thin_check")
    assert.are.equal(want, dmpd.parse_version(r.stdout .. r.stderr).text)
    -- 1.x ships thin_migrate, 0.9 does not
    assert.are.equal(gate.compare_versions(want, "1.0") >= 0, proc.which("/usr/sbin/thin_migrate") ~= nil)
  end)

  it("runs Debian 13's vdoformat on its own C library, the guest's left alone", function()
    need_guest(pending)
    gate.need_tool("vdoformat")
    local r = proc.run({"vdoformat", "--version"}, {timeout = 60})
    assert.are.equal(0, r.rc, r.stdout .. r.stderr)
    assert.matches("vdoformat version is: %d", r.stdout)
    local own = libc_version("/opt/trixie/lib/libc.so.6", "/opt/trixie/lib/ld-linux-x86-64.so.2")
    local guest = libc_version("/usr/lib/x86_64-linux-gnu/libc.so.6")
    -- vdoformat needs GLIBC_2.38; the guest's programs keep the host's
    assert.is_true(gate.compare_versions(own, "2.38") >= 0, "Debian 13's C library is " .. own)
    local host = proc.run({"/usr/sbin/thin_check", "-V"}, {timeout = 30})
    assert.are.equal(0, host.rc, "a guest program on the guest's C library " .. guest .. ": " .. host.stderr)
  end)
end)

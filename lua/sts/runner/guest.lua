--- sts.runner.guest: runs one test file where it is to run.
-- That is a sandbox guest, or this machine with `--host`.
--
-- `main(path, kind)` checks the test's header requirements against this
-- machine, puts logging wrappers for the storage tools in front of PATH,
-- runs the test as a child (stdout and stderr straight to ours, so the
-- output streams), and then writes what it saw into the directory
-- `$STS_VM_OUT` (the sandbox brings that directory back):
--
--   runner.rec  one record: rc, signal, duration, missing (unmet needs),
--               error (a header that does not parse), leaks (dm and loop
--               devices left behind), targets (loaded dm targets with
--               versions, after the test), kernel (release), dm_driver,
--               dmpd (thin_check's version)
--   tools.log   one line per tool the test started through PATH: name and
--               arguments (the wrappers write it)
--   its.rec     a spec file's per-`it` records (sts.runner.busted_output)
--
-- It marks the start and end of the test in the kernel log
-- (`sts-test: start PATH`, `sts-test: end PATH rc N`) so the host can cut
-- the test's slice out of the whole log.
--
-- Which tools are wrapped: every program found in PATH whose name is a
-- storage tool's (thin_*, cache_*, era_*, pdata_tools, mkfs*, mke2fs,
-- fsck*, e2fsck, tune2fs, resize2fs, dumpe2fs, debugfs, xfs_*, dmsetup,
-- lvm, blkdiscard, fio); a name that is a busybox applet is not. Tools
-- started by absolute path are not seen.

local proc = require "sts.proc"
local sio = require "sts.io"
local time = require "sts.time"
local record = require "sts.runner.record"
local requires = require "sts.runner.requires"

local M = {}

local WRAP_DIR = "/tmp/sts-tools"
local TOOL_PATTERNS = {
  "^thin_[%w_]+$", "^cache_[%w_]+$", "^era_[%w_]+$", "^pdata_tools$",
  "^mkfs[%w%.]*$", "^mke2fs$", "^fsck[%w%.]*$", "^e2fsck$", "^tune2fs$",
  "^resize2fs$", "^dumpe2fs$", "^debugfs$", "^xfs_[%w_]+$", "^dmsetup$",
  "^lvm$", "^blkdiscard$", "^fio$",
}

local function monotime()
  return time.now_ms() / 1000
end

local read_first_line = sio.read_line

local function kmsg(text)
  local f = io.open("/dev/kmsg", "w")
  if f then
    f:write(text, "\n")
    f:close()
  end
end

local function is_tool_name(name)
  for _, p in ipairs(TOOL_PATTERNS) do
    if name:match(p) then return true end
  end
  return false
end

-- sh words: single quotes, with ' written '\''
local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- The PATH directories, in order, without the wrappers' own.
-- @tparam string|nil path a PATH value (default: ours)
-- @treturn {string,...}
function M.path_dirs(path)
  local dirs = {}
  for d in (path or os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    if d ~= WRAP_DIR then dirs[#dirs + 1] = d end
  end
  return dirs
end

-- the full path of `name` in `dirs` (executable regular file), or nil
local function find_in(dirs, name)
  for _, d in ipairs(dirs) do
    local p = d .. "/" .. name
    if proc.which(p) then return p end
  end
  return nil
end

--- What this machine offers, as requires.unmet wants it.
-- @treturn table `{kernel=, targets={name=version}, has_tool=function}`
function M.facts()
  local targets = {}
  local ok, dm = pcall(require, "sts.dm")
  if ok then
    local got, list = pcall(dm.targets)
    if got and type(list) == "table" then
      for _, t in ipairs(list) do targets[t.name] = t.version end
    end
  end
  local dirs = M.path_dirs()
  local release = read_first_line("/proc/sys/kernel/osrelease") or "unknown"
  return {
    kernel = release,
    targets = targets,
    has_tool = function(name) return find_in(dirs, name) ~= nil end,
    has_module = function(name) return M.has_module(name, release) end,
  }
end

--- Whether a kernel module is loaded, built in, or among the kernel's modules.
-- @tparam string name (dashes and underscores are the same)
-- @tparam string release the kernel release (its modules.dep is read)
-- @treturn boolean
function M.has_module(name, release)
  local under = name:gsub("-", "_")
  local f = io.open("/sys/module/" .. under, "r")
  if f then f:close(); return true end
  local dep = io.open("/lib/modules/" .. release .. "/modules.dep", "r")
  if not dep then return false end
  local text = dep:read("a")
  dep:close()
  for file in text:gmatch("([^\n:]+):") do
    local base = file:match("([^/]+)%.ko[%.%w]*$")
    if base and base:gsub("-", "_") == under then return true end
  end
  return false
end

local function busybox_applet(path)
  local ok, lfs = pcall(require, "lfs")
  if not ok then return false end
  local target = lfs.symlinkattributes(path, "target")
  return type(target) == "string" and target:match("busybox$") ~= nil
end

--- Writes logging wrappers for the storage tools found in PATH.
-- @tparam string log the file the wrappers append to
-- @treturn string|nil the wrappers' directory, or nil when none could be made
function M.make_wrappers(log)
  local ok, lfs = pcall(require, "lfs")
  if not ok then return nil end
  lfs.mkdir(WRAP_DIR)
  local made, seen = {}, {}
  for _, dir in ipairs(M.path_dirs()) do
    local list_ok, iter, state = pcall(lfs.dir, dir)
    if list_ok then
      for name in iter, state do
        local real = dir .. "/" .. name
        if not seen[name] and is_tool_name(name) and proc.which(real)
           and not busybox_applet(real) then
          seen[name] = true
          local f = io.open(WRAP_DIR .. "/" .. name, "w")
          if f then
            f:write("#!/bin/sh\n",
                    "# written by sts-test: logs the call, then runs the real tool\n",
                    "echo ", shq(name), " \"$*\" >> ", shq(log), "\n",
                    "exec ", shq(real), " \"$@\"\n")
            f:close()
            made[#made + 1] = WRAP_DIR .. "/" .. name
          end
        end
      end
    end
  end
  if #made == 0 then return nil end
  local argv = {"chmod", "755"}
  for _, p in ipairs(made) do argv[#argv + 1] = p end
  local r = proc.run(argv, {timeout = 30})
  if not r or r.rc ~= 0 then return nil end
  return WRAP_DIR
end

--- The dm and loop devices that exist now.
-- @treturn {string,...} "dm NAME" and "loop /dev/loopN (FILE)" items
function M.devices()
  local out = {}
  local ok_dm, dm = pcall(require, "sts.dm")
  local got, devices = false, nil
  if ok_dm then got, devices = pcall(dm.DmDevice.get_all) end
  for _, d in ipairs(got and devices or {}) do out[#out + 1] = "dm " .. d.dm_name end
  local ok, loop = pcall(require, "sts.loop")
  if ok then
    for _, lo in ipairs(loop.list()) do
      out[#out + 1] = "loop " .. lo.path .. " (" .. tostring(lo.file) .. ")"
    end
  end
  table.sort(out)
  return out
end

local function targets_text()
  local ok, dm = pcall(require, "sts.dm")
  if not ok then return "" end
  local got, list = pcall(dm.targets)
  if not got or type(list) ~= "table" then return "" end
  local items = {}
  for _, t in ipairs(list) do items[#items + 1] = t.name .. " " .. tostring(t.version) end
  table.sort(items)
  return table.concat(items, "\n")
end

--- The argv that runs a test file of `kind`.
-- @tparam string path
-- @tparam string kind "script" or "spec"
-- @tparam string|nil interpreter the stslua to use (default: "stslua" from PATH)
-- @treturn {string,...}
function M.argv(path, kind, interpreter)
  local lua = interpreter or "stslua"
  if kind == "spec" then
    return {lua, "/usr/bin/busted", "-o", "sts.runner.busted_output", "--", path}
  end
  return {lua, path}
end

--- Runs one test file here and writes what happened into `$STS_VM_OUT`.
-- @tparam string path the test file
-- @tparam string kind "script" or "spec"
-- @tparam[opt] table opts `{out = DIR, interpreter = PATH}`
-- @treturn int the exit status to leave with: the test's, 77 for unmet
--   needs, 2 for a header that does not parse, 128 + N for a signal
function M.main(path, kind, opts)
  opts = opts or {}
  local out = opts.out or os.getenv("STS_VM_OUT") or "/tmp"
  local rec = {kernel = read_first_line("/proc/sys/kernel/osrelease") or "unknown", duration = "0"}
  local function finish(status)
    record.append(out .. "/runner.rec", rec)
    return status
  end

  local header, herr = requires.read(path)
  if not header then
    rec.error = "header: " .. tostring(herr)
    io.stderr:write("sts-test: ", rec.error, "\n")
    return finish(2)
  end
  local unmet = requires.unmet(header, M.facts())
  if #unmet > 0 then
    rec.missing = table.concat(unmet, "\n")
    print("sts-test: missing-dep: " .. table.concat(unmet, "; "))
    return finish(77)
  end

  local tools_log = out .. "/tools.log"
  local env = {STS_RUNNER_ITS = out .. "/its.rec"}
  local wrap = M.make_wrappers(tools_log)
  if wrap then env.PATH = wrap .. ":" .. (os.getenv("PATH") or "/usr/bin:/bin") end

  local before = {}
  for _, d in ipairs(M.devices()) do before[d] = true end

  kmsg("sts-test: start " .. path)
  io.stdout:flush()
  local t0 = monotime()
  local child, why = proc.spawn(M.argv(path, kind, opts.interpreter),
                                     {output_file = "/proc/self/fd/1", env = env})
  local rc, sig
  if child then
    rc, sig = child:wait()
    if child.error then io.stderr:write(child.error, "\n") end
  else
    io.stderr:write("sts-test: cannot start the test: ", tostring(why), "\n")
    rec.error = "cannot start the test: " .. tostring(why)
    rc = 2
  end
  rec.duration = string.format("%.3f", monotime() - t0)
  rec.rc = rc or ""
  rec.signal = sig or ""
  kmsg(string.format("sts-test: end %s rc %s", path, tostring(rc or ("signal " .. tostring(sig)))))

  local leaks = {}
  for _, d in ipairs(M.devices()) do
    if not before[d] then leaks[#leaks + 1] = d end
  end
  rec.leaks = table.concat(leaks, "\n")
  rec.targets = targets_text()
  local ok, dm = pcall(require, "sts.dm")
  if ok then
    local got, v = pcall(dm.version)
    if got and type(v) == "table" then rec.dm_driver = v.driver end
  end
  local okd, dmpd_mod = pcall(require, "sts.dmpd")
  local thin_check = okd and dmpd_mod.tool_path("thin_check") or "thin_check"
  local dmpd = proc.run({thin_check, "-V"}, {timeout = 10})
  if dmpd and dmpd.rc == 0 then rec.dmpd = (dmpd.stdout:match("[^\n]+") or ""):gsub("%s+$", "") end
  if rc == nil then return finish(128 + (sig or 0)) end
  return finish(rc)
end

return M

-- hello-kernel: says which kernel and device-mapper this script runs on, and
-- fails when there is no device-mapper. Run it in the sandbox:
--   scripts/sts-vm run scripts/examples/hello-kernel.lua

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function fail(message)
  io.stderr:write("hello-kernel: ", message, "\n")
  os.exit(1)
end

local release = read_file("/proc/sys/kernel/osrelease")
if not release then fail("cannot read /proc/sys/kernel/osrelease (is /proc mounted?)") end
print("kernel:  " .. release:gsub("%s+$", ""))

local misc = read_file("/proc/misc") or ""
if not misc:find("device%-mapper") then fail("this kernel has no device-mapper (not in /proc/misc)") end

local ok, dm = pcall(require, "sts.dm")
if ok then
  local version = dm.version()
  print("dm:      driver " .. tostring(version.driver) .. ", library " .. tostring(version.library))
  local names = {}
  for _, target in ipairs(dm.targets()) do
    names[#names + 1] = string.format("%s %s", target.name, target.version)
  end
  if #names == 0 then fail("device-mapper lists no targets") end
  print("targets: " .. table.concat(names, ", "))
else
  -- without the sts module, the kernel's module list still tells
  print("(sts.dm not loadable: " .. tostring(dm):match("[^\n]*") .. ")")
  local modules = {}
  for name in (read_file("/proc/modules") or ""):gmatch("(dm_[%w_]+) ") do
    modules[#modules + 1] = name
  end
  print("dm modules: " .. (#modules > 0 and table.concat(modules, ", ") or "(none: dm is built in)"))
end
print("hello-kernel: ok")

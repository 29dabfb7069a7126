-- Scratch devices for kernel-tier specs: loop devices and dm devices made
-- through here are removed by cleanup(), which specs call in after_each,
-- so a failing test leaves nothing behind.
local dm = require "sts.dm"
local loop = require "sts.loop"
local core = require "sts.core"

local M = {}
local loops, names = {}, {}
local counter = 0

--- A unique dm name for this run, remembered for cleanup.
function M.name(tag)
  counter = counter + 1
  local n = string.format("ststest-%s-%d", tag or "dev", counter)
  names[#names + 1] = n
  return n
end

--- A loop device over a new sparse file of size_mb.
function M.loop(size_mb)
  local lo = loop.create{size_mb = size_mb or 16}
  loops[#loops + 1] = lo
  return lo
end

local function exists(name)
  local info = core.dm.info(name)
  return info and info.exists
end

--- Removes what the spec made, newest first; returns the names that were
-- still there (leaks of the test itself are then visible to it).
function M.cleanup()
  local leaked = {}
  for i = #names, 1, -1 do
    local n = names[i]
    if exists(n) then
      leaked[#leaked + 1] = n
      core.dm.resume(n)
      core.dm.remove(n, {retry = true})
    end
  end
  names = {}
  for i = #loops, 1, -1 do loops[i]:remove() end
  loops = {}
  return leaked
end

-- A scope of devices: what scope:create makes is removed, newest first,
-- when the scope closes. Declare it after the fixtures the devices sit on,
-- so it closes before them. Closing never raises (it runs while a failed
-- test unwinds, and must not hide the test's error): a device that will
-- not go stays for cleanup(), which knows its name too.
local Scope = {}
Scope.__index = Scope

function Scope:__close()
  for i = #self, 1, -1 do
    pcall(self[i].remove, self[i], {retry = true})
    self[i] = nil
  end
end

--- dm.create under a name from name(tag), removed when the scope closes.
function Scope:create(tag, tbl, opts)
  local d = dm.create(M.name(tag), tbl, opts)
  self[#self + 1] = d
  return d
end

--- A to-be-closed scope: `local made <close> = devs.scope()`, then
-- `made:create(tag, table)`.
function M.scope()
  return setmetatable({}, Scope)
end

--- The names of every dm device the kernel lists.
function M.kernel_names()
  local set = {}
  for _, row in ipairs(assert(core.dm.list())) do set[row.name] = true end
  return set
end

function M.file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

--- Writes `data` at byte offset `at` of a block device and syncs it.
function M.write_at(path, at, data)
  local f = assert(io.open(path, "r+b"))
  assert(f:seek("set", at))
  assert(f:write(data))
  -- closing the last opener of a block device writes its cache back
  assert(f:close())
end

function M.read_at(path, at, n)
  local f = assert(io.open(path, "rb"))
  assert(f:seek("set", at))
  local data = f:read(n)
  f:close()
  return data
end

M.dm = dm
return M

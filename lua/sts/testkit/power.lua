--- sts.testkit.power: power cuts. testkit.power_cut(dev) makes a device
-- drop every write from now on, as a power cut would, and :restore()
-- brings it back holding only what reached it before the cut (the way
-- xfstests' dmflakey does it).
--
-- The cut swaps the device's table for flakey with drop_writes over a
-- hidden copy of the original table, through a suspend that neither
-- flushes queued I/O nor freezes a file system on it (noflush, nolockfs):
-- whatever a mounted file system has not written by then is lost. Reads
-- still work. Unmount (the writes of the unmount are dropped too), then
-- restore, then mount again to see what the crash left.
local dm = require "sts.dm"
local sio = require "sts.io"

-- flakey is down while (seconds since load) mod (up + down) >= up: with
-- up = 0 always
local DOWN_SECONDS = 24 * 3600

return function(kit)
  local PowerCut = kit.class("sts.testkit.PowerCut")
  local M = {}

  --- Cuts the power of a device: every write from now on is dropped.
  -- @param dev a DmDevice or a fixture with .dev
  -- @treturn PowerCut a handle with `:restore()` (and `<close>`), `.dev`
  function M.power_cut(dev)
    dev = kit.device_of(dev, "testkit.power_cut")
    local original = dev:targets()
    local sectors = dev.size // 512
    local hidden_name = dev.dm_name .. "-live"
    if #hidden_name > 127 then hidden_name = kit.new_name("live") end
    local hidden = dm.create(hidden_name, original)
    local cut = dm.FlakeyTarget{size = sectors, device = hidden.path, offset = 0, up = 0,
      down = DOWN_SECONDS, features = {"drop_writes"}}
    local ok, msg = dev:reload({cut}, {noflush = true, nolockfs = true})
    if not ok then
      kit.remove_dm(hidden.dm_name)
      kit.kit_error("power_cut %s: %s", dev.dm_name, tostring(msg))
    end
    return kit.track(setmetatable({dev = dev, original = original, hidden = hidden}, PowerCut))
  end

  --- Brings the device back as the crash left it: the original table again,
  -- and the device's page cache (which may hold writes that were dropped)
  -- emptied. Unmount any file system on it first.
  -- @treturn boolean true; raises TestkitError when the table cannot be restored
  function PowerCut:restore()
    if self.removed then return true end
    -- while writes are still dropped: drops the cached copies of lost writes
    sio.invalidate(self.dev)
    local ok, msg = self.dev:reload(self.original, {noflush = true, nolockfs = true})
    if not ok then kit.kit_error("restore %s: %s", self.dev.dm_name, tostring(msg)) end
    sio.invalidate(self.dev)
    local okh, msgh = kit.remove_dm(self.hidden.dm_name)
    if not okh then kit.kit_error("remove %s: %s", self.hidden.dm_name, tostring(msgh)) end
    self.removed = true
    kit.untrack(self)
    return true
  end
  PowerCut.remove = PowerCut.restore

  return M
end

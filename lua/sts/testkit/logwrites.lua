--- sts.testkit.logwrites: testkit.log_writes(dev) records every write to a
-- device with dm-log-writes, for replaying later (sts.logwrites).
--
--   local lw <close> = testkit.log_writes(data_dev)   -- log on a new loop device
--   mkfs/mount/write on lw.path ...  lw:mark("synced")
--   local log = lw:finish()        -- removes the log-writes device: the log is complete
--   log:replay(target, {to_mark = "synced"})
local dm = require "sts.dm"
local loop = require "sts.loop"
local sio = require "sts.io"
local logwrites = require "sts.logwrites"

return function(kit)
  local LogWrites = kit.class("sts.testkit.LogWrites")
  local M = {}

  --- Puts a log-writes device over dev, its log on a second device.
  -- @param dev the device to record: a path, loop object, DmDevice or fixture
  -- @tparam table opts `log_mb` (a new loop device of that size, default 64), or
  --   `log_dev` (a device to use: its first 4 KiB are zeroed), `name`
  -- @treturn LogWrites `.dev`/`.path` (write here), `.log` (the log device),
  --   `:mark(name)`, `:finish()`, `:remove()`; to-be-closed
  function M.log_writes(dev, opts)
    opts = kit.check_fields(opts, {log_mb = true, log_dev = true, name = true}, "testkit.log_writes")
    local data_path = sio.path_of(dev, "testkit.log_writes")
    local bytes, why = loop.size_of(data_path)
    if not bytes then kit.value_error("testkit.log_writes: %s", tostring(why)) end
    if opts.log_mb ~= nil and opts.log_dev ~= nil then
      kit.value_error("testkit.log_writes: give log_mb or log_dev, not both")
    end
    local lw = setmetatable({name = kit.dm.check_name(opts.name or kit.new_name("logw"),
      "testkit.log_writes: name"), data = dev}, LogWrites)
    kit.track(lw)
    local ok, err = pcall(function()
      if opts.log_dev ~= nil then
        lw.log = opts.log_dev
      else
        lw.log = kit.new_loop(kit.check_positive_integer(opts.log_mb or 64, "log_mb",
          "testkit.log_writes"))
        lw.owns_log = true
      end
      lw.log_path = sio.path_of(lw.log, "testkit.log_writes")
      -- the kernel writes the super block only at the first FUA write or
      -- mark: until then a reader must not find an old log there
      assert(sio.write_block(lw.log_path, 0, string.rep("\0", 4096)))
      lw.dev = dm.create(lw.name, dm.LogWritesTarget{size = bytes // 512, device = data_path,
        log_device = lw.log_path})
      lw.path = lw.dev.path
    end)
    if not ok then
      pcall(lw.remove, lw)
      error(err, 0)
    end
    return lw
  end

  --- Adds a mark to the log (replay can stop there).
  -- @tparam string name the mark, at most 479 bytes for 512-byte sectors, no spaces
  -- @treturn boolean true; raises DeviceError when the kernel refuses
  function LogWrites:mark(name)
    if type(name) ~= "string" or name == "" or #name > 479 or name:find("[%s%z]") then
      kit.value_error("log_writes:mark: the name must be a string of 1 to 479 bytes without spaces")
    end
    local ok, msg, err = self.dev:message(0, "mark " .. name)
    if not ok then kit.errors.raise("DeviceError", "mark " .. name .. ": " .. tostring(msg), err) end
    return true
  end

  --- Removes the log-writes device (the kernel then writes its last mark,
  -- "dm-log-writes-end", and the super block) and reads the log.
  -- @treturn Log the log (sts.logwrites); the log device stays until :remove()
  function LogWrites:finish()
    if self.dev and not self.finished then
      local ok, msg = kit.remove_dm(self.name)
      if not ok then kit.kit_error("remove %s: %s", self.name, tostring(msg)) end
      self.finished = true
    end
    return logwrites.open(self.log_path)
  end

  --- Removes the log-writes device and the log device it made.
  -- @treturn boolean true
  function LogWrites:remove()
    if self.removed then return true end
    local problems = {}
    if self.dev and not self.finished then
      local ok, msg = kit.remove_dm(self.name)
      if not ok then problems[#problems + 1] = tostring(msg) end
      self.finished = true
    end
    if self.owns_log and self.log then
      local ok, msg = self.log:remove()
      if not ok then problems[#problems + 1] = tostring(msg) end
    end
    self.removed = true
    kit.untrack(self)
    if #problems > 0 then kit.kit_error("remove %s: %s", self.name, table.concat(problems, "; ")) end
    return true
  end

  return M
end

--- sts.testkit.scsi_debug: SCSI disks with faults on demand, from the
-- kernel's scsi_debug module.
--
--   local sd <close> = testkit.scsi_debug{size_mb = 64, disks = 2}
--   sd.path, sd.disks[2].path             -- /dev/sdX of each disk
--   sd:inject{opts = {"medium_err"}}      -- reads of sectors 4660..4669 fail
--   sd:inject{every_nth = 10, opts = {"timeout"}}   -- every 10th command is ignored
--   sd:clear()                            -- no faults
--   -- leaving the scope unloads the module
--
-- scsi_debug is one module: while it is loaded there is no second
-- testkit.scsi_debug. Several disks come from one load (disks = N): N
-- pseudo hosts with a store each (per_host_store), so the disks do not
-- share their data. Faults are module-wide: an :inject reaches every disk.
local proc = require "sts.proc"
local sio = require "sts.io"
local time = require "sts.time"

local DRIVER = "/sys/bus/pseudo/drivers/scsi_debug"
local PARAMS = "/sys/module/scsi_debug/parameters"
local WAIT_MS = 30000

-- bits of scsi_debug's opts parameter (drivers/scsi/scsi_debug.c)
local OPTS = {noise = 0x1, medium_err = 0x2, timeout = 0x4, recovered_err = 0x8,
  transport_err = 0x10, dif_err = 0x20, dix_err = 0x40, mac_timeout = 0x80,
  short_transfer = 0x100, ["n_wce"] = 0x200, host_busy = 0x8000, cmd_abort = 0x10000}

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local read_line = sio.read_line

return function(kit)
  local ScsiDebug = kit.class("sts.testkit.ScsiDebug")
  local M = {}

  local function opts_value(value, what)
    if value == nil then return nil end
    if math.type(value) == "integer" and value >= 0 then return value end
    if type(value) ~= "table" then
      kit.value_error("%s: opts must be an integer or a list of names, got %s", what, type(value))
    end
    local bits = 0
    for _, name in ipairs(value) do
      local bit = OPTS[name]
      if not bit then kit.value_error("%s: unknown opt '%s'", what, tostring(name)) end
      bits = bits | bit
    end
    return bits
  end

  local function param_word(key, value, what)
    if type(key) ~= "string" or not key:match("^[%w_]+$") then
      kit.value_error("%s: bad parameter name %s", what, tostring(key))
    end
    if math.type(value) ~= "integer" and (type(value) ~= "string" or not value:match("^[%w_.,:-]+$")) then
      kit.value_error("%s: parameter %s must be an integer or a plain word", what, key)
    end
    return key .. "=" .. tostring(value)
  end

  local function run(argv)
    local r, msg = proc.run(argv, {timeout = 120})
    if not r then kit.kit_error("%s: %s", argv[1], tostring(msg)) end
    return r
  end

  -- the block devices of scsi_debug's disks, by host number
  local function find_disks()
    local found = {}
    for _, name in ipairs(sio.list_dir("/sys/block") or {}) do
      local model = read_line("/sys/block/" .. name .. "/device/model")
      if model and model:match("^scsi_debug") then
        local dev = sio.list_dir("/sys/block/" .. name .. "/device/scsi_device") or {}
        local h, c, t, l = (dev[1] or ""):match("^(%d+):(%d+):(%d+):(%d+)$")
        found[#found + 1] = {name = name, path = "/dev/" .. name, hctl = dev[1],
          host = tonumber(h), target = tonumber(t), lun = tonumber(l), channel = tonumber(c)}
      end
    end
    table.sort(found, function(a, b) return (a.host or 0) < (b.host or 0) end)
    return found
  end

  --- Loads scsi_debug with one or more disks and waits for their block devices.
  -- @tparam table opts `size_mb` (64), `sector_size` (512), `disks` (1), `opts`
  --   (an integer or a list of names: medium_err, timeout, noise, ...), `params`
  --   (more module parameters, name = value)
  -- @treturn ScsiDebug `.path` (the first disk), `.disks` ({name=, path=, hctl=}, ...),
  --   `:inject{...}`, `:clear()`, `:remove()`; to-be-closed
  function M.scsi_debug(opts)
    local what = "testkit.scsi_debug"
    opts = kit.check_fields(opts, {size_mb = true, sector_size = true, disks = true, opts = true,
      params = true}, what)
    local size_mb = kit.check_positive_integer(opts.size_mb or 64, "size_mb", what)
    local sector_size = kit.check_positive_integer(opts.sector_size or 512, "sector_size", what)
    if sector_size ~= 512 and sector_size ~= 1024 and sector_size ~= 2048 and sector_size ~= 4096 then
      kit.value_error("%s: sector_size must be 512, 1024, 2048 or 4096", what)
    end
    local disks = kit.check_positive_integer(opts.disks or 1, "disks", what)
    local argv = {"modprobe", "scsi_debug", "dev_size_mb=" .. size_mb, "sector_size=" .. sector_size,
      "add_host=" .. disks, "num_tgts=1", "max_luns=1"}
    if disks > 1 then argv[#argv + 1] = "per_host_store=1" end
    local bits = opts_value(opts.opts, what)
    if bits then argv[#argv + 1] = "opts=" .. bits end
    if opts.params ~= nil then
      if type(opts.params) ~= "table" then kit.value_error("%s: params must be a table", what) end
      local keys = {}
      for k in pairs(opts.params) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for _, k in ipairs(keys) do argv[#argv + 1] = param_word(k, opts.params[k], what) end
    end
    if exists("/sys/module/scsi_debug/initstate") or exists(DRIVER) then
      kit.kit_error("%s: scsi_debug is already loaded; it is one module: ask for several disks "
        .. "with disks = N", what)
    end
    local r = run(argv)
    if r.rc ~= 0 then
      kit.kit_error("%s: %s failed (rc %s): %s", what, table.concat(argv, " "), tostring(r.rc),
        (r.stderr or ""):gsub("%s+$", ""))
    end
    local sd = setmetatable({disks = {}, size_mb = size_mb, sector_size = sector_size}, ScsiDebug)
    kit.track(sd)
    local deadline = time.now_ms() + WAIT_MS
    while true do
      local found = find_disks()
      local ready = #found >= disks
      for _, d in ipairs(found) do ready = ready and exists(d.path) end
      if ready then
        sd.disks = found
        break
      end
      if time.now_ms() > deadline then
        pcall(sd.remove, sd)
        kit.errors.raise("TimeoutError", ("%s: %d disk(s) did not appear in %d ms (saw %d)"):format(
          what, disks, WAIT_MS, #found))
      end
      time.sleep_ms(50)
    end
    sd.path = sd.disks[1].path
    sd.name = sd.disks[1].name
    sd.size = size_mb * 1024 * 1024
    return sd
  end

  local function write_param(name, value)
    local path = DRIVER .. "/" .. name
    if not exists(path) then path = PARAMS .. "/" .. name end
    local f, msg = io.open(path, "w")
    if not f then kit.kit_error("scsi_debug: cannot set %s: %s", name, tostring(msg)) end
    local ok, werr = f:write(tostring(value))
    local okc, cerr = f:close()
    if not ok or not okc then kit.kit_error("scsi_debug: setting %s=%s: %s", name, tostring(value),
      tostring(werr or cerr)) end
  end

  local INJECT_FIELDS = {every_nth = true, opts = true, delay = true, ndelay = true,
    medium_error_start = true, medium_error_count = true}

  --- Sets fault parameters of the loaded module (for every disk).
  -- @tparam table faults `every_nth`, `opts` (integer or names), `delay` (jiffies),
  --   `ndelay` (ns), `medium_error_start`, `medium_error_count` (sectors)
  -- @treturn ScsiDebug self
  function ScsiDebug:inject(faults)
    local what = "scsi_debug:inject"
    faults = kit.check_fields(faults, INJECT_FIELDS, what)
    -- the range first, then what arms it
    for _, name in ipairs({"medium_error_start", "medium_error_count", "delay", "ndelay", "every_nth"}) do
      local v = faults[name]
      if v ~= nil then
        if math.type(v) ~= "integer" then kit.value_error("%s: %s must be an integer", what, name) end
        write_param(name, v)
      end
    end
    local bits = opts_value(faults.opts, what)
    if bits then write_param("opts", bits) end
    return self
  end

  --- Clears every fault: opts 0, every_nth 0, no delay.
  -- @treturn ScsiDebug self
  function ScsiDebug:clear()
    write_param("opts", 0)
    write_param("every_nth", 0)
    write_param("delay", 0)
    return self
  end

  --- Unloads scsi_debug (its disks go away).
  -- @treturn boolean true; raises TestkitError when the module stays (a disk still open)
  function ScsiDebug:remove()
    if self.removed then return true end
    pcall(self.clear, self)
    -- rmmod, not modprobe -r: that also tries to unload the SCSI modules
    -- scsi_debug needs, which sd_mod holds, and fails after unloading it
    local last
    for _ = 1, 20 do
      local r = run({"rmmod", "scsi_debug"})
      if not exists("/sys/module/scsi_debug/initstate") and not exists(DRIVER) then
        last = nil
        break
      end
      last = (r.stderr or ""):gsub("%s+$", "")
      time.sleep_ms(100)
    end
    if last then kit.kit_error("unload scsi_debug: %s", last) end
    self.removed = true
    kit.untrack(self)
    return true
  end

  M.scsi_debug_opts = OPTS
  return M
end

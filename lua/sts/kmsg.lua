--- sts.kmsg: the kernel's log, read from /dev/kmsg, and the reasons
-- device-mapper gives there for what it refuses.
-- The kernel explains a refused table only in its log ("device-mapper:
-- table: 253:0: crypt: Error decoding and setting key"); the ioctl itself
-- says just EINVAL. A watch taken before an operation reads, after it
-- failed, the device-mapper lines logged in between, without blocking and
-- without reading older records.

local core = require "sts.core"

local ckmsg = core.kmsg

local kmsg = {}

--- Opens a reader positioned after the newest record.
-- @treturn userdata|nil a reader whose `:read([max])` returns the records
-- logged since (list of `{level=, facility=, seq=, usec=, text=}`), and
-- `:close()`; or nil, message, errno when /dev/kmsg cannot be read
function kmsg.open()
  return ckmsg.open()
end

local Watch = {}
Watch.__index = Watch

--- Starts watching for records logged from now on.
-- Never fails: where /dev/kmsg cannot be read (not root, no such device),
-- the watch is empty and its `unavailable` field says why.
-- @treturn table a watch with `:dm_reasons(major, minor)` and `:close()`
function kmsg.watch()
  local reader, why = ckmsg.open()
  return setmetatable({reader = reader or nil, unavailable = (not reader) and why or nil}, Watch)
end

-- "device-mapper: table: 253:0: crypt: Error..." -> "crypt: Error...";
-- "device-mapper: ioctl: error adding target to table" -> as it is, less
-- the "device-mapper: " prefix
local function dm_reason(text, dev)
  local body = text:match("^device%-mapper: (.*)$")
  if not body then return nil end
  local named = body:match("^table: (%d+:%d+): ")
  if named then
    if dev and named ~= dev then return nil end  -- another device's line
    return body:sub(#"table: " + #named + 3)
  end
  local other = body:match("^%w+: (%d+:%d+): ")
  if other and dev and other ~= dev then return nil end
  return body
end

--- The device-mapper lines logged since the watch began, about the device
-- `major:minor` or about no device in particular, oldest first, with the
-- "device-mapper: " prefix and the device number taken off. Reads each
-- record once: a second call returns only newer ones.
-- @tparam[opt] integer major the device's major number (nil: any device)
-- @tparam[opt] integer minor its minor number
-- @treturn {string,...} the reasons (empty when nothing was logged or the log
-- is unavailable)
function Watch:dm_reasons(major, minor)
  local out = {}
  if not self.reader then return out end
  local records, why = self.reader:read()
  if not records then
    self.unavailable = why
    return out
  end
  local dev = major and minor and (math.tointeger(major) .. ":" .. math.tointeger(minor)) or nil
  for _, rec in ipairs(records) do
    local reason = dm_reason(rec.text, dev)
    if reason then out[#out + 1] = reason end
  end
  return out
end

--- Stops watching (idempotent; a watch is also closed when collected).
function Watch:close()
  if self.reader then self.reader:close() end
  self.reader = nil
end
Watch.__close = Watch.close

--- The reason a device-mapper kernel log line gives, or nil.
-- "device-mapper: table: 253:0: crypt: Error..." gives "crypt: Error..."
-- (nil when `dev` is given and the line is about another device); other
-- device-mapper lines lose only their "device-mapper: " prefix.
-- @function dm_reason
-- @tparam string text the log record's text
-- @tparam[opt] string dev "major:minor" of the device asked about
-- @treturn string|nil
kmsg.dm_reason = dm_reason
return kmsg

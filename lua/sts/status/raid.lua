--- sts.status.raid: status of the raid, mirror and striped targets, the
-- three that report one health character per device.
-- Internal to sts.status; the public API is in sts.status.

local M = {}

local function count_char(chars, c)
  local n = 0
  for _, x in ipairs(chars) do
    if x == c then n = n + 1 end
  end
  return n
end

local function fraction(done, total)
  if total == 0 then return nil end
  return done / total
end

-- Reads a health word that must hold exactly `n` characters of `class`.
local function health(r, what, class, n)
  local word, chars = r:chars(what, class)
  if #chars ~= n then
    r:fail("%s %q has %d characters for %d devices", what, word, #chars, n)
  end
  return word, chars
end

-- Reads the count mirror and striped put before their health word: the
-- kernel always prints 1 there.
local function expect_one(r, what)
  local n = r:integer("number of " .. what .. " words")
  if n ~= 1 then r:fail("expected 1 %s word, got a count of %d", what, n) end
end

--- raid:
--   <raid type> <#devices> <health chars> <sync done>/<sync total>
--   <sync action> <mismatch count> <data offset> <journal char>
-- Health characters: A alive and in sync, a alive but not in sync, D dead
-- (failed), - no device. The journal character is A (write-through
-- journal), a (write-back journal), D (dead journal) or - (none). dm-raid
-- added the fields after the sync ratio one by one (target versions 1.5,
-- 1.9, 1.10); a status from an older target leaves them nil.
function M.raid(r, st)
  st.raid_type = r:word("raid type")
  if not st.raid_type:match("^raid[%w_]*$") then
    r:fail("bad raid type %q (expected a name starting with \"raid\")", st.raid_type)
  end
  st.raid_disks = r:integer("number of devices")
  st.health, st.health_chars = health(r, "health characters", "[AaD%-]", st.raid_disks)
  st.failed_devices = count_char(st.health_chars, "D")
  st.sync_current, st.sync_total = r:ratio("sync ratio")
  st.sync_ratio = fraction(st.sync_current, st.sync_total)
  if r:more() then
    st.sync_action = r:word("sync action")
    if not st.sync_action:match("^%l+$") then
      r:fail("bad sync action %q (expected a lowercase word such as idle or resync)", st.sync_action)
    end
  end
  if r:more() then st.mismatch_count = r:integer("mismatch count") end
  if r:more() then st.data_offset = r:integer("data offset") end
  if r:more() then st.journal_char = health(r, "journal character", "[AaD%-]", 1) end
  r:finish()
  return st
end

--- mirror:
--   <#mirrors> <device>* <regions in sync>/<total regions> 1 <health chars>
--   <#log args> <log type> <log args>*
-- Mirror health: A alive, D write failure, S sync failure, R read failure,
-- F flush failure, U unknown failure. A disk log reports its device and
-- its own health (A, D or F) after the log type; a core log only its type.
function M.mirror(r, st)
  st.nr_mirrors = r:integer("number of mirrors")
  st.devices = {}
  for i = 1, st.nr_mirrors do st.devices[i] = r:word("mirror device") end
  st.sync_regions, st.total_regions = r:ratio("regions in sync/total")
  st.sync_ratio = fraction(st.sync_regions, st.total_regions)
  expect_one(r, "health")
  st.health, st.health_chars = health(r, "health characters", "[ADSRFU]", st.nr_mirrors)
  st.failed_devices = st.nr_mirrors - count_char(st.health_chars, "A")
  st.log_args = r:counted("log args")
  st.log_type = st.log_args[1]
  if st.log_type == "disk" and #st.log_args == 3 then
    st.log_device = st.log_args[2]
    st.log_health = st.log_args[3]
  end
  r:finish()
  return st
end

--- striped: <#stripes> <device>* 1 <health chars>
-- One character per stripe: A alive, D the device has seen errors.
function M.striped(r, st)
  st.nr_stripes = r:integer("number of stripes")
  st.devices = {}
  for i = 1, st.nr_stripes do st.devices[i] = r:word("stripe device") end
  expect_one(r, "health")
  st.health, st.health_chars = health(r, "health characters", "[AD]", st.nr_stripes)
  st.failed_devices = count_char(st.health_chars, "D")
  r:finish()
  return st
end

return M

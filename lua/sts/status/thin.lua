--- sts.status.thin: status of the thin-pool and thin targets.
-- Internal to sts.status; the public API is in sts.status.

local M = {}

local MODES = {"rw", "ro", "out_of_data_space"}
local DISCARD_MODES = {"discard_passdown", "no_discard_passdown", "ignore_discard"}
local NO_SPACE_POLICIES = {"error_if_no_space", "queue_if_no_space"}

--- thin-pool:
--   <transaction id> <used>/<total metadata blocks> <used>/<total data blocks>
--   <held metadata root | -> <rw|ro|out_of_data_space>
--   <discard_passdown|no_discard_passdown|ignore_discard>
--   <error_if_no_space|queue_if_no_space> <needs_check|-> <metadata low watermark>
-- Kernels grew this line at the end over the years (mode and discards in
-- 3.x, the no-space policy in 3.14, needs_check in 4.x, the watermark in
-- 4.19), so everything after the held root may stop early; what an older
-- kernel did not print is left nil.
function M.thin_pool(r, st)
  st.transaction_id = r:integer("transaction_id")
  st.used_metadata_blocks, st.total_metadata_blocks = r:ratio("metadata blocks used/total")
  st.used_data_blocks, st.total_data_blocks = r:ratio("data blocks used/total")
  st.held_root = r:integer_or_dash("held_root")
  if r:more() then st.mode = r:choice("mode", MODES) end
  if r:more() then st.discard_mode = r:choice("discard mode", DISCARD_MODES) end
  if r:more() then st.no_space_policy = r:choice("no-space policy", NO_SPACE_POLICIES) end
  if r:more() then st.needs_check = r:choice("needs_check", {"needs_check", "-"}) == "needs_check" end
  if r:more() then st.metadata_low_watermark = r:integer("metadata_low_watermark") end
  r:finish()
  return st
end

--- thin: <nr mapped sectors> <highest mapped sector | ->
-- The highest sector is "-" while nothing is mapped. A lone "-" is what
-- the kernel prints for a thin whose device it has not opened in the
-- pool's metadata; that gives `inactive = true` and no counts.
function M.thin(r, st)
  if r:peek() == "-" and #r.words == 1 then
    r:word("-")
    st.inactive = true
    return st
  end
  st.mapped_sectors = r:integer("mapped_sectors")
  st.highest_mapped_sector = r:integer_or_dash("highest_mapped_sector")
  r:finish()
  return st
end

return M

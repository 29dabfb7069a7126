--- sts.status.snapshot: status of the snapshot and snapshot-merge targets
-- (both print the same line; snapshot-origin prints nothing and is parsed
-- with the other empty statuses).
-- Internal to sts.status; the public API is in sts.status.

local M = {}

--- snapshot, snapshot-merge:
--   <allocated sectors>/<total sectors> <metadata sectors>
-- or one of the words the kernel prints instead of the numbers:
--   Invalid       the snapshot was dropped (its COW store filled up or failed)
--   Overflow      the store filled up but the snapshot is kept (overflow mode)
--   Merge failed  merging into the origin failed
--   Unknown       the store cannot report its usage
-- Each word gives its flag (invalid, overflow, merge_failed, unknown) and no
-- numbers. Very old kernels printed no metadata count (left nil).
function M.snapshot(r, st)
  local first = r:peek()
  if first == "Invalid" then
    r:word("Invalid")
    st.invalid = true
    -- a kernel that says why (proposed upstream) adds words after it
    if r:more() then st.invalid_cause = table.concat(r.words, " ", r.pos) end
    r.pos = #r.words + 1
    return st
  elseif first == "Overflow" then
    r:word("Overflow")
    st.overflow = true
  elseif first == "Merge" then
    r:word("Merge")
    r:choice("word after \"Merge\"", {"failed"})
    st.merge_failed = true
  elseif first == "Unknown" then
    r:word("Unknown")
    st.unknown = true
  else
    st.allocated_sectors, st.total_sectors = r:ratio("allocated/total sectors")
    if r:more() then st.metadata_sectors = r:integer("metadata_sectors") end
  end
  r:finish()
  return st
end

return M

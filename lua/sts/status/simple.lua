--- sts.status.simple: the targets with short (or empty) status lines:
-- integrity, delay, dust, verity, log-writes, and the ones that report
-- nothing at all (linear, crypt, flakey, zero, error, snapshot-origin).
-- Internal to sts.status; the public API is in sts.status.

local M = {}

--- integrity: <mismatches> <provided data sectors> <recalculate sector | ->
-- The recalculating position is "-" when no recalculation runs; kernels
-- before it existed print only the first two (recalculating stays nil).
function M.integrity(r, st)
  st.mismatches = r:integer("mismatches")
  st.provided_data_sectors = r:integer("provided_data_sectors")
  if r:more() then
    st.recalculate_sector = r:integer_or_dash("recalculate_sector")
    st.recalculating = st.recalculate_sector ~= nil
  end
  r:finish()
  return st
end

--- delay: <delayed reads> <delayed writes> [<delayed flushes>]
-- How many I/Os of each kind the target holds back right now. Kernels
-- before flushes got their own delay print two numbers.
function M.delay(r, st)
  if not r:more() then return st end
  st.delayed_reads = r:integer("delayed reads")
  st.delayed_writes = r:integer("delayed writes")
  if r:more() then st.delayed_flushes = r:integer("delayed flushes") end
  r:finish()
  return st
end

--- dust: <device> <fail_read_on_bad_block|bypass> <quiet|verbose>
function M.dust(r, st)
  st.device = r:word("device")
  st.mode = r:choice("mode", {"fail_read_on_bad_block", "bypass"})
  st.fail_read_on_bad_block = st.mode == "fail_read_on_bad_block"
  st.quiet = r:choice("verbosity", {"quiet", "verbose"}) == "quiet"
  r:finish()
  return st
end

--- verity: <V|C> [<corrected by FEC | ->]
-- V: every block read so far verified; C: a corrupted block was found.
-- Newer kernels add the number of blocks error correction repaired ("-"
-- without FEC; nil either way when the field is absent or "-").
function M.verity(r, st)
  st.corrupted = r:choice("verification state", {"V", "C"}) == "C"
  st.valid = not st.corrupted
  if r:more() then st.fec_corrected = r:integer_or_dash("fec_corrected") end
  r:finish()
  return st
end

--- log-writes: <logged entries> <last log sector> [logging_disabled]
function M.log_writes(r, st)
  st.logged_entries = r:integer("logged_entries")
  st.last_log_sector = r:integer("last_log_sector")
  st.logging_disabled = false
  if r:more() then
    r:choice("flag", {"logging_disabled"})
    st.logging_disabled = true
  end
  r:finish()
  return st
end

--- The targets whose status is empty: any word there is an error.
function M.empty(r, st)
  r:finish()
  return st
end

return M

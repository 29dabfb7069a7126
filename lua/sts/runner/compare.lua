--- sts.runner.compare: what changed between two runs.
--
-- Tests are matched by name (a file, or "FILE :: it name"). With several
-- attempts of a test in one run (--repeat), its verdict there is the worst
-- one (a failure over a skip over a pass) and its duration the mean.
-- The changes come in this order:
--
--   regressions  not failing in A, failing in B (fail, timeout, error)
--   fixes        failing in A, passing in B
--   changes      any other verdict change, and tests only in one run
--   durations    the same verdict, and the duration moved by more than
--                `threshold` (a fraction, default 0.25) and more than
--                `min_seconds` (default 1)

local verdict = require "sts.runner.verdict"

local M = {}

local RANK = {pass = 0, skip = 1, ["missing-dep"] = 1, fail = 2, timeout = 2, error = 2}

--- Each test of a run once: its worst verdict and mean duration.
-- @tparam {table,...} rows results rows
-- @treturn table name -> `{name=, verdict=, duration=, reason=, attempts=}`
function M.summarize(rows)
  local by = {}
  for _, r in ipairs(rows) do
    local s = by[r.name]
    if not s then
      s = {name = r.name, file = r.file, kind = r.kind, verdict = r.verdict, reason = r.reason,
           total = 0, attempts = 0, verdicts = {}}
      by[r.name] = s
    elseif (RANK[r.verdict] or 2) > (RANK[s.verdict] or 2) then
      s.verdict, s.reason = r.verdict, r.reason
    end
    s.attempts = s.attempts + 1
    s.total = s.total + (tonumber(r.duration) or 0)
    s.verdicts[r.verdict] = true
  end
  for _, s in pairs(by) do s.duration = s.total / s.attempts end
  return by
end

--- Compares the results of two runs.
-- @tparam {table,...} rows_a
-- @tparam {table,...} rows_b
-- @tparam[opt] table opts `threshold` (fraction), `min_seconds`
-- @treturn table `{regressions=, fixes=, changes=, durations=, unchanged=N}`,
--   each list of `{name=, a=summary|nil, b=summary|nil}` sorted by name
--   (durations by the size of the change, largest first)
function M.compare(rows_a, rows_b, opts)
  opts = opts or {}
  local threshold = opts.threshold or 0.25
  local min_seconds = opts.min_seconds or 1
  local a, b = M.summarize(rows_a), M.summarize(rows_b)
  local names, seen = {}, {}
  for n in pairs(a) do if not seen[n] then seen[n] = true; names[#names + 1] = n end end
  for n in pairs(b) do if not seen[n] then seen[n] = true; names[#names + 1] = n end end
  table.sort(names)
  local out = {regressions = {}, fixes = {}, changes = {}, durations = {}, unchanged = 0}
  for _, n in ipairs(names) do
    local sa, sb = a[n], b[n]
    local item = {name = n, a = sa, b = sb}
    if not sa or not sb then
      if sb and verdict.BAD[sb.verdict] then
        out.regressions[#out.regressions + 1] = item
      else
        out.changes[#out.changes + 1] = item
      end
    elseif sa.verdict ~= sb.verdict then
      if verdict.BAD[sb.verdict] and not verdict.BAD[sa.verdict] then
        out.regressions[#out.regressions + 1] = item
      elseif verdict.BAD[sa.verdict] and sb.verdict == "pass" then
        out.fixes[#out.fixes + 1] = item
      else
        out.changes[#out.changes + 1] = item
      end
    else
      local da, db = sa.duration, sb.duration
      local delta = db - da
      local ratio = da > 0 and db / da or math.huge
      if math.abs(delta) > min_seconds and (ratio > 1 + threshold or ratio < 1 / (1 + threshold)) then
        item.delta = delta
        out.durations[#out.durations + 1] = item
      else
        out.unchanged = out.unchanged + 1
      end
    end
  end
  table.sort(out.durations, function(x, y) return math.abs(x.delta) > math.abs(y.delta) end)
  return out
end

local function v(s) return s and s.verdict or "(absent)" end

local function reason(s)
  if s and s.reason and s.verdict ~= "pass" then return ": " .. tostring(s.reason):gsub("\n", "; ") end
  return ""
end

--- The comparison as text, one line per change, regressions first.
-- @tparam table c from compare
-- @tparam table run_a the runs row of A
-- @tparam table run_b the runs row of B
-- @tparam[opt] table opts as compare's (for the heading of the durations)
-- @treturn string
function M.format(c, run_a, run_b, opts)
  opts = opts or {}
  local out = {string.format("compare run %s (kernel %s) -> run %s (kernel %s)",
    tostring(run_a.id), tostring(run_a.kernel), tostring(run_b.id), tostring(run_b.kernel))}
  local function section(title, list, line)
    if #list == 0 then return end
    out[#out + 1] = string.format("%s (%d):", title, #list)
    for _, item in ipairs(list) do out[#out + 1] = "  " .. line(item) end
  end
  local function change(item)
    return string.format("%-24s %s%s", v(item.a) .. " -> " .. v(item.b), item.name, reason(item.b or item.a))
  end
  section("regressions", c.regressions, change)
  section("fixes", c.fixes, change)
  section("other changes", c.changes, change)
  section(string.format("durations changed by over %d %% and %g s",
                        math.floor((opts.threshold or 0.25) * 100 + 0.5), opts.min_seconds or 1),
    c.durations, function(item)
      local pct = item.a.duration > 0 and string.format("%+d %%", math.floor(item.delta / item.a.duration * 100 + 0.5)) or "new"
      return string.format("%8.1f s -> %8.1f s (%s)  %s", item.a.duration, item.b.duration, pct, item.name)
    end)
  out[#out + 1] = string.format("unchanged: %d", c.unchanged)
  return table.concat(out, "\n") .. "\n"
end

return M

--- sts.runner.progress: what a run shows while it goes.
--
-- On a terminal: one live line (done/total, pass/fail/skip counts, the
-- tests running now, an ETA), redrawn in place, with a plain line above it
-- for each test that ends. Elsewhere (a CI log, a pipe): only the plain
-- lines, one per test as it ends.

local M = {}

local P = {}
P.__index = P

local LABEL = {pass = "PASS", fail = "FAIL", skip = "SKIP", timeout = "TIME",
               error = "ERR ", ["missing-dep"] = "MISS"}

--- A progress display.
-- @tparam table opts `total` (attempts), `tty` (a terminal: live line),
--   `out` (a file handle, default io.stderr), `jobs`, `clock` (seconds)
-- @treturn table with `started(test)`, `finished(test, row)`, `done()`
function M.new(opts)
  return setmetatable({
    total = opts.total, tty = opts.tty, out = opts.out or io.stderr,
    jobs = math.max(1, opts.jobs or 1), clock = opts.clock or os.time,
    t0 = (opts.clock or os.time)(), n = 0, counts = {}, running = {}, order = {},
    width = opts.width or 100,
  }, P)
end

local function mmss(s)
  s = math.max(0, math.floor(s + 0.5))
  return string.format("%d:%02d", s // 60, s % 60)
end

local function key(test)
  return test.path .. "#" .. tostring(test.attempt or 1)
end

--- The live line's text.
-- @treturn string
function P:line()
  local c = self.counts
  local bad = (c.fail or 0) + (c.timeout or 0) + (c.error or 0)
  local skipped = (c.skip or 0) + (c["missing-dep"] or 0)
  local names = {}
  for _, k in ipairs(self.order) do
    if self.running[k] then names[#names + 1] = self.running[k] end
  end
  local eta = ""
  if self.n > 0 and self.n < self.total then
    local per = (self.clock() - self.t0) / self.n
    eta = " ETA " .. mmss(per * (self.total - self.n))
  end
  local text = string.format("[%d/%d] pass %d fail %d skip %d%s | %s", self.n, self.total,
    c.pass or 0, bad, skipped, eta, table.concat(names, ", "))
  if #text > self.width then text = text:sub(1, self.width - 3) .. "..." end
  return text
end

--- Redraws the live line (on a terminal only).
function P:redraw()
  if self.tty then self.out:write("\r\27[K", self:line()); self.out:flush() end
end

--- A test attempt has started.
-- @tparam table test
function P:started(test)
  local k = key(test)
  self.running[k] = test.path:match("[^/]+$")
  self.order[#self.order + 1] = k
  self:redraw()
end

--- A test attempt has ended with `row` (its file row).
-- @tparam table test
-- @tparam table row
function P:finished(test, row)
  local k = key(test)
  self.running[k] = nil
  for i, o in ipairs(self.order) do
    if o == k then table.remove(self.order, i); break end
  end
  self.n = self.n + 1
  self.counts[row.verdict] = (self.counts[row.verdict] or 0) + 1
  local attempt = (test.attempt or 1) > 1 and (" #" .. test.attempt) or ""
  local text = string.format("%s %s%s (%.1f s)%s", LABEL[row.verdict] or row.verdict,
    test.path, attempt, tonumber(row.duration) or 0,
    row.reason and row.verdict ~= "pass" and (": " .. row.reason:gsub("\n", "; ")) or "")
  if self.tty then self.out:write("\r\27[K") end
  self.out:write(text, "\n")
  if self.out.flush then self.out:flush() end
  self:redraw()
end

--- The run is over: clears the live line.
function P:done()
  if self.tty then self.out:write("\r\27[K"); self.out:flush() end
end

return M

--- sts.runner.db: the results database (SQLite through Debian's lua-sql-sqlite3).
--
-- Tables (schema version in `meta`, key `schema_version`):
--
--   runs     one row a run: uuid, label, started, ended (UTC, ISO 8601),
--            host, args, mode (vm or host), kernel (release), kernel_spec
--            (--kernel as given), dm_driver, dmpd (thin_check's version),
--            dmpd_spec, stslua
--   results  one row per test file per attempt, plus one per `it` of a
--            spec file: run_id, name (the file, or "FILE :: it name"),
--            file, kind (script, spec, it), attempt, verdict, reason,
--            duration (s), exit_status, output (stdout and stderr as one
--            stream), kernel_log (the test's slice of the kernel log),
--            kernel_lines (the lines that failed it), requires, targets
--            (loaded dm targets), tools (tools it ran), leaks
--   run_parts the uuids of the runs folded into each run (by merge), so
--            merging the same database twice adds nothing
--
-- A newer stslua opens an older database and upgrades it in place, one
-- step per version, in one transaction; a database newer than this code
-- is refused rather than misread.

local M = {}

--- The schema version this code writes.
M.SCHEMA_VERSION = 2

local RESULT_COLUMNS = {
  "run_id", "name", "file", "kind", "attempt", "verdict", "reason", "duration",
  "exit_status", "output", "kernel_log", "kernel_lines", "requires", "targets",
  "tools", "leaks",
}
local RUN_COLUMNS = {
  "uuid", "label", "started", "ended", "host", "args", "mode", "kernel",
  "kernel_spec", "dm_driver", "dmpd", "dmpd_spec", "stslua",
}
M.RESULT_COLUMNS = RESULT_COLUMNS
M.RUN_COLUMNS = RUN_COLUMNS

-- each step takes the database from version i - 1 to version i
local STEPS = {
  [1] = {
    [[CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)]],
    [[CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        started TEXT, ended TEXT, host TEXT, args TEXT, mode TEXT,
        kernel TEXT, kernel_spec TEXT, dm_driver TEXT, dmpd TEXT,
        dmpd_spec TEXT, stslua TEXT)]],
    [[CREATE TABLE results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL, file TEXT NOT NULL, kind TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        verdict TEXT NOT NULL, reason TEXT, duration REAL, exit_status INTEGER,
        output TEXT, kernel_log TEXT, kernel_lines TEXT, requires TEXT,
        targets TEXT, tools TEXT, leaks TEXT)]],
    [[CREATE INDEX results_by_run ON results(run_id, name)]],
  },
  -- version 2: runs get a label (CI shards of one pipeline share it), and
  -- run_parts remembers which runs were folded into which
  [2] = {
    [[ALTER TABLE runs ADD COLUMN label TEXT]],
    [[CREATE TABLE run_parts (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        uuid TEXT NOT NULL UNIQUE)]],
    [[INSERT INTO run_parts (run_id, uuid) SELECT id, uuid FROM runs]],
  },
}

--- A value as an SQL literal.
-- @param v nil, boolean, number or string
-- @treturn string
function M.literal(v)
  local t = type(v)
  if v == nil then return "NULL" end
  if t == "boolean" then return v and "1" or "0" end
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "NULL" end
    return string.format("%.17g", v)
  end
  -- SQLite string literals know only '' as an escape; a NUL byte would end
  -- the statement early, so it is written out
  local s = tostring(v):gsub("%z", "\\0")
  return "'" .. s:gsub("'", "''") .. "'"
end
local lit = M.literal

local DB = {}
DB.__index = DB

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

--- Runs one statement; raises with the message and the statement on failure.
-- @tparam string sql
-- @return the number of rows it changed
function DB:exec(sql)
  local r, err = self.con:execute(sql)
  if r == nil then fail("database %s: %s\n  in: %s", self.path, tostring(err), sql:sub(1, 200)) end
  if type(r) ~= "number" then r:close() end
  return r
end

--- All rows of a query, each a table by column name.
-- @tparam string sql
-- @treturn {table,...}
function DB:rows(sql)
  local cur, err = self.con:execute(sql)
  if not cur then fail("database %s: %s\n  in: %s", self.path, tostring(err), sql:sub(1, 200)) end
  local out = {}
  if type(cur) == "number" then return out end
  while true do
    local row = cur:fetch({}, "a")
    if not row then break end
    out[#out + 1] = row
  end
  cur:close()
  return out
end

--- The first row of a query, or nil.
-- @tparam string sql
-- @treturn table|nil
function DB:one(sql)
  return self:rows(sql)[1]
end

--- The schema version of the open database (0 for an empty one).
-- @treturn int
function DB:version()
  local t = self:one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
  if not t then return 0 end
  local row = self:one("SELECT value FROM meta WHERE key = 'schema_version'")
  return row and tonumber(row.value) or 0
end

--- Brings the schema up to version `target`, one step per version, in one transaction.
-- @tparam int target
-- @treturn int the version the database had before
function DB:upgrade(target)
  local have = self:version()
  if have > M.SCHEMA_VERSION then
    fail("%s has schema version %d, newer than this stslua's (%d): use a newer stslua",
         self.path, have, M.SCHEMA_VERSION)
  end
  if have >= target then return have end
  self:exec("BEGIN")
  local ok, err = pcall(function()
    for v = have + 1, target do
      for _, sql in ipairs(STEPS[v]) do self:exec(sql) end
    end
    self:exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', " .. lit(tostring(target)) .. ")")
  end)
  if not ok then
    self.con:execute("ROLLBACK")
    error(err, 0)
  end
  self:exec("COMMIT")
  return have
end

--- Opens (creating or upgrading) the database at `path`.
-- @tparam string path
-- @tparam[opt] table opts `{schema = N}`: create or upgrade only up to version N
--   (how the older fixture databases are made)
-- @treturn table the database object; raises with a message naming the file
function M.open(path, opts)
  opts = opts or {}
  local ok, driver = pcall(require, "luasql.sqlite3")
  if not ok then
    fail("the results database needs Debian's lua-sql-sqlite3 (scripts/install-deps): %s", tostring(driver))
  end
  local env = assert(driver.sqlite3())
  local con, err = env:connect(path)
  if not con then
    env:close()
    fail("cannot open the database %s: %s", path, tostring(err))
  end
  local self = setmetatable({env = env, con = con, path = path}, DB)
  -- a file that is not SQLite fails here, with SQLite's own words
  local probe, perr = con:execute("SELECT count(*) FROM sqlite_master")
  if not probe then
    self:close()
    fail("%s is not a results database: %s", path, tostring(perr))
  end
  probe:close()
  self:exec("PRAGMA busy_timeout = 10000")
  self.upgraded_from = self:upgrade(opts.schema or M.SCHEMA_VERSION)
  return self
end

--- Closes the database.
function DB:close()
  if self.con then self.con:close(); self.con = nil end
  if self.env then self.env:close(); self.env = nil end
end

local function insert(self, tbl, columns, row)
  local names, values = {}, {}
  for _, c in ipairs(columns) do
    if row[c] ~= nil then
      names[#names + 1] = c
      values[#values + 1] = lit(row[c])
    end
  end
  self:exec(string.format("INSERT INTO %s (%s) VALUES (%s)", tbl,
    table.concat(names, ", "), table.concat(values, ", ")))
  return math.tointeger(self.con:getlastautoid())
end

--- Records a run with its results, in one transaction.
-- @tparam table run fields as RUN_COLUMNS (uuid required)
-- @tparam {table,...} results fields as RESULT_COLUMNS (run_id is filled in)
-- @treturn int the run's id
function DB:add_run(run, results)
  assert(run.uuid, "a run needs a uuid")
  self:exec("BEGIN")
  local ok, id = pcall(function()
    local run_id = insert(self, "runs", RUN_COLUMNS, run)
    self:exec(string.format("INSERT INTO run_parts (run_id, uuid) VALUES (%d, %s)", run_id, lit(run.uuid)))
    for _, r in ipairs(results or {}) do
      r.run_id = run_id
      insert(self, "results", RESULT_COLUMNS, r)
    end
    return run_id
  end)
  if not ok then
    self.con:execute("ROLLBACK")
    error(id, 0)
  end
  self:exec("COMMIT")
  return id
end

--- Every run, oldest first, with its result counts.
-- @treturn {table,...} runs rows plus `tests`, `passed`, `failed`, `skipped`, `other`
function DB:runs()
  return self:rows([[
    SELECT r.*,
      (SELECT count(*) FROM results WHERE run_id = r.id AND kind != 'spec') AS tests,
      (SELECT count(*) FROM results WHERE run_id = r.id AND kind != 'spec' AND verdict = 'pass') AS passed,
      (SELECT count(*) FROM results WHERE run_id = r.id AND kind != 'spec' AND verdict IN ('fail', 'timeout', 'error')) AS failed,
      (SELECT count(*) FROM results WHERE run_id = r.id AND kind != 'spec' AND verdict IN ('skip', 'missing-dep')) AS skipped
    FROM runs r ORDER BY r.id]])
end

--- One run by id (an integer, or "last", "last-1"...).
-- @param which
-- @treturn table|nil the runs row
function DB:run(which)
  local n = math.tointeger(tonumber(which))
  if n then return self:one("SELECT * FROM runs WHERE id = " .. n) end
  local back = tostring(which):match("^last%-?(%d*)$")
  if back then
    local k = tonumber(back) or 0
    return self:one("SELECT * FROM runs ORDER BY id DESC LIMIT 1 OFFSET " .. k)
  end
  return self:one("SELECT * FROM runs WHERE uuid = " .. lit(which) .. " OR label = " .. lit(which)
                  .. " ORDER BY id DESC LIMIT 1")
end

--- The results of a run, in name order, attempts in order.
-- @tparam int run_id
-- @tparam[opt] string name only this test (a file, or a FILE :: it name)
-- @treturn {table,...}
function DB:results(run_id, name)
  local where = "run_id = " .. math.tointeger(run_id)
  if name then where = where .. " AND (name = " .. lit(name) .. " OR file = " .. lit(name) .. ")" end
  return self:rows("SELECT * FROM results WHERE " .. where .. " ORDER BY name, attempt, id")
end

--- Folds the runs of another database into this one.
-- A run already here (its uuid among run_parts) is skipped; a run whose
-- label matches a run here joins that run (CI shards of one pipeline),
-- any other run is added as a new run.
-- @tparam table other an open database
-- @treturn int, int runs added, runs joined into an existing run
function DB:merge(other)
  local added, joined = 0, 0
  self:exec("BEGIN")
  local ok, err = pcall(function()
    for _, run in ipairs(other:rows("SELECT * FROM runs ORDER BY id")) do
      local parts = other:rows("SELECT uuid FROM run_parts WHERE run_id = " .. run.id)
      local fresh = {}
      for _, p in ipairs(parts) do
        if not self:one("SELECT run_id FROM run_parts WHERE uuid = " .. lit(p.uuid)) then
          fresh[#fresh + 1] = p.uuid
        end
      end
      if #fresh > 0 then
        local target
        if run.label and run.label ~= "" then
          target = self:one("SELECT * FROM runs WHERE label = " .. lit(run.label) .. " ORDER BY id LIMIT 1")
        end
        local run_id
        if target then
          run_id = math.tointeger(target.id)
          -- the joined run spans all its parts
          self:exec(string.format("UPDATE runs SET started = min(coalesce(started, %s), %s), "
            .. "ended = max(coalesce(ended, %s), %s) WHERE id = %d",
            lit(run.started), lit(run.started), lit(run.ended), lit(run.ended), run_id))
          joined = joined + 1
        else
          local copy = {}
          for _, c in ipairs(RUN_COLUMNS) do copy[c] = run[c] end
          run_id = insert(self, "runs", RUN_COLUMNS, copy)
          added = added + 1
        end
        for _, uuid in ipairs(fresh) do
          self:exec(string.format("INSERT INTO run_parts (run_id, uuid) VALUES (%d, %s)", run_id, lit(uuid)))
        end
        for _, r in ipairs(other:rows("SELECT * FROM results WHERE run_id = " .. run.id .. " ORDER BY id")) do
          local copy = {}
          for _, c in ipairs(RESULT_COLUMNS) do copy[c] = r[c] end
          copy.run_id = run_id
          insert(self, "results", RESULT_COLUMNS, copy)
        end
      end
    end
  end)
  if not ok then
    self.con:execute("ROLLBACK")
    error(err, 0)
  end
  self:exec("COMMIT")
  return added, joined
end

return M

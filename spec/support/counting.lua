-- busted output handler: the usual terminal output, plus the run's counts
-- written to $STS_COUNTS_FILE as "passed failed skipped" so that
-- scripts/run-checks can add up several busted runs into one summary line.
return function(options)
  local busted = require "busted"
  local ok, terminal = pcall(require, "busted.outputHandlers.utfTerminal")
  if not ok then terminal = require "busted.outputHandlers.plainTerminal" end
  local handler = terminal(options)

  local function write_counts()
    local path = os.getenv("STS_COUNTS_FILE")
    if not path or path == "" then return nil, true end
    local f = assert(io.open(path, "w"))
    -- errors (a raising spec file, a failing hook) count as failures
    f:write(string.format("%d %d %d\n", handler.successesCount,
      handler.failuresCount + handler.errorsCount, handler.pendingsCount))
    f:close()
    return nil, true
  end

  busted.subscribe({"suite", "end"}, write_counts, {priority = 2})
  return handler
end

--- sts.runner.busted_output: the busted output handler sts-test runs spec files with.
--
-- `busted -o sts.runner.busted_output FILE` prints what the plain terminal
-- handler prints and appends one record (sts.runner.record) per `it` to
-- `$STS_RUNNER_ITS` as each ends, so a spec that hangs halfway keeps the
-- results of the tests before: `name`, `status` (success, failure, error,
-- pending), `message`, `duration` (seconds). An error outside any `it` (a
-- file that does not load, a failing `describe` or hook) is one more
-- record with status error, named after where it happened.

local record = require "sts.runner.record"

local function monotime()
  return require("sts.time").now_ms() / 1000
end

return function(options)
  local busted = require "busted"
  local terminal = require("busted.outputHandlers.plainTerminal")(options)
  local path = os.getenv("STS_RUNNER_ITS")
  local started, messages = {}, {}

  local function emit(rec)
    if path and path ~= "" then record.append(path, rec) end
  end

  local function message_of(msg)
    if type(msg) == "table" then
      local ok, text = pcall(tostring, msg)
      return ok and text or "(a table)"
    end
    return tostring(msg or "")
  end

  busted.subscribe({"test", "start"}, function(element)
    started[element] = monotime()
    return nil, true
  end)
  busted.subscribe({"failure", "it"}, function(element, _, msg)
    messages[element] = message_of(msg)
    return nil, true
  end)
  busted.subscribe({"error", "it"}, function(element, _, msg)
    messages[element] = message_of(msg)
    return nil, true
  end)
  busted.subscribe({"pending"}, function(element, _, msg)
    messages[element] = message_of(msg)
    return nil, true
  end)
  busted.subscribe({"test", "end"}, function(element, _, status)
    local t0 = started[element]
    emit{
      name = terminal.getFullName(element),
      status = status,
      message = messages[element] or "",
      duration = string.format("%.3f", t0 and (monotime() - t0) or 0),
    }
    return nil, true
  end)
  -- errors not inside an it (a file that does not load, a describe or a hook)
  local function outside(element, _, msg)
    if element.descriptor ~= "it" then
      local where = element.descriptor == "file" and "(file)" or terminal.getFullName(element)
      emit{name = where .. " [" .. tostring(element.descriptor) .. "]", status = "error",
           message = message_of(msg), duration = "0"}
    end
    return nil, true
  end
  busted.subscribe({"error"}, outside)
  busted.subscribe({"failure"}, outside)
  return terminal
end

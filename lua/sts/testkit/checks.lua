--- sts.testkit.checks: the check/report pair of self-checking scripts.

local testkit = {}

-- self-checking scripts -----------------------------------------------------------------

--- testkit.checks() -> check, report for a self-checking script.
-- check(cond, what) prints "  [ok] what" or "  [FAIL] what" and returns
-- cond; a failed check does not stop the script, so one run shows every
-- check. report() prints PASS or "FAIL: N check(s) failed" and returns the
-- exit status (0 or 1): end the script with os.exit(report()), outside
-- the scopes of its fixtures so that they are torn down first.
function testkit.checks()
  local failures = 0
  local function check(cond, what)
    print(string.format("  [%s] %s", cond and "ok" or "FAIL", what))
    if not cond then failures = failures + 1 end
    return cond
  end
  local function report()
    print(failures == 0 and "PASS" or ("FAIL: " .. failures .. " check(s) failed"))
    return failures == 0 and 0 or 1
  end
  return check, report
end

return testkit

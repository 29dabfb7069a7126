--- sts.testkit: fixtures for storage tests that always clean up.
--
--   local testkit = require "sts.testkit"
--   local pool <close> = testkit.thin_pool{data_mb = 64, metadata_mb = 8}
--   local thin = pool:create_thin(0, 2 * 1024 * 1024)   -- sectors
--   ... write to thin.dev.path ...
--   -- leaving the block removes the thin device, the pool, its linear
--   -- data/metadata devices and their loop devices, then thin_checks the
--   -- pool's metadata and raises if it is damaged
--
-- Every fixture has :remove() and works as a to-be-closed variable.
-- Teardown is newest-first, children (thins) before their parent (pool).
--
-- The package, by concern: lifecycle (registry, naming, leaks, leftovers),
-- fixtures (the constructors), inject (faults), wait (wait_for), checks
-- (self-checking scripts). This module re-exports their public functions.

local lifecycle = require "sts.testkit.lifecycle"

local testkit = {}

local function export(module, names)
  for _, name in ipairs(names) do
    testkit[name] = assert(module[name], name)
  end
end

export(lifecycle, {"prefix", "leaks", "cleanup", "cleanup_leftovers", "adopt"})
export(require "sts.testkit.fixtures", {"linear", "loop_devices", "thin_pool", "cache", "era"})
export(require "sts.testkit.stacks", {"snapshot", "merge_complete", "raid", "mirror", "crypt",
  "integrity", "writecache", "TEST_KEY"})
export(require "sts.testkit.inject", {"inject"})
export(require "sts.testkit.wait", {"wait_for"})
export(require "sts.testkit.checks", {"checks"})
-- the gating helpers (need_target, need_kernel, need_tool), for specs and scripts
testkit.gate = require "sts.gate"

-- extensions (power, logwrites, scsi_debug): each is given the kit's
-- internals and returns the functions it adds
do
  local errors = require "sts.errors"
  local internals = {
    class = lifecycle.class, track = lifecycle.track, untrack = lifecycle.untrack,
    new_name = lifecycle.new_name, new_loop = lifecycle.new_loop, remove_dm = lifecycle.remove_dm,
    device_of = lifecycle.device_of, check_positive_integer = lifecycle.check_positive_integer,
    check_fields = errors.check_options, dm = require "sts.dm", errors = errors,
    kit_error = function(fmt, ...) errors.raisef("TestkitError", fmt, ...) end,
    value_error = function(fmt, ...) errors.raisef("ValueError", fmt, ...) end,
  }
  for _, ext in ipairs({"power", "logwrites", "scsi_debug"}) do
    for name, fn in pairs(require("sts.testkit." .. ext)(internals)) do testkit[name] = fn end
  end
end

return testkit

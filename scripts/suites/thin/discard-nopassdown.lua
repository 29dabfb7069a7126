-- Discard without passdown (no_discard_passdown): discarding 2 MiB of a thin
-- that has 4 MiB written frees exactly those pool blocks (typed status),
-- the range reads zeros, but the discard stops at the pool: the data
-- device still holds all 64 blocks of data. Modelled on
-- device-mapper-test-suite's thin DiscardTests (no_discard_passdown) and
-- lvm2's test/shell/discards-thin.sh.
-- requires: target thin-pool; tool blkdiscard; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local bodies = require "bodies"
local check = suite.start()

bodies.thin_discard(check, "no_discard_passdown", {"no_discard_passdown"}, 64)
os.exit(suite.report())

-- Discard with passdown (the pool's default): discarding 2 MiB of a thin
-- that has 4 MiB written frees exactly those pool blocks (typed status),
-- the range reads zeros, and the discard reaches the data device, whose
-- freed blocks no longer hold the data. Modelled on
-- device-mapper-test-suite's thin DiscardTests (discard_passdown) and
-- lvm2's test/shell/discards-thin.sh.
-- requires: target thin-pool; tool blkdiscard; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local bodies = require "bodies"
local check = suite.start()

bodies.thin_discard(check, "discard_passdown", nil, 32)
os.exit(suite.report())

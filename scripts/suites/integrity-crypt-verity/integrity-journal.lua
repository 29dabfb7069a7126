-- dm-integrity in journal (J) mode detects a changed byte: 1 MiB written
-- through a standalone integrity device (crc32c tags) reads back; with
-- the device down, one byte of one block's data is flipped on the backing
-- device; set up again, a read of that block fails with an I/O error, the
-- typed status counts the mismatch, and the other blocks still read.
-- Modelled on Documentation/admin-guide/device-mapper/dm-integrity.rst
-- and cryptsetup's integritysetup tests (integrity-compat-test).
-- requires: target integrity
-- quick
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local bodies = require "bodies"
local check = suite.start()

bodies.integrity_detects_flip(check, "J")
os.exit(suite.report())

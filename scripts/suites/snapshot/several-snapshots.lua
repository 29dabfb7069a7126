-- Several snapshots of one origin, each taken at a different moment:
-- generation 0 everywhere, snapshot A, generation 1 in the first MiB,
-- snapshot B, generation 2 in the second MiB, snapshot C; each snapshot
-- reads exactly the origin of its moment, and one origin write is copied
-- into every snapshot that still shares it. Modelled on
-- device-mapper-test-suite's snapshot tests ("multiple snapshots") and
-- snapshot.rst.
-- requires: target snapshot
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local check = suite.start()

do
  local o <close> = suite.snapshot_origin(4)
  assert(suite.write_blocks(o.path, 0, 1024, "ms", 0))
  local a = o.snapshot(4)
  assert(suite.write_blocks(o.path, 0, 256, "ms", 1))
  local b = o.snapshot(4)
  assert(suite.write_blocks(o.path, 256, 256, "ms", 2))
  local c = o.snapshot(4)
  assert(suite.write_blocks(o.path, 512, 256, "ms", 3))                  -- copied into all three
  suite.check_blocks(a.path, 0, 1024, "ms", 0, "A reads generation 0 everywhere")
  suite.check_blocks(b.path, 0, 256, "ms", 1, "B reads generation 1 in the first MiB")
  suite.check_blocks(b.path, 256, 768, "ms", 0, "and generation 0 after it")
  suite.check_blocks(c.path, 0, 256, "ms", 1, "C reads generation 1 in the first MiB")
  suite.check_blocks(c.path, 256, 256, "ms", 2, "generation 2 in the second")
  suite.check_blocks(c.path, 512, 512, "ms", 0, "generation 0 after that")
  suite.check_blocks(o.path, 512, 256, "ms", 3, "the origin reads generation 3 in the third MiB")
  local sa, sb, sc = suite.status(a), suite.status(b), suite.status(c)
  print(("allocated sectors: A %d, B %d, C %d"):format(sa.allocated_sectors, sb.allocated_sectors, sc.allocated_sectors))
  check(sa.allocated_sectors > sb.allocated_sectors and sb.allocated_sectors > sc.allocated_sectors,
    "older snapshots copied more (A > B > C)")
  check(sc.allocated_sectors - sc.metadata_sectors >= 2048, "the last write was copied into C too")
end
os.exit(suite.report())

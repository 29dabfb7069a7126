-- Many writers at once on many thins: 8 thins in one pool, one dd per
-- thin, all running together; every write succeeds, each thin reads back
-- exactly its own data (no block landed in another thin), the pool maps
-- exactly the blocks written, and thin_check passes. Modelled on
-- device-mapper-test-suite's thin "lots of concurrent io" stress tests.
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

local N, BLOCKS = 8, 256                     -- 1 MiB each
do
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  local thins, files, argvs = {}, {}, {}
  for id = 1, N do
    thins[id] = pool:create_thin(id, 8 * 2048)
    files[id] = os.tmpname()
    local f = assert(io.open(files[id], "wb"))
    f:write(suite.blocks("cw" .. id, 0, 0, BLOCKS))
    f:close()
    argvs[id] = {"dd", "if=" .. files[id], "of=" .. thins[id].path, "bs=4096", "oflag=direct", "conv=notrunc"}
  end
  local _ <close> = suite.defer(function() for _, f in ipairs(files) do os.remove(f) end end)
  local rcs = suite.parallel(argvs)
  local failed = 0
  for id = 1, N do if rcs[id] ~= 0 then failed = failed + 1 end end
  check(failed == 0, ("all %d concurrent writers succeeded (%d failed)"):format(N, failed))
  local bad = 0
  for id = 1, N do
    if suite.verify_blocks(thins[id].path, 0, BLOCKS, "cw" .. id, 0) ~= 0 then bad = bad + 1 end
  end
  check(bad == 0, "every thin reads back exactly its own data (" .. bad .. " wrong)")
  check(pool:status().used_data_blocks == N * 16, "the pool maps 8 x 16 blocks: " .. pool:status().used_data_blocks)
  check(pool:check().succeeded, "thin_check passes")
end
os.exit(suite.report())

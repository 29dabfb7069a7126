-- Many thin devices created and deleted in one pool: 24 thins each get 2
-- pool blocks of their own stamped data; every other one is deleted; the
-- pool's typed status gives back exactly their blocks and the survivors
-- still read their own data. Modelled on device-mapper-test-suite's thin
-- CreationTests/DeletionTests ("create lots of thins", "delete many").
-- requires: target thin-pool; tool thin_check
package.path = arg[0]:gsub("[^/]*/[^/]*$", "") .. "lib/?.lua;" .. package.path
local suite = require "suite"
local testkit = require "sts.testkit"
local check = suite.start()

local N, PER = 24, 32                      -- 32 x 4 KiB = 2 pool blocks of 64 KiB
do
  local pool <close> = testkit.thin_pool{data_mb = 16, metadata_mb = 4, block_size = 128}
  local thins = {}
  for id = 1, N do thins[id] = pool:create_thin(id, 8 * 2048) end
  for id = 1, N do assert(suite.write_blocks(thins[id].path, id * PER, PER, "thin" .. id, 0)) end
  local st = pool:status()
  check(st.used_data_blocks == N * 2, ("%d thins x 2 blocks mapped: %d"):format(N, st.used_data_blocks))
  for id = 2, N, 2 do pool:delete_thin(id) end
  st = pool:status()
  check(st.used_data_blocks == N, ("half deleted: %d blocks left, expected %d"):format(st.used_data_blocks, N))
  check(st.mode == "rw", "pool still rw")
  local bad = 0
  for id = 1, N, 2 do
    if suite.verify_blocks(thins[id].path, id * PER, PER, "thin" .. id, 0) ~= 0 then bad = bad + 1 end
  end
  check(bad == 0, ("every surviving thin reads its own data (%d bad)"):format(bad))
  -- a deleted id can be created again and starts empty
  local again = pool:create_thin(2, 8 * 2048)
  local data = suite.read_at(again.path, 2 * PER * 4096, PER * 4096)
  check(suite.is_zero(data), "a re-created thin id reads zeros, not the old data")
end
os.exit(suite.report())

-- Replays the fuzz corpora (fuzz/corpus/TARGET: hand-written seeds;
-- fuzz/regression/TARGET: inputs that once found a bug) through the same
-- target functions the libFuzzer harness runs (fuzz/targets.lua), one test
-- per input, so every past crash stays fixed. Host tier: the sandbox copy of
-- the repo has no fuzz/ directory, so there the file defines only the
-- inventory test, which the kernel tier filters out by its tag.
local lfs = require "lfs"

local function files_of(dir)
  local out = {}
  if not lfs.attributes(dir, "mode") then return out end
  for entry in lfs.dir(dir) do
    if entry:sub(1, 1) ~= "." and lfs.attributes(dir .. "/" .. entry, "mode") == "file" then
      out[#out + 1] = entry
    end
  end
  table.sort(out)
  return out
end

-- the whole file, or an error naming it
local function read(path)
  return assert(require("sts.io").read_text(path))
end

describe("fuzz corpora replayed", function()
  local have_fuzz = lfs.attributes("fuzz/targets.lua", "mode") == "file"

  it("has a seed corpus for every fuzz target", function()
    assert.is_true(have_fuzz, "fuzz/targets.lua is missing")
    local targets = dofile("fuzz/targets.lua")
    for _, name in ipairs(targets.names()) do
      assert.is_true(#files_of("fuzz/corpus/" .. name) > 0, "no seeds for " .. name)
    end
  end)

  if not have_fuzz then return end
  local targets = dofile("fuzz/targets.lua")
  for _, name in ipairs(targets.names()) do
    for _, kind in ipairs({"corpus", "regression"}) do
      local dir = ("fuzz/%s/%s"):format(kind, name)
      for _, file in ipairs(files_of(dir)) do
        it(("%s/%s/%s"):format(kind, name, file), function()
          local data = read(dir .. "/" .. file)
          assert.has_no.errors(function() targets[name](data) end)
        end)
      end
    end
  end
end)

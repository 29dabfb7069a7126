-- Kernel tier: every example script in scripts/examples runs and passes
-- (each is self-checking: exit status 0 only when its behaviour held),
-- and leaves no device behind.
local core = require "sts.core"
local lfs = require "lfs"
local kernel = require "helpers.kernel"
local run = require "helpers.run"

local DIR = "scripts/examples"

-- the interpreter running these specs when it is stslua, else the built one
local function interpreter()
  local self = arg and arg[-1]
  if type(self) == "string" and self:match("stslua$") then return self end
  return run.stslua_path()
end

local function examples()
  local list = {}
  for name in lfs.dir(DIR) do
    if name:match("%.lua$") then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

-- dm devices and loop devices named like the kit's ("sts-...")
local function kit_devices()
  local set = {}
  for _, row in ipairs(core.dm.list() or {}) do
    if row.name:match("^sts%-") then set[row.name] = true end
  end
  return set
end

describe("example scripts #kernel", function()
  local list = examples()

  it("are there to run", function()
    assert.is_true(#list >= 7, "found only " .. #list .. " examples in " .. DIR)
  end)

  for _, name in ipairs(list) do
    it(name .. " passes", function()
      kernel.need_dm(pending)
      local before = kit_devices()
      local r = core.proc.run({interpreter(), DIR .. "/" .. name}, {timeout = 300})
      local shown = string.format("%s exited %s%s\n--- stdout\n%s--- stderr\n%s", name,
        tostring(r.rc), r.timed_out and " (timed out)" or "", r.stdout, r.stderr)
      -- 77: the script skipped itself (sts.gate), its last SKIP: line says why
      if r.rc == 77 then
        local why
        for line in r.stderr:gmatch("[^\n]+") do why = line:match("^SKIP: (.*)") or why end
        pending(name .. ": " .. (why or "skipped (exit 77) without saying why"))
      end
      assert.are.equal(0, r.rc, shown)
      for dev in pairs(kit_devices()) do
        assert.is_true(before[dev] == true, name .. " left " .. dev .. " behind")
      end
    end)
  end
end)

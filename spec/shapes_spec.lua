-- Host tier: the README's "Result shapes" table against what the parsers
-- really give on recorded output (typed status of real kernel lines, thin_ls
-- and thin_dump of both tool generations, a recorded info(), a real
-- CommandResult), so the reference cannot drift from the code.
local status = require "sts.status"
local dmpd = require "sts.dmpd"

-- the whole file, or an error naming it
local function read(path)
  return assert(require("sts.io").read_text(path))
end

-- shape -> field -> {type=, optional=}
local function documented()
  local text = read("README.md")
  local section = text:match("\n### Result shapes\n(.-)\n### ")
  assert(section, "README.md has no '### Result shapes' section")
  local shapes = {}
  for shape, field, ty in section:gmatch("\n| ([^|]-) | `([%w_]+)` | ([%w%?]+) |") do
    shapes[shape] = shapes[shape] or {}
    shapes[shape][field] = {type = ty:gsub("%?$", ""), optional = ty:sub(-1) == "?"}
  end
  return shapes
end

local function type_of(v)
  if math.type(v) then return math.type(v) end
  if type(v) == "table" then return (#v > 0 or next(v) == nil) and "list" or "table" end
  return type(v)
end

-- shape -> list of real results
local function produced()
  local out = {}
  local function add(shape, t)
    out[shape] = out[shape] or {}
    table.insert(out[shape], t)
  end
  for _, f in ipairs({"kernel-6.1.txt", "kernel-6.12.txt"}) do
    for line in read("spec/fixtures/status/" .. f):gmatch("[^\n]+") do
      local st = status.parse_line((line:gsub("^[^:]+: ", "")))
      add("status " .. st.type, st)
    end
  end
  for _, gen in ipairs({"0.9.0", "1.1.0"}) do
    for _, f in ipairs({"thin_ls.out", "thin_ls_fields.out", "thin_ls_shared.out", "thin_ls_highest.out"}) do
      local ok, text = pcall(read, "spec/fixtures/dmpd/" .. gen .. "/" .. f)
      if ok then
        for _, row in ipairs(dmpd.parse_thin_ls(text)) do add("thin_ls row", row) end
      end
    end
    for _, f in ipairs({"thin_dump.xml", "thin_dump_shared.xml"}) do
      local md = dmpd.parse_thin_dump(read("spec/fixtures/dmpd/" .. gen .. "/" .. f))
      add("thin_dump", md)
      for _, d in ipairs(md.devices) do
        add("thin_dump device", d)
        for _, m in ipairs(d.mappings) do add("thin_dump mapping", m) end
      end
    end
  end
  for _, info in ipairs(dofile("spec/fixtures/info-6.1.lua")) do add("info", info) end
  -- a real run: thin_check of a file that is no metadata, and a program
  -- that is not there (the CommandResult of a start that failed)
  local junk = os.tmpname()
  add("CommandResult", dmpd.thin_check(junk))
  os.remove(junk)
  local r = require("sts.dmpd.command").run({"/nonexistent/sts-no-such-tool"})
  add("CommandResult", r)
  return out
end

-- a status of the bare forms (Fail, Error, Out of metadata space, ...):
-- type, start, size and one flag, nothing else
local function bare_form(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return t.type ~= nil and n <= 4 and (t.fail or t.error == true or t.out_of_metadata_space
    or t.invalid or t.overflow or t.merge_failed or t.unknown) ~= nil
end

describe("README result shapes", function()
  -- read in setup, not while busted loads the file: the kernel tier's
  -- guest loads every spec but has no README
  local doc, real
  local function load()
    if not doc then doc, real = documented(), produced() end
  end

  it("documents the shapes", function()
    load()
    local n = 0
    for _ in pairs(doc) do n = n + 1 end
    assert.is_true(n >= 25, "only " .. n .. " shapes documented")
  end)

  it("every field a parser gives is documented, with its type", function()
    load()
    local problems = {}
    for shape, results in pairs(real) do
      local fields = doc[shape]
      if not fields then
        problems[#problems + 1] = "shape '" .. shape .. "' is not documented"
      else
        for _, t in ipairs(results) do
          for k, v in pairs(t) do
            local d = fields[k]
            if not d then
              problems[#problems + 1] = shape .. "." .. tostring(k) .. " is not documented"
            elseif d.type ~= type_of(v) and not (d.type == "table" and type_of(v) == "list")
                and not (d.type == "number" and type(v) == "number") then
              problems[#problems + 1] = string.format("%s.%s is documented as %s, is %s", shape, k,
                d.type, type_of(v))
            end
          end
        end
      end
    end
    table.sort(problems)
    local seen, unique = {}, {}
    for _, p in ipairs(problems) do if not seen[p] then seen[p] = true; unique[#unique + 1] = p end end
    assert.are.same({}, unique)
  end)

  it("every field documented as always there is given", function()
    load()
    local problems = {}
    for shape, fields in pairs(doc) do
      local results = real[shape]
      if results then
        for field, d in pairs(fields) do
          if not d.optional then
            for i, t in ipairs(results) do
              if t[field] == nil and not bare_form(t) then
                problems[#problems + 1] = string.format("%s.%s missing from result %d", shape, field, i)
                break
              end
            end
          end
        end
      end
    end
    table.sort(problems)
    assert.are.same({}, problems)
  end)
end)

--- The Lua half of the stslua REPL: the text it prints for the values a
-- line returns, and the candidates it offers for Tab.
-- @module sts.repl
local inspect = require("sts.inspect").inspect

local M = {}

--- The text the REPL prints for the values of one line: each value
-- through `sts.inspect` (a string at the top level as it is, as lua5.4
-- prints it), separated by tabs.
-- @param ... the values
-- @treturn string the text, without a final newline
function M.format(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or inspect(v)
  end
  return table.concat(parts, "\t")
end

local KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for",
  "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return",
  "then", "true", "until", "while"}

-- A metatable's table without running __metatable (getmetatable would
-- give what __metatable says, the debug library gives the real one).
local function metatable(value)
  local mt = debug.getmetatable(value)
  return type(mt) == "table" and mt or nil
end

-- Adds the names an object offers to `names` (name -> "method" or
-- "field"): its own keys when it is a table, then along the __index
-- tables of its metatables; an __index that is a function is not called
-- (it may do I/O: a DmDevice's fields read the kernel), its metatable's
-- __methods (a table of functions) and __fields (a list of names) say
-- what it offers instead.
local function collect(value, names, depth)
  if depth > 8 then return end  -- an __index chain that loops
  if type(value) == "table" then
    for k, v in next, value do
      if type(k) == "string" and names[k] == nil then
        names[k] = type(v) == "function" and "method" or "field"
      end
    end
  end
  local mt = metatable(value)
  if not mt then return end
  local methods, fields = rawget(mt, "__methods"), rawget(mt, "__fields")
  if type(methods) == "table" then
    for k, v in next, methods do
      if type(k) == "string" and type(v) == "function" then names[k] = "method" end
    end
  end
  if type(fields) == "table" then
    for _, k in ipairs(fields) do
      if type(k) == "string" and names[k] == nil then names[k] = "field" end
    end
  end
  local index = rawget(mt, "__index")
  if type(index) == "table" then collect(index, names, depth + 1) end
end

-- The value a name chain like `a.b.c` stands for in `env`, read with
-- rawget along tables and the __index tables of their metatables; nil
-- when a link is missing or is not a plain lookup.
local function lookup(env, chain)
  local value = env
  for name in chain:gmatch("[^.]+") do
    local found, depth = nil, 0
    local t = value
    while t ~= nil and depth < 8 do
      if type(t) == "table" then
        found = rawget(t, name)
        if found ~= nil then break end
      end
      local mt = metatable(t)
      t = mt and rawget(mt, "__index")
      if type(t) ~= "table" then t = nil end
      depth = depth + 1
    end
    if found == nil then return nil end
    value = found
  end
  return value
end

--- The completions of the word before the cursor, as readline's Tab
-- offers them: for `name` the globals (and keywords) starting with it, for
-- `a.b.na` the fields and methods of `a.b`, for `a:na` its methods.
-- Tables are walked with their metatables' `__index` tables; objects whose
-- `__index` is a function (DmDevice) list theirs in their metatable's
-- `__methods` and `__fields`. Nothing is called, so completing never does
-- I/O.
-- @tparam string word the text before the cursor, from its last space or
-- bracket (`d:st`, `sts.dm.Li`)
-- @tparam[opt] table env where names are looked up (default the globals)
-- @treturn {string,...} the completed words, sorted, each starting with `word`
function M.complete(word, env)
  if type(word) ~= "string" then
    error("complete: word must be a string, got " .. type(word), 2)
  end
  env = env or _G
  local chain, sep, partial = word:match("^([%a_][%w_.]-)([.:])([%a_]?[%w_]*)$")
  local names = {}
  local value
  if chain then
    if chain:find("..", 1, true) or chain:sub(-1) == "." then return {} end
    value = lookup(env, chain)
    if value == nil then return {} end
    collect(value, names, 0)
  else
    partial = word:match("^[%a_][%w_]*$") or (word == "" and "")
    if not partial then return {} end
    collect(env, names, 0)
    for _, k in ipairs(KEYWORDS) do names[k] = names[k] or "keyword" end
    chain, sep = "", ""
  end
  local out = {}
  for name, kind in pairs(names) do
    if name:sub(1, #partial) == partial and name:match("^[%a_][%w_]*$")
        and (sep ~= ":" or kind == "method") then
      out[#out + 1] = chain .. sep .. name
    end
  end
  table.sort(out)
  return out
end

return M

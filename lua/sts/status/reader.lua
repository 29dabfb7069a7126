--- sts.status.reader: reads the words of one target's status text.
-- Every status parser walks the words left to right through a reader, so
-- that a bad or missing word always gives the same kind of error: an sts
-- ValueError naming the target type, the field expected and the word found.
-- Internal to sts.status; the public API is in sts.status.

local errors = require "sts.errors"

local M = {}

local Reader = {}
Reader.__index = Reader

-- How a status text is quoted inside an error message (cut when long, so a
-- multipath status with hundreds of paths does not flood the message).
local function quote(text)
  if #text > 160 then text = text:sub(1, 157) .. "..." end
  return string.format("%q", text)
end
M.quote = quote

--- Raises a ValueError about the status text of `target_type`.
function M.fail(target_type, text, fmt, ...)
  errors.raise("ValueError", string.format("%s status: %s in %s", target_type,
    string.format(fmt, ...), quote(text)))
end

--- A reader over the whitespace-separated words of `text`.
function M.new(target_type, text)
  local words = {}
  for w in text:gmatch("%S+") do words[#words + 1] = w end
  return setmetatable({type = target_type, text = text, words = words, pos = 1}, Reader)
end

function Reader:fail(fmt, ...)
  M.fail(self.type, self.text, fmt, ...)
end

--- True while words are left.
function Reader:more()
  return self.pos <= #self.words
end

--- The next word without taking it (nil at the end).
function Reader:peek()
  return self.words[self.pos]
end

--- Takes the next word; raises naming `what` when the text ended early.
function Reader:word(what)
  local w = self.words[self.pos]
  if w == nil then self:fail("missing %s (the text ends after %d words)", what, #self.words) end
  self.pos = self.pos + 1
  return w
end

-- The largest integer as a decimal string: longer or greater digit strings
-- do not fit a Lua integer, and would silently turn into floats.
local MAX = string.format("%d", math.maxinteger)

local function to_integer(digits)
  digits = digits:gsub("^0+(%d)", "%1")
  if #digits > #MAX or (#digits == #MAX and digits > MAX) then return nil, "too large" end
  return math.tointeger(tonumber(digits))
end

--- Parses a non-negative decimal integer word; nil and why when it is not one.
function M.integer(word)
  if not word:match("^%d+$") then return nil, "not a non-negative integer" end
  return to_integer(word)
end

--- The integer a word spells, or nil (a plain function, for words already taken).
function Reader.integer_of(word)
  return (M.integer(word))
end

local function integer_or_raise(self, word, what)
  local n, why = M.integer(word)
  if n == nil then self:fail("bad %s %q (%s)", what, word, why) end
  return n
end

--- Takes a non-negative integer.
function Reader:integer(what)
  return integer_or_raise(self, self:word(what), what)
end

--- Takes a signed integer (for the few fields the kernel prints with %d).
function Reader:signed(what)
  local w = self:word(what)
  local sign, digits = w:match("^(%-?)(%d+)$")
  if not digits then self:fail("bad %s %q (not an integer)", what, w) end
  local n = integer_or_raise(self, digits, what)
  return sign == "-" and -n or n
end

--- Takes a non-negative integer, or "-" (which gives nil).
function Reader:integer_or_dash(what)
  local w = self:word(what)
  if w == "-" then return nil end
  return integer_or_raise(self, w, what)
end

--- Takes "a/b", two non-negative integers.
function Reader:ratio(what)
  local w = self:word(what)
  local a, b = w:match("^(%d+)/(%d+)$")
  if not a then self:fail("bad %s %q (expected two integers as \"used/total\")", what, w) end
  return integer_or_raise(self, a, what), integer_or_raise(self, b, what)
end

--- Takes one of the words of the set `choices` (a list).
function Reader:choice(what, choices)
  local w = self:word(what)
  for _, c in ipairs(choices) do
    if w == c then return w end
  end
  self:fail("bad %s %q (expected %s)", what, w, table.concat(choices, ", "))
end

--- Takes a count n and then n words, returned as a list.
function Reader:counted(what)
  local n = self:integer("number of " .. what)
  local left = #self.words - self.pos + 1
  if n > left then
    self:fail("%d %s announced but only %d words follow", n, what, left)
  end
  local list = {}
  for i = 1, n do list[i] = self:word(what) end
  return list
end

--- Takes a word made only of the characters in the Lua pattern class
-- `class` (e.g. "[AaD%-]"); returns it and the list of its characters.
function Reader:chars(what, class)
  local w = self:word(what)
  local chars = {}
  for c in w:gmatch(".") do
    if not c:match("^" .. class .. "$") then
      self:fail("bad %s %q (character %q is not one of %s)", what, w, c, class)
    end
    chars[#chars + 1] = c
  end
  return w, chars
end

--- Raises when words are left over (a status longer than its type's format).
function Reader:finish()
  if self:more() then
    self:fail("unexpected %q after the last field", table.concat(self.words, " ", self.pos))
  end
end

--- A list of words as key/value pairs; values spelled as integers become
-- integers. Raises naming `what` on an odd count or a repeated key.
function Reader:pairs_table(list, what)
  if #list % 2 ~= 0 then
    self:fail("%s must be key/value pairs, got %d words", what, #list)
  end
  local t = {}
  for i = 1, #list, 2 do
    local key, value = list[i], list[i + 1]
    if t[key] ~= nil then self:fail("%s repeat the key %q", what, key) end
    local n = value:match("^%d+$") and M.integer(value)
    t[key] = n or value
  end
  return t
end

return M

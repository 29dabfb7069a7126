--- sts.status.reader: reads the words of one target's status text.
-- Every status parser walks the words left to right through a reader, so
-- that a bad or missing word always gives the same kind of error: an sts
-- ValueError naming the target type, the field expected and the word found.
-- Internal to sts.status; the public API is in sts.status.

local errors = require "sts.errors"
local words = require "sts.words"

local M = {}

local Reader = words.class()

local function quote(text)
  if #text > 160 then text = text:sub(1, 157) .. "..." end
  return string.format("%q", text)
end

--- A status text quoted for an error message.
-- Cut when long, so a multipath status with hundreds of paths does not
-- flood the message.
-- @function quote
-- @tparam string text
-- @treturn string
M.quote = quote

--- Raises a ValueError about the status text of `target_type`.
function M.fail(target_type, text, fmt, ...)
  errors.raise("ValueError", string.format("%s status: %s in %s", target_type,
    string.format(fmt, ...), quote(text)))
end

--- A reader over the whitespace-separated words of `text`.
function M.new(target_type, text)
  return words.reader(Reader, text, {type = target_type, text = text})
end

function Reader:fail(fmt, ...)
  M.fail(self.type, self.text, fmt, ...)
end

--- Takes the next word; raises naming `what` when the text ended early.
function Reader:word(what)
  local w = self:next_word()
  if w == nil then self:fail("missing %s (the text ends after %d words)", what, #self.words) end
  return w
end

--- Parses a non-negative decimal integer word; nil and why when it is not one.
M.integer = words.integer

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
  local list = self:next_words(n)
  if list == nil then
    self:fail("%d %s announced but only %d words follow", n, what, self:left())
  end
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
    self:fail("unexpected %q after the last field", self:rest())
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

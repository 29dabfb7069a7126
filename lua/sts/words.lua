--- sts.words: the one word reader and integer parser behind target
-- tables (sts.targets) and status text (sts.status). Each of those makes
-- its own reader class on top (`words.class()`), which adds the typed
-- takers and says how a failure reads in its domain.
-- Internal; the public API is in sts.targets and sts.status.

local words = {}

--- The whitespace-separated words of text.
-- @tparam string text
-- @treturn {string,...}
function words.split(text)
  local list = {}
  for w in text:gmatch("%S+") do list[#list + 1] = w end
  return list
end

-- The largest integer as a decimal string: longer or greater digit strings
-- do not fit a Lua integer, and would silently turn into floats.
local MAX = string.format("%d", math.maxinteger)

--- A non-negative decimal integer word as an integer.
-- @tparam string word
-- @treturn integer|nil the integer, or nil and why ("not a non-negative
-- integer", "too large")
function words.integer(word)
  if not word:match("^%d+$") then return nil, "not a non-negative integer" end
  local digits = word:gsub("^0+(%d)", "%1")
  if #digits > #MAX or (#digits == #MAX and digits > MAX) then return nil, "too large" end
  return math.tointeger(tonumber(digits))
end

local Reader = {}
Reader.__index = Reader

--- A reader class: methods added to it come before the shared ones.
-- @treturn table the class
function words.class()
  local class = setmetatable({}, {__index = Reader})
  class.__index = class
  return class
end

--- A reader of class `class` over the words of text, with `fields` (a table,
-- kept as the reader itself: type, text, ... for the class's messages).
-- @tparam table class from words.class()
-- @tparam string text
-- @tparam table fields
function words.reader(class, text, fields)
  fields.words, fields.pos = words.split(text), 1
  return setmetatable(fields, class)
end

--- How many words are left.
function Reader:left()
  return #self.words - self.pos + 1
end

--- True while words are left.
function Reader:more()
  return self.pos <= #self.words
end

--- The next word without taking it (nil at the end).
function Reader:peek()
  return self.words[self.pos]
end

--- Takes the next word (nil at the end).
function Reader:next_word()
  local w = self.words[self.pos]
  if w ~= nil then self.pos = self.pos + 1 end
  return w
end

--- Takes the next n words as a list (nil when fewer are left).
function Reader:next_words(n)
  if n > self:left() then return nil end
  local out = table.move(self.words, self.pos, self.pos + n - 1, 1, {})
  self.pos = self.pos + n
  return out
end

--- The words not taken yet, as text.
function Reader:rest()
  return table.concat(self.words, " ", self.pos)
end

return words

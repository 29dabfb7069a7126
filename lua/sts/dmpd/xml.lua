--- A small, tolerant XML reader and writer for the metadata tools' dumps.
-- The tools write flat, attribute-only XML (elements, attributes, no text
-- that matters), so this handles exactly that: elements, attributes in
-- either quote style with blanks around `=`, entity and character
-- references, comments, declarations and processing instructions, CDATA
-- (skipped). It streams: `each` calls back per start and end tag, so a
-- dump of millions of mappings never becomes a tree of tables first.

local errors = require("sts.errors")

local xml = {}

local named_entities = {lt = "<", gt = ">", amp = "&", quot = '"', apos = "'"}

local function decode_entity(ref)
  local named = named_entities[ref]
  if named then return named end
  local code
  if ref:match("^#x%x+$") then
    code = tonumber(ref:sub(3), 16)
  elseif ref:match("^#%d+$") then
    code = tonumber(ref:sub(2), 10)
  end
  if code and code <= 0x10FFFF then return utf8.char(code) end
  return nil
end

--- Replaces entity and character references in `s`.
-- Unknown references are left as they are (tolerant, like a browser).
function xml.decode(s)
  if not s:find("&", 1, true) then return s end
  return (s:gsub("&([#%w]+);", function(ref) return decode_entity(ref) end))
end

local attr_escapes = {["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;",
                      ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;"}

--- Escapes `s` for use inside a double-quoted attribute value.
function xml.escape(s)
  return (tostring(s):gsub('[<>&"\n\r\t]', attr_escapes))
end

local function parse_error(text, pos, what)
  local line = 1
  for _ in text:sub(1, pos - 1):gmatch("\n") do line = line + 1 end
  errors.raise("DmpdError", ("malformed XML at line %d: %s"):format(line, what))
end

-- parses the attributes in `s` (the inside of a tag after its name)
local function parse_attrs(text, pos, s)
  local attrs = {}
  local i = 1
  while true do
    local ws_end = s:match("^%s*()", i)
    if ws_end > #s then break end
    local name, after = s:match("^([%a_:][%w_:%.%-]*)%s*=%s*()", ws_end)
    if not name then parse_error(text, pos, "bad attribute near '" .. s:sub(ws_end, ws_end + 20) .. "'") end
    local quote = s:sub(after, after)
    if quote ~= '"' and quote ~= "'" then
      parse_error(text, pos, "unquoted value of attribute '" .. name .. "'")
    end
    local close = s:find(quote, after + 1, true)
    if not close then parse_error(text, pos, "unterminated value of attribute '" .. name .. "'") end
    attrs[name] = xml.decode(s:sub(after + 1, close - 1))
    i = close + 1
  end
  return attrs
end

--- Streams the elements of `text`.
-- Calls `on_start(name, attrs)` for each start tag (attrs: name -> decoded
-- string) and `on_end(name)` for each end tag; an empty element `<a/>`
-- gives both. Text content is ignored. Raises DmpdError on malformed XML
-- (unbalanced tags, bad attributes, unterminated markup).
function xml.each(text, on_start, on_end)
  if type(text) ~= "string" then
    errors.raise("ValueError", "XML text must be a string, got " .. type(text))
  end
  local stack, depth = {}, 0
  local pos, len = 1, #text
  local seen_root = false
  while pos <= len do
    local lt = text:find("<", pos, true)
    if not lt then break end
    local c = text:sub(lt + 1, lt + 1)
    if c == "!" then
      if text:sub(lt, lt + 3) == "<!--" then
        local e = text:find("-->", lt + 4, true)
        if not e then parse_error(text, lt, "unterminated comment") end
        pos = e + 3
      elseif text:sub(lt, lt + 8) == "<![CDATA[" then
        local e = text:find("]]>", lt + 9, true)
        if not e then parse_error(text, lt, "unterminated CDATA section") end
        pos = e + 3
      else  -- <!DOCTYPE ...> without an internal subset
        local e = text:find(">", lt + 2, true)
        if not e then parse_error(text, lt, "unterminated declaration") end
        pos = e + 1
      end
    elseif c == "?" then
      local e = text:find("?>", lt + 2, true)
      if not e then parse_error(text, lt, "unterminated processing instruction") end
      pos = e + 2
    elseif c == "/" then
      local name, e = text:match("^([^%s>]+)%s*>()", lt + 2)
      if not name then parse_error(text, lt, "bad end tag") end
      if stack[depth] ~= name then
        parse_error(text, lt, ("end tag </%s> does not match <%s>"):format(name, tostring(stack[depth])))
      end
      stack[depth] = nil
      depth = depth - 1
      if on_end then on_end(name) end
      pos = e
    else
      -- a start tag; '>' cannot appear unquoted inside, but may in values
      local name, rest = text:match("^([%a_:][%w_:%.%-]*)()", lt + 1)
      if not name then parse_error(text, lt, "bad tag") end
      local i = rest
      while true do
        local stop = text:find("[\"'>]", i)
        if not stop then parse_error(text, lt, "unterminated tag <" .. name .. ">") end
        local ch = text:sub(stop, stop)
        if ch == ">" then
          i = stop
          break
        end
        local close = text:find(ch, stop + 1, true)
        if not close then parse_error(text, lt, "unterminated attribute value in <" .. name .. ">") end
        i = close + 1
      end
      local empty = text:sub(i - 1, i - 1) == "/"
      local inner = text:sub(rest, empty and i - 2 or i - 1)
      if depth == 0 and seen_root then parse_error(text, lt, "more than one root element") end
      seen_root = true
      local attrs = parse_attrs(text, lt, inner)
      if on_start then on_start(name, attrs) end
      if empty then
        if on_end then on_end(name) end
      else
        depth = depth + 1
        stack[depth] = name
      end
      pos = i + 1
    end
  end
  if depth > 0 then parse_error(text, len, "unclosed element <" .. stack[depth] .. ">") end
  if not seen_root then errors.raise("DmpdError", "malformed XML: no element found") end
end

--- Parses `text` into a tree of {name=, attrs=, children={...}} (the root).
function xml.tree(text)
  local root
  local stack = {}
  xml.each(text, function(name, attrs)
    local node = {name = name, attrs = attrs, children = {}}
    local parent = stack[#stack]
    if parent then
      parent.children[#parent.children + 1] = node
    else
      root = node
    end
    stack[#stack + 1] = node
  end, function()
    stack[#stack] = nil
  end)
  return root
end

--- Writes one tag: `<name a="1" b="2">` (or `/>` when `empty`).
-- `attrs` is a list of {name, value} pairs so the order is the caller's.
function xml.tag(name, attrs, empty)
  local parts = {"<", name}
  for _, kv in ipairs(attrs) do
    parts[#parts + 1] = " " .. kv[1] .. '="' .. xml.escape(kv[2]) .. '"'
  end
  parts[#parts + 1] = empty and "/>" or ">"
  return table.concat(parts)
end

return xml

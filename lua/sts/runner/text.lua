--- sts.runner.text: text made safe for XML and HTML output.

local M = {}

--- `s` with every byte sequence that is not UTF-8 replaced by U+FFFD.
-- @tparam string s
-- @treturn string
function M.valid_utf8(s)
  s = tostring(s or "")
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local n, bad = utf8.len(s, i)
    if n then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\239\191\189"
    i = bad + 1
  end
  return table.concat(out)
end

local ENT = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}

--- `s` escaped for XML or HTML text and attribute values. Control
-- characters XML 1.0 does not allow (all below 0x20 but tab, newline and
-- carriage return) become U+FFFD, and so do bytes that are not UTF-8.
-- @tparam string s
-- @treturn string
function M.escape(s)
  s = M.valid_utf8(s)
  s = s:gsub("[%z\1-\8\11\12\14-\31\127]", "\239\191\189")
  return (s:gsub("[&<>\"']", ENT))
end

return M

--- sts: scripting and testing Linux device-mapper from Lua.
-- `require "sts"` gives the submodules in one table; each also loads on
-- its own (`require "sts.dm"`).
local core = require "sts.core"

return {
  dm = require "sts.dm",
  dmpd = require "sts.dmpd",
  errors = require "sts.errors",
  io = require "sts.io",
  kmsg = require "sts.kmsg",
  logwrites = require "sts.logwrites",
  loop = require "sts.loop",
  proc = require "sts.proc",
  time = require "sts.time",
  version = core.version,
}

-- LuaRocks package of stslua. `luarocks make` in a checkout builds the C
-- core `sts.core` and the `stslua` interpreter with the project's Makefile
-- (into build/, as `make` does) and installs them with the Lua modules
-- (lua/sts/**) into the rock tree, where a plain lua5.4 finds them through
-- that tree's paths (stslua carries the modules built in as well).
-- `luarocks test` runs the host-tier specs with busted.
rockspec_format = "3.0"
package = "stslua"
version = "0.1.0-1"

source = {
  -- built from the checkout by `luarocks make`; a release names its archive here
  url = "git+file:///stslua",
}

description = {
  summary = "Scripting and testing Linux device-mapper from Lua 5.4",
  detailed = [[
dm devices as userdata over libdevmapper (in-process ioctls), every dm
target as a constructor, typed status, the thin/cache/era metadata tools as
functions, loop devices, test fixtures that always clean up, and stslua, a
lua5.4 interpreter with the modules built in and a readline REPL.]],
  license = "MIT",
  labels = {"device-mapper", "linux", "storage", "testing"},
}

dependencies = {
  "lua >= 5.4, < 5.5",
}

external_dependencies = {
  DEVMAPPER = {header = "libdevmapper.h", library = "devmapper"},
  READLINE = {header = "readline/readline.h", library = "readline"},
  EXPAT = {header = "expat.h", library = "expat"},
}

build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA = "$(LUA)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    DM_CFLAGS = "-I$(DEVMAPPER_INCDIR)",
    DM_LIBS = "-L$(DEVMAPPER_LIBDIR) -ldevmapper",
    READLINE_LIBS = "-L$(READLINE_LIBDIR) -lreadline",
    EXPAT_LIBS = "-L$(EXPAT_LIBDIR) -lexpat",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LMOD_DIR = "$(LUADIR)",
    CMOD_DIR = "$(LIBDIR)",
  },
}

-- the host tier (the kernel tier needs root and device-mapper: see the
-- README's scripts/sts-vm); the specs find the build through .busted
test = {
  type = "command",
  command = "busted",
  flags = {"--exclude-tags=kernel"},
}

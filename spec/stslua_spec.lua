-- The stslua interpreter: runs the built binary (build/stslua, or $STSLUA,
-- e.g. build-asan/stslua) as a child process. Where the stock lua5.4 must
-- behave the same, the spec runs both and compares what they print.
local run = require "helpers.run"

local stslua_path = run.stslua_path()
local has_lua54 = run.which("lua5.4") ~= nil

-- a plain-text replace (no patterns)
local function replace(s, old, new)
  local out, init = {}, 1
  while true do
    local i, j = s:find(old, init, true)
    if not i then break end
    out[#out + 1] = s:sub(init, i - 1) .. new
    init = j + 1
  end
  out[#out + 1] = s:sub(init)
  return table.concat(out)
end

-- program names in messages (lua.c prints argv[0]) made comparable
local function normalize(text, progname)
  return replace(text, progname, "PROG")
end

local function lines(text)
  local t = {}
  for line in text:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

local function with_tmpdir(fn)
  local dir = run.tmpdir()
  local ok, err = pcall(fn, dir)
  run.rmtree(dir)
  if not ok then error(err, 0) end
end

describe("stslua", function()

  describe("behaves like lua5.4 for", function()
    -- {name, args, opts}: both interpreters must give the same exit code,
    -- stdout and stderr (program names replaced)
    local cases = {
      {"-e", {"-e", "print(1 + 1)"}},
      {"arg without a script", {"-e", "print(#arg, arg[1], arg[2], arg[-1])"}},
      {"os.exit(3)", {"-e", "os.exit(3)"}},
      {"os.exit(false)", {"-e", "os.exit(false)"}},
      {"os.exit(true)", {"-e", "os.exit(true)"}},
      {"an error with a traceback", {"-e", "local function f() error('boom') end f()"}},
      {"a non-string error object", {"-e", "error({})"}},
      {"a syntax error", {"-e", "x = ("}},
      {"the set of globals", {"-e", "local t = {} for k in pairs(_G) do t[#t + 1] = k end "
                                     .. "table.sort(t) print(table.concat(t, ' '))"}},
      {"-v", {"-v"}},
      {"-v before -e", {"-v", "-e", "print('after')"}},
      {"-W turning warnings on", {"-W", "-e", "warn('hello')"}},
      {"warnings off by default", {"-e", "warn('hello')"}},
      {"-l mod", {"-l", "string", "-e", "print(string == require 'string')"}},
      {"-lmod concatenated", {"-lstring", "-e", "print(string ~= nil)"}},
      {"-l g=mod", {"-l", "s=string", "-e", "print(s == string)"}},
      {"-l of a missing module", {"-l", "no_such_module_x", "-e", "print(1)"}},
      {"-e in order with -l", {"-e", "x = 1", "-l", "string", "-e", "print(x)"}},
      {"LUA_INIT", {"-e", "print(x_init)"}, {env = {LUA_INIT = "x_init = 1"}}},
      {"LUA_INIT_5_4 over LUA_INIT", {"-e", "print(x_init)"},
       {env = {LUA_INIT = "x_init = 1", LUA_INIT_5_4 = "x_init = 54"}}},
      {"a failing LUA_INIT", {"-e", "print('not reached')"}, {env = {LUA_INIT = "error('init')"}}},
      {"-E ignoring LUA_INIT and LUA_PATH", {"-E", "-e", "print(x_init, package.path:find('nowhere'))"},
       {env = {LUA_INIT = "x_init = 1", LUA_PATH = "/nowhere/?.lua"}}},
      {"-", {"-", "a", "b"}, {stdin = "print('stdin', ..., #arg, arg[0])"}},
      {"piped stdin without arguments", {}, {stdin = "print('piped', #arg)"}},
      {"an error in piped stdin", {}, {stdin = "error('in stdin')"}},
      {"-- then - (a file named -)", {"--", "-"}},
      {"a trailing --", {"-e", "print(#arg, arg[#arg])", "--"}},
      {"a missing script", {"no/such/script.lua"}},
      {"an unknown option", {"-x"}},
      {"an unknown long option", {"--foo"}},
      {"-e without its argument", {"-e"}},
      {"-l without its argument", {"-l"}},
      {"-e followed by an option", {"-e", "-i"}},
      {"-i with extra characters", {"-ix"}},
      {"a bad option after good ones", {"-e", "print('never')", "-y"}},
    }
    for _, case in ipairs(cases) do
      local name, args, opts = case[1], case[2], case[3]
      it(name, function()
        if not has_lua54 then pending("lua5.4 is not installed to compare with") end
        local mine = run.stslua(args, opts)
        local theirs = run.lua(args, opts)
        assert.are.equal(theirs.rc, mine.rc)
        assert.are.equal(normalize(theirs.stdout, "lua5.4"), normalize(mine.stdout, stslua_path))
        local their_err = normalize(theirs.stderr, "lua5.4")
        local my_err = normalize(mine.stderr, stslua_path)
        if their_err:find("\nusage: ", 1, true) then
          -- our usage lists Lua's options and then our own two
          assert.are.equal(their_err, my_err:sub(1, #their_err))
          assert.truthy(my_err:find("--help", #their_err, true))
          assert.truthy(my_err:find("--version", #their_err, true))
        else
          assert.are.equal(their_err, my_err)
        end
      end)
    end
  end)

  describe("command line", function()
    it("runs -e and exits 0", function()
      local r = run.stslua({"-e", "io.write('hello ', 6 * 7, '\\n')"})
      assert.are.equal(0, r.rc)
      assert.are.equal("hello 42\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)

    it("gives a script its arguments in arg (negative indices for the interpreter) and ...", function()
      with_tmpdir(function(dir)
        local script = dir .. "/args.lua"
        run.write_file(script, [[
print(select("#", ...), ...)
for i = -3, #arg do print(i, arg[i]) end
]])
        local r = run.stslua({"-e", "x = 1", script, "a", "b c"})
        assert.are.equal(0, r.rc)
        assert.are.equal(table.concat({
          "2\ta\tb c",
          "-3\t" .. stslua_path,
          "-2\t-e",
          "-1\tx = 1",
          "0\t" .. script,
          "1\ta",
          "2\tb c",
        }, "\n") .. "\n", r.stdout)
      end)
    end)

    it("runs -l mod and -l g=mod from package.path", function()
      with_tmpdir(function(dir)
        run.write_file(dir .. "/mymod.lua", "return {name = 'mymod', loaded_as = ...}")
        local env = {LUA_PATH = dir .. "/?.lua"}
        local r = run.stslua({"-l", "mymod", "-e", "print(mymod.name, mymod.loaded_as)"}, {env = env})
        assert.are.equal(0, r.rc)
        assert.are.equal("mymod\tmymod\n", r.stdout)
        r = run.stslua({"-l", "g=mymod", "-e", "print(g.name, rawget(_G, 'mymod'))"}, {env = env})
        assert.are.equal(0, r.rc)
        assert.are.equal("mymod\tnil\n", r.stdout)
      end)
    end)

    it("exits with the code of os.exit and 1 on errors", function()
      with_tmpdir(function(dir)
        assert.are.equal(3, run.stslua({"-e", "os.exit(3)"}).rc)
        assert.are.equal(0, run.stslua({"-e", "os.exit(true)"}).rc)
        assert.are.equal(1, run.stslua({"-e", "os.exit(false)"}).rc)
        assert.are.equal(1, run.stslua({"-e", "error('x')"}).rc)
        run.write_file(dir .. "/bad.lua", "local = 1\n")
        local r = run.stslua({dir .. "/bad.lua"})
        assert.are.equal(1, r.rc)
        assert.truthy(r.stderr:find("bad.lua:1:", 1, true))
        run.write_file(dir .. "/exit7.lua", "os.exit(7)\n")
        assert.are.equal(7, run.stslua({dir .. "/exit7.lua"}).rc)
      end)
    end)

    it("rejects a bad option with the usage on stderr and exit code 1", function()
      local r = run.stslua({"-z"})
      assert.are.equal(1, r.rc)
      assert.are.equal("", r.stdout)
      local l = lines(r.stderr)
      assert.are.equal(stslua_path .. ": unrecognized option '-z'", l[1])
      assert.are.equal("usage: " .. stslua_path .. " [options] [script [args]]", l[2])
      assert.are.equal("Available options are:", l[3])
      r = run.stslua({"-e"})
      assert.are.equal(1, r.rc)
      assert.are.equal(stslua_path .. ": '-e' needs argument", lines(r.stderr)[1])
    end)

    it("prints a traceback for an uncaught error", function()
      with_tmpdir(function(dir)
        local script = dir .. "/fail.lua"
        run.write_file(script, "local function inner() error('deep trouble') end\n"
                               .. "local function outer() inner() end\nouter()\n")
        local r = run.stslua({script})
        assert.are.equal(1, r.rc)
        local l = lines(r.stderr)
        assert.are.equal(stslua_path .. ": " .. script .. ":1: deep trouble", l[1])
        assert.are.equal("stack traceback:", l[2])
        assert.truthy(r.stderr:find("in upvalue 'inner'", 1, true)
                      or r.stderr:find("in local 'inner'", 1, true)
                      or r.stderr:find("in function 'inner'", 1, true))
        assert.truthy(r.stderr:find(script .. ":3: in main chunk", 1, true))
      end)
    end)

    it("prints an error object through __tostring, with a traceback", function()
      local r = run.stslua({"-e", "error(setmetatable({}, {__tostring = function() return 'MyKind: broke' end}))"})
      assert.are.equal(1, r.rc)
      local l = lines(r.stderr)
      assert.are.equal(stslua_path .. ": MyKind: broke", l[1])
      assert.are.equal("stack traceback:", l[2])
      assert.truthy(r.stderr:find("(command line):1: in main chunk", 1, true))
    end)

    it("prints an sts error object as kind: message, with a traceback", function()
      local r = run.stslua({"-e", "require('sts.errors').raise('ValueError', 'size must be positive')"})
      assert.are.equal(1, r.rc)
      local l = lines(r.stderr)
      assert.are.equal(stslua_path .. ": ValueError: size must be positive", l[1])
      assert.are.equal("stack traceback:", l[2])
    end)

    it("runs a script from stdin with -", function()
      local r = run.stslua({"-", "x", "y"}, {stdin = "print('from stdin', ...)\nprint(arg[0], arg[-1])\n"})
      assert.are.equal(0, r.rc)
      assert.are.equal("from stdin\tx\ty\n-\t" .. stslua_path .. "\n", r.stdout)
    end)

    it("runs LUA_INIT, LUA_INIT_5_4 first and @file forms, before -e", function()
      with_tmpdir(function(dir)
        run.write_file(dir .. "/init.lua", "init_from = 'file'\n")
        local r = run.stslua({"-e", "print(init_from)"}, {env = {LUA_INIT = "init_from = 'LUA_INIT'"}})
        assert.are.equal("LUA_INIT\n", r.stdout)
        r = run.stslua({"-e", "print(init_from)"},
                       {env = {LUA_INIT = "init_from = 'LUA_INIT'", LUA_INIT_5_4 = "init_from = '5_4'"}})
        assert.are.equal("5_4\n", r.stdout)
        r = run.stslua({"-e", "print(init_from)"}, {env = {LUA_INIT = "@" .. dir .. "/init.lua"}})
        assert.are.equal("file\n", r.stdout)
        r = run.stslua({"-e", "print(init_from)"}, {env = {LUA_INIT_5_4 = "@" .. dir .. "/init.lua"}})
        assert.are.equal("file\n", r.stdout)
        r = run.stslua({"-e", "print('not reached')"}, {env = {LUA_INIT = "@" .. dir .. "/missing.lua"}})
        assert.are.equal(1, r.rc)
        assert.are.equal("", r.stdout)
        assert.truthy(r.stderr:find("cannot open", 1, true))
      end)
    end)

    it("ignores LUA_INIT, LUA_INIT_5_4, LUA_PATH and LUA_CPATH with -E", function()
      local r = run.stslua({"-E", "-e", "print(x_init, package.path:find('/nowhere/', 1, true), "
                                       .. "package.cpath:find('/nowhere/', 1, true))"},
        {env = {LUA_INIT = "x_init = 1", LUA_INIT_5_4 = "x_init = 2",
                LUA_PATH = "/nowhere/?.lua", LUA_CPATH = "/nowhere/?.so"}})
      assert.are.equal(0, r.rc)
      assert.are.equal("nil\tnil\tnil\n", r.stdout)
    end)

    it("turns warnings on with -W", function()
      local r = run.stslua({"-W", "-e", "warn('careful')"})
      assert.are.equal(0, r.rc)
      assert.are.equal("Lua warning: careful\n", r.stderr)
      r = run.stslua({"-e", "warn('careful')"})
      assert.are.equal("", r.stderr)
    end)

    it("turns SIGINT into an 'interrupted!' error with a traceback", function()
      -- --foreground: timeout signals only the child; without it the whole
      -- process group gets SIGINT again, and a second SIGINT kills (as in lua.c)
      local timeout = run.which("timeout")
      if not timeout then pending("coreutils' timeout is not installed to send SIGINT") end
      local r = run.run({timeout, "--foreground", "--preserve-status", "-s", "INT", "1",
                         stslua_path, "-e", "local n = 0 while true do n = n + 1 end"})
      assert.are.equal(1, r.rc)
      assert.is_nil(r.signal)
      local l = lines(r.stderr)
      assert.are.equal(stslua_path .. ": interrupted!", l[1])
      assert.are.equal("stack traceback:", l[2])
    end)

    it("prints --help on stdout and exits 0", function()
      local r = run.stslua({"--help"})
      assert.are.equal(0, r.rc)
      assert.are.equal("", r.stderr)
      assert.are.equal("usage: " .. stslua_path .. " [options] [script [args]]", lines(r.stdout)[1])
      assert.truthy(r.stdout:find("-l g=mod", 1, true))
      assert.truthy(r.stdout:find("--version", 1, true))
      assert.truthy(r.stdout:find('require "sts"', 1, true))
    end)

    it("prints --version: its own, Lua's, libdevmapper's and the driver's, nothing on stderr", function()
      local r = run.stslua({"--version"})
      assert.are.equal(0, r.rc)
      assert.are.equal("", r.stderr)
      local l = lines(r.stdout)
      assert.are.equal(4, #l)
      assert.are.equal("stslua " .. require("sts.core").version, l[1])
      assert.are.equal(_VERSION, l[2]:match("^Lua %d+%.%d+"))
      assert.truthy(l[3]:match("^libdevmapper %d+%.%d+"), l[3])
      local control = io.open("/dev/mapper/control", "r")
      if control then
        control:close()
        assert.truthy(l[4]:match("^device%-mapper driver %d+%.%d+"), l[4])
      else
        assert.are.equal("device-mapper driver none (no device-mapper)", l[4])
      end
    end)

    it("prints -v exactly as Lua does", function()
      local r = run.stslua({"-v"})
      assert.are.equal(0, r.rc)
      assert.truthy(r.stdout:match("^Lua 5%.4%.%d+  Copyright %(C%) 1994%-%d+ Lua%.org, PUC%-Rio\n$"), r.stdout)
    end)
  end)

  describe("sts modules", function()
    local useless = {LUA_PATH = "/nonexistent/?.lua", LUA_CPATH = "/nonexistent/?.so"}

    it("loads sts.errors and sts.core from package.preload in any directory", function()
      local r = run.stslua({"-e", [[
local errors, where = require "sts.errors"
local core, where_core = require "sts.core"
print(type(errors.raise), where, type(core.proc), where_core)]]}, {cwd = "/", env = useless})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.rc)
      assert.are.equal("function\t:preload:\ttable\t:preload:\n", r.stdout)
    end)

    it("loads sts.dm with no path setup", function()
      local r = run.stslua({"-e", "local dm = require 'sts.dm' print(type(dm), type(dm.LinearTarget))"},
                           {cwd = "/", env = useless})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.rc)
      assert.are.equal("table\tfunction\n", r.stdout)
    end)

    it("loads sts with no path setup, with its chunks named after their files", function()
      local r = run.stslua({"-e", [[
local sts = require 'sts'
print(type(sts.dm), type(sts.errors), sts.version)
print(debug.getinfo(sts.errors.raise, 'S').source)]]}, {cwd = "/", env = useless})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.rc)
      assert.are.equal("table\ttable\t" .. require("sts.core").version .. "\n@lua/sts/errors.lua\n", r.stdout)
    end)

    it("adds no global sts to scripts", function()
      local r = run.stslua({"-e", "print(rawget(_G, 'sts'))"})
      assert.are.equal("nil\n", r.stdout)
    end)

    it("loads Debian's Lua C modules (lfs, term, system)", function()
      local r = run.stslua({"-e", "print(type(require('lfs').dir), type(require('term.core')), "
                                  .. "type(require('system.core')))"})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.rc)
      assert.are.equal("function\ttable\ttable\n", r.stdout)
    end)
  end)

  describe("running busted", function()
    it("runs /usr/bin/busted --version", function()
      local r = run.stslua({"/usr/bin/busted", "--version"})
      assert.are.equal(0, r.rc)
      assert.truthy(r.stdout:match("^%d+%.%d+"), r.stdout)
    end)

    it("runs a spec file and passes its exit code on", function()
      with_tmpdir(function(dir)
        run.write_file(dir .. "/good_spec.lua",
          "describe('tiny', function() it('adds', function() assert.are.equal(2, 1 + 1) end) end)\n")
        run.write_file(dir .. "/bad_spec.lua",
          "describe('tiny', function() it('fails', function() assert.are.equal(3, 1 + 1) end) end)\n")
        local r = run.stslua({"/usr/bin/busted", "good_spec.lua"}, {cwd = dir})
        assert.are.equal(0, r.rc)
        assert.truthy(r.stdout:find("1 success / 0 failures", 1, true), r.stdout)
        r = run.stslua({"/usr/bin/busted", "bad_spec.lua"}, {cwd = dir})
        assert.are.equal(1, r.rc)
        assert.truthy(r.stdout:find("0 successes / 1 failure", 1, true), r.stdout)
      end)
    end)
  end)

  describe("REPL", function()
    local session = table.concat({
      "1 + 1",
      "x = 5",
      "=x",
      "for i = 1, 2 do",
      "print(i * 10)",
      "end",
      "return 1, nil, 3",
      "error('boom')",
      "",
    }, "\n")

    it("prints like lua5.4 with prompts stslua> and stslua>>", function()
      if not has_lua54 then pending("lua5.4 is not installed to compare with") end
      local mine = run.stslua({"-i"}, {stdin = session})
      local theirs = run.lua({"-i"}, {stdin = session})
      assert.are.equal(0, mine.rc)
      local expected = theirs.stdout:gsub("\n> ", "\nstslua> "):gsub("\n>> ", "\nstslua>> ")
      assert.are.equal(expected, mine.stdout)
    end)

    it("evaluates expressions, =expr, continuation lines and reports errors without the program name", function()
      local r = run.stslua({"-i"}, {stdin = session})
      assert.are.equal(0, r.rc)
      assert.are.equal(table.concat({
        "stslua> 1 + 1", "2",
        "stslua> x = 5",
        "stslua> =x", "5",
        "stslua> for i = 1, 2 do", "stslua>> print(i * 10)", "stslua>> end", "10", "20",
        "stslua> return 1, nil, 3", "1\tnil\t3",
        "stslua> error('boom')",
        "stslua> ",
      }, "\n") .. "\n", r.stdout:gsub("^Lua [^\n]*\n", ""))
      -- at the start of a line: no program name in front
      assert.truthy(("\n" .. r.stderr):find("\nstdin:1: boom\nstack traceback:\n", 1, true), r.stderr)
    end)

    it("has the global sts", function()
      local r = run.stslua({"-i"}, {stdin = "print(type(sts), sts == require 'sts')\n"})
      assert.are.equal("", r.stderr)
      assert.truthy(r.stdout:find("\ntable\ttrue\n", 1, true), r.stdout)
    end)

    it("respects _PROMPT and _PROMPT2", function()
      local r = run.stslua({"-i"}, {stdin = "_PROMPT = 'P1: ' _PROMPT2 = 'P2: '\nif true then\nend\n"})
      assert.are.equal(0, r.rc)
      assert.truthy(r.stdout:find("\nP1: if true then\nP2: end\nP1: \n", 1, true), r.stdout)
    end)

    it("reports an incomplete chunk at end of input", function()
      local r = run.stslua({"-i"}, {stdin = "for i = 1, 2 do\n"})
      assert.are.equal(0, r.rc)
      assert.truthy(r.stderr:find("stdin:1: 'end' expected near <eof>", 1, true), r.stderr)
    end)

    it("runs the script before the REPL with -i", function()
      with_tmpdir(function(dir)
        run.write_file(dir .. "/setup.lua", "answer = 42\n")
        local r = run.stslua({"-i", dir .. "/setup.lua"}, {stdin = "answer\n"})
        assert.are.equal(0, r.rc)
        assert.truthy(r.stdout:find("stslua> answer\n42\n", 1, true), r.stdout)
      end)
    end)

    it("keeps no history file when stdin is not a terminal", function()
      with_tmpdir(function(dir)
        local r = run.stslua({"-i"}, {stdin = "1\n", env = {STSLUA_HISTORY = dir .. "/hist", HOME = dir}})
        assert.are.equal(0, r.rc)
        assert.is_nil(run.read_file(dir .. "/hist"))
        assert.is_nil(run.read_file(dir .. "/.stslua_history"))
      end)
    end)

    describe("on a terminal", function()
      local script_prog = run.which("script")

      -- util-linux' script runs $SHELL -i on a new pty when given no command,
      -- so SHELL=stslua gives `stslua -i` a terminal with no shell involved
      local function on_pty(input, env)
        if not script_prog then pending("util-linux' script is not installed to provide a pty") end
        env.SHELL = stslua_path
        env.TERM = env.TERM or "dumb"
        return run.run({script_prog, "-q", "-e", "/dev/null"}, {stdin = input, env = env, timeout = 60})
      end

      it("reads lines with readline and saves them to $STSLUA_HISTORY", function()
        with_tmpdir(function(dir)
          local hist = dir .. "/hist"
          local r = on_pty("1 + 2\nfor i = 1, 2 do\nprint(i * 10) end\n", {STSLUA_HISTORY = hist})
          assert.are.equal(0, r.rc)
          local out = r.stdout:gsub("\r", "")
          assert.truthy(out:find("stslua> 1 + 2\n3\n", 1, true), out)
          assert.truthy(out:find("stslua>> print(i * 10) end\n10\n20\n", 1, true), out)
          assert.are.equal("1 + 2\nfor i = 1, 2 do\nprint(i * 10) end\n", run.read_file(hist))
          assert.are.equal("rw-------", require("lfs").attributes(hist, "permissions"))
        end)
      end)

      it("keeps history in ~/.stslua_history by default and none when STSLUA_HISTORY is empty", function()
        with_tmpdir(function(dir)
          local r = on_pty("'hello'\n", {HOME = dir})
          assert.are.equal(0, r.rc)
          assert.are.equal("'hello'\n", run.read_file(dir .. "/.stslua_history"))
          assert.truthy(os.remove(dir .. "/.stslua_history"))
          r = on_pty("'hello'\n", {HOME = dir, STSLUA_HISTORY = ""})
          assert.are.equal(0, r.rc)
          assert.truthy(r.stdout:find("hello", 1, true))
          assert.is_nil(run.read_file(dir .. "/.stslua_history"))
        end)
      end)

      it("appends to an existing history file and offers old entries", function()
        with_tmpdir(function(dir)
          local hist = dir .. "/hist"
          run.write_file(hist, "old_entry = 1\n")
          -- Ctrl-P recalls the previous line, the one from the file
          local r = on_pty("\16\n", {STSLUA_HISTORY = hist})
          assert.are.equal(0, r.rc)
          assert.are.equal("old_entry = 1\nold_entry = 1\n", run.read_file(hist))
        end)
      end)
    end)
  end)
end)

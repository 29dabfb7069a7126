/*
** stslua: the stand-alone Lua 5.4 interpreter with the sts modules built in.
**
** Command line, exit codes, messages and REPL follow the `lua5.4` program
** of Lua 5.4.4 (its lua.c is the model: `main` only creates the state and
** runs `pmain` in protected mode, every option is checked before anything
** runs, every chunk goes through one `docall` with a message handler that
** adds a traceback, and Ctrl-C only sets a hook).  Additions:
**   - the sts Lua modules (compiled in, see scripts/embed-lua) and
**     "sts.core" are in package.preload before LUA_INIT and -l run;
**   - the REPL uses GNU readline, prompts "stslua> " / "stslua>> ", keeps
**     its history in a file when stdin is a terminal, and has the global
**     `sts` = require "sts";
**   - `--help` and `--version` (ours; `-v` stays Lua's);
**   - an error object with __tostring gets a traceback too.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/readline.h>
#include <readline/history.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "embedded.h"
#include "sts.h"

#define PROGNAME        "stslua"
#define PROMPT          "stslua> "
#define PROMPT2         "stslua>> "

#define INIT_VAR        "LUA_INIT"
#define INIT_VAR_VERS   INIT_VAR LUA_VERSUFFIX     /* LUA_INIT_5_4 */

/* REPL history file: $STSLUA_HISTORY (empty: none), else ~/.stslua_history */
#define HISTORY_VAR     "STSLUA_HISTORY"
#define HISTORY_FILE    ".stslua_history"
#define HISTORY_MAX     1000
#define HISTORY_KEY     "stslua.history"   /* registry: path of that file */

#define LINE_BOX        "stslua.line"      /* metatable of a readline buffer */

/* error messages of incomplete chunks end with this */
#define EOF_MARK        "<eof>"

/*
** The interpreter's state that must be reachable from a signal handler or
** from the message printer; everything else lives in the Lua state.
*/
static lua_State *signal_L = NULL;      /* state the SIGINT hook goes to */
static const char *progname = PROGNAME; /* prefix of messages; NULL in REPL */


/* ---------------------------------------------------------------------
** Messages
** --------------------------------------------------------------------- */

static void message (const char *pname, const char *msg) {
  if (pname != NULL) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* Prints the error on the top of the stack when `status` is not OK. */
static int report (lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg != NULL) {
      message(progname, msg);
      lua_pop(L, 1);
    }
    else {  /* only errors raised outside docall can get here */
      message(progname, lua_pushfstring(L, "(error object is a %s value)",
                                        luaL_typename(L, -1)));
      lua_pop(L, 2);
    }
  }
  return status;
}

static void print_options (FILE *out) {
  fputs("Available options are:\n"
        "  -e stat   execute string 'stat'\n"
        "  -i        enter interactive mode after executing 'script'\n"
        "  -l mod    require library 'mod' into global 'mod'\n"
        "  -l g=mod  require library 'mod' into global 'g'\n"
        "  -v        show version information\n"
        "  -E        ignore environment variables\n"
        "  -W        turn warnings on\n"
        "  --        stop handling options\n"
        "  -         stop handling options and execute stdin\n"
        "  --help    show this help\n"
        "  --version show the versions of stslua, Lua, libdevmapper and"
        " the dm driver\n", out);
}

static void print_usage (const char *badoption) {
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  fprintf(stderr, "usage: %s [options] [script [args]]\n", progname);
  print_options(stderr);
  fflush(stderr);
}

static void print_help (void) {
  printf("usage: %s [options] [script [args]]\n", progname);
  print_options(stdout);
  printf("The sts modules are built in: require \"sts\" (\"sts.dm\", "
         "\"sts.dmpd\", \"sts.errors\", ...)\n"
         "works from any directory with no path setup; in interactive mode "
         "the global\n'sts' holds require \"sts\".\n");
  fflush(stdout);
}

/* `-v`: exactly Lua's line */
static void print_lua_version (void) {
  fputs(LUA_COPYRIGHT "\n", stdout);
  fflush(stdout);
}


/* ---------------------------------------------------------------------
** Running chunks
** --------------------------------------------------------------------- */

static void set_signal (int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* Hook set at a SIGINT: stops the running Lua code with an error. */
static void interrupt_hook (lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/*
** SIGINT handler while Lua code runs. A signal handler must not touch the
** Lua state beyond setting a hook; the hook raises the error. A second
** Ctrl-C before the hook runs kills the process.
*/
static void on_sigint (int sig) {
  set_signal(sig, SIG_DFL);
  lua_sethook(signal_L, interrupt_hook,
              LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/*
** Message handler of every chunk: the error as a string (through
** __tostring for objects that have it) with a traceback appended.
*/
static int msghandler (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the function below `narg` arguments with the message handler and
** with Ctrl-C turned into a Lua error. */
static int docall (lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  signal_L = L;
  set_signal(SIGINT, on_sigint);
  status = lua_pcall(L, narg, nres, base);
  set_signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

static int dochunk (lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* `name` NULL: standard input */
static int dofile (lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring (lua_State *L, const char *s, const char *chunkname) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), chunkname));
}

/*
** `-l mod` sets global mod = require "mod"; `-l g=mod` sets global
** g = require "mod" (as the lua5.4 of Lua 5.4.4 does).
*/
static int dolibrary (lua_State *L, const char *spec) {
  int status;
  const char *eq = strchr(spec, '=');
  const char *modname = (eq != NULL) ? eq + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  status = docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_pushlstring(L, spec, (eq != NULL) ? (size_t)(eq - spec) : strlen(spec));
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));  /* name = module */
    lua_pop(L, 1);  /* name */
  }
  return report(L, status);
}


/* ---------------------------------------------------------------------
** The sts modules in package.preload
** --------------------------------------------------------------------- */

/*
** Preload loader of one embedded Lua module (upvalue: its entry). Like the
** file searcher it runs the chunk with the module name and the file path.
*/
static int load_embedded (lua_State *L) {
  const struct sts_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  const char *path = m->chunkname + (m->chunkname[0] == '@');
  if (luaL_loadbufferx(L, m->source, m->size, m->chunkname, "t") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from embedded file "
                      "'%s':\n\t%s", m->module, path, lua_tostring(L, -1));
  lua_pushstring(L, m->module);
  lua_pushstring(L, path);
  lua_call(L, 2, 1);
  return 1;
}

static void preload_sts (lua_State *L) {
  const struct sts_embedded *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = sts_embedded; m->module != NULL; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->module);
  }
  lua_pushcfunction(L, luaopen_sts_core);
  lua_setfield(L, -2, "sts.core");
  lua_pop(L, 1);
}


/* ---------------------------------------------------------------------
** --version
** --------------------------------------------------------------------- */

/* require("sts.dm").version(): {library=, driver=} */
static int query_dm_version (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sts.dm");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "version");
  lua_call(L, 0, 1);
  return 1;
}

/* Pushes and returns the first line of the error message on the top. */
static const char *first_line (lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (msg == NULL) return lua_pushstring(L, "not a string error");
  return lua_pushlstring(L, msg, strcspn(msg, "\n"));
}

/*
** Pushes and returns the text of the version `field` of the answer at
** index `answer`: its value as a string, `absent` when it is nil.
** When the query failed (`ok` false), the answer is the error message and
** the text is "unknown (<its first line>)".
*/
static const char *version_text (lua_State *L, int ok, int answer,
                                 const char *field, const char *absent) {
  if (!ok) {
    lua_pushvalue(L, answer);
    first_line(L);
    lua_pushfstring(L, "unknown (%s)", lua_tostring(L, -1));
    lua_replace(L, -3);
    lua_pop(L, 1);
  }
  else if (!lua_istable(L, answer)) {
    lua_pushfstring(L, "unknown (version() returned a %s)",
                    luaL_typename(L, answer));
  }
  else if (lua_getfield(L, answer, field) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, absent);
  }
  else {
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);  /* the raw value */
  }
  return lua_tostring(L, -1);
}

/*
** Points stderr at /dev/null; returns a descriptor of the old stderr for
** restore_stderr, or -1 when nothing was changed.
*/
static int silence_stderr (void) {
  int saved, null_fd;
  fflush(stderr);
  null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return -1;
  saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (saved >= 0 && dup2(null_fd, STDERR_FILENO) < 0) {
    close(saved);
    saved = -1;
  }
  close(null_fd);
  return saved;
}

static void restore_stderr (int saved) {
  if (saved < 0) return;
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
}

/*
** `--version`: ours, Lua's, libdevmapper's and the kernel driver's. The dm
** query runs with stderr pointed at /dev/null, so no log line of
** libdevmapper reaches the terminal; a failure shows as "unknown (why)".
*/
static void print_versions (lua_State *L) {
  int saved, ok, answer;
  const char *library, *driver;
  saved = silence_stderr();
  lua_pushcfunction(L, query_dm_version);
  ok = (lua_pcall(L, 0, 1, 0) == LUA_OK);
  restore_stderr(saved);
  answer = lua_gettop(L);
  library = version_text(L, ok, answer, "library", "unknown");
  driver = version_text(L, ok, answer, "driver", "none (no device-mapper)");
  printf("stslua %s\n%s\nlibdevmapper %s\ndevice-mapper driver %s\n",
         STS_VERSION, LUA_RELEASE, library, driver);
  fflush(stdout);
  lua_settop(L, answer - 1);
}


/* ---------------------------------------------------------------------
** The REPL
** --------------------------------------------------------------------- */

/* __gc of a readline buffer box: frees a line left there by an error */
static int free_line_box (lua_State *L) {
  char **box = luaL_checkudata(L, 1, LINE_BOX);
  free(*box);
  *box = NULL;
  return 0;
}

/* Pushes the prompt: _PROMPT / _PROMPT2 through tostring, or ours. */
static const char *push_prompt (lua_State *L, int firstline) {
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, firstline ? PROMPT : PROMPT2);
    return lua_tostring(L, -1);
  }
  else {
    const char *p = luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return p;
  }
}

/*
** Shows the prompt, reads a line and pushes it ("=expr" on a first line
** becomes "return expr"). Returns 0, pushing nothing, at end of input.
** The malloc'ed line sits in a boxed userdata until freed, so a Lua error
** while pushing it cannot leak it.
*/
static int push_line (lua_State *L, int firstline) {
  char **box = lua_newuserdatauv(L, sizeof(char *), 0);
  *box = NULL;
  luaL_setmetatable(L, LINE_BOX);
  push_prompt(L, firstline);
  *box = readline(lua_tostring(L, -1));
  lua_pop(L, 1);  /* prompt */
  if (*box == NULL) {
    lua_pop(L, 1);  /* box */
    return 0;
  }
  if (firstline && (*box)[0] == '=')
    lua_pushfstring(L, "return %s", *box + 1);
  else
    lua_pushstring(L, *box);
  free(*box);
  *box = NULL;
  lua_remove(L, -2);  /* box */
  return 1;
}

/* The history file's path (in the registry), or NULL when there is none. */
static const char *history_path (lua_State *L) {
  const char *p;
  lua_getfield(L, LUA_REGISTRYINDEX, HISTORY_KEY);
  p = lua_tostring(L, -1);
  lua_pop(L, 1);  /* the registry still holds the string */
  return p;
}

/* Keeps an entered chunk in the history (and its file, when there is one). */
static void remember (lua_State *L, const char *text) {
  const char *path;
  if (text[0] == '\0') return;
  add_history(text);
  path = history_path(L);
  if (path != NULL) {
    /* appended at once, so a REPL killed by Ctrl-C loses nothing */
    int err = (access(path, F_OK) == 0) ? append_history(1, path)
                                        : write_history(path);
    if (err != 0) {
      fprintf(stderr, "%s: cannot save history to '%s': %s "
              "(history not saved from now on)\n",
              PROGNAME, path, strerror(err));
      fflush(stderr);
      lua_pushnil(L);
      lua_setfield(L, LUA_REGISTRYINDEX, HISTORY_KEY);
    }
  }
}

/*
** History on a terminal is kept in $STSLUA_HISTORY (empty: not kept) or
** ~/.stslua_history, HISTORY_MAX entries at most; piped input keeps none.
*/
static void history_open (lua_State *L) {
  const char *path = getenv(HISTORY_VAR);
  stifle_history(HISTORY_MAX);
  if (!isatty(STDIN_FILENO)) return;
  if (path != NULL) {
    if (path[0] == '\0') return;
    lua_pushstring(L, path);
  }
  else {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') return;
    lua_pushfstring(L, "%s/%s", home, HISTORY_FILE);
  }
  read_history(lua_tostring(L, -1));  /* a missing file is no error */
  lua_setfield(L, LUA_REGISTRYINDEX, HISTORY_KEY);
}

static void history_close (lua_State *L) {
  const char *path = history_path(L);
  if (path != NULL) history_truncate_file(path, HISTORY_MAX);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, HISTORY_KEY);
  clear_history();
}

/* Compiles the line at index 1 as "return <line>;"; on success replaces
** nothing but pushes the function, else leaves the stack as it was. */
static int try_expression (lua_State *L) {
  const char *line = lua_tostring(L, 1);
  const char *code = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2);  /* code */
    remember(L, line);
  }
  else
    lua_pop(L, 2);  /* message and code */
  return status;
}

static int ends_with_eof_mark (lua_State *L) {
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  size_t marklen = sizeof(EOF_MARK) - 1;
  return msg != NULL && len >= marklen &&
         strcmp(msg + len - marklen, EOF_MARK) == 0;
}

/*
** Compiles the text at index 1 as statements, reading continuation lines
** while it is incomplete. Pushes the function or the error message.
*/
static int read_statements (lua_State *L) {
  for (;;) {
    size_t len;
    const char *text = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, text, len, "=stdin");
    if (status != LUA_ERRSYNTAX || !ends_with_eof_mark(L) || !push_line(L, 0)) {
      remember(L, lua_tostring(L, 1));
      return status;  /* at end of input the syntax error stands */
    }
    lua_remove(L, -2);  /* the "<eof>" message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);  /* text .. "\n" .. new line, at index 1 */
  }
}

/* Reads a chunk; pushes its function or an error message; -1 at the end. */
static int read_chunk (lua_State *L) {
  int status;
  lua_settop(L, 0);
  if (!push_line(L, 1)) return -1;
  status = try_expression(L);
  if (status != LUA_OK) status = read_statements(L);
  lua_remove(L, 1);  /* the text */
  return status;
}

/* Prints the values on the stack with the global `print`. */
static void print_results (lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      message(progname, lua_pushfstring(L, "error calling 'print' (%s)",
                                        luaL_tolstring(L, -1, NULL)));
  }
}

/* The global `sts` of the REPL; a failure is told once and the REPL goes on. */
static void load_sts_global (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sts");
  if (docall(L, 1, 1) == LUA_OK)
    lua_setglobal(L, "sts");
  else {
    const char *msg = lua_tostring(L, -1);
    message(NULL, lua_pushfstring(L, "cannot set the global 'sts': %s",
                                  msg != NULL ? msg : "?"));
    lua_pop(L, 2);
  }
}

static void dorepl (lua_State *L) {
  int status;
  const char *saved_progname = progname;
  progname = NULL;  /* errors in the REPL carry no program name */
  luaL_newmetatable(L, LINE_BOX);
  lua_pushcfunction(L, free_line_box);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  rl_readline_name = PROGNAME;
  history_open(L);
  load_sts_global(L);
  while ((status = read_chunk(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) print_results(L);
    else report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  history_close(L);
  progname = saved_progname;
}


/* ---------------------------------------------------------------------
** Command line
** --------------------------------------------------------------------- */

/* bits of the options found */
#define OPT_ERROR     1   /* bad option */
#define OPT_I         2   /* -i */
#define OPT_V         4   /* -v (also set by -i) */
#define OPT_E         8   /* -e */
#define OPT_NOENV     16  /* -E */
#define OPT_HELP      32  /* --help */
#define OPT_VERSION   64  /* --version */

/*
** Checks every option before anything runs. Returns the bits of the
** options found, or OPT_ERROR with *first at the bad option; otherwise
** *first is the index of the script, 0 when there is none.
*/
static int scan_options (char **argv, int *first) {
  int opts = 0;
  int i;
  *first = 0;
  if (argv[0] == NULL) return 0;
  for (i = 1; argv[i] != NULL; i++) {
    const char *a = argv[i];
    *first = i;
    if (a[0] != '-') return opts;          /* the script */
    switch (a[1]) {
      case '\0':                           /* "-": the script is stdin */
        return opts;
      case '-':
        if (a[2] == '\0') {                /* "--": options end here */
          *first = (argv[i + 1] != NULL) ? i + 1 : 0;
          return opts;
        }
        if (strcmp(a, "--help") == 0) opts |= OPT_HELP;
        else if (strcmp(a, "--version") == 0) opts |= OPT_VERSION;
        else return OPT_ERROR;
        break;
      case 'E': case 'W': case 'i': case 'v':
        if (a[2] != '\0') return OPT_ERROR;
        if (a[1] == 'E') opts |= OPT_NOENV;
        else if (a[1] == 'i') opts |= OPT_I | OPT_V;
        else if (a[1] == 'v') opts |= OPT_V;
        break;
      case 'e': case 'l':                  /* both take an argument */
        if (a[1] == 'e') opts |= OPT_E;
        if (a[2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return OPT_ERROR;
        }
        break;
      default:
        return OPT_ERROR;
    }
  }
  *first = 0;
  return opts;
}

/* Runs -e, -l and -W in their order (options before index `end`).
** Returns 0 when one of them failed. */
static int run_options (lua_State *L, char **argv, int end) {
  int i;
  for (i = 1; i < end; i++) {
    int opt = argv[i][1];
    if (opt == 'e' || opt == 'l') {
      const char *value = argv[i] + 2;
      int status;
      if (*value == '\0') value = argv[++i];
      status = (opt == 'e') ? dostring(L, value, "=(command line)")
                            : dolibrary(L, value);
      if (status != LUA_OK) return 0;
    }
    else if (opt == 'W')
      lua_warning(L, "@on", 0);
  }
  return 1;
}

/*
** The global `arg`: the script name at 0, its arguments at 1.., the
** interpreter and its options at negative indices. Without a script the
** interpreter's name is at 0.
*/
static void create_arg_table (lua_State *L, char **argv, int argc,
                              int script) {
  int i;
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0,
                  script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Pushes arg[1] .. arg[#arg] (the global, as -e or LUA_INIT left it). */
static int push_script_args (lua_State *L) {
  int i, n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = 1; i <= n; i++)
    lua_rawgeti(L, -i, i);
  lua_remove(L, -i);  /* the table */
  return n;
}

static int run_script (lua_State *L, char **argv) {
  int status;
  const char *fname = argv[0];
  /* "-" is stdin, unless "--" made it a file name */
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
    fname = NULL;
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = push_script_args(L);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/* LUA_INIT_5_4, else LUA_INIT: code, or "@file" */
static int run_lua_init (lua_State *L) {
  const char *name = "=" INIT_VAR_VERS;
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=" INIT_VAR;
    init = getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* The interpreter, run in protected mode; returns true when all went well. */
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int opts = scan_options(argv, &script);
  int options_end = (script > 0) ? script : argc;
  luaL_checkversion(L);
  if (argv[0] != NULL && argv[0][0] != '\0') progname = argv[0];
  if (opts == OPT_ERROR) {
    print_usage(argv[script]);
    return 0;
  }
  if (opts & OPT_HELP) {
    print_help();
    lua_pushboolean(L, 1);
    return 1;
  }
  if ((opts & OPT_V) && !(opts & OPT_VERSION)) print_lua_version();
  if (opts & OPT_NOENV) {  /* tells package to ignore LUA_PATH etc. */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  preload_sts(L);
  if (opts & OPT_VERSION) {
    print_versions(L);
    lua_pushboolean(L, 1);
    return 1;
  }
  create_arg_table(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (!(opts & OPT_NOENV) && run_lua_init(L) != LUA_OK) return 0;
  if (!run_options(L, argv, options_end)) return 0;
  if (script > 0 && run_script(L, argv + script) != LUA_OK) return 0;
  if (opts & OPT_I)
    dorepl(L);
  else if (script == 0 && !(opts & (OPT_E | OPT_V))) {
    if (isatty(STDIN_FILENO)) {
      print_lua_version();
      dorepl(L);
    }
    else  /* as in lua5.4, an error here still exits with 0 */
      dofile(L, NULL);
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main (int argc, char **argv) {
  int status, ok;
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  ok = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return (ok && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}

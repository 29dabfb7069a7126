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
**   - in the REPL, Tab completes globals, fields and methods (sts.repl),
**     results print through sts.inspect (tables as sorted literals, sts
**     objects as summaries), and Ctrl-C at the prompt cancels the line;
**   - `--help` and `--version` (ours; `-v` stays Lua's);
**   - an error object with __tostring gets a traceback too.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
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
#define FORMAT_KEY      "stslua.format"    /* registry: sts.repl.format */

/* what pushline and multiline give besides a line: Ctrl-C at the prompt */
#define LINE_CANCELLED  (-2)

/* error messages of incomplete chunks end with this */
#define EOF_MARK        "<eof>"

/*
** The interpreter's state that must be reachable from a signal handler or
** from the message printer; everything else lives in the Lua state.
*/
static lua_State *globalL = NULL;      /* state the SIGINT hook goes to */
static const char *progname = PROGNAME; /* prefix of messages; NULL in REPL */


/* ---------------------------------------------------------------------
** Messages
** --------------------------------------------------------------------- */

static void l_message (const char *pname, const char *msg) {
  if (pname != NULL) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* Prints the error on the top of the stack when `status` is not OK. */
static int report (lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg != NULL) {
      l_message(progname, msg);
      lua_pop(L, 1);
    }
    else {  /* only errors raised outside docall can get here */
      l_message(progname, lua_pushfstring(L, "(error object is a %s value)",
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
static void print_version (void) {
  fputs(LUA_COPYRIGHT "\n", stdout);
  fflush(stdout);
}


/* ---------------------------------------------------------------------
** Running chunks
** --------------------------------------------------------------------- */

static void setsignal (int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* Hook set at a SIGINT: stops the running Lua code with an error. */
static void lstop (lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/*
** SIGINT handler while Lua code runs. A signal handler must not touch the
** Lua state beyond setting a hook; the hook raises the error. A second
** Ctrl-C before the hook runs kills the process.
*/
static void laction (int sig) {
  setsignal(sig, SIG_DFL);
  lua_sethook(globalL, lstop,
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
  globalL = L;
  setsignal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  setsignal(SIGINT, SIG_DFL);
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

/* ---- reading a line: Ctrl-C cancels it ---- */

/* set by the SIGINT handler of the prompt */
static volatile sig_atomic_t prompt_interrupted = 0;

/* the line readline's callback handed over, and whether it did */
static char *taken_line = NULL;
static int line_taken = 0;

static void prompt_sigint (int sig) {
  (void)sig;
  prompt_interrupted = 1;
}

/* readline's line handler: NULL at end of input */
static void take_line (char *line) {
  taken_line = line;
  line_taken = 1;
  rl_callback_handler_remove();  /* no new prompt before the caller's */
}

/* Throws away the line being edited after a Ctrl-C, shows "^C" and
** leaves the cursor at the start of a fresh line. */
static void cancel_line (void) {
  FILE *out = rl_outstream != NULL ? rl_outstream : stdout;
  rl_point = rl_end;  /* "^C" after all of the text */
  rl_redisplay();
  fputs("^C", out);
  fflush(out);
  rl_crlf();
  rl_replace_line("", 1);
  rl_free_line_state();
  rl_callback_sigcleanup();
  rl_callback_handler_remove();
}

/*
** Takes a SIGINT left pending (blocked) and tells whether there was one.
** pselect that finds input ready returns it without delivering a signal
** that came meanwhile, so keys typed after a Ctrl-C would be read first.
*/
static int took_sigint (const sigset_t *sigint) {
  sigset_t pending;
  struct timespec now = {0, 0};
  if (sigpending(&pending) != 0 || !sigismember(&pending, SIGINT)) return 0;
  return sigtimedwait(sigint, NULL, &now) == SIGINT;
}

/*
** lua.c's hook: reads a line into *line (malloc'ed, NULL at end of input)
** after showing `prompt`; returns 1 for a line, 0 at end of input and
** LINE_CANCELLED for a Ctrl-C. Readline's callback interface keeps the
** signal out of readline: SIGINT is blocked except while pselect waits
** for input, so the handler only sets a flag that the loop sees.
*/
static int lua_readline (const char *prompt, char **line) {
  struct sigaction sa, old_action;
  sigset_t sigint, old_mask;
  int fd, result = 0;
  *line = NULL;
  taken_line = NULL;
  line_taken = 0;
  prompt_interrupted = 0;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  sigprocmask(SIG_BLOCK, &sigint, &old_mask);
  sa.sa_handler = prompt_sigint;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_action);
  rl_callback_handler_install(prompt, take_line);
  fd = fileno(rl_instream != NULL ? rl_instream : stdin);
  for (;;) {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(fd, &readable);
    if (pselect(fd + 1, &readable, NULL, NULL, NULL, &old_mask) < 0) {
      if (errno != EINTR) {  /* input gone: as at its end */
        rl_callback_handler_remove();
        break;
      }
    }
    else if (took_sigint(&sigint))
      prompt_interrupted = 1;
    if (prompt_interrupted) {
      cancel_line();
      result = LINE_CANCELLED;
      break;
    }
    if (!FD_ISSET(fd, &readable)) continue;
    rl_callback_read_char();
    if (line_taken) {
      *line = taken_line;
      result = (taken_line != NULL);
      break;
    }
  }
  sigaction(SIGINT, &old_action, NULL);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  return result;
}

/* ---- Tab: completion through sts.repl.complete ---- */

/* the state of the REPL, for the completion hook */
static lua_State *replL = NULL;

/* complete(word): require("sts.repl").complete(word); run under lua_pcall */
static int completions (lua_State *L) {
  const char *word = (const char *)lua_touserdata(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sts.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "complete");
  lua_pushstring(L, word);
  lua_call(L, 1, 1);
  return 1;
}

static void free_matches (char **matches) {
  char **m;
  if (matches == NULL) return;
  for (m = matches; *m != NULL; m++) free(*m);
  free(matches);
}

/*
** Readline's list of matches from the list of strings at `idx`: their
** common prefix first (what replaces the word), then each match; NULL
** when there is none or memory ran out.
*/
static char **matches_of (lua_State *L, int idx) {
  size_t n = lua_rawlen(L, idx), i, count = 0, common = 0;
  char **matches;
  if (n == 0 || n > ((size_t)-1) / sizeof(char *) - 2) return NULL;
  matches = calloc(n + 2, sizeof(char *));
  if (matches == NULL) return NULL;
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s;
    if (lua_rawgeti(L, idx, (lua_Integer)i) == LUA_TSTRING) {
      s = lua_tolstring(L, -1, &len);
      matches[count + 1] = strndup(s, len);
      if (matches[count + 1] == NULL) {
        lua_pop(L, 1);
        free_matches(matches);
        return NULL;
      }
      if (count == 0) common = len;
      else {
        size_t j = 0;
        while (j < common && matches[1][j] == s[j]) j++;
        common = j;
      }
      count++;
    }
    lua_pop(L, 1);
  }
  if (count == 0) {
    free(matches);
    return NULL;
  }
  matches[0] = strndup(matches[1], common);
  if (matches[0] == NULL) {
    matches[0] = matches[1];  /* so free_matches frees them all */
    matches[1] = NULL;
    for (i = 2; i <= count; i++) free(matches[i]);
    free_matches(matches);
    return NULL;
  }
  if (count == 1) {  /* the prefix is the match: readline wants it once */
    free(matches[1]);
    matches[1] = NULL;
  }
  return matches;
}

/* readline's attempted-completion hook: Lua words, never file names */
static char **complete_word (const char *text, int start, int end) {
  lua_State *L = replL;
  char **matches = NULL;
  int top;
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;
  rl_completion_suppress_append = 1;  /* no space after a name */
  if (L == NULL || !lua_checkstack(L, 4)) return NULL;
  top = lua_gettop(L);
  lua_pushcfunction(L, completions);
  lua_pushlightuserdata(L, (void *)text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1))
    matches = matches_of(L, lua_gettop(L));
  lua_settop(L, top);
  return matches;
}

/* ---- the loop ---- */

/* Pushes the prompt: _PROMPT / _PROMPT2 through tostring, or ours. */
static const char *get_prompt (lua_State *L, int firstline) {
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
** becomes "return expr"). Returns 1; 0, pushing nothing, at end of input;
** LINE_CANCELLED, pushing nothing, at a Ctrl-C.
** The malloc'ed line sits in a boxed userdata until freed, so a Lua error
** while pushing it cannot leak it.
*/
static int pushline (lua_State *L, int firstline) {
  int got;
  char **box = lua_newuserdatauv(L, sizeof(char *), 0);
  *box = NULL;
  luaL_setmetatable(L, LINE_BOX);
  get_prompt(L, firstline);
  got = lua_readline(lua_tostring(L, -1), box);
  lua_pop(L, 1);  /* prompt */
  if (got != 1) {
    lua_pop(L, 1);  /* box */
    return got;
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
static int addreturn (lua_State *L) {
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

/* True when the status is a syntax error at the end of the text (the
** message on the top): the chunk goes on on the next line. */
static int incomplete (lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    size_t marklen = sizeof(EOF_MARK) - 1;
    if (msg != NULL && lmsg >= marklen &&
        strcmp(msg + lmsg - marklen, EOF_MARK) == 0)
      return 1;
  }
  return 0;
}

/*
** Compiles the text at index 1 as statements, reading continuation lines
** while it is incomplete. Pushes the function or the error message, or
** returns LINE_CANCELLED when a continuation line got a Ctrl-C.
*/
static int multiline (lua_State *L) {
  for (;;) {
    size_t len;
    const char *text = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, text, len, "=stdin");
    int got;
    if (!incomplete(L, status) || (got = pushline(L, 0)) == 0) {
      remember(L, lua_tostring(L, 1));
      return status;  /* at end of input the syntax error stands */
    }
    if (got == LINE_CANCELLED) return LINE_CANCELLED;
    lua_remove(L, -2);  /* the "<eof>" message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);  /* text .. "\n" .. new line, at index 1 */
  }
}

/*
** Reads a chunk; pushes its function or an error message; -1 at the end.
** A Ctrl-C drops what was typed of the chunk and prompts again.
*/
static int loadline (lua_State *L) {
  for (;;) {
    int status;
    lua_settop(L, 0);
    status = pushline(L, 1);
    if (status == 0) return -1;  /* no input */
    if (status == LINE_CANCELLED) continue;
    status = addreturn(L);
    if (status != LUA_OK) status = multiline(L);
    if (status == LINE_CANCELLED) continue;
    lua_remove(L, 1);  /* the text */
    return status;
  }
}

/*
** Prints the values on the stack with the global `print`, as the text
** sts.repl.format makes of them (tables and sts objects readable), or as
** they are when that module could not be loaded.
*/
static void l_print (lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    int status;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    if (lua_getfield(L, LUA_REGISTRYINDEX, FORMAT_KEY) == LUA_TFUNCTION) {
      lua_rotate(L, 1, 2);  /* print, format, values */
      status = lua_pcall(L, n, 1, 0);
      if (status == LUA_OK) status = lua_pcall(L, 1, 0, 0);
    }
    else {
      lua_pop(L, 1);
      lua_insert(L, 1);
      status = lua_pcall(L, n, 0, 0);
    }
    if (status != LUA_OK)
      l_message(progname, lua_pushfstring(L, "error calling 'print' (%s)",
                                        luaL_tolstring(L, -1, NULL)));
  }
}

/* sts.repl.format into the registry; without it values print as lua5.4
** prints them (told once). */
static void load_formatter (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sts.repl");
  if (docall(L, 1, 1) == LUA_OK) {
    lua_getfield(L, -1, "format");
    lua_setfield(L, LUA_REGISTRYINDEX, FORMAT_KEY);
    lua_pop(L, 1);
  }
  else {
    const char *msg = lua_tostring(L, -1);
    l_message(NULL, lua_pushfstring(L, "cannot load sts.repl: %s",
                                    msg != NULL ? msg : "?"));
    lua_pop(L, 2);
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
    l_message(NULL, lua_pushfstring(L, "cannot set the global 'sts': %s",
                                  msg != NULL ? msg : "?"));
    lua_pop(L, 2);
  }
}

static void doREPL (lua_State *L) {
  int status;
  const char *saved_progname = progname;
  progname = NULL;  /* errors in the REPL carry no program name */
  luaL_newmetatable(L, LINE_BOX);
  lua_pushcfunction(L, free_line_box);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  rl_readline_name = PROGNAME;
  rl_catch_signals = 0;  /* lua_readline handles SIGINT itself */
  rl_attempted_completion_function = complete_word;
  /* "." and ":" are part of a word: Tab completes a.b.c and d:method */
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(+-*/%^~#,)}[]!";
  replL = L;
  history_open(L);
  load_sts_global(L);
  load_formatter(L);
  while ((status = loadline(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) l_print(L);
    else report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  history_close(L);
  replL = NULL;
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
static int collectargs (char **argv, int *first) {
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
static int runargs (lua_State *L, char **argv, int end) {
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
static void createargtable (lua_State *L, char **argv, int argc,
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
static int pushargs (lua_State *L) {
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

static int handle_script (lua_State *L, char **argv) {
  int status;
  const char *fname = argv[0];
  /* "-" is stdin, unless "--" made it a file name */
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
    fname = NULL;
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/* LUA_INIT_5_4, else LUA_INIT: code, or "@file" */
static int handle_luainit (lua_State *L) {
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
  int opts = collectargs(argv, &script);
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
  if ((opts & OPT_V) && !(opts & OPT_VERSION)) print_version();
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
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (!(opts & OPT_NOENV) && handle_luainit(L) != LUA_OK) return 0;
  if (!runargs(L, argv, options_end)) return 0;
  if (script > 0 && handle_script(L, argv + script) != LUA_OK) return 0;
  if (opts & OPT_I)
    doREPL(L);
  else if (script == 0 && !(opts & (OPT_E | OPT_V))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      doREPL(L);
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
    l_message(argv[0], "cannot create state: not enough memory");
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

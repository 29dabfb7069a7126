/*
** sts.core.proc: runs programs from an argv array, never through a shell.
**
**   run(argv, opts) -> {rc=, signal=, stdout=, stderr=, timed_out=, stuck=}
**                    | nil, message, errno   (the runner itself failed)
**   which(name)     -> full path | nil
**   spawn(argv, opts) -> Child | nil, message, errno
**                    started and left running: child:poll(), child:wait(),
**                    child:kill(sig); see the spawn section below
**
** The child is started with posix_spawn from a path resolved here (so the
** PATH lookup honours opts.env and opts.cwd, and "not found" is told apart
** from a failing exec). Its stdin, stdout and stderr are served together by
** one poll() loop, so no pipe can fill up and deadlock the other.
**
** Everything a run owns (pipe ends, output buffers, the child) lives in a
** boxed userdata created before anything is acquired; its one idempotent
** close function serves __gc (the box never reaches Lua code) and the
** normal end of a run, so a Lua error raised halfway (out of memory while
** pushing a result) leaks nothing and leaves no zombie.
**
** The child runs in a process group of its own and sees only fds 0-2 (the
** rest are closed in it). A timeout sends SIGTERM to the whole group, then
** SIGKILL after KILL_GRACE_MS; a child still there STUCK_MS after SIGKILL
** (state D: stuck in the kernel) is reported in the result's `stuck` and
** left for a later run to reap, never waited on without bound. SIGINT and
** SIGTERM meant for us are blocked during the run and watched: the group
** gets the same signal, and once it is gone the signal is delivered to us
** (so Ctrl-C stops the script too); run then returns nil, message, EINTR.
** SIGCHLD is set back to its default for the run when it was ignored.
**
** SIGPIPE: writing to a child that closed its stdin must not kill us, and
** the process-wide disposition must not change. SIGPIPE is blocked around
** each write to the child; when that write gets EPIPE the SIGPIPE it raised
** is consumed with sigtimedwait before the old mask is restored. The child
** gets SIGPIPE back at its default and an empty signal mask.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sts.h"

extern char **environ;

#define RUN_MT "sts.proc.Run"
#define READ_CHUNK 65536
/* after SIGTERM on timeout, how long the child gets before SIGKILL */
#define KILL_GRACE_MS 1000
/* how often a child is polled for exit once its pipes are closed */
#define REAP_STEP_MS 20
/* how long a child gets to go after SIGKILL before it is reported stuck
** (a task in state D ignores SIGKILL until its I/O completes) */
#define STUCK_MS 5000
/* the longest single poll(), so any timeout up to forever fits an int */
#define POLL_MAX_MS 3600000
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

enum { CH_IN, CH_OUT, CH_ERR, NCH };

typedef struct {
  char *data;
  size_t len, cap;
} Buf;

typedef struct {
  int closed;        /* nothing owned any more */
  pid_t pid;         /* > 0 while the child is not reaped */
  pid_t pgid;        /* the child's own process group (its pid), once spawned */
  int sigfd;         /* signalfd of the SIGINT/SIGTERM blocked during the run */
  sigset_t oldmask;  /* our signal mask before the run, while sigfd >= 0 */
  int chld_saved;    /* SIGCHLD was ignored: old_chld is restored at the end */
  struct sigaction old_chld;
  int ours[NCH];     /* our pipe ends: stdin writer, stdout/stderr readers */
  int theirs[NCH];   /* the child's ends, until it is spawned */
  int outfile;       /* opts.output_file, until it is spawned */
  int cwdfd;         /* opts.cwd, for resolving the program */
  Buf out, err;
} Run;


/* ---------- the run object ---------- */

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static int reap(pid_t pid, int *status, int options) {
  pid_t r;
  do {
    r = waitpid(pid, status, options);
  } while (r < 0 && errno == EINTR);
  return (int)r;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/*
** Releases everything the run holds. A child still running is killed with
** its whole process group and waited for a bounded time (a child stuck in
** the kernel is left, not waited on forever). The signal mask is restored
** last, so a SIGINT/SIGTERM that arrived during the run is delivered now,
** after the children are gone.
*/
static void run_release(Run *run) {
  int i, status;
  if (run->closed) return;
  run->closed = 1;
  for (i = 0; i < NCH; i++) {
    close_fd(&run->ours[i]);
    close_fd(&run->theirs[i]);
  }
  close_fd(&run->outfile);
  close_fd(&run->cwdfd);
  if (run->pid > 0) {
    kill(-run->pgid, SIGKILL);
    for (i = 0; i < 100 && reap(run->pid, &status, WNOHANG) == 0; i++) sleep_ms(REAP_STEP_MS);
    run->pid = -1;
  }
  free(run->out.data);
  free(run->err.data);
  run->out.data = run->err.data = NULL;
  if (run->chld_saved) {
    sigaction(SIGCHLD, &run->old_chld, NULL);
    run->chld_saved = 0;
  }
  if (run->sigfd >= 0) {
    close_fd(&run->sigfd);
    sigprocmask(SIG_SETMASK, &run->oldmask, NULL);
  }
}

static int run_gc(lua_State *L) {
  run_release((Run *)luaL_checkudata(L, 1, RUN_MT));
  return 0;
}

static Run *run_new(lua_State *L) {
  int i;
  Run *run = (Run *)lua_newuserdatauv(L, sizeof(Run), 0);
  memset(run, 0, sizeof *run);
  run->closed = 1;  /* owns nothing until the metatable is set */
  run->pid = -1;
  for (i = 0; i < NCH; i++) run->ours[i] = run->theirs[i] = -1;
  run->outfile = run->cwdfd = run->sigfd = -1;
  luaL_setmetatable(L, RUN_MT);
  run->closed = 0;
  return run;
}

/* makes sure at least `room` bytes are free at the end of `b` */
static int buf_reserve(Buf *b, size_t room) {
  size_t cap;
  char *p;
  if (b->cap - b->len >= room) return 0;
  if (room > SIZE_MAX - b->len) return ENOMEM;
  cap = b->cap ? b->cap : READ_CHUNK;
  while (cap - b->len < room) {
    if (cap > SIZE_MAX / 2) return ENOMEM;
    cap *= 2;
  }
  p = (char *)realloc(b->data, cap);
  if (p == NULL) return ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}


/* ---------- options ---------- */

typedef struct {
  const char *stdin_data;
  size_t stdin_len;
  int has_stdin;
  double timeout;     /* <= 0: none */
  const char *output_file;
  const char *cwd;
  int env_idx;        /* stack index of opts.env, 0 when absent */
} Opts;

static const char *const opt_names[] = {
  "stdin", "timeout", "output_file", "cwd", "env", NULL
};

static int opt_error(lua_State *L, const char *field, const char *what) {
  return luaL_error(L, "bad option '%s' to 'run' (%s)", field, what);
}

static const char *opt_string(lua_State *L, const char *field, size_t *len) {
  size_t l;
  const char *s;
  if (lua_type(L, -1) != LUA_TSTRING)
    opt_error(L, field, "string expected");
  s = lua_tolstring(L, -1, &l);
  if (len != NULL) *len = l;
  else if (strlen(s) != l) opt_error(L, field, "contains a NUL byte");
  return s;
}

/*
** Checks the options table at `idx` field by field, raw (lua_next): no
** metamethod runs. Each value taken is copied into a slot of our own on
** the stack (4 slots pushed here: stdin, output_file, cwd, env), so the
** strings stay anchored whatever happens to the table afterwards.
*/
static void check_opts(lua_State *L, int idx, Opts *o) {
  int slots;
  memset(o, 0, sizeof *o);
  luaL_checkstack(L, 8, "run options");
  slots = lua_gettop(L) + 1;
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushnil(L);
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int which = sts_optindex(L, "run", opt_names);
    const char *key = opt_names[which];
    switch (which) {
      case 0:  /* stdin */
        if (lua_toboolean(L, -1)) {
          o->stdin_data = opt_string(L, key, &o->stdin_len);
          o->has_stdin = 1;
          lua_copy(L, -1, slots);
        }
        break;
      case 1: {  /* timeout: seconds, up to math.huge (none) */
        double t;
        if (lua_type(L, -1) != LUA_TNUMBER) opt_error(L, key, "number expected");
        t = (double)lua_tonumber(L, -1);
        if (!(t > 0)) opt_error(L, key, "must be a number > 0");
        o->timeout = isinf(t) ? 0 : t;
        break;
      }
      case 2:
        o->output_file = opt_string(L, key, NULL);
        lua_copy(L, -1, slots + 1);
        break;
      case 3:
        o->cwd = opt_string(L, key, NULL);
        lua_copy(L, -1, slots + 2);
        break;
      case 4:
        if (lua_type(L, -1) != LUA_TTABLE) opt_error(L, key, "table expected");
        lua_copy(L, -1, slots + 3);
        o->env_idx = slots + 3;
        break;
    }
    lua_pop(L, 1);
  }
}

/* the argv table at `idx` as a NULL-terminated array (a userdata block) */
static char **check_argv(lua_State *L, int idx) {
  lua_Integer n, i;
  char **argv;
  int anchor;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, idx);
  luaL_argcheck(L, n >= 1, idx, "argv must hold at least the program");
  luaL_argcheck(L, (lua_Unsigned)n < (size_t)INT_MAX / sizeof(char *), idx,
                "argv too long");
  /* read raw, once; the strings are anchored in a table of our own */
  argv = (char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 1);
  lua_createtable(L, (int)n, 0);
  anchor = lua_gettop(L);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s;
    if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
      luaL_error(L, "bad argument #1 to 'run' (argv[%d] must be a string, got %s)",
                 (int)i, luaL_typename(L, -1));
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len)
      luaL_error(L, "bad argument #1 to 'run' (argv[%d] contains a NUL byte)", (int)i);
    if (i == 1 && len == 0)
      luaL_error(L, "bad argument #1 to 'run' (argv[1] is empty)");
    argv[i - 1] = (char *)s;
    lua_rawseti(L, anchor, i);
  }
  argv[n] = NULL;
  lua_setiuservalue(L, -2, 1);
  return argv;
}

static int valid_env_name(const char *s, size_t len) {
  return len > 0 && strlen(s) == len && strchr(s, '=') == NULL;
}

/*
** The child's environment: ours, minus the names opts.env mentions, plus
** the string values of opts.env. Entries are anchored in a table pushed
** below the returned array.
*/
static char **build_env(lua_State *L, int env_idx) {
  size_t n = 0, k = 0, i;
  char **envp;
  int anchor;
  /* check the table and count its entries first */
  lua_pushnil(L);
  while (lua_next(L, env_idx) != 0) {
    size_t len;
    const char *name;
    int t = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "bad option 'env' to 'run' (names must be strings, got %s)",
                 luaL_typename(L, -2));
    name = lua_tolstring(L, -2, &len);
    if (!valid_env_name(name, len))
      luaL_error(L, "bad option 'env' to 'run' (invalid variable name '%s')", name);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
      const char *v;
      lua_pushvalue(L, -1);  /* converting a number must not touch the key */
      v = lua_tolstring(L, -1, &len);
      if (strlen(v) != len)
        luaL_error(L, "bad option 'env' to 'run' (value of '%s' contains a NUL byte)",
                   name);
      lua_pop(L, 1);
      n++;
    } else if (!(t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
      luaL_error(L, "bad option 'env' to 'run' (value of '%s' must be a string, "
                 "a number or false, got %s)", name, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  for (i = 0; environ != NULL && environ[i] != NULL; i++) n++;
  if (n >= (size_t)INT_MAX / sizeof(char *)) luaL_error(L, "environment too large");
  lua_createtable(L, (int)n, 0);
  anchor = lua_gettop(L);
  envp = (char **)lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
  for (i = 0; environ != NULL && environ[i] != NULL; i++) {
    const char *e = environ[i], *eq = strchr(e, '=');
    if (eq == NULL) continue;  /* malformed entry: drop it */
    lua_pushlstring(L, e, (size_t)(eq - e));
    if (lua_rawget(L, env_idx) == LUA_TNIL) envp[k++] = (char *)e;
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, env_idx) != 0) {
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
      lua_pushvalue(L, -1);  /* tostring on a copy keeps lua_next sane */
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -3), lua_tostring(L, -1));
      lua_remove(L, -2);
      envp[k] = (char *)lua_tostring(L, -1);
      lua_rawseti(L, anchor, (lua_Integer)k + 1);  /* keeps it alive */
      k++;
    }
    lua_pop(L, 1);
  }
  envp[k] = NULL;
  return envp;
}


/* ---------- program lookup ---------- */

/* an executable regular file at `path`, relative paths taken from `dirfd` */
static int is_executable(int dirfd, const char *path) {
  struct stat st;
  if (fstatat(dirfd, path, &st, 0) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (faccessat(dirfd, path, X_OK, AT_EACCESS) != 0) return errno;
  return 0;
}

/*
** Searches `path_list` (a PATH value) for `name`; pushes the full path and
** returns 0, or pushes nothing and returns an errno (ENOENT when absent).
** Empty PATH elements are skipped rather than meaning ".".
*/
static int search_path(lua_State *L, const char *name, const char *path_list,
                       int dirfd) {
  const char *p = path_list;
  int err = ENOENT;
  while (*p != '\0') {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    if (dlen > 0) {
      const char *cand;
      int e;
      if (p[dlen - 1] == '/')
        cand = lua_pushfstring(L, "%s%s", lua_pushlstring(L, p, dlen), name);
      else
        cand = lua_pushfstring(L, "%s/%s", lua_pushlstring(L, p, dlen), name);
      lua_remove(L, -2);
      e = is_executable(dirfd, cand);
      if (e == 0) return 0;
      if (e != ENOENT && e != ENOTDIR) err = e;
      lua_pop(L, 1);
    }
    if (end == NULL) break;
    p = end + 1;
  }
  return err;
}

/* the PATH the child will see */
static const char *child_path(lua_State *L, int env_idx) {
  const char *path = NULL;
  if (env_idx) {
    int t;
    lua_pushliteral(L, "PATH");
    t = lua_rawget(L, env_idx);
    if (t == LUA_TSTRING) path = lua_tostring(L, -1);
    lua_pop(L, 1);  /* still anchored by opts.env */
    if (t == LUA_TBOOLEAN) return DEFAULT_PATH;
  }
  if (path == NULL) path = getenv("PATH");
  return (path != NULL && *path != '\0') ? path : DEFAULT_PATH;
}


/* ---------- spawning ---------- */

/* moves `fd` above 2 (so dup2 onto 0..2 in the child always clears CLOEXEC) */
static int fd_above_stdio(int *fd) {
  int nfd;
  if (*fd > 2) return 0;
  nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  if (nfd < 0) return errno;
  close(*fd);
  *fd = nfd;
  return 0;
}

static int make_pipe(Run *run, int ch) {
  int p[2], e;
  if (pipe2(p, O_CLOEXEC) != 0) return errno;
  if (ch == CH_IN) {
    run->theirs[ch] = p[0];
    run->ours[ch] = p[1];
  } else {
    run->ours[ch] = p[0];
    run->theirs[ch] = p[1];
  }
  if ((e = fd_above_stdio(&run->ours[ch])) != 0) return e;
  if ((e = fd_above_stdio(&run->theirs[ch])) != 0) return e;
  if (fcntl(run->ours[ch], F_SETFL, O_NONBLOCK) != 0) return errno;
  return 0;
}

static int spawn_child(Run *run, const char *path, char **argv, char **envp,
                       const char *cwd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t set;
  int e, i;
  pid_t pid;
  if ((e = posix_spawn_file_actions_init(&fa)) != 0) return e;
  if ((e = posix_spawnattr_init(&attr)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return e;
  }
  for (i = 0; i < NCH && e == 0; i++) {
    int fd = (i == CH_OUT && run->outfile >= 0) ? run->outfile : run->theirs[i];
    if (fd >= 0)
      e = posix_spawn_file_actions_adddup2(&fa, fd, i);
    else  /* no stdin given */
      e = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDONLY, 0);
  }
  /* only 0-2 reach the child: whatever else is open here (Lua's files,
  ** libdevmapper's control descriptor) is closed in it */
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  if (e == 0 && cwd != NULL) e = posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sigemptyset(&set);
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &set);
  sigaddset(&set, SIGPIPE);
  if (e == 0) e = posix_spawnattr_setsigdefault(&attr, &set);
  /* its own process group, so a timeout or our SIGINT reaches its children */
  if (e == 0) e = posix_spawnattr_setpgroup(&attr, 0);
  if (e == 0)
    e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
  if (e == 0) e = posix_spawn(&pid, path, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (e == 0) run->pid = run->pgid = pid;
  for (i = 0; i < NCH; i++) close_fd(&run->theirs[i]);
  close_fd(&run->outfile);
  return e;
}


/* ---------- the poll loop ---------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* writes to the child's stdin without letting SIGPIPE through */
static ssize_t write_nosigpipe(int fd, const char *p, size_t n) {
  sigset_t pipe_set, old, pending;
  ssize_t w;
  int err, was_pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  was_pending = sigismember(&pending, SIGPIPE);
  w = write(fd, p, n);
  err = errno;
  if (w < 0 && err == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  errno = err;
  return w;
}

/* reads what is there from channel `ch`; returns 0 or an errno (ENOMEM) */
static int drain(Run *run, int ch) {
  Buf *b = (ch == CH_OUT) ? &run->out : &run->err;
  for (;;) {
    ssize_t r;
    if (buf_reserve(b, READ_CHUNK) != 0) return ENOMEM;
    r = read(run->ours[ch], b->data + b->len, b->cap - b->len);
    if (r > 0) {
      b->len += (size_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 0;
    close_fd(&run->ours[ch]);  /* end of file, or an error we cannot act on */
    return 0;
  }
}

typedef struct {
  int status;
  int timed_out;
  int interrupted;  /* the signal (SIGINT, SIGTERM) that ended the run, or 0 */
  char stuck;       /* the /proc state of a child that outlived SIGKILL, or 0 */
} Outcome;

/* the state letter of pid in /proc (R, S, D, Z, ...), or '?' */
static char proc_state(pid_t pid) {
  char path[64], buf[512], *p;
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return '?';
  buf[n] = '\0';
  p = strrchr(buf, ')');  /* the name in parentheses may hold anything */
  return (p != NULL && p[1] == ' ' && p[2] != '\0') ? p[2] : '?';
}

/* which of SIGINT/SIGTERM pending on the blocked set: forwarded as is */
static int pending_stop_signal(void) {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGINT) ? SIGINT : SIGTERM;
}

/* milliseconds from now to `until`, clamped in floating point to a poll() */
static int poll_wait(double until, double now) {
  double d = until - now;
  if (!(d > 0)) return 0;
  if (d > POLL_MAX_MS) return POLL_MAX_MS;
  return (int)d + 1;
}

/*
** Feeds stdin and drains stdout/stderr until all are closed and the child
** has exited, enforcing the timeout. On timeout, or when SIGINT/SIGTERM
** arrives for us (sigfd), the child's whole process group gets SIGTERM,
** then SIGKILL after KILL_GRACE_MS; a child not gone STUCK_MS after that is
** reported stuck (out->stuck) and left. Returns 0 or an errno.
*/
static int serve(Run *run, const Opts *o, Outcome *out) {
  size_t written = 0;
  double deadline = o->timeout > 0 ? now_ms() + o->timeout * 1e3 : -1;
  double kill_at = -1, give_up_at = -1;
  int killed = 0;
  out->timed_out = out->interrupted = 0;
  out->stuck = 0;
  out->status = 0;
  if (run->ours[CH_IN] >= 0 && o->stdin_len == 0) close_fd(&run->ours[CH_IN]);
  for (;;) {
    struct pollfd pfd[NCH + 1];
    int i, open = 0, wait_ms = -1, r;
    double t;
    for (i = 0; i < NCH; i++) {
      pfd[i].fd = run->ours[i];
      pfd[i].events = (i == CH_IN) ? POLLOUT : POLLIN;
      pfd[i].revents = 0;
      if (run->ours[i] >= 0) open++;
    }
    pfd[NCH].fd = killed ? -1 : run->sigfd;
    pfd[NCH].events = POLLIN;
    pfd[NCH].revents = 0;
    /* the child is reaped once its pipes are done, or once it was killed */
    if (run->pid > 0 && (open == 0 || killed)) {
      int opt = (open == 0 && deadline < 0 && run->sigfd < 0) ? 0 : WNOHANG;
      r = reap(run->pid, &out->status, opt);
      if (r == run->pid) run->pid = -1;
      else if (r < 0) return errno;
    }
    if (run->pid <= 0 && (open == 0 || killed)) break;
    t = now_ms();
    if (deadline >= 0 && !killed && t >= deadline) {
      kill(-run->pgid, SIGTERM);
      killed = 1;
      out->timed_out = 1;
      kill_at = t + KILL_GRACE_MS;
      continue;
    }
    if (killed && kill_at >= 0 && t >= kill_at) {
      kill(-run->pgid, SIGKILL);
      kill_at = -1;
      give_up_at = t + STUCK_MS;
    }
    if (give_up_at >= 0 && t >= give_up_at && run->pid > 0) {
      out->stuck = proc_state(run->pid);
      break;
    }
    if (deadline >= 0 && !killed) wait_ms = poll_wait(deadline, t);
    if (killed) wait_ms = poll_wait(kill_at >= 0 ? kill_at : give_up_at, t);
    if ((open == 0 || killed) && (wait_ms < 0 || wait_ms > REAP_STEP_MS))
      wait_ms = REAP_STEP_MS;
    r = poll(pfd, NCH + 1, wait_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (pfd[NCH].revents & POLLIN) {
      /* left pending: delivered when run_release restores the mask */
      out->interrupted = pending_stop_signal();
      kill(-run->pgid, out->interrupted);
      killed = 1;
      kill_at = t + KILL_GRACE_MS;
      continue;
    }
    if (pfd[CH_IN].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      close_fd(&run->ours[CH_IN]);
    } else if (pfd[CH_IN].revents & POLLOUT) {
      ssize_t w = write_nosigpipe(run->ours[CH_IN], o->stdin_data + written,
                                  o->stdin_len - written);
      if (w > 0) written += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        close_fd(&run->ours[CH_IN]);  /* EPIPE: the child stopped reading */
      if (written == o->stdin_len) close_fd(&run->ours[CH_IN]);
    }
    for (i = CH_OUT; i < NCH; i++) {
      if (pfd[i].fd >= 0 && pfd[i].revents != 0) {
        if (drain(run, i) != 0) return ENOMEM;
      }
    }
  }
  /* what of the group outlived a leader that went on SIGTERM goes now */
  if (killed) kill(-run->pgid, SIGKILL);
  return 0;
}

/*
** Blocks SIGINT and SIGTERM for the run (those not ignored and not blocked
** already) and watches them through a signalfd, so that the child's group
** is stopped before they take effect; SIGCHLD goes back to its default
** while the run waits, as an inherited SIG_IGN would let the kernel reap
** the child before us.
*/
static int setup_signals(Run *run) {
  sigset_t set, cur;
  struct sigaction sa;
  int sigs[2] = {SIGINT, SIGTERM}, i, any = 0;
  if (sigaction(SIGCHLD, NULL, &run->old_chld) == 0 &&
      (run->old_chld.sa_handler == SIG_IGN || (run->old_chld.sa_flags & SA_NOCLDWAIT))) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) == 0) run->chld_saved = 1;
  }
  sigemptyset(&set);
  sigprocmask(SIG_BLOCK, NULL, &cur);
  for (i = 0; i < 2; i++) {
    if (sigaction(sigs[i], NULL, &sa) != 0 || sa.sa_handler == SIG_IGN) continue;
    if (sigismember(&cur, sigs[i])) continue;
    sigaddset(&set, sigs[i]);
    any = 1;
  }
  if (!any) return 0;
  if (sigprocmask(SIG_BLOCK, &set, &run->oldmask) != 0) return errno;
  run->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (run->sigfd < 0) {
    int e = errno;
    sigprocmask(SIG_SETMASK, &run->oldmask, NULL);
    return e;
  }
  return 0;
}

/* reaps, without waiting, children of earlier runs that were stuck (the
** pids in the table at upvalue 1); drops those gone */
static void reap_stuck(lua_State *L) {
  int t = lua_upvalueindex(1);
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    int status;
    pid_t pid = (pid_t)lua_tointeger(L, -2);
    lua_pop(L, 1);
    if (reap(pid, &status, WNOHANG) != 0) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, t);  /* clearing a field during lua_next is allowed */
    }
  }
}

/* ---------- run and which ---------- */

static void push_result(lua_State *L, Run *run, const Outcome *oc, int rc,
                        int sig, const char *err_text) {
  lua_createtable(L, 0, 5);
  if (rc >= 0) {
    lua_pushinteger(L, rc);
    lua_setfield(L, -2, "rc");
  }
  if (sig > 0) {
    lua_pushinteger(L, sig);
    lua_setfield(L, -2, "signal");
  }
  lua_pushlstring(L, run->out.data ? run->out.data : "", run->out.len);
  lua_setfield(L, -2, "stdout");
  if (err_text != NULL)
    lua_pushstring(L, err_text);
  else
    lua_pushlstring(L, run->err.data ? run->err.data : "", run->err.len);
  lua_setfield(L, -2, "stderr");
  lua_pushboolean(L, oc->timed_out);
  lua_setfield(L, -2, "timed_out");
  if (oc->stuck) {
    char state[2] = {oc->stuck, '\0'};
    lua_pushstring(L, state);
    lua_setfield(L, -2, "stuck");
  }
}

/* the result of a program that could not be started: rc 127 */
static int not_started(lua_State *L, Run *run, const char *prog, int err) {
  Outcome oc = {0, 0, 0, 0};
  const char *msg = (err == ENOENT)
      ? lua_pushfstring(L, "%s: command not found\n", prog)
      : lua_pushfstring(L, "%s: %s\n", prog, strerror(err));
  run_release(run);
  push_result(L, run, &oc, 127, 0, msg);
  return 1;
}

static int failed(lua_State *L, Run *run, int err, const char *what) {
  run_release(run);
  return sts_pushfail(L, err, "%s: %s", what, strerror(err));
}

/*
** run(argv, opts) -> result table | nil, message, errno
*/
static int proc_run(lua_State *L) {
  Opts o;
  char **argv, **envp = environ;
  const char *prog, *path;
  Run *run;
  Outcome oc;
  int e, i;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  reap_stuck(L);
  check_opts(L, 2, &o);
  argv = check_argv(L, 1);
  if (o.env_idx) envp = build_env(L, o.env_idx);
  prog = argv[0];
  run = run_new(L);

  /* resolve the program as the child will see it (its cwd, its PATH) */
  if (o.cwd != NULL) {
    run->cwdfd = open(o.cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (run->cwdfd < 0) {
      e = errno;
      return failed(L, run, e, lua_pushfstring(L, "cwd '%s'", o.cwd));
    }
  }
  if (strchr(prog, '/') != NULL) {
    e = is_executable(run->cwdfd >= 0 ? run->cwdfd : AT_FDCWD, prog);
    if (e != 0) return not_started(L, run, prog, e);
    path = prog;
  } else {
    e = search_path(L, prog, child_path(L, o.env_idx),
                    run->cwdfd >= 0 ? run->cwdfd : AT_FDCWD);
    if (e != 0) return not_started(L, run, prog, e);
    path = lua_tostring(L, -1);  /* stays on the stack */
  }
  close_fd(&run->cwdfd);

  if (o.output_file != NULL) {
    run->outfile = open(o.output_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (run->outfile < 0) {
      e = errno;
      return failed(L, run, e, lua_pushfstring(L, "output_file '%s'", o.output_file));
    }
    if ((e = fd_above_stdio(&run->outfile)) != 0) return failed(L, run, e, "dup");
  }
  for (i = 0; i < NCH; i++) {
    if (i == CH_IN && !o.has_stdin) continue;
    if (i == CH_OUT && o.output_file != NULL) continue;
    if ((e = make_pipe(run, i)) != 0) return failed(L, run, e, "pipe");
  }
  if ((e = setup_signals(run)) != 0) return failed(L, run, e, "signals");
  e = spawn_child(run, path, argv, envp, o.cwd);
  if (e == ENOMEM || e == EAGAIN) return failed(L, run, e, "spawn");
  if (e != 0) return not_started(L, run, prog, e);

  e = serve(run, &o, &oc);
  if (e != 0) return failed(L, run, e, "running the child");
  if (oc.stuck) {
    /* remembered, so a later run reaps it once the kernel lets it go */
    lua_pushinteger(L, run->pid);
    lua_pushboolean(L, 1);
    lua_rawset(L, lua_upvalueindex(1));
    run->pid = -1;
  }
  if (oc.interrupted) {
    run_release(run);  /* the signal is delivered here, its children gone */
    return sts_pushfail(L, EINTR, "%s: interrupted by signal %d (its process group was "
                        "stopped)", prog, oc.interrupted);
  }
  /* release the descriptors; the buffers go with push_result's copy */
  for (i = 0; i < NCH; i++) close_fd(&run->ours[i]);
  push_result(L, run, &oc,
              WIFEXITED(oc.status) ? WEXITSTATUS(oc.status) : -1,
              WIFSIGNALED(oc.status) ? WTERMSIG(oc.status) : 0, NULL);
  run_release(run);
  return 1;
}

/*
** which(name) -> the full path of the executable `name` found in PATH
** (or `name` itself when it holds a slash and is executable), or nil.
*/
static int proc_which(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  const char *path;
  luaL_argcheck(L, len > 0 && strlen(name) == len, 1, "not a valid program name");
  if (strchr(name, '/') != NULL) {
    if (is_executable(AT_FDCWD, name) != 0) {
      luaL_pushfail(L);
      return 1;
    }
    lua_settop(L, 1);
    return 1;
  }
  path = getenv("PATH");
  if (search_path(L, name, (path && *path) ? path : DEFAULT_PATH, AT_FDCWD) != 0)
    luaL_pushfail(L);
  return 1;
}

/* ---------- spawn: a child left running ---------- */

/*
** spawn(argv, {output_file=, cwd=, env=}) starts a program the way run
** does, but returns at once with a Child: its stdout and stderr both go to
** output_file (truncated; /dev/null when absent), its stdin is /dev/null.
** child:poll() -> nil while it runs, else rc, signal (rc nil when it was
** killed by a signal); child:wait() blocks for the same; child:kill(sig)
** signals it (15 when sig is absent) and returns true, or fail once it is
** reaped. A Child that is collected or closed while its program still runs
** kills it with SIGKILL and reaps it, so no zombie and no orphan stays.
** A program that cannot be found is reported like run's: the Child has
** already ended with rc 127 and the reason in child.error.
*/
#define CHILD_MT "sts.proc.Child"

typedef struct {
  pid_t pid;        /* > 0 while not reaped */
  int done;         /* the exit status below is known */
  int status;
} Child;

static Child *check_child(lua_State *L) {
  return (Child *)luaL_checkudata(L, 1, CHILD_MT);
}

static void child_release(Child *c) {
  if (c->pid > 0) {
    int status;
    kill(c->pid, SIGKILL);
    reap(c->pid, &status, 0);
    c->pid = -1;
  }
}

static int child_gc(lua_State *L) {
  child_release(check_child(L));
  return 0;
}

static int push_status(lua_State *L, const Child *c) {
  if (WIFEXITED(c->status)) {
    lua_pushinteger(L, WEXITSTATUS(c->status));
    lua_pushnil(L);
  } else {
    luaL_pushfail(L);
    lua_pushinteger(L, WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0);
  }
  return 2;
}

static int child_reap(lua_State *L, int options) {
  Child *c = check_child(L);
  if (!c->done && c->pid > 0) {
    int r = reap(c->pid, &c->status, options);
    if (r == c->pid) {
      c->pid = -1;
      c->done = 1;
    } else if (r < 0) {
      return sts_pushfail(L, errno, "waiting for child: %s", strerror(errno));
    }
  }
  if (!c->done) {
    luaL_pushfail(L);
    return 1;
  }
  return push_status(L, c);
}

static int child_poll(lua_State *L) { return child_reap(L, WNOHANG); }
static int child_wait(lua_State *L) { return child_reap(L, 0); }

static int child_kill(lua_State *L) {
  Child *c = check_child(L);
  lua_Integer sig = luaL_optinteger(L, 2, SIGTERM);
  luaL_argcheck(L, sig >= 0 && sig < NSIG, 2, "not a signal number");
  if (c->pid <= 0) {
    luaL_pushfail(L);
    return 1;
  }
  if (kill(c->pid, (int)sig) != 0)
    return sts_pushfail(L, errno, "kill: %s", strerror(errno));
  lua_pushboolean(L, 1);
  return 1;
}

static int child_index(lua_State *L) {
  Child *c = check_child(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "pid") == 0) {
    if (c->pid > 0) lua_pushinteger(L, c->pid);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(key, "error") == 0) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  luaL_getmetatable(L, CHILD_MT);
  lua_getfield(L, -1, "methods");
  lua_getfield(L, -1, key);
  return 1;
}

/* spawn's options, checked field by field */
static void check_spawn_opts(lua_State *L, int idx, const char **outfile,
                             const char **cwd, int *env_idx) {
  *outfile = NULL;
  *cwd = NULL;
  *env_idx = 0;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *key;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "bad option to 'spawn' (field names must be strings, got %s)",
                 luaL_typename(L, -2));
    key = lua_tostring(L, -2);
    if (strcmp(key, "output_file") == 0 || strcmp(key, "cwd") == 0) {
      size_t l;
      const char *s;
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "bad option '%s' to 'spawn' (string expected)", key);
      s = lua_tolstring(L, -1, &l);
      if (strlen(s) != l)
        luaL_error(L, "bad option '%s' to 'spawn' (contains a NUL byte)", key);
      if (key[0] == 'o') *outfile = s;
      else *cwd = s;
    } else if (strcmp(key, "env") == 0) {
      if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "bad option 'env' to 'spawn' (table expected)");
      *env_idx = 1;
    } else {
      luaL_error(L, "bad option to 'spawn' (unknown field '%s')", key);
    }
    lua_pop(L, 1);
  }
  if (*env_idx) {
    lua_pushliteral(L, "env");  /* raw: no metamethod between check and use */
    lua_rawget(L, idx);
    *env_idx = lua_gettop(L);
  }
}

static int spawn_redirected(pid_t *pid, const char *path, char **argv,
                            char **envp, int outfd, const char *cwd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t set;
  int e;
  if ((e = posix_spawn_file_actions_init(&fa)) != 0) return e;
  if ((e = posix_spawnattr_init(&attr)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return e;
  }
  e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, outfd, 1);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, outfd, 2);
  /* as for run: only 0-2 reach the child */
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  if (e == 0 && cwd != NULL) e = posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sigemptyset(&set);
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &set);
  sigaddset(&set, SIGPIPE);
  if (e == 0) e = posix_spawnattr_setsigdefault(&attr, &set);
  if (e == 0)
    e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (e == 0) e = posix_spawn(pid, path, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return e;
}

static int proc_spawn(lua_State *L) {
  const char *outfile, *cwd, *prog, *path;
  char **argv, **envp = environ;
  int env_idx, e, outfd, dirfd = AT_FDCWD, cwdfd = -1, child_idx;
  Child *c;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  check_spawn_opts(L, 2, &outfile, &cwd, &env_idx);
  argv = check_argv(L, 1);
  if (env_idx) envp = build_env(L, env_idx);
  prog = argv[0];
  c = (Child *)lua_newuserdatauv(L, sizeof(Child), 1);
  c->pid = -1;
  c->done = 0;
  c->status = 0;
  luaL_setmetatable(L, CHILD_MT);
  child_idx = lua_gettop(L);

  if (cwd != NULL) {
    cwdfd = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwdfd < 0) {
      e = errno;
      return sts_pushfail(L, e, "cwd '%s': %s", cwd, strerror(e));
    }
    dirfd = cwdfd;
  }
  if (strchr(prog, '/') != NULL) {
    e = is_executable(dirfd, prog);
    path = prog;
  } else {
    e = search_path(L, prog, child_path(L, env_idx), dirfd);
    path = (e == 0) ? lua_tostring(L, -1) : NULL;  /* stays on the stack */
  }
  if (cwdfd >= 0) close(cwdfd);
  if (e != 0) {
    /* like run's: a child that has already ended with 127, and why */
    c->done = 1;
    c->status = 127 << 8;
    if (e == ENOENT) lua_pushfstring(L, "%s: command not found", prog);
    else lua_pushfstring(L, "%s: %s", prog, strerror(e));
    lua_setiuservalue(L, child_idx, 1);
    lua_pushvalue(L, child_idx);
    return 1;
  }
  outfd = open(outfile != NULL ? outfile : "/dev/null",
               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (outfd < 0) {
    e = errno;
    return sts_pushfail(L, e, "output_file '%s': %s", outfile, strerror(e));
  }
  if ((e = fd_above_stdio(&outfd)) != 0) {
    close(outfd);
    return sts_pushfail(L, e, "dup: %s", strerror(e));
  }
  e = spawn_redirected(&c->pid, path, argv, envp, outfd, cwd);
  close(outfd);
  if (e != 0) {
    c->pid = -1;
    return sts_pushfail(L, e, "spawn %s: %s", prog, strerror(e));
  }
  lua_pushvalue(L, child_idx);
  return 1;
}

static const luaL_Reg child_methods[] = {
  {"poll", child_poll},
  {"wait", child_wait},
  {"kill", child_kill},
  {NULL, NULL}
};

static const luaL_Reg child_meta[] = {
  {"__gc", child_gc},
  {"__close", child_gc},
  {"__index", child_index},
  {NULL, NULL}
};

static const luaL_Reg run_meta[] = {
  {"__gc", run_gc},
  {NULL, NULL}
};

static const luaL_Reg proc_funcs[] = {
  {"run", proc_run},
  {"which", proc_which},
  {"spawn", proc_spawn},
  {NULL, NULL}
};

int sts_open_proc(lua_State *L) {
  if (luaL_newmetatable(L, RUN_MT)) luaL_setfuncs(L, run_meta, 0);
  lua_pop(L, 1);
  if (luaL_newmetatable(L, CHILD_MT)) {
    luaL_setfuncs(L, child_meta, 0);
    luaL_newlib(L, child_methods);
    lua_setfield(L, -2, "methods");
  }
  lua_pop(L, 1);
  lua_settop(L, 1);
  lua_newtable(L);  /* pids of stuck children, shared by the functions */
  luaL_setfuncs(L, proc_funcs, 1);
  return 0;
}

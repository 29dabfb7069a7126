/*
** The benchmarks' floor: the same device-mapper work as the stslua
** workloads, done by C calling libdevmapper directly, with no interpreter
** in the loop. Each operation issues the same ioctls, in the same order,
** with the same udev cookie handling as src/dm.c does for it:
**
**   create  CREATE (node made on create, no cookie, then update_nodes),
**           RELOAD, RESUME (cookie), then INFO for the new device's fields
**           (dm.create does this)
**   remove  REMOVE (cookie)
**   get_all LIST; INFO per device only when the list carries no uuid;
**           TABLE per device, formatted as text (d.table)
**   status  STATUS, formatted as text (d:status())
**
** It is built as a Lua C module (build/bench/sts/floor.so) so that the
** sandbox carries it into the guest next to stslua; the driver calls each
** function once per run, and each function runs the whole workload in C.
** exec() starts a program directly (posix_spawn, output to /dev/null) for
** the wrapper-overhead workload.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libdevmapper.h>
#include <linux/dm-ioctl.h>
#include <lua.h>
#include <lauxlib.h>

int luaopen_bench_floor(lua_State *L);

extern char **environ;

/* a growable text buffer, like the string d.table builds */
typedef struct {
  char *p;
  size_t len, cap;
} Text;

static int text_add(Text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    char *p;
    while (cap < t->len + n + 1) cap *= 2;
    p = realloc(t->p, cap);
    if (p == NULL) return 0;
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = '\0';
  return 1;
}

/* the rows of a TABLE or STATUS task as "start size type params" lines */
static int format_rows(struct dm_task *dmt, Text *t) {
  void *next = NULL;
  t->len = 0;
  do {
    uint64_t start, length;
    char *type = NULL, *params = NULL;
    char head[64];
    int n;
    next = dm_get_next_target(dmt, next, &start, &length, &type, &params);
    if (type == NULL) break;
    n = snprintf(head, sizeof head, "%s%" PRIu64 " %" PRIu64 " ", t->len ? "\n" : "", start,
                 length);
    if (n < 0 || (size_t)n >= sizeof head) return 0;
    if (!text_add(t, head, (size_t)n) || !text_add(t, type, strlen(type))) return 0;
    if (params != NULL && *params != '\0' &&
        (!text_add(t, " ", 1) || !text_add(t, params, strlen(params))))
      return 0;
  } while (next != NULL);
  return 1;
}

static int run_with_cookie(struct dm_task *dmt) {
  uint32_t cookie = 0;
  int ok;
  if (!dm_task_set_cookie(dmt, &cookie, 0)) return 0;
  ok = dm_task_run(dmt);
  (void)dm_udev_wait(cookie);
  return ok;
}

/* one task of `type` on `name`; cookie: with udev cookie handling */
static int simple_task(int type, const char *name, int cookie) {
  struct dm_task *dmt = dm_task_create(type);
  int ok;
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name);
  if (ok) ok = cookie ? run_with_cookie(dmt) : dm_task_run(dmt);
  dm_task_destroy(dmt);
  return ok;
}

static int create_device(const char *name, const char *uuid, uint64_t size, const char *type,
                         const char *params) {
  struct dm_task *dmt = dm_task_create(DM_DEVICE_CREATE);
  struct dm_info info;
  int ok;
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name);
  if (ok && uuid != NULL) ok = dm_task_set_uuid(dmt, uuid);
  if (ok) ok = dm_task_set_add_node(dmt, DM_ADD_NODE_ON_CREATE);
  if (ok) {
    ok = dm_task_run(dmt);
    dm_task_update_nodes();
  }
  dm_task_destroy(dmt);
  if (!ok) return 0;
  dmt = dm_task_create(DM_DEVICE_RELOAD);
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name) && dm_task_add_target(dmt, 0, size, type, params) &&
       dm_task_run(dmt);
  dm_task_destroy(dmt);
  if (!ok) return 0;
  if (!simple_task(DM_DEVICE_RESUME, name, 1)) return 0;
  /* dm.create reads the new device's info for its fields */
  dmt = dm_task_create(DM_DEVICE_INFO);
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name) && dm_task_run(dmt) && dm_task_get_info(dmt, &info) &&
       info.exists && dm_task_get_uuid(dmt) != NULL;
  dm_task_destroy(dmt);
  return ok;
}

static int fail(lua_State *L, const char *what, const char *name) {
  lua_pushnil(L);
  lua_pushfstring(L, "floor: %s %s failed", what, name);
  return 2;
}

/* create_remove(prefix, n, backing) -> true | nil, message: creates
** PREFIX1..PREFIXn, each "0 1 linear BACKING 0", then removes them */
static int l_create_remove(lua_State *L) {
  const char *prefix = luaL_checkstring(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2), i;
  const char *backing = luaL_checkstring(L, 3);
  char name[256], params[512];
  if ((size_t)snprintf(params, sizeof params, "%s 0", backing) >= sizeof params)
    return luaL_argerror(L, 3, "too long");
  if (strlen(prefix) > 200) return luaL_argerror(L, 1, "too long");
  for (i = 1; i <= n; i++) {
    snprintf(name, sizeof name, "%s%lld", prefix, (long long)i);
    if (!create_device(name, NULL, 1, "linear", params)) return fail(L, "create", name);
  }
  for (i = 1; i <= n; i++) {
    snprintf(name, sizeof name, "%s%lld", prefix, (long long)i);
    if (!simple_task(DM_DEVICE_REMOVE, name, 1)) return fail(L, "remove", name);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* the uuid of `name` by an INFO ioctl, copied into `out` (empty for none) */
static int info_uuid(const char *name, char *out, size_t cap) {
  struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
  struct dm_info info;
  const char *uuid;
  int ok;
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name) && dm_task_run(dmt) && dm_task_get_info(dmt, &info);
  if (ok) {
    uuid = info.exists ? dm_task_get_uuid(dmt) : NULL;
    snprintf(out, cap, "%s", uuid ? uuid : "");
  }
  dm_task_destroy(dmt);
  return ok;
}

/* get_all() -> number of devices | nil, message: every device's name,
** uuid and live table text, read as DmDevice.get_all() and d.table do */
static int l_get_all(lua_State *L) {
  struct dm_task *list = dm_task_create(DM_DEVICE_LIST), *dmt;
  struct dm_names *names;
  Text table = {NULL, 0, 0};
  char uuid[DM_UUID_LEN + 1];
  lua_Integer count = 0;
  size_t total = 0;
  if (list == NULL || !dm_task_run(list)) {
    if (list != NULL) dm_task_destroy(list);
    return fail(L, "list", "devices");
  }
  names = dm_task_get_names(list);
  while (names != NULL && names->dev != 0) {
    size_t nlen = strlen(names->name);
    uintptr_t aligned = ((uintptr_t)(names->name + nlen + 1) + 7) & ~(uintptr_t)7;
    const uint32_t *extra = (const uint32_t *)aligned;
    int have_uuid = 0, ok;
    if (names->next == 0 || (const char *)(extra + 2) <= (const char *)names + names->next) {
      if (extra[1] & DM_NAME_LIST_FLAG_HAS_UUID) {
        snprintf(uuid, sizeof uuid, "%s", (const char *)(extra + 2));
        have_uuid = 1;
      } else if (extra[1] & DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID) {
        uuid[0] = '\0';
        have_uuid = 1;
      }
    }
    if (!have_uuid && !info_uuid(names->name, uuid, sizeof uuid)) break;
    dmt = dm_task_create(DM_DEVICE_TABLE);
    ok = dmt != NULL && dm_task_set_name(dmt, names->name) && dm_task_run(dmt) &&
         format_rows(dmt, &table);
    if (dmt != NULL) dm_task_destroy(dmt);
    if (!ok) break;
    total += nlen + strlen(uuid) + table.len;
    count++;
    if (names->next == 0) {
      names = NULL;
      break;
    }
    names = (struct dm_names *)((char *)names + names->next);
  }
  free(table.p);
  dm_task_destroy(list);
  if (names != NULL && names->dev != 0) return fail(L, "get_all on", "a device");
  (void)total;
  lua_pushinteger(L, count);
  return 1;
}

/* status(name, n) -> true | nil, message: n status reads as text */
static int l_status(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2), i;
  Text text = {NULL, 0, 0};
  for (i = 0; i < n; i++) {
    struct dm_task *dmt = dm_task_create(DM_DEVICE_STATUS);
    struct dm_info info;
    int ok = dmt != NULL && dm_task_set_name(dmt, name) && dm_task_run(dmt) &&
             dm_task_get_info(dmt, &info) && info.exists && format_rows(dmt, &text);
    if (dmt != NULL) dm_task_destroy(dmt);
    if (!ok) {
      free(text.p);
      return fail(L, "status of", name);
    }
  }
  free(text.p);
  lua_pushboolean(L, 1);
  return 1;
}

/* exec(path, args...) -> exit status | nil, message: runs the program
** directly, its output to /dev/null, and waits for it */
static int l_exec(lua_State *L) {
  int argc = lua_gettop(L), i, status, rc;
  char **argv;
  pid_t pid;
  posix_spawn_file_actions_t fa;
  for (i = 1; i <= argc; i++) luaL_checkstring(L, i);
  argv = calloc((size_t)argc + 1, sizeof *argv);
  if (argv == NULL) return fail(L, "exec", "(out of memory)");
  for (i = 1; i <= argc; i++) argv[i - 1] = (char *)lua_tostring(L, i);
  if (posix_spawn_file_actions_init(&fa) != 0) {
    free(argv);
    return fail(L, "exec", lua_tostring(L, 1));
  }
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(argv);
  if (rc != 0) return fail(L, "exec", lua_tostring(L, 1));
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(L, "wait for", lua_tostring(L, 1));
  }
  lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 1;
}

static const luaL_Reg funcs[] = {
  {"create_remove", l_create_remove},
  {"get_all", l_get_all},
  {"status", l_status},
  {"exec", l_exec},
  {NULL, NULL}
};

int luaopen_bench_floor(lua_State *L) {
  dm_udev_set_sync_support(1);
  luaL_newlib(L, funcs);
  return 1;
}

/*
** sts.core.dm: the libdevmapper operations.
**
** Every operation is one or a few ioctls through libdevmapper, addressed by
** the device's mapper name, and goes through one task helper (task_new,
** task_run, task_fail, task_end) that carries the create-task, set-name,
** run, error sequence. Operational failures return nil, a message and
** errno (the message holds what libdevmapper logged while the operation
** ran, see dmlog.c); programming mistakes raise. Options are tables (no
** positional flags). The Lua half (lua/sts/dm.lua) builds the DmDevice API
** and the domain errors on top of these functions; the DmDevice object
** itself is device.c.
*/
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <libdevmapper.h>
#include <linux/dm-ioctl.h>

#include "sts.h"

#define TASK_MT "sts.dm.task"

/* the kernel's limits, with the terminating NUL: DM_NAME_LEN, DM_UUID_LEN */
#define NAME_MAX_BYTES (DM_NAME_LEN - 1)
#define UUID_MAX_BYTES (DM_UUID_LEN - 1)

/* ------------------------------------------------------------------ tasks */

/*
** A dm_task in a box, with what its failure message names. The box is
** made before the task, so that if anything raises while the task is
** alive (out of memory while pushing results), __gc destroys it.
*/
typedef struct {
  struct dm_task *dmt;
  const char *op, *what;  /* "suspend", the device name: static or anchored */
  int err;                /* errno of a failed create or set-name */
} Task;

enum { TASK_PLAIN = 0, TASK_COOKIE = 1 };

/* the path of the control node, /dev/mapper/control */
static const char *control_path(char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", dm_dir(), DM_CONTROL_NODE);
  return buf;
}

/*
** Why libdevmapper could not make a task: dm_task_create checks the
** driver's version first, and when that fails it has logged text but no
** errno (and says nothing at all on later calls). The control node tells:
** no node or no driver (ENOENT, ENODEV, ENXIO), no permission (EACCES);
** when it opens, the driver answered and the versions do not match (EPROTO).
*/
static int task_create_errno(void) {
  char path[PATH_MAX];
  int fd;
  if (sts_dmlog_errno() != 0) return sts_dmlog_errno();
  fd = open(control_path(path, sizeof path), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  close(fd);
  return EPROTO;
}

/*
** libdevmapper opens its control descriptor without O_CLOEXEC: once it is
** open (after the first task ran), mark it close-on-exec, so that no
** program started by other means (io.popen, os.execute) inherits it. Our
** own runner closes everything above 2 in the child anyway. The descriptor
** is process-wide, and so is this flag.
*/
static void control_cloexec(void) {
  static int done;
  char path[PATH_MAX];
  struct stat ctl;
  struct dirent *e;
  DIR *d;
  if (done || stat(control_path(path, sizeof path), &ctl) != 0) return;
  if ((d = opendir("/proc/self/fd")) == NULL) return;
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    int fd = atoi(e->d_name), flags;
    if (fd <= 2 || fd == dirfd(d) || fstat(fd, &st) != 0) continue;
    if (!S_ISCHR(st.st_mode) || st.st_rdev != ctl.st_rdev) continue;
    flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0) done = 1;
  }
  closedir(d);
}

static void task_end(Task *t) {
  if (t->dmt != NULL) {
    dm_task_destroy(t->dmt);
    t->dmt = NULL;
  }
}

static int task_gc(lua_State *L) {
  task_end((Task *)luaL_checkudata(L, 1, TASK_MT));
  return 0;
}

/*
** Pushes a box holding a new task of `type` for `name` (NULL: a task that
** names no device). t->dmt is NULL when libdevmapper could not make or name
** it; the caller then returns task_fail(L, t, 0).
*/
static Task *task_new(lua_State *L, int type, const char *name, const char *op,
                      const char *what) {
  Task *t = (Task *)lua_newuserdatauv(L, sizeof(Task), 0);
  t->dmt = NULL;
  t->op = op;
  t->what = what != NULL ? what : name;
  t->err = 0;
  luaL_setmetatable(L, TASK_MT);
  sts_dmlog_reset();
  t->dmt = dm_task_create(type);
  if (t->dmt == NULL) {
    t->err = task_create_errno();
  } else if (name != NULL && !dm_task_set_name(t->dmt, name)) {
    t->err = sts_dmlog_errno() != 0 ? sts_dmlog_errno() : EINVAL;
    task_end(t);
  }
  return t;
}

/* runs the task; with TASK_COOKIE it syncs with udev: with udev running,
** waits for its node work; without, libdevmapper makes/removes the nodes
** itself when we wait */
static int task_run(Task *t, int flags) {
  uint32_t cookie = 0;
  int ok;
  if (t->dmt == NULL) return 0;
  if (!(flags & TASK_COOKIE)) {
    ok = dm_task_run(t->dmt);
  } else {
    if (!dm_task_set_cookie(t->dmt, &cookie, 0)) return 0;
    ok = dm_task_run(t->dmt);
    (void)dm_udev_wait(cookie);
  }
  control_cloexec();
  return ok;
}

/* the errno of a failed task: the kernel's, else what the log reported */
static int task_errno(const Task *t) {
  int e = t->dmt != NULL ? dm_task_get_errno(t->dmt) : t->err;
  return e != 0 ? e : sts_dmlog_errno();
}

/* ends a failed task and pushes nil, message, errno (err 0: the task's) */
static int task_fail(lua_State *L, Task *t, int err) {
  if (err == 0) err = task_errno(t);
  task_end(t);
  return sts_dmfail(L, t->op, t->what, err);
}

/* ends a task that needs no results and pushes true */
static int task_done(lua_State *L, Task *t) {
  task_end(t);
  lua_pushboolean(L, 1);
  return 1;
}

/* The rows of a run TABLE or STATUS task, one at a time:
**   TargetIter it = {0};  while (next_target(dmt, &it)) ... */
typedef struct {
  void *next;
  int done;
  uint64_t start, length;
  char *type, *params;
} TargetIter;

static int next_target(struct dm_task *dmt, TargetIter *it) {
  if (it->done) return 0;
  it->type = it->params = NULL;
  it->next = dm_get_next_target(dmt, it->next, &it->start, &it->length, &it->type,
                                &it->params);
  if (it->next == NULL) it->done = 1;
  if (it->type == NULL) return 0;
  if (it->params == NULL) it->params = (char *)"";
  return 1;
}

/* the INFO of name into *info, and its uuid into uuid ("" for none) when
** uuid is not NULL; false with *err set when the ioctl fails. For loops
** that must not grow the stack: nothing here touches Lua. */
static int info_of(const char *name, struct dm_info *info, char uuid[DM_UUID_LEN], int *err) {
  struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
  int ok;
  if (dmt == NULL) {
    *err = task_create_errno();
    return 0;
  }
  ok = dm_task_set_name(dmt, name) && dm_task_run(dmt) && dm_task_get_info(dmt, info);
  if (!ok) {
    *err = dm_task_get_errno(dmt) != 0 ? dm_task_get_errno(dmt) : sts_dmlog_errno();
    if (*err == 0) *err = EIO;
  } else if (uuid != NULL) {
    const char *u = info->exists ? dm_task_get_uuid(dmt) : NULL;
    snprintf(uuid, DM_UUID_LEN, "%s", u != NULL ? u : "");
  }
  dm_task_destroy(dmt);
  return ok;
}

/* ----------------------------------------------------------------- checks */

static const char *check_name(lua_State *L, int arg) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  if (len == 0) luaL_argerror(L, arg, "device name is empty");
  if (len > NAME_MAX_BYTES)
    luaL_argerror(L, arg, lua_pushfstring(L, "device name is %d bytes, the kernel allows %d",
                                          (int)len, NAME_MAX_BYTES));
  if (strlen(name) != len) luaL_argerror(L, arg, "device name holds a NUL byte");
  if (strchr(name, '/') != NULL) luaL_argerror(L, arg, "device name holds a '/'");
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    luaL_argerror(L, arg, "device name cannot be '.' or '..'");
  return name;
}

static const char *check_uuid(lua_State *L, int arg) {
  size_t len;
  const char *uuid = luaL_checklstring(L, arg, &len);
  if (len > UUID_MAX_BYTES)
    luaL_argerror(L, arg, lua_pushfstring(L, "uuid is %d bytes, the kernel allows %d",
                                          (int)len, UUID_MAX_BYTES));
  if (strlen(uuid) != len) luaL_argerror(L, arg, "uuid holds a NUL byte");
  return uuid;
}

/*
** The options table at `arg` (none or nil: no options): every key must be
** one of `known` (NULL-terminated); the result has bit i set when option
** known[i] is true. Options named in `strings` (a mask of the same bits)
** must be strings, the others booleans. Read raw (lua_next), once.
*/
static unsigned check_opts(lua_State *L, int arg, const char *fn, const char *const known[],
                           unsigned strings) {
  unsigned flags = 0;
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    int which = sts_optindex(L, fn, known);
    int want = ((strings >> which) & 1u) ? LUA_TSTRING : LUA_TBOOLEAN;
    if (lua_type(L, -1) != want)
      luaL_error(L, "bad option '%s' to '%s' (%s expected, got %s)", known[which], fn,
                 lua_typename(L, want), luaL_typename(L, -1));
    if (lua_toboolean(L, -1)) flags |= 1u << which;
    lua_pop(L, 1);
  }
  return flags;
}

/* a target row as read from the Lua list */
typedef struct {
  uint64_t start, size;
  const char *type, *args;  /* anchored by the row table, on the stack */
} Row;

/*
** Target lists ({start=, size=, type=, args=} rows) are read raw
** (lua_rawlen, lua_rawgeti, lua_rawget with keys pushed beforehand), so no
** metamethod runs and nothing allocates between reading a row, checking it
** and handing it to libdevmapper, which copies it. A list is read twice:
** once to check it all before anything is made (create stays atomic), and
** again into the task, where each row is checked once more, because the
** allocations in between (a finalizer, say) could have changed it.
*/
static int push_row_keys(lua_State *L) {
  luaL_checkstack(L, 12, "target list");
  lua_pushliteral(L, "start");
  lua_pushliteral(L, "size");
  lua_pushliteral(L, "type");
  lua_pushliteral(L, "args");
  return lua_gettop(L) - 3;
}

/* pushes row i of the list at arg and its four fields into *r; NULL, or
** what is wrong with it (the five values are pushed either way) */
static const char *read_row(lua_State *L, int arg, int keys, lua_Integer i, Row *r) {
  int row = lua_gettop(L) + 1;
  size_t len;
  int tstart, tsize, ttype, targs;
  if (lua_rawgeti(L, arg, i) != LUA_TTABLE) {
    lua_settop(L, row + 4);
    return "not a table";
  }
  lua_pushvalue(L, keys);
  tstart = lua_rawget(L, row);
  lua_pushvalue(L, keys + 1);
  tsize = lua_rawget(L, row);
  lua_pushvalue(L, keys + 2);
  ttype = lua_rawget(L, row);
  lua_pushvalue(L, keys + 3);
  targs = lua_rawget(L, row);
  if (tstart != LUA_TNUMBER || !lua_isinteger(L, row + 1) || lua_tointeger(L, row + 1) < 0)
    return "start must be an integer >= 0";
  if (tsize != LUA_TNUMBER || !lua_isinteger(L, row + 2) || lua_tointeger(L, row + 2) <= 0)
    return "size must be an integer > 0";
  if (ttype != LUA_TSTRING) return "type must be a string";
  r->type = lua_tolstring(L, row + 3, &len);
  if (len == 0 || strlen(r->type) != len || len >= DM_MAX_TYPE_NAME) return "bad type name";
  if (targs != LUA_TSTRING) return "args must be a string";
  r->args = lua_tolstring(L, row + 4, &len);
  if (strlen(r->args) != len || strchr(r->args, '\n') != NULL)
    return "args hold a NUL or newline";
  r->start = (uint64_t)lua_tointeger(L, row + 1);
  r->size = (uint64_t)lua_tointeger(L, row + 2);
  return NULL;
}

/* checks the target list at `arg`, raising naming the first bad row */
static void check_targets(lua_State *L, int arg) {
  lua_Unsigned i, n;
  int keys, top = lua_gettop(L);
  luaL_checktype(L, arg, LUA_TTABLE);
  n = lua_rawlen(L, arg);
  luaL_argcheck(L, n > 0, arg, "the target list is empty (no targets: pass nil)");
  luaL_argcheck(L, n <= INT32_MAX, arg, "too many targets");
  keys = push_row_keys(L);
  for (i = 1; i <= n; i++) {
    Row r;
    const char *why = read_row(L, arg, keys, (lua_Integer)i, &r);
    if (why != NULL) luaL_argerror(L, arg, lua_pushfstring(L, "target %d: %s", (int)i, why));
    lua_pop(L, 5);
  }
  lua_settop(L, top);
}

/* adds the (checked) target list at `arg` to the task; 0 with EINVAL in
** *err when it no longer passes the checks */
static int add_targets(lua_State *L, int arg, struct dm_task *dmt, int *err) {
  lua_Unsigned i, n = lua_rawlen(L, arg);
  int keys = push_row_keys(L), ok = n > 0;
  *err = EINVAL;
  for (i = 1; ok && i <= n; i++) {
    Row r;
    ok = read_row(L, arg, keys, (lua_Integer)i, &r) == NULL;
    if (ok) {
      ok = dm_task_add_target(dmt, r.start, r.size, r.type, r.args);
      if (!ok) *err = 0;  /* libdevmapper's own reason */
    }
    lua_pop(L, 5);
  }
  lua_pop(L, 4);
  return ok;
}

/*
** For bulk.c: the target list at `arg`, checked, copied once into a block
** pushed on the stack whose uservalue anchors the strings (the rows then
** stay valid without Lua, on other threads, while the block lives).
*/
const StsRow *sts_dm_read_targets(lua_State *L, int arg, size_t *count) {
  lua_Unsigned i, n;
  StsRow *rows;
  int keys, block, anchor;
  arg = lua_absindex(L, arg);
  check_targets(L, arg);
  n = lua_rawlen(L, arg);
  rows = lua_newuserdatauv(L, (size_t)n * sizeof *rows, 1);
  block = lua_gettop(L);
  lua_createtable(L, (int)(2 * n), 0);
  anchor = lua_gettop(L);
  keys = push_row_keys(L);
  for (i = 1; i <= n; i++) {
    Row r;
    const char *why = read_row(L, arg, keys, (lua_Integer)i, &r);
    if (why != NULL) luaL_argerror(L, arg, lua_pushfstring(L, "target %d: %s", (int)i, why));
    rows[i - 1].start = r.start;
    rows[i - 1].size = r.size;
    rows[i - 1].type = r.type;
    rows[i - 1].args = r.args;
    lua_pushvalue(L, -2);
    lua_rawseti(L, anchor, (lua_Integer)(2 * i - 1));
    lua_pushvalue(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)(2 * i));
    lua_pop(L, 5);
  }
  lua_settop(L, anchor);
  lua_setiuservalue(L, block, 1);
  *count = (size_t)n;
  return rows;
}

const char *sts_dm_check_name(lua_State *L, int arg) { return check_name(L, arg); }
const char *sts_dm_check_uuid(lua_State *L, int arg) { return check_uuid(L, arg);}

/* ----------------------------------------------------------------- queries */

static void push_info(lua_State *L, const struct dm_info *info, const char *name,
                      const char *uuid) {
  lua_createtable(L, 0, 13);
  lua_pushboolean(L, info->exists);
  lua_setfield(L, -2, "exists");
  if (!info->exists) return;
  lua_pushboolean(L, info->suspended);
  lua_setfield(L, -2, "suspended");
  lua_pushboolean(L, info->read_only);
  lua_setfield(L, -2, "read_only");
  lua_pushinteger(L, info->open_count);
  lua_setfield(L, -2, "open_count");
  lua_pushinteger(L, info->event_nr);
  lua_setfield(L, -2, "event_nr");
  lua_pushinteger(L, info->major);
  lua_setfield(L, -2, "major");
  lua_pushinteger(L, info->minor);
  lua_setfield(L, -2, "minor");
  lua_pushboolean(L, info->live_table);
  lua_setfield(L, -2, "live_table");
  lua_pushboolean(L, info->inactive_table);
  lua_setfield(L, -2, "inactive_table");
  lua_pushinteger(L, info->target_count);
  lua_setfield(L, -2, "target_count");
  lua_pushboolean(L, info->deferred_remove);
  lua_setfield(L, -2, "deferred_remove");
  if (name != NULL) {
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
  }
  if (uuid != NULL) {
    lua_pushstring(L, uuid);
    lua_setfield(L, -2, "uuid");
  }
}

/* runs an INFO task and pushes its table ({exists=false} when there is no
** such device), or the failure */
static int info_result(lua_State *L, Task *t, const char *name) {
  struct dm_info info;
  if (!task_run(t, TASK_PLAIN) || !dm_task_get_info(t->dmt, &info)) return task_fail(L, t, 0);
  push_info(L, &info, info.exists ? dm_task_get_name(t->dmt) : name,
            info.exists ? dm_task_get_uuid(t->dmt) : NULL);
  task_end(t);
  return 1;
}

/* info(name) -> info table, or nil, message, errno */
static int l_info(lua_State *L) {
  const char *name = check_name(L, 1);
  Task *t = task_new(L, DM_DEVICE_INFO, name, "info", NULL);
  if (t->dmt == NULL) return task_fail(L, t, 0);
  return info_result(L, t, name);
}

/* info_devno(major, minor) -> info table, or nil, message, errno */
static int l_info_devno(lua_State *L) {
  lua_Integer major = luaL_checkinteger(L, 1), minor = luaL_checkinteger(L, 2);
  Task *t;
  luaL_argcheck(L, major >= 0 && major <= INT32_MAX, 1, "major out of range");
  luaL_argcheck(L, minor >= 0 && minor <= INT32_MAX, 2, "minor out of range");
  t = task_new(L, DM_DEVICE_INFO, NULL, "info", "device");
  if (t->dmt == NULL) return task_fail(L, t, 0);
  if (!dm_task_set_major_minor(t->dmt, (int)major, (int)minor, 0)) return task_fail(L, t, EINVAL);
  return info_result(L, t, NULL);
}

/* the optional fields after a dm_names record's name: event number and
** uuid (dm 4.37 and 4.46), there only when the kernel flags them, and only
** within this record; sets *uuid (NULL when the record carries none) */
static int names_extra(const struct dm_names *names, uint32_t *event_nr, const char **uuid) {
  size_t nlen = strlen(names->name);
  const char *after = names->name + nlen + 1;
  uintptr_t aligned = ((uintptr_t)after + 7) & ~(uintptr_t)7;
  const uint32_t *extra = (const uint32_t *)aligned;
  *uuid = NULL;
  if (names->next != 0 && (const char *)(extra + 2) > (const char *)names + names->next)
    return 0;
  if (!(extra[1] & (DM_NAME_LIST_FLAG_HAS_UUID | DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID)))
    return 0;
  *event_nr = extra[0];
  *uuid = (extra[1] & DM_NAME_LIST_FLAG_HAS_UUID) ? (const char *)(extra + 2) : "";
  return 1;
}

enum { LIST_UUIDS = 1, LIST_DEVICES = 2, LIST_BY_INFO = 4 };

/*
** list{uuids=, devices=, by_info=} -> list of {name=, major=, minor=, event_nr=?,
** uuid=?}, or with devices, of DmDevices (fields dm_name, major, minor,
** uuid; no uuid field when the device has none).
** The kernel reports event numbers and uuids in the list itself (dm 4.37
** and 4.46) when asked, which saves an ioctl per device; libdevmapper does
** not ask, so with uuids each uuid the list lacks is read here by an INFO
** ioctl (in C: get_all reads every device's uuid this way).
*/
static int l_list(lua_State *L) {
  static const char *const known[] = {"uuids", "devices", "by_info", NULL};
  unsigned opts = check_opts(L, 1, "list", known, 0);
  int with_uuids = (opts & LIST_UUIDS) != 0, as_devices = (opts & LIST_DEVICES) != 0;
  Task *t;
  /* one ioctl with the uuids in it, where the kernel can (bulk.c);
  ** by_info: an INFO per device instead, as on older kernels */
  if (with_uuids && !(opts & LIST_BY_INFO) && sts_dm_list_uuids(L, as_devices)) return 1;
  t = task_new(L, DM_DEVICE_LIST, NULL, "list", "devices");
  struct dm_names *names;
  int i = 0;
  if (!task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  lua_newtable(L);
  names = dm_task_get_names(t->dmt);
  if (names != NULL && names->dev != 0) {
    for (;;) {
      uint32_t event_nr = 0;
      const char *uuid;
      char read_uuid[DM_UUID_LEN];
      struct dm_info info;
      int err, has_extra = names_extra(names, &event_nr, &uuid);
      /* a device removed since the list was read gets no uuid */
      if (uuid == NULL && with_uuids && info_of(names->name, &info, read_uuid, &err) &&
          info.exists)
        uuid = read_uuid;
      lua_createtable(L, 0, 5);
      lua_pushstring(L, names->name);
      lua_setfield(L, -2, as_devices ? "dm_name" : "name");
      lua_pushinteger(L, major(names->dev));
      lua_setfield(L, -2, "major");
      lua_pushinteger(L, minor(names->dev));
      lua_setfield(L, -2, "minor");
      if (has_extra && !as_devices) {
        lua_pushinteger(L, event_nr);
        lua_setfield(L, -2, "event_nr");
      }
      if (uuid != NULL && (*uuid != '\0' || !as_devices)) {
        lua_pushstring(L, uuid);
        lua_setfield(L, -2, "uuid");
      }
      if (as_devices) sts_push_device(L);
      lua_rawseti(L, -2, ++i);
      if (names->next == 0) break;
      names = (struct dm_names *)((char *)names + names->next);
    }
  }
  task_end(t);
  return 1;
}

/* the version of libdevmapper, and of the kernel driver (nil, reason
** when there is none) */
static int l_versions(lua_State *L) {
  char lib[64], drv[64];
  if (!dm_get_library_version(lib, sizeof lib)) strcpy(lib, "unknown");
  lua_pushstring(L, lib);
  sts_dmlog_reset();
  if (dm_driver_version(drv, sizeof drv)) {
    lua_pushstring(L, drv);
    return 2;
  }
  luaL_pushfail(L);
  lua_pushstring(L, sts_dmlog_text() != NULL ? sts_dmlog_text() : "no device-mapper driver");
  return 3;
}

/* target_versions() -> list of {name=, version="x.y.z"} */
static int l_target_versions(lua_State *L) {
  Task *t = task_new(L, DM_DEVICE_LIST_VERSIONS, NULL, "list", "target versions");
  struct dm_versions *v;
  int i = 0;
  if (!task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  lua_newtable(L);
  for (v = dm_task_get_versions(t->dmt); v != NULL;) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, v->name);
    lua_setfield(L, -2, "name");
    lua_pushfstring(L, "%d.%d.%d", (int)v->version[0], (int)v->version[1],
                    (int)v->version[2]);
    lua_setfield(L, -2, "version");
    lua_rawseti(L, -2, ++i);
    if (v->next == 0) break;
    v = (struct dm_versions *)((char *)v + v->next);
  }
  task_end(t);
  return 1;
}

/* the rows of a run TABLE or STATUS task as text, one "start size type
** args" line per target (the shape of dmsetup's output), pushed */
static void push_rows_text(lua_State *L, struct dm_task *dmt) {
  luaL_Buffer b;
  TargetIter it = {0};
  int first = 1;
  luaL_buffinit(L, &b);
  while (next_target(dmt, &it)) {
    /* two 20-digit numbers and their spaces always fit */
    char head[48];
    int n = snprintf(head, sizeof head, "%s%" PRIu64 " %" PRIu64 " ", first ? "" : "\n",
                     it.start, it.length);
    first = 0;
    luaL_addlstring(&b, head, (size_t)n);
    luaL_addstring(&b, it.type);
    if (*it.params != '\0') {
      luaL_addchar(&b, ' ');
      luaL_addstring(&b, it.params);
    }
  }
  luaL_pushresult(&b);
}

/* the rows of a run TABLE or STATUS task as a list of {start, size, type, args} */
static void push_rows(lua_State *L, struct dm_task *dmt) {
  TargetIter it = {0};
  int i = 0;
  lua_newtable(L);
  while (next_target(dmt, &it)) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)it.start);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, (lua_Integer)it.length);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, it.type);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, it.params);
    lua_setfield(L, -2, "args");
    lua_rawseti(L, -2, ++i);
  }
}

enum { ROWS_TEXT = 1, ROWS_NOFLUSH = 2, ROWS_INACTIVE = 4 };

/* the rows of a TABLE or STATUS task on name, as a list or as text */
static int push_targets(lua_State *L, int type, const char *op, const char *name,
                        unsigned flags) {
  struct dm_info info;
  Task *t = task_new(L, type, name, op, NULL);
  int ok = t->dmt != NULL;
  if (ok && (flags & ROWS_NOFLUSH)) ok = dm_task_no_flush(t->dmt);
  if (ok && (flags & ROWS_INACTIVE)) ok = dm_task_query_inactive_table(t->dmt);
  if (!ok || !task_run(t, TASK_PLAIN) || !dm_task_get_info(t->dmt, &info))
    return task_fail(L, t, 0);
  if (!info.exists) return task_fail(L, t, ENXIO);
  if (flags & ROWS_TEXT)
    push_rows_text(L, t->dmt);
  else
    push_rows(L, t->dmt);
  task_end(t);
  return 1;
}

/*
** table(name, {inactive=, text=}) -> list of {start, size, type, args}: the
** live (or inactive) table of name; with text, those rows as one string, a
** line per target (the form d.table returns, made without a table per row).
*/
static int l_table(lua_State *L) {
  static const char *const known[] = {"text", "inactive", NULL};
  const char *name = check_name(L, 1);
  unsigned opts = check_opts(L, 2, "table", known, 0);
  unsigned flags = ((opts & 1) ? ROWS_TEXT : 0) | ((opts & 2) ? ROWS_INACTIVE : 0);
  return push_targets(L, DM_DEVICE_TABLE, "table of", name, flags);
}

/* status(name, {noflush=, text=}) -> the status rows (args: the status) or text */
static int l_status(lua_State *L) {
  static const char *const known[] = {"text", "noflush", NULL};
  const char *name = check_name(L, 1);
  unsigned opts = check_opts(L, 2, "status", known, 0);
  unsigned flags = ((opts & 1) ? ROWS_TEXT : 0) | ((opts & 2) ? ROWS_NOFLUSH : 0);
  return push_targets(L, DM_DEVICE_STATUS, "status of", name, flags);
}

/* deps(name) -> list of {major=, minor=} */
static int l_deps(lua_State *L) {
  const char *name = check_name(L, 1);
  Task *t = task_new(L, DM_DEVICE_DEPS, name, "deps of", NULL);
  struct dm_deps *deps;
  uint32_t i;
  if (!task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  if ((deps = dm_task_get_deps(t->dmt)) == NULL) return task_fail(L, t, ENXIO);
  lua_createtable(L, (int)deps->count, 0);
  for (i = 0; i < deps->count; i++) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, major(deps->device[i]));
    lua_setfield(L, -2, "major");
    lua_pushinteger(L, minor(deps->device[i]));
    lua_setfield(L, -2, "minor");
    lua_rawseti(L, -2, (int)i + 1);
  }
  task_end(t);
  return 1;
}

/* -------------------------------------------------------------- operations */

enum { CREATE_UUID = 1, CREATE_READONLY = 2, CREATE_SUSPENDED = 4 };

/* loads the target list at `arg` into name's inactive slot (read-only
** with readonly) */
static int load_rows(lua_State *L, const char *name, int arg, int readonly) {
  Task *t = task_new(L, DM_DEVICE_RELOAD, name, "load table of", NULL);
  int err = 0, ok = t->dmt != NULL && add_targets(L, arg, t->dmt, &err);
  if (!ok && t->dmt != NULL && err != 0) return task_fail(L, t, err);
  if (ok && readonly) ok = dm_task_set_ro(t->dmt);
  if (!ok || !task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  return task_done(L, t);
}

/* a task on name with no results beyond success; flags: TASK_COOKIE */
static int simple_op(lua_State *L, int type, const char *op, const char *name, int flags) {
  Task *t = task_new(L, type, name, op, NULL);
  if (!task_run(t, flags)) return task_fail(L, t, 0);
  return task_done(L, t);
}

/*
** The one retry policy for a busy device. A short-lived opener (blkid, a
** udev rule) makes the kernel answer EBUSY, so the remove is tried again
** after 25, 50, 100, 200, 200, ... ms, for at most REMOVE_BUDGET_MS in all
** (REMOVE_LONG_BUDGET_MS with retry=true). libdevmapper's own retry
** (dm_task_retry_remove) is never asked for: it would multiply with ours.
** A signal (EINTR in the sleep) ends the retries at once.
*/
#define REMOVE_BUDGET_MS 1000
#define REMOVE_LONG_BUDGET_MS 5000

static long ms_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* removes name under the retry policy; pushes true or the failure */
static int remove_device(lua_State *L, const char *name, int deferred, long budget_ms) {
  struct timespec t0;
  int attempt;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (attempt = 0;; attempt++) {
    Task *t = task_new(L, DM_DEVICE_REMOVE, name, "remove", NULL);
    int ok = t->dmt != NULL, err;
    long left, step = 25L << (attempt < 3 ? attempt : 3);
    struct timespec ts;
    if (ok && deferred) ok = dm_task_deferred_remove(t->dmt);
    if (ok && task_run(t, TASK_COOKIE)) return task_done(L, t);
    err = task_errno(t);
    left = budget_ms - ms_since(&t0);
    if (err != EBUSY || deferred || left <= 0) return task_fail(L, t, err);
    if (step > left) step = left;
    ts.tv_sec = step / 1000;
    ts.tv_nsec = (step % 1000) * 1000000L;
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) return task_fail(L, t, EINTR);
    task_end(t);
    lua_pop(L, 1);
  }
}

/* removes name, quietly: used to undo a half-made create */
static void undo_create(lua_State *L, const char *name) {
  int top = lua_gettop(L);
  (void)remove_device(L, name, 0, REMOVE_BUDGET_MS);
  lua_settop(L, top);
}

/*
** create(name, targets|nil, {uuid=, readonly=, suspended=}) -> true, or
** nil, message, errno. suspended: load, do not resume. No targets: the
** device is made with no table. Atomic: when the table is refused or the
** resume fails, the device is removed again and the first error reported.
*/
static int l_create(lua_State *L) {
  static const char *const known[] = {"uuid", "readonly", "suspended", NULL};
  const char *name = check_name(L, 1);
  const char *uuid = NULL;
  int has_table;
  unsigned opts;
  Task *t;
  int ok;
  lua_settop(L, 3);
  opts = check_opts(L, 3, "create", known, CREATE_UUID);
  if (opts & CREATE_UUID) {
    lua_pushliteral(L, "uuid");
    lua_rawget(L, 3);
    uuid = check_uuid(L, 4);  /* anchored at 4 */
  }
  has_table = !lua_isnil(L, 2);
  if (has_table) check_targets(L, 2);
  t = task_new(L, DM_DEVICE_CREATE, name, "create", NULL);
  ok = t->dmt != NULL;
  if (ok && uuid != NULL) ok = dm_task_set_uuid(t->dmt, uuid);
  if (ok && (opts & CREATE_READONLY)) ok = dm_task_set_ro(t->dmt);
  /* the node appears now, so that a suspended device has one too. No udev
  ** cookie here: creating with no table sends no uevent that carries one,
  ** so a waiting udev sync would never complete; the resume that follows
  ** syncs with udev, and update_nodes makes the node where udev is absent */
  if (ok) ok = dm_task_set_add_node(t->dmt, DM_ADD_NODE_ON_CREATE);
  if (ok) {
    ok = task_run(t, TASK_PLAIN);
    dm_task_update_nodes();
  }
  if (!ok) return task_fail(L, t, 0);
  task_end(t);
  lua_pop(L, 1);
  if (has_table) {
    if (load_rows(L, name, 2, (opts & CREATE_READONLY) != 0) != 1) {
      undo_create(L, name);
      return 3;
    }
    lua_pop(L, 1);
    if (!(opts & CREATE_SUSPENDED)) {
      if (simple_op(L, DM_DEVICE_RESUME, "resume", name, TASK_COOKIE) != 1) {
        undo_create(L, name);
        return 3;
      }
      lua_pop(L, 1);
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* load(name, targets, {readonly=}) -> true | fail: the inactive slot only */
static int l_load(lua_State *L) {
  static const char *const known[] = {"readonly", NULL};
  const char *name = check_name(L, 1);
  unsigned opts = check_opts(L, 3, "load", known, 0);
  check_targets(L, 2);
  return load_rows(L, name, 2, (opts & 1) != 0);
}

static int l_clear(lua_State *L) {
  return simple_op(L, DM_DEVICE_CLEAR, "clear inactive table of", check_name(L, 1), TASK_PLAIN);
}

/* suspend(name, {noflush=, nolockfs=}) */
static int l_suspend(lua_State *L) {
  static const char *const known[] = {"noflush", "nolockfs", NULL};
  const char *name = check_name(L, 1);
  unsigned opts = check_opts(L, 2, "suspend", known, 0);
  Task *t = task_new(L, DM_DEVICE_SUSPEND, name, "suspend", NULL);
  int ok = t->dmt != NULL;
  if (ok && (opts & 1)) ok = dm_task_no_flush(t->dmt);
  if (ok && (opts & 2)) ok = dm_task_skip_lockfs(t->dmt);
  if (!ok || !task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  return task_done(L, t);
}

static int l_resume(lua_State *L) {
  return simple_op(L, DM_DEVICE_RESUME, "resume", check_name(L, 1), TASK_COOKIE);
}

/*
** remove(name, {retry=, deferred=}) -> true | fail. A busy device is
** retried for about a second, five with retry (see remove_device).
*/
static int l_remove(lua_State *L) {
  static const char *const known[] = {"retry", "deferred", NULL};
  const char *name = check_name(L, 1);
  unsigned opts = check_opts(L, 2, "remove", known, 0);
  return remove_device(L, name, (opts & 2) != 0,
                       (opts & 1) ? REMOVE_LONG_BUDGET_MS : REMOVE_BUDGET_MS);
}

/* message(name, sector, text) -> response text, or true when none */
static int l_message(lua_State *L) {
  const char *name = check_name(L, 1);
  lua_Integer sector = luaL_checkinteger(L, 2);
  size_t len;
  const char *text = luaL_checklstring(L, 3, &len);
  const char *resp;
  Task *t;
  int ok;
  luaL_argcheck(L, sector >= 0, 2, "sector must be >= 0");
  luaL_argcheck(L, len > 0 && strlen(text) == len, 3, "message must be non-empty text");
  t = task_new(L, DM_DEVICE_TARGET_MSG, name, "message to", NULL);
  ok = t->dmt != NULL && dm_task_set_sector(t->dmt, (uint64_t)sector) &&
       dm_task_set_message(t->dmt, text);
  if (!ok || !task_run(t, TASK_PLAIN)) return task_fail(L, t, 0);
  resp = dm_task_get_message_response(t->dmt);
  if (resp != NULL && resp[0] != '\0')
    lua_pushstring(L, resp);
  else
    lua_pushboolean(L, 1);
  task_end(t);
  return 1;
}

/* rename(name, newname) */
static int l_rename(lua_State *L) {
  const char *name = check_name(L, 1);
  const char *to = check_name(L, 2);
  Task *t = task_new(L, DM_DEVICE_RENAME, name, "rename", NULL);
  if (t->dmt == NULL || !dm_task_set_newname(t->dmt, to) || !task_run(t, TASK_COOKIE))
    return task_fail(L, t, 0);
  return task_done(L, t);
}

/* set_uuid(name, uuid): the kernel allows it once */
static int l_set_uuid(lua_State *L) {
  const char *name = check_name(L, 1);
  const char *to = check_uuid(L, 2);
  Task *t = task_new(L, DM_DEVICE_RENAME, name, "set uuid of", NULL);
  if (t->dmt == NULL || !dm_task_set_newuuid(t->dmt, to) || !task_run(t, TASK_COOKIE))
    return task_fail(L, t, 0);
  return task_done(L, t);
}

/*
** wait_event(name, event_nr, timeout_ms) -> the new event number, or nil,
** "timeout"; nil, message, errno on failure.  libdevmapper's WAITEVENT
** cannot time out, so this uses the kernel's poll interface instead: a
** control-device descriptor armed with DM_DEV_ARM_POLL becomes readable
** when any dm device raises an event after the arming; each wake-up
** re-reads the device's own event number.  timeout_ms < 0: no limit.
** A signal ends the wait: nil, message, EINTR.
*/
static int l_wait_event(lua_State *L) {
  const char *name = check_name(L, 1);
  lua_Integer want = luaL_checkinteger(L, 2);
  lua_Integer timeout = luaL_optinteger(L, 3, -1);
  struct timespec t0;
  int fd, err = 0;
  char path[PATH_MAX];
  sts_dmlog_reset();
  fd = open(control_path(path, sizeof path), O_RDWR | O_CLOEXEC);
  if (fd < 0) return sts_dmfail(L, "wait for an event of", name, errno);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct dm_ioctl dmi;
    struct dm_info info;
    struct pollfd pfd;
    long left;
    int r;
    memset(&dmi, 0, sizeof dmi);
    dmi.version[0] = DM_VERSION_MAJOR;
    dmi.data_size = sizeof dmi;
    if (ioctl(fd, DM_DEV_ARM_POLL, &dmi) < 0) {
      err = errno;
      break;
    }
    sts_dmlog_reset();
    if (!info_of(name, &info, NULL, &err)) break;
    if (!info.exists) {
      err = ENXIO;
      break;
    }
    if ((lua_Integer)info.event_nr != want) {
      close(fd);
      lua_pushinteger(L, (lua_Integer)info.event_nr);
      return 1;
    }
    left = timeout < 0 ? -1 : (long)timeout - ms_since(&t0);
    if (timeout >= 0 && left <= 0) {
      close(fd);
      luaL_pushfail(L);
      lua_pushliteral(L, "timeout");
      return 2;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
    if (r < 0) {
      /* EINTR too: back to Lua, where the interrupt hook (Ctrl-C) fires */
      err = errno;
      sts_dmlog_reset();
      break;
    }
  }
  close(fd);
  return sts_dmfail(L, "wait for an event of", name, err);
}

/*
** available() -> true, or false and the reason.  A kernel without
** device-mapper has no "device-mapper" line in /proc/misc.
*/
static int l_available(lua_State *L) {
  char drv[64];
  FILE *f = fopen("/proc/misc", "re");
  int found = 0;
  if (f != NULL) {
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
      if (strstr(line, " device-mapper") != NULL) found = 1;
    fclose(f);
    if (!found) {
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "this kernel has no device-mapper driver "
                         "(no device-mapper in /proc/misc; load dm-mod or use scripts/sts-vm)");
      return 2;
    }
  }
  sts_dmlog_reset();
  if (!dm_driver_version(drv, sizeof drv)) {
    int err = sts_dmlog_errno();
    lua_pushboolean(L, 0);
    if (geteuid() != 0)
      lua_pushliteral(L, "device-mapper needs root (permission denied on the control device)");
    else if (sts_dmlog_text() != NULL)
      lua_pushfstring(L, "device-mapper is not usable: %s", sts_dmlog_text());
    else
      lua_pushfstring(L, "device-mapper is not usable: %s", strerror(err ? err : ENODEV));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"available", l_available},
  {"versions", l_versions},
  {"target_versions", l_target_versions},
  {"list", l_list},
  {"info", l_info},
  {"info_devno", l_info_devno},
  {"create", l_create},
  {"load", l_load},
  {"clear", l_clear},
  {"suspend", l_suspend},
  {"resume", l_resume},
  {"remove", l_remove},
  {"table", l_table},
  {"status", l_status},
  {"message", l_message},
  {"deps", l_deps},
  {"rename", l_rename},
  {"set_uuid", l_set_uuid},
  {"wait_event", l_wait_event},
  {NULL, NULL}
};

/* the errno values the Lua half tells apart, by name */
static const struct {
  const char *name;
  int value;
} errnos[] = {
  {"ENXIO", ENXIO}, {"ENODEV", ENODEV}, {"ENOENT", ENOENT}, {"EBUSY", EBUSY},
  {"EEXIST", EEXIST}, {"EINVAL", EINVAL}, {"EPERM", EPERM}, {"EACCES", EACCES},
  {"EINTR", EINTR}, {"ENOMEM", ENOMEM},
};

int sts_open_dm(lua_State *L) {
  size_t i;
  if (luaL_newmetatable(L, TASK_MT)) {
    lua_pushcfunction(L, task_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  /* our log callback keeps libdevmapper quiet on stderr; udev sync is used
  ** when a udev daemon runs, and libdevmapper makes the nodes otherwise */
  sts_dmlog_install();
  dm_udev_set_sync_support(1);
  luaL_setfuncs(L, funcs, 0);
  sts_open_device(L);
  sts_open_bulk(L);
  lua_createtable(L, 0, (int)(sizeof errnos / sizeof errnos[0]));
  for (i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
    lua_pushinteger(L, errnos[i].value);
    lua_setfield(L, -2, errnos[i].name);
  }
  lua_setfield(L, -2, "errno");
  lua_pushinteger(L, NAME_MAX_BYTES);
  lua_setfield(L, -2, "NAME_MAX");
  lua_pushinteger(L, UUID_MAX_BYTES);
  lua_setfield(L, -2, "UUID_MAX");
  return 0;
}

/*
** sts.core.dm: the libdevmapper binding.
**
** Every operation is one or a few ioctls through libdevmapper, addressed by
** the device's mapper name.  Operational failures return nil, a message and
** errno (the message holds what libdevmapper logged while the operation
** ran); programming mistakes raise.  The Lua half (lua/sts/dm.lua) builds
** the DmDevice API and the domain errors on top of these functions.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <libdevmapper.h>
#include <linux/dm-ioctl.h>

#include "sts.h"

#define TASKBOX "sts.dm.task"
#define DEVICE_MT "sts.DmDevice"

/* the kernel's limits, with the terminating NUL: DM_NAME_LEN, DM_UUID_LEN */
#define NAME_MAX_BYTES (DM_NAME_LEN - 1)
#define UUID_MAX_BYTES (DM_UUID_LEN - 1)

/*
** libdevmapper's log.  Its logging is process-global by design, so what it
** says during an operation is collected here (never printed) and becomes
** the message of the failure.  One operation runs at a time per process:
** Lua states share nothing else here.
*/
static struct {
  char *text;
  size_t len, cap;
  int err;  /* first errno libdevmapper reported */
} dmlog;

static void log_reset(void) {
  dmlog.len = 0;
  if (dmlog.text != NULL) dmlog.text[0] = '\0';
  dmlog.err = 0;
}

static void log_append(const char *s, size_t n) {
  size_t need = dmlog.len + n + 3;
  if (need > dmlog.cap) {
    size_t cap = dmlog.cap ? dmlog.cap : 256;
    char *p;
    while (cap < need) cap *= 2;
    p = realloc(dmlog.text, cap);
    if (p == NULL) return;  /* keep what we have: the errno still tells */
    dmlog.text = p;
    dmlog.cap = cap;
  }
  if (dmlog.len > 0) {
    memcpy(dmlog.text + dmlog.len, "; ", 2);
    dmlog.len += 2;
  }
  memcpy(dmlog.text + dmlog.len, s, n);
  dmlog.len += n;
  dmlog.text[dmlog.len] = '\0';
}

static void log_fn(int level, const char *file, int line, int dm_errno_or_class,
                   const char *f, ...) {
  va_list ap;
  char *msg = NULL;
  int n;
  (void)file;
  (void)line;
  /* low bits: the level; high bits are flags (stderr, once, ...) */
  if ((level & 7) > 4) return;  /* keep fatal, error and warning */
  va_start(ap, f);
  n = vasprintf(&msg, f, ap);
  va_end(ap);
  if (n < 0) return;
  log_append(msg, (size_t)n);
  free(msg);
  if (dmlog.err == 0 && (level & 7) <= 3 && dm_errno_or_class > 0)
    dmlog.err = dm_errno_or_class;
}

/* the failure message of an operation on `what` */
static int push_dmfail(lua_State *L, const char *op, const char *what, int err) {
  if (err == 0) err = dmlog.err;
  luaL_pushfail(L);
  if (dmlog.len > 0)
    lua_pushfstring(L, "%s %s failed: %s", op, what, dmlog.text);
  else if (err != 0)
    lua_pushfstring(L, "%s %s failed: %s", op, what, strerror(err));
  else
    lua_pushfstring(L, "%s %s failed", op, what);
  lua_pushinteger(L, err);
  return 3;
}

/*
** A dm_task in a box: created before the task, so that if anything raises
** while the task is alive (out of memory while pushing results), __gc
** destroys it.
*/
typedef struct {
  struct dm_task *dmt;
} TaskBox;

static int taskbox_gc(lua_State *L) {
  TaskBox *box = (TaskBox *)luaL_checkudata(L, 1, TASKBOX);
  if (box->dmt != NULL) {
    dm_task_destroy(box->dmt);
    box->dmt = NULL;
  }
  return 0;
}

/* pushes a box holding a new task of `type`; NULL (and nothing pushed
** beyond the box) when libdevmapper could not make one */
static TaskBox *newtask(lua_State *L, int type) {
  TaskBox *box = (TaskBox *)lua_newuserdatauv(L, sizeof(TaskBox), 0);
  box->dmt = NULL;
  luaL_setmetatable(L, TASKBOX);
  log_reset();
  box->dmt = dm_task_create(type);
  return box;
}

static void endtask(TaskBox *box) {
  if (box->dmt != NULL) {
    dm_task_destroy(box->dmt);
    box->dmt = NULL;
  }
}

/* ---------------------------------------------------------------- checks */

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

/* a boolean field of an options table (absent or nil: false) */
static int optflag(lua_State *L, int opts, const char *field) {
  int v;
  if (lua_isnoneornil(L, opts)) return 0;
  lua_getfield(L, opts, field);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* rejects option fields other than `known` (NULL-terminated) */
static void check_opts(lua_State *L, int opts, const char *const known[]) {
  if (lua_isnoneornil(L, opts)) return;
  luaL_checktype(L, opts, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, opts) != 0) {
    int i, ok = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (i = 0; known[i] != NULL; i++)
        if (strcmp(k, known[i]) == 0) ok = 1;
      if (!ok) luaL_argerror(L, opts, lua_pushfstring(L, "unknown option '%s'", k));
    } else {
      luaL_argerror(L, opts, "option names must be strings");
    }
  }
}

/*
** Checks the target list at `arg` (a list of {start=, size=, type=, args=})
** before any task exists, so that nothing raises once one does.
*/
static int check_targets(lua_State *L, int arg) {
  lua_Integer i, n;
  luaL_checktype(L, arg, LUA_TTABLE);
  n = luaL_len(L, arg);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s;
    if (lua_geti(L, arg, i) != LUA_TTABLE)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d is not a table", (int)i));
    if (lua_getfield(L, -1, "start") != LUA_TNUMBER || !lua_isinteger(L, -1) ||
        lua_tointeger(L, -1) < 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: start must be an integer >= 0", (int)i));
    if (lua_getfield(L, -2, "size") != LUA_TNUMBER || !lua_isinteger(L, -1) ||
        lua_tointeger(L, -1) <= 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: size must be an integer > 0", (int)i));
    if (lua_getfield(L, -3, "type") != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: type must be a string", (int)i));
    s = lua_tolstring(L, -1, &len);
    if (len == 0 || strlen(s) != len || len >= DM_MAX_TYPE_NAME)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: bad type name", (int)i));
    if (lua_getfield(L, -4, "args") != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: args must be a string", (int)i));
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len || strchr(s, '\n') != NULL)
      luaL_argerror(L, arg, lua_pushfstring(L, "target %d: args hold a NUL or newline", (int)i));
    lua_pop(L, 5);
  }
  return (int)n;
}

/* adds the checked targets to the task: no Lua call here can raise */
static int add_targets(lua_State *L, int arg, struct dm_task *dmt) {
  lua_Integer i, n = luaL_len(L, arg);
  for (i = 1; i <= n; i++) {
    int ok;
    lua_geti(L, arg, i);
    lua_getfield(L, -1, "start");
    lua_getfield(L, -2, "size");
    lua_getfield(L, -3, "type");
    lua_getfield(L, -4, "args");
    ok = dm_task_add_target(dmt, (uint64_t)lua_tointeger(L, -4),
                            (uint64_t)lua_tointeger(L, -3), lua_tostring(L, -2),
                            lua_tostring(L, -1));
    lua_pop(L, 5);
    if (!ok) return 0;
  }
  return 1;
}

/* --------------------------------------------------------------- running */

/* udev cookie handling: with udev running, wait for it to finish node work;
** without, libdevmapper makes/removes the nodes itself when we wait */
static int run_with_cookie(struct dm_task *dmt) {
  uint32_t cookie = 0;
  int ok;
  if (!dm_task_set_cookie(dmt, &cookie, 0)) return 0;
  ok = dm_task_run(dmt);
  (void)dm_udev_wait(cookie);
  return ok;
}

static int task_errno(struct dm_task *dmt) {
  int e = dm_task_get_errno(dmt);
  return e != 0 ? e : dmlog.err;
}

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

/*
** info(name) or info(nil, major, minor) -> info table ({exists=false} when
** there is no such device), or nil, message, errno
*/
static int l_info(lua_State *L) {
  const char *name = NULL;
  int major = 0, minor = 0;
  struct dm_info info;
  TaskBox *box;
  if (lua_isnoneornil(L, 1)) {
    major = (int)luaL_checkinteger(L, 2);
    minor = (int)luaL_checkinteger(L, 3);
  } else {
    name = check_name(L, 1);
  }
  box = newtask(L, DM_DEVICE_INFO);
  if (box->dmt == NULL) return push_dmfail(L, "info", "task", ENOMEM);
  if (name != NULL ? !dm_task_set_name(box->dmt, name)
                   : !dm_task_set_major_minor(box->dmt, major, minor, 0)) {
    endtask(box);
    return push_dmfail(L, "info", name ? name : "device", EINVAL);
  }
  if (!dm_task_run(box->dmt) || !dm_task_get_info(box->dmt, &info)) {
    int err = task_errno(box->dmt);
    endtask(box);
    return push_dmfail(L, "info", name ? name : "device", err);
  }
  push_info(L, &info, info.exists ? dm_task_get_name(box->dmt) : name,
            info.exists ? dm_task_get_uuid(box->dmt) : NULL);
  endtask(box);
  return 1;
}

/* the uuid of name by an INFO ioctl into out ("" when it has none);
** false when the ioctl fails or the device is gone */
static int info_uuid(const char *name, char out[DM_UUID_LEN]) {
  struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
  struct dm_info info;
  const char *uuid;
  int ok;
  if (dmt == NULL) return 0;
  ok = dm_task_set_name(dmt, name) && dm_task_run(dmt) && dm_task_get_info(dmt, &info) &&
       info.exists;
  if (ok) {
    uuid = dm_task_get_uuid(dmt);
    snprintf(out, DM_UUID_LEN, "%s", uuid != NULL ? uuid : "");
  }
  dm_task_destroy(dmt);
  return ok;
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

/* Device userdata, declared with the device objects below */
static void push_device(lua_State *L);

/*
** list(with_uuids, as_devices) -> list of {name=, major=, minor=,
** event_nr=?, uuid=?}, or with as_devices, of DmDevices (fields dm_name,
** major, minor, uuid; no uuid field when the device has none).
** The kernel reports event numbers and uuids in the list itself (dm 4.37
** and 4.46) when asked, which saves an ioctl per device; libdevmapper does
** not ask, so with with_uuids each uuid the list lacks is read here by an
** INFO ioctl (in C: get_all reads every device's uuid this way).
*/
static int l_list(lua_State *L) {
  int with_uuids = lua_toboolean(L, 1), as_devices = lua_toboolean(L, 2);
  TaskBox *box = newtask(L, DM_DEVICE_LIST);
  struct dm_names *names;
  int i = 0;
  if (box->dmt == NULL) return push_dmfail(L, "list", "devices", ENOMEM);
  if (!dm_task_run(box->dmt)) {
    int err = task_errno(box->dmt);
    endtask(box);
    return push_dmfail(L, "list", "devices", err);
  }
  lua_newtable(L);
  names = dm_task_get_names(box->dmt);
  if (names != NULL && names->dev != 0) {
    for (;;) {
      uint32_t event_nr = 0;
      const char *uuid;
      char read_uuid[DM_UUID_LEN];
      int has_extra = names_extra(names, &event_nr, &uuid);
      /* a device removed since the list was read gets no uuid */
      if (uuid == NULL && with_uuids && info_uuid(names->name, read_uuid)) uuid = read_uuid;
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
      if (as_devices) push_device(L);
      lua_rawseti(L, -2, ++i);
      if (names->next == 0) break;
      names = (struct dm_names *)((char *)names + names->next);
    }
  }
  endtask(box);
  return 1;
}

/* the version of libdevmapper, and of the kernel driver (nil, reason
** when there is none) */
static int l_versions(lua_State *L) {
  char lib[64], drv[64];
  if (!dm_get_library_version(lib, sizeof lib)) strcpy(lib, "unknown");
  lua_pushstring(L, lib);
  log_reset();
  if (dm_driver_version(drv, sizeof drv)) {
    lua_pushstring(L, drv);
    return 2;
  }
  luaL_pushfail(L);
  lua_pushstring(L, dmlog.len > 0 ? dmlog.text : "no device-mapper driver");
  return 3;
}

/* target_versions() -> list of {name=, version="x.y.z"} */
static int l_target_versions(lua_State *L) {
  TaskBox *box = newtask(L, DM_DEVICE_LIST_VERSIONS);
  struct dm_versions *v;
  int i = 0;
  if (box->dmt == NULL) return push_dmfail(L, "list", "target versions", ENOMEM);
  if (!dm_task_run(box->dmt)) {
    int err = task_errno(box->dmt);
    endtask(box);
    return push_dmfail(L, "list", "target versions", err);
  }
  lua_newtable(L);
  v = dm_task_get_versions(box->dmt);
  for (; v != NULL;) {
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
  endtask(box);
  return 1;
}

/* runs a task of `type` on `name` with no results beyond success */
static int simple_op(lua_State *L, int type, const char *op, const char *name,
                     int cookie, int noflush, int nolockfs) {
  TaskBox *box = newtask(L, type);
  int ok, err;
  if (box->dmt == NULL) return push_dmfail(L, op, name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name);
  if (ok && noflush) ok = dm_task_no_flush(box->dmt);
  if (ok && nolockfs) ok = dm_task_skip_lockfs(box->dmt);
  if (ok) ok = cookie ? run_with_cookie(box->dmt) : dm_task_run(box->dmt);
  err = ok ? 0 : task_errno(box->dmt);
  endtask(box);
  if (!ok) return push_dmfail(L, op, name, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* loads targets (a list of {start, size, type, args}) into name's inactive
** slot; readonly: the table is loaded read-only */
static int load_table(lua_State *L, const char *name, int targets, int readonly) {
  TaskBox *box = newtask(L, DM_DEVICE_RELOAD);
  int ok, err;
  if (box->dmt == NULL) return push_dmfail(L, "load table of", name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name) && add_targets(L, targets, box->dmt);
  if (ok && readonly) ok = dm_task_set_ro(box->dmt);
  if (ok) ok = dm_task_run(box->dmt);
  err = ok ? 0 : task_errno(box->dmt);
  endtask(box);
  if (!ok) return push_dmfail(L, "load table of", name, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* removes name, quietly: used to undo a half-made create */
static void undo_create(lua_State *L, const char *name) {
  TaskBox *box;
  int top = lua_gettop(L);
  box = newtask(L, DM_DEVICE_REMOVE);
  if (box->dmt != NULL && dm_task_set_name(box->dmt, name)) {
    (void)dm_task_retry_remove(box->dmt);
    (void)run_with_cookie(box->dmt);
  }
  endtask(box);
  lua_settop(L, top);
}

/*
** create(name, targets|nil, opts) -> true, or nil, message, errno
** opts: uuid, readonly, suspended (load, do not resume).  No targets: the
** device is made with no table.  Atomic: when the table is refused or the
** resume fails, the device is removed again and the first error reported.
*/
static int l_create(lua_State *L) {
  static const char *const known[] = {"uuid", "readonly", "suspended", NULL};
  const char *name = check_name(L, 1);
  const char *uuid = NULL;
  int has_table = !lua_isnoneornil(L, 2);
  int readonly, suspended, ok, err;
  TaskBox *box;
  if (has_table) check_targets(L, 2);
  check_opts(L, 3, known);
  readonly = optflag(L, 3, "readonly");
  suspended = optflag(L, 3, "suspended");
  lua_settop(L, 3);
  if (!lua_isnil(L, 3) && lua_getfield(L, 3, "uuid") != LUA_TNIL)
    uuid = check_uuid(L, 4);
  box = newtask(L, DM_DEVICE_CREATE);
  if (box->dmt == NULL) return push_dmfail(L, "create", name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name);
  if (ok && uuid != NULL) ok = dm_task_set_uuid(box->dmt, uuid);
  if (ok && readonly) ok = dm_task_set_ro(box->dmt);
  /* the node appears now, so that a suspended device has one too. No udev
  ** cookie here: creating with no table sends no uevent that carries one,
  ** so a waiting udev sync would never complete; the resume that follows
  ** syncs with udev, and update_nodes makes the node where udev is absent */
  if (ok) ok = dm_task_set_add_node(box->dmt, DM_ADD_NODE_ON_CREATE);
  if (ok) {
    ok = dm_task_run(box->dmt);
    dm_task_update_nodes();
  }
  err = ok ? 0 : task_errno(box->dmt);
  endtask(box);
  lua_pop(L, 1);
  if (!ok) return push_dmfail(L, "create", name, err);
  if (has_table) {
    if (load_table(L, name, 2, readonly) != 1) {
      undo_create(L, name);
      return 3;
    }
    lua_pop(L, 1);
    if (!suspended) {
      if (simple_op(L, DM_DEVICE_RESUME, "resume", name, 1, 0, 0) != 1) {
        undo_create(L, name);
        return 3;
      }
      lua_pop(L, 1);
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* load(name, targets, readonly) -> true | fail: the inactive slot only */
static int l_load(lua_State *L) {
  const char *name = check_name(L, 1);
  check_targets(L, 2);
  return load_table(L, name, 2, lua_toboolean(L, 3));
}

static int l_clear(lua_State *L) {
  return simple_op(L, DM_DEVICE_CLEAR, "clear inactive table of", check_name(L, 1), 0, 0, 0);
}

/* suspend(name, noflush, nolockfs) */
static int l_suspend(lua_State *L) {
  const char *name = check_name(L, 1);
  return simple_op(L, DM_DEVICE_SUSPEND, "suspend", name, 0, lua_toboolean(L, 2),
                   lua_toboolean(L, 3));
}

static int l_resume(lua_State *L) {
  return simple_op(L, DM_DEVICE_RESUME, "resume", check_name(L, 1), 1, 0, 0);
}

/*
** remove(name, retry, deferred) -> true | fail
** A short-lived opener (blkid, a udev rule) makes the kernel answer EBUSY;
** so a busy device is retried a few times over about a second before the
** failure is reported; retry=true asks libdevmapper for its longer retry.
*/
static int l_remove(lua_State *L) {
  const char *name = check_name(L, 1);
  int retry = lua_toboolean(L, 2), deferred = lua_toboolean(L, 3);
  int attempt, ok = 0, err = 0;
  for (attempt = 0; attempt < 8; attempt++) {
    TaskBox *box = newtask(L, DM_DEVICE_REMOVE);
    if (box->dmt == NULL) return push_dmfail(L, "remove", name, ENOMEM);
    ok = dm_task_set_name(box->dmt, name);
    if (ok && retry) ok = dm_task_retry_remove(box->dmt);
    if (ok && deferred) ok = dm_task_deferred_remove(box->dmt);
    if (ok) ok = run_with_cookie(box->dmt);
    err = ok ? 0 : task_errno(box->dmt);
    endtask(box);
    lua_pop(L, 1);
    if (ok || err != EBUSY || deferred) break;
    {
      struct timespec ts = {0, 25000000L << (attempt < 3 ? attempt : 3)};
      nanosleep(&ts, NULL);
    }
  }
  if (!ok) return push_dmfail(L, "remove", name, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* the rows of a run TABLE or STATUS task as text, one "start size type
** args" line per target (the shape of dmsetup's output), pushed */
static void push_rows_text(lua_State *L, struct dm_task *dmt) {
  luaL_Buffer b;
  void *next = NULL;
  int first = 1;
  luaL_buffinit(L, &b);
  do {
    uint64_t start, length;
    char *type = NULL, *params = NULL;
    next = dm_get_next_target(dmt, next, &start, &length, &type, &params);
    if (type == NULL) break;
    if (!first) luaL_addchar(&b, '\n');
    first = 0;
    {
      /* two 20-digit numbers and their spaces always fit */
      char head[48];
      int n = snprintf(head, sizeof head, "%" PRIu64 " %" PRIu64 " ", start, length);
      luaL_addlstring(&b, head, (size_t)n);
    }
    luaL_addstring(&b, type);
    if (params != NULL && *params != '\0') {
      luaL_addchar(&b, ' ');
      luaL_addstring(&b, params);
    }
  } while (next != NULL);
  luaL_pushresult(&b);
}

/*
** targets(name, status, noflush, inactive, text) -> list of {start, size,
** type, args}: the table (status false) or the status (status true) of
** name; with text true, those rows as one string, a line per target (the
** form d.table and d:status() return, made here without a table per row).
*/
static int l_targets(lua_State *L) {
  const char *name = check_name(L, 1);
  int status = lua_toboolean(L, 2), noflush = lua_toboolean(L, 3);
  int inactive = lua_toboolean(L, 4), text = lua_toboolean(L, 5);
  const char *op = status ? "status of" : "table of";
  struct dm_info info;
  TaskBox *box = newtask(L, status ? DM_DEVICE_STATUS : DM_DEVICE_TABLE);
  void *next = NULL;
  int ok, err, i = 0;
  if (box->dmt == NULL) return push_dmfail(L, op, name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name);
  if (ok && noflush) ok = dm_task_no_flush(box->dmt);
  if (ok && inactive) ok = dm_task_query_inactive_table(box->dmt);
  if (ok) ok = dm_task_run(box->dmt) && dm_task_get_info(box->dmt, &info);
  if (ok && !info.exists) {
    endtask(box);
    return push_dmfail(L, op, name, ENXIO);
  }
  err = ok ? 0 : task_errno(box->dmt);
  if (!ok) {
    endtask(box);
    return push_dmfail(L, op, name, err);
  }
  if (text) {
    push_rows_text(L, box->dmt);
    endtask(box);
    return 1;
  }
  lua_newtable(L);
  do {
    uint64_t start, length;
    char *type = NULL, *params = NULL;
    next = dm_get_next_target(box->dmt, next, &start, &length, &type, &params);
    if (type == NULL) break;
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)start);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, (lua_Integer)length);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, type);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, params ? params : "");
    lua_setfield(L, -2, "args");
    lua_rawseti(L, -2, ++i);
  } while (next != NULL);
  endtask(box);
  return 1;
}

/* message(name, sector, text) -> response text, or true when none */
static int l_message(lua_State *L) {
  const char *name = check_name(L, 1);
  lua_Integer sector = luaL_checkinteger(L, 2);
  size_t len;
  const char *text = luaL_checklstring(L, 3, &len);
  const char *resp;
  TaskBox *box;
  int ok, err;
  luaL_argcheck(L, sector >= 0, 2, "sector must be >= 0");
  luaL_argcheck(L, len > 0 && strlen(text) == len, 3, "message must be non-empty text");
  box = newtask(L, DM_DEVICE_TARGET_MSG);
  if (box->dmt == NULL) return push_dmfail(L, "message to", name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name) && dm_task_set_sector(box->dmt, (uint64_t)sector) &&
       dm_task_set_message(box->dmt, text);
  if (ok) ok = dm_task_run(box->dmt);
  err = ok ? 0 : task_errno(box->dmt);
  if (!ok) {
    endtask(box);
    return push_dmfail(L, "message to", name, err);
  }
  resp = dm_task_get_message_response(box->dmt);
  if (resp != NULL && resp[0] != '\0')
    lua_pushstring(L, resp);
  else
    lua_pushboolean(L, 1);
  endtask(box);
  return 1;
}

/* deps(name) -> list of {major=, minor=} */
static int l_deps(lua_State *L) {
  const char *name = check_name(L, 1);
  TaskBox *box = newtask(L, DM_DEVICE_DEPS);
  struct dm_deps *deps;
  uint32_t i;
  int ok, err;
  if (box->dmt == NULL) return push_dmfail(L, "deps of", name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name) && dm_task_run(box->dmt);
  err = ok ? 0 : task_errno(box->dmt);
  if (!ok || (deps = dm_task_get_deps(box->dmt)) == NULL) {
    endtask(box);
    return push_dmfail(L, "deps of", name, ok ? ENXIO : err);
  }
  lua_createtable(L, (int)deps->count, 0);
  for (i = 0; i < deps->count; i++) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, major(deps->device[i]));
    lua_setfield(L, -2, "major");
    lua_pushinteger(L, minor(deps->device[i]));
    lua_setfield(L, -2, "minor");
    lua_rawseti(L, -2, (int)i + 1);
  }
  endtask(box);
  return 1;
}

/* rename(name, newname, is_uuid): a new name, or with is_uuid a new uuid */
static int l_rename(lua_State *L) {
  const char *name = check_name(L, 1);
  int is_uuid = lua_toboolean(L, 3);
  const char *to = is_uuid ? check_uuid(L, 2) : check_name(L, 2);
  const char *op = is_uuid ? "set uuid of" : "rename";
  TaskBox *box = newtask(L, DM_DEVICE_RENAME);
  int ok, err;
  if (box->dmt == NULL) return push_dmfail(L, op, name, ENOMEM);
  ok = dm_task_set_name(box->dmt, name) &&
       (is_uuid ? dm_task_set_newuuid(box->dmt, to) : dm_task_set_newname(box->dmt, to));
  if (ok) ok = run_with_cookie(box->dmt);
  err = ok ? 0 : task_errno(box->dmt);
  endtask(box);
  if (!ok) return push_dmfail(L, op, name, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* the current event number of name, or -1 with the errno in *err */
static long event_nr_of(const char *name, int *err) {
  struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
  struct dm_info info;
  long nr = -1;
  if (dmt == NULL) {
    *err = ENOMEM;
    return -1;
  }
  if (dm_task_set_name(dmt, name) && dm_task_run(dmt) && dm_task_get_info(dmt, &info)) {
    if (info.exists)
      nr = (long)info.event_nr;
    else
      *err = ENXIO;
  } else {
    *err = task_errno(dmt);
    if (*err == 0) *err = EIO;
  }
  dm_task_destroy(dmt);
  return nr;
}

static long ms_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
** wait_event(name, event_nr, timeout_ms) -> the new event number, or nil,
** "timeout"; nil, message, errno on failure.  libdevmapper's WAITEVENT
** cannot time out, so this uses the kernel's poll interface instead: a
** control-device descriptor armed with DM_DEV_ARM_POLL becomes readable
** when any dm device raises an event after the arming; each wake-up
** re-reads the device's own event number.  timeout_ms < 0: no limit.
*/
static int l_wait_event(lua_State *L) {
  const char *name = check_name(L, 1);
  lua_Integer want = luaL_checkinteger(L, 2);
  lua_Integer timeout = luaL_optinteger(L, 3, -1);
  struct timespec t0;
  int fd, err = 0;
  char path[sizeof "/dev/mapper/control" + 64];
  snprintf(path, sizeof path, "%s/%s", dm_dir(), DM_CONTROL_NODE);
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    log_reset();
    return push_dmfail(L, "wait for an event of", name, err);
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct dm_ioctl dmi;
    struct pollfd pfd;
    long nr, left;
    int r;
    memset(&dmi, 0, sizeof dmi);
    dmi.version[0] = DM_VERSION_MAJOR;
    dmi.version[1] = 0;
    dmi.version[2] = 0;
    dmi.data_size = sizeof dmi;
    if (ioctl(fd, DM_DEV_ARM_POLL, &dmi) < 0) {
      err = errno;
      break;
    }
    log_reset();
    nr = event_nr_of(name, &err);
    if (nr < 0) break;
    if (nr != (long)want) {
      close(fd);
      lua_pushinteger(L, nr);
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
    if (r < 0 && errno != EINTR) {
      err = errno;
      break;
    }
  }
  close(fd);
  return push_dmfail(L, "wait for an event of", name, err);
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
  log_reset();
  if (!dm_driver_version(drv, sizeof drv)) {
    int err = dmlog.err;
    lua_pushboolean(L, 0);
    if (geteuid() != 0)
      lua_pushliteral(L, "device-mapper needs root (permission denied on the control device)");
    else if (dmlog.len > 0)
      lua_pushfstring(L, "device-mapper is not usable: %s", dmlog.text);
    else
      lua_pushfstring(L, "device-mapper is not usable: %s", strerror(err ? err : ENODEV));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------- device objects */

/*
** DmDevice userdata: what the object keeps (its name, uuid, ...) lives in
** its uservalue table; the Lua half (sts.dm) provides its methods through
** the metatable it gets from device_metatable().
*/
typedef struct {
  int removed;
} Device;

/* replaces the fields table on top of the stack with a DmDevice that keeps it */
static void push_device(lua_State *L) {
  Device *d = (Device *)lua_newuserdatauv(L, sizeof(Device), 1);
  d->removed = 0;
  lua_rotate(L, -2, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, DEVICE_MT);
}

/* newdevice(fields) -> a DmDevice whose uservalue is `fields` */
static int l_newdevice(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_device(L);
  return 1;
}

/* fields(d) -> the uservalue table of a DmDevice */
static int l_fields(lua_State *L) {
  luaL_checkudata(L, 1, DEVICE_MT);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/*
** __index of DmDevice, in C because scripts read fields in their hot loops:
** a method (upvalue 1), else a plain field stored in the uservalue (keys
** in the set at upvalue 2), else getter(fields) from upvalue 3, else nil.
*/
static int device_index(lua_State *L) {
  int plain;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  plain = lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL;
  lua_pop(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 2);
  if (plain) {
    lua_rawget(L, 3);
    return 1;
  }
  if (lua_rawget(L, lua_upvalueindex(3)) == LUA_TNIL) return 1;
  lua_pushvalue(L, 3);
  lua_call(L, 1, 1);
  return 1;
}

/* set_device_index(methods, plain_fields, getters): installs __index */
static int l_set_device_index(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_getmetatable(L, DEVICE_MT);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushcclosure(L, device_index, 3);
  lua_setfield(L, -2, "__index");
  return 0;
}

static int l_device_metatable(lua_State *L) {
  luaL_getmetatable(L, DEVICE_MT);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"available", l_available},
  {"versions", l_versions},
  {"target_versions", l_target_versions},
  {"list", l_list},
  {"info", l_info},
  {"create", l_create},
  {"load", l_load},
  {"clear", l_clear},
  {"suspend", l_suspend},
  {"resume", l_resume},
  {"remove", l_remove},
  {"targets", l_targets},
  {"message", l_message},
  {"deps", l_deps},
  {"rename", l_rename},
  {"wait_event", l_wait_event},
  {"newdevice", l_newdevice},
  {"fields", l_fields},
  {"device_metatable", l_device_metatable},
  {"set_device_index", l_set_device_index},
  {NULL, NULL}
};

int sts_open_dm(lua_State *L) {
  if (luaL_newmetatable(L, TASKBOX)) {
    lua_pushcfunction(L, taskbox_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newmetatable(L, DEVICE_MT);
  lua_pop(L, 1);
  /* our log callback keeps libdevmapper quiet on stderr; udev sync is used
  ** when a udev daemon runs, and libdevmapper makes the nodes otherwise */
  dm_log_with_errno_init(log_fn);
  dm_udev_set_sync_support(1);
  luaL_setfuncs(L, funcs, 0);
  /* the errno values the Lua half tells apart */
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, ENXIO);
  lua_setfield(L, -2, "ENXIO");
  lua_pushinteger(L, ENODEV);
  lua_setfield(L, -2, "ENODEV");
  lua_pushinteger(L, ENOENT);
  lua_setfield(L, -2, "ENOENT");
  lua_pushinteger(L, EBUSY);
  lua_setfield(L, -2, "EBUSY");
  lua_pushinteger(L, EEXIST);
  lua_setfield(L, -2, "EEXIST");
  lua_pushinteger(L, EINVAL);
  lua_setfield(L, -2, "EINVAL");
  lua_pushinteger(L, EPERM);
  lua_setfield(L, -2, "EPERM");
  lua_pushinteger(L, EACCES);
  lua_setfield(L, -2, "EACCES");
  lua_setfield(L, 1, "errno");
  lua_pushinteger(L, NAME_MAX_BYTES);
  lua_setfield(L, 1, "NAME_MAX");
  lua_pushinteger(L, UUID_MAX_BYTES);
  lua_setfield(L, 1, "UUID_MAX");
  return 0;
}

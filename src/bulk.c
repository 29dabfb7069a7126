/*
** core.dm's bulk operations (create_all, remove_all) and the device list
** with uuids, over raw ioctls (linux/dm-ioctl.h) on control descriptors of
** their own.
**
** Why not libdevmapper here: its task API keeps global state (one control
** descriptor, a list of pending /dev/mapper node operations, the log
** callback), none of it locked, so it cannot be driven from several threads;
** and it never sets DM_UUID_FLAG on a list. What this relies on instead is
** the kernel's ioctl interface: each ioctl on /dev/mapper/control is
** complete in itself and dm serialises the ones that touch its name table
** (_hash_lock), while the slow part of a remove, del_gendisk's RCU grace
** periods, runs outside that lock. So removes issued from several threads
** overlap their waits, which one thread after another cannot.
**
** The /dev/mapper nodes: libdevmapper makes and removes them itself when
** no udev daemon does (the sandbox by default). These functions do the
** same: mknod (root:disk 0660, as libdevmapper) after a create and unlink
** after a remove, unless a udev daemon is running (/run/udev/control),
** whose dm rules make and remove them from the uevents.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>

#include "sts.h"

#define CONTROL "/dev/mapper/control"
#define MAPPER_DIR "/dev/mapper/"
#define NODE_MODE 0660
#define NODE_GID 6            /* disk */
#define MAX_PARALLEL 64
/* the busy-remove policy of dm.c (25, 50, 100, 200, 200 ... ms, a second in
** all): a short-lived opener of the device (blkid, a udev rule) gets out of
** the way */
#define REMOVE_BUDGET_MS 1000

/* ---------------------------------------------------------------- ioctls */

typedef struct {
  struct dm_ioctl *io;
  size_t cap;
} Buf;

/* room for an ioctl of `size` bytes, zeroed; 0 or ENOMEM */
static int buf_reserve(Buf *b, size_t size) {
  if (size < sizeof(struct dm_ioctl)) size = sizeof(struct dm_ioctl);
  if (size > b->cap) {
    void *p = realloc(b->io, size);
    if (p == NULL) return ENOMEM;
    b->io = p;
    b->cap = size;
  }
  memset(b->io, 0, size);
  return 0;
}

/* the header of an ioctl of `size` bytes about `name` (NULL: none) */
static void io_header(struct dm_ioctl *io, size_t size, const char *name, uint32_t flags) {
  io->version[0] = DM_VERSION_MAJOR;
  io->version[1] = 0;
  io->version[2] = 0;
  io->data_size = (uint32_t)size;
  io->data_start = sizeof *io;
  io->flags = flags;
  if (name != NULL) memcpy(io->name, name, strlen(name) + 1);  /* length checked by the caller */
}

/* runs cmd; 0 or the errno */
static int io_run(int fd, unsigned long cmd, struct dm_ioctl *io) {
  int r;
  do r = ioctl(fd, cmd, io); while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

static long ms_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

static int udev_running(void) {
  return access("/run/udev/control", F_OK) == 0;
}

static void node_add(const char *name, uint64_t dev, int manage) {
  char path[sizeof MAPPER_DIR + DM_NAME_LEN];
  if (!manage) return;
  snprintf(path, sizeof path, MAPPER_DIR "%s", name);
  unlink(path);  /* a stale node of an earlier device of this name */
  if (mknod(path, S_IFBLK | NODE_MODE, (dev_t)dev) == 0) {
    if (chown(path, 0, NODE_GID) != 0) { /* root's node, group unchanged */ }
  }
}

static void node_remove(const char *name, int manage) {
  char path[sizeof MAPPER_DIR + DM_NAME_LEN];
  if (!manage) return;
  snprintf(path, sizeof path, MAPPER_DIR "%s", name);
  unlink(path);
}

/* ------------------------------------------------------------- the work */

enum { STAGE_NONE, STAGE_CREATE, STAGE_LOAD, STAGE_RESUME, STAGE_STATUS, STAGE_REMOVE,
       STAGE_MEMORY };
static const char *const stage_names[] = {"", "create", "load table of", "resume", "status of",
                                          "remove", "memory for"};

typedef struct {
  const char *name, *uuid;  /* anchored by the Lua values on the caller's stack */
  const StsRow *rows;
  size_t nrows;
  int readonly;
  /* results */
  int err, stage;
  uint64_t dev;
} Item;

typedef struct {
  Item *items;
  size_t count;
  size_t next;      /* the next item to take (atomic) */
  int manage_nodes;
  int (*one)(int fd, Buf *b, Item *it, int manage_nodes);
} Job;

/* DM_DEV_REMOVE under the busy policy; 0 or errno */
static int remove_name(int fd, Buf *b, const char *name) {
  struct timespec t0;
  int attempt, err;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (attempt = 0;; attempt++) {
    long left, step = 25L << (attempt < 3 ? attempt : 3);
    struct timespec ts;
    if ((err = buf_reserve(b, sizeof(struct dm_ioctl))) != 0) return err;
    io_header(b->io, sizeof(struct dm_ioctl), name, 0);
    err = io_run(fd, DM_DEV_REMOVE, b->io);
    left = REMOVE_BUDGET_MS - ms_since(&t0);
    if (err != EBUSY || left <= 0) return err;
    if (step > left) step = left;
    ts.tv_sec = step / 1000;
    ts.tv_nsec = (step % 1000) * 1000000L;
    nanosleep(&ts, NULL);
  }
}

/* CREATE, LOAD, RESUME; a device whose load or resume fails is removed */
static int create_one(int fd, Buf *b, Item *it, int manage) {
  size_t size = sizeof(struct dm_ioctl), i;
  char *p;
  uint32_t ro = it->readonly ? DM_READONLY_FLAG : 0;
  int err;
  /* create */
  if ((err = buf_reserve(b, size)) != 0) { it->stage = STAGE_MEMORY; return err; }
  io_header(b->io, size, it->name, ro);
  if (it->uuid != NULL) memcpy(b->io->uuid, it->uuid, strlen(it->uuid) + 1);
  if ((err = io_run(fd, DM_DEV_CREATE, b->io)) != 0) { it->stage = STAGE_CREATE; return err; }
  it->dev = b->io->dev;
  node_add(it->name, it->dev, manage);
  /* load: the target specs, each followed by its parameters, 8-aligned */
  for (i = 0; i < it->nrows; i++)
    size += (sizeof(struct dm_target_spec) + strlen(it->rows[i].args) + 1 + 7) & ~(size_t)7;
  if ((err = buf_reserve(b, size)) != 0) { it->stage = STAGE_MEMORY; goto undo; }
  io_header(b->io, size, it->name, ro);
  b->io->target_count = (uint32_t)it->nrows;
  p = (char *)b->io + sizeof(struct dm_ioctl);
  for (i = 0; i < it->nrows; i++) {
    struct dm_target_spec *spec = (struct dm_target_spec *)p;
    size_t args = strlen(it->rows[i].args) + 1;
    size_t step = (sizeof *spec + args + 7) & ~(size_t)7;
    spec->sector_start = it->rows[i].start;
    spec->length = it->rows[i].size;
    memcpy(spec->target_type, it->rows[i].type, strlen(it->rows[i].type) + 1);
    memcpy(p + sizeof *spec, it->rows[i].args, args);
    spec->next = (uint32_t)step;
    p += step;
  }
  if ((err = io_run(fd, DM_TABLE_LOAD, b->io)) != 0) { it->stage = STAGE_LOAD; goto undo; }
  /* resume: no DM_SUSPEND_FLAG */
  if ((err = buf_reserve(b, sizeof(struct dm_ioctl))) != 0) { it->stage = STAGE_MEMORY; goto undo; }
  io_header(b->io, sizeof(struct dm_ioctl), it->name, 0);
  if ((err = io_run(fd, DM_DEV_SUSPEND, b->io)) != 0) { it->stage = STAGE_RESUME; goto undo; }
  return 0;
undo:
  if (remove_name(fd, b, it->name) == 0) node_remove(it->name, manage);
  return err;
}

/* resumes a suspended device (its remove would wait on queued I/O), then
** removes it; a device that is gone already counts as removed */
static int remove_one(int fd, Buf *b, Item *it, int manage) {
  int err;
  if ((err = buf_reserve(b, sizeof(struct dm_ioctl))) != 0) { it->stage = STAGE_MEMORY; return err; }
  io_header(b->io, sizeof(struct dm_ioctl), it->name, 0);
  err = io_run(fd, DM_DEV_STATUS, b->io);
  if (err == ENXIO) { node_remove(it->name, manage); return 0; }
  if (err != 0) { it->stage = STAGE_STATUS; return err; }
  it->dev = b->io->dev;
  if (b->io->flags & DM_SUSPEND_FLAG) {
    /* a fresh header: the status left the device number in it, and the
    ** kernel refuses an ioctl that names a device twice (name and dev) */
    if ((err = buf_reserve(b, sizeof(struct dm_ioctl))) != 0) { it->stage = STAGE_MEMORY; return err; }
    io_header(b->io, sizeof(struct dm_ioctl), it->name, 0);
    if ((err = io_run(fd, DM_DEV_SUSPEND, b->io)) != 0) { it->stage = STAGE_RESUME; return err; }
  }
  err = remove_name(fd, b, it->name);
  if (err == ENXIO) err = 0;
  if (err != 0) { it->stage = STAGE_REMOVE; return err; }
  node_remove(it->name, manage);
  return 0;
}

static void *worker(void *arg) {
  Job *job = arg;
  Buf b = {NULL, 0};
  int fd = open(CONTROL, O_RDWR | O_CLOEXEC);
  for (;;) {
    size_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    Item *it;
    if (i >= job->count) break;
    it = &job->items[i];
    if (fd < 0) {
      it->err = errno;
      it->stage = STAGE_CREATE;
      continue;
    }
    it->err = job->one(fd, &b, it, job->manage_nodes);
  }
  if (fd >= 0) close(fd);
  free(b.io);
  return NULL;
}

/* runs job on up to `parallel` threads (the caller's among them) */
static void run_job(Job *job, int parallel) {
  pthread_t threads[MAX_PARALLEL];
  int n = 0, i;
  if ((size_t)parallel > job->count) parallel = (int)job->count;
  for (i = 1; i < parallel; i++) {
    if (pthread_create(&threads[n], NULL, worker, job) != 0) break;  /* fewer threads */
    n++;
  }
  worker(job);
  for (i = 0; i < n; i++) pthread_join(threads[i], NULL);
}

/* ------------------------------------------------------------------- Lua */

static int check_parallel(lua_State *L, int arg) {
  lua_Integer n = luaL_optinteger(L, arg, 8);
  luaL_argcheck(L, n >= 1 && n <= MAX_PARALLEL, arg, "parallel must be 1 to 64");
  return (int)n;
}

/* pushes the results: per item true (create_all: the DmDevice) or
** {stage=, errno=, message=} */
static void push_results(lua_State *L, const Item *items, size_t n, int devices) {
  size_t i;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    const Item *it = &items[i];
    if (it->err == 0 && devices) {
      lua_createtable(L, 0, 4);
      lua_pushstring(L, it->name);
      lua_setfield(L, -2, "dm_name");
      lua_pushinteger(L, major((dev_t)it->dev));
      lua_setfield(L, -2, "major");
      lua_pushinteger(L, minor((dev_t)it->dev));
      lua_setfield(L, -2, "minor");
      if (it->uuid != NULL && *it->uuid != '\0') {
        lua_pushstring(L, it->uuid);
        lua_setfield(L, -2, "uuid");
      }
      sts_push_device(L);
    } else if (it->err == 0) {
      lua_pushboolean(L, 1);
    } else {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, stage_names[it->stage]);
      lua_setfield(L, -2, "stage");
      lua_pushinteger(L, it->err);
      lua_setfield(L, -2, "errno");
      lua_pushfstring(L, "%s %s failed: %s", stage_names[it->stage], it->name, strerror(it->err));
      lua_setfield(L, -2, "message");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* the items of a call with n of them, zeroed, as a userdata on the stack */
static Item *new_items(lua_State *L, lua_Unsigned n) {
  Item *items;
  luaL_argcheck(L, n < (lua_Unsigned)INT32_MAX / sizeof(Item), 1, "too many devices");
  items = lua_newuserdatauv(L, (n ? n : 1) * sizeof(Item), 0);
  memset(items, 0, (n ? n : 1) * sizeof(Item));
  return items;
}

/* runs `one` over the items on up to `parallel` threads and pushes the
** results */
static int run_items(lua_State *L, Item *items, lua_Unsigned n, int parallel,
                     int (*one)(int, Buf *, Item *, int), int devices) {
  Job job;
  job.items = items;
  job.count = (size_t)n;
  job.next = 0;
  job.manage_nodes = !udev_running();
  job.one = one;
  if (n > 0) run_job(&job, parallel);
  push_results(L, items, (size_t)n, devices);
  return 1;
}

/* a field of the table at `t`, read raw, left on the stack */
static int rawfield(lua_State *L, int t, const char *key) {
  lua_pushstring(L, key);
  return lua_rawget(L, t);
}

/*
** create_all(items, parallel) -> list of results, one per item: its
** DmDevice, or {stage=, errno=, message=}. items: a list of {name=,
** targets=(as create takes them), uuid=, readonly=}; the devices are made
** on up to `parallel` threads (default 8), each atomically (a refused
** table or a failed resume removes its device again). Items that name one
** another must be given in separate calls (sts.dm orders them).
*/
static int l_create_all(lua_State *L) {
  lua_Unsigned n, i;
  Item *items;
  int parallel, list = 1, anchors;
  luaL_checktype(L, 1, LUA_TTABLE);
  parallel = check_parallel(L, 2);
  lua_settop(L, 2);
  n = lua_rawlen(L, list);
  items = new_items(L, n);
  lua_createtable(L, (int)(3 * n), 0);  /* anchors every value read */
  anchors = lua_gettop(L);
  luaL_checkstack(L, 8, "create_all");
  for (i = 1; i <= n; i++) {
    Item *it = &items[i - 1];
    int spec;
    if (lua_rawgeti(L, list, (lua_Integer)i) != LUA_TTABLE)
      luaL_argerror(L, 1, lua_pushfstring(L, "item %d is not a table", (int)i));
    spec = lua_gettop(L);
    rawfield(L, spec, "name");
    it->name = sts_dm_check_name(L, lua_gettop(L));
    lua_rawseti(L, anchors, (lua_Integer)(3 * i - 2));
    if (rawfield(L, spec, "uuid") != LUA_TNIL) {
      it->uuid = sts_dm_check_uuid(L, lua_gettop(L));
      lua_rawseti(L, anchors, (lua_Integer)(3 * i - 1));
    } else {
      lua_pop(L, 1);
    }
    it->readonly = rawfield(L, spec, "readonly") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    rawfield(L, spec, "targets");
    it->rows = sts_dm_read_targets(L, lua_gettop(L), &it->nrows);
    lua_rawseti(L, anchors, (lua_Integer)(3 * i));  /* the rows' block */
    lua_pop(L, 2);  /* targets, the item */
  }
  return run_items(L, items, n, parallel, create_one, 1);
}

/*
** remove_all(names, parallel) -> list of results, one per name: true, or
** {stage=, errno=, message=}. A suspended device is resumed first; one that
** is gone counts as removed; a busy one is retried for about a second.
** Devices that hold one another must be given in separate calls, holders
** first (sts.dm orders them).
*/
static int l_remove_all(lua_State *L) {
  lua_Unsigned n, i;
  Item *items;
  int parallel;
  luaL_checktype(L, 1, LUA_TTABLE);
  parallel = check_parallel(L, 2);
  lua_settop(L, 2);
  n = lua_rawlen(L, 1);
  items = new_items(L, n);
  lua_createtable(L, (int)n, 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i);
    items[i - 1].name = sts_dm_check_name(L, lua_gettop(L));
    lua_rawseti(L, -2, (lua_Integer)i);  /* anchored */
  }
  return run_items(L, items, n, parallel, remove_one, 0);
}

/*
** The device list with uuids and event numbers in one DM_LIST_DEVICES
** (DM_UUID_FLAG, dm 4.46 and later). Pushes the list as dm.c's list does
** ({name=|dm_name=, major=, minor=, event_nr=, uuid=}, or DmDevices) and
** returns 1; returns 0 with nothing pushed when the kernel's list does not
** carry them (an older kernel: the caller reads each uuid by INFO), or the
** ioctl cannot be made here (the caller's own path reports why).
*/
int sts_dm_list_uuids(lua_State *L, int as_devices) {
  Buf b = {NULL, 0};
  size_t size = 16384;
  int fd = open(CONTROL, O_RDWR | O_CLOEXEC), err, i = 0;
  const char *p, *end;
  if (fd < 0) return 0;
  for (;;) {
    if (buf_reserve(&b, size) != 0) { close(fd); free(b.io); return 0; }
    io_header(b.io, size, NULL, DM_UUID_FLAG);
    err = io_run(fd, DM_LIST_DEVICES, b.io);
    if (err != 0) { close(fd); free(b.io); return 0; }
    if (!(b.io->flags & DM_BUFFER_FULL_FLAG)) break;
    if (size > (1u << 30)) { close(fd); free(b.io); return 0; }
    size *= 2;
  }
  close(fd);
  /* into Lua's memory, so that nothing leaks if pushing the results raises */
  {
    size_t got = b.io->data_size < size ? b.io->data_size : size;
    struct dm_ioctl *copy = lua_newuserdatauv(L, got, 0);
    memcpy(copy, b.io, got);
    free(b.io);
    b.io = copy;
    b.io->data_size = (uint32_t)got;
  }
  p = (const char *)b.io + b.io->data_start;
  end = (const char *)b.io + b.io->data_size;
  /* first pass: every record must carry the flags word, else fall back */
  if (b.io->data_size > b.io->data_start) {
    const char *q = p;
    for (;;) {
      const struct dm_name_list *nl = (const struct dm_name_list *)q;
      const char *after;
      const uint32_t *extra;
      if (q + sizeof *nl > end) { lua_pop(L, 1); return 0; }
      if (nl->dev == 0) break;  /* an empty list */
      after = nl->name + strnlen(nl->name, (size_t)(end - nl->name)) + 1;
      extra = (const uint32_t *)(((uintptr_t)after + 7) & ~(uintptr_t)7);
      if ((const char *)(extra + 2) > end ||
          !(extra[1] & (DM_NAME_LIST_FLAG_HAS_UUID | DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID)) ||
          (nl->next != 0 && q + nl->next > end)) {
        lua_pop(L, 1);
        return 0;
      }
      if (nl->next == 0) break;
      q += nl->next;
    }
  }
  lua_newtable(L);
  if (b.io->data_size > b.io->data_start) {
    for (;;) {
      const struct dm_name_list *nl = (const struct dm_name_list *)p;
      const char *after;
      const uint32_t *extra;
      if (nl->dev == 0) break;
      after = nl->name + strlen(nl->name) + 1;
      extra = (const uint32_t *)(((uintptr_t)after + 7) & ~(uintptr_t)7);
      lua_createtable(L, 0, 5);
      lua_pushstring(L, nl->name);
      lua_setfield(L, -2, as_devices ? "dm_name" : "name");
      lua_pushinteger(L, major((dev_t)nl->dev));
      lua_setfield(L, -2, "major");
      lua_pushinteger(L, minor((dev_t)nl->dev));
      lua_setfield(L, -2, "minor");
      if (!as_devices) {
        lua_pushinteger(L, extra[0]);
        lua_setfield(L, -2, "event_nr");
      }
      if (extra[1] & DM_NAME_LIST_FLAG_HAS_UUID) {
        lua_pushstring(L, (const char *)(extra + 2));
        lua_setfield(L, -2, "uuid");
      } else if (!as_devices) {
        lua_pushliteral(L, "");
        lua_setfield(L, -2, "uuid");
      }
      if (as_devices) sts_push_device(L);
      lua_rawseti(L, -2, ++i);
      if (nl->next == 0) break;
      p += nl->next;
    }
  }
  lua_remove(L, -2);  /* the copy of the ioctl */
  return 1;
}

static const luaL_Reg bulk_functions[] = {
  {"create_all", l_create_all},
  {"remove_all", l_remove_all},
  {NULL, NULL}
};

int sts_open_bulk(lua_State *L) {
  luaL_setfuncs(L, bulk_functions, 0);
  return 0;
}

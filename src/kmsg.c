/*
** core.kmsg: the kernel's log records, read from /dev/kmsg.
**
** kmsg.open() returns a reader positioned after the newest record, so
** reader:read() returns only what the kernel logs from then on: the way to
** learn why the kernel refused an ioctl (the device-mapper targets give
** their reasons only there). The reader never blocks.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sts.h"

#define KMSG_READER "sts.KmsgReader"
#define KMSG_PATH "/dev/kmsg"
/* a record is at most about 1 KiB today; the kernel answers EINVAL when the
   buffer is too small, and then the buffer grows, up to this */
#define RECORD_MAX (1 << 20)

typedef struct {
  int fd;  /* -1 once closed */
} Reader;

static Reader *check_reader(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, KMSG_READER);
  if (r->fd < 0) luaL_error(L, "attempt to use a closed kmsg reader");
  return r;
}

static int reader_close(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, KMSG_READER);
  if (r->fd >= 0) {
    close(r->fd);
    r->fd = -1;
  }
  return 0;
}

/*
** Pushes the record in buf[0..n) as {level=, seq=, usec=, text=}, or
** nothing when it is not of the documented form
** "prio,seq,usec,flags[,...];text\n[ KEY=value\n...]". Returns 1 when pushed.
*/
static int push_record(lua_State *L, const char *buf, size_t n) {
  const char *semi = memchr(buf, ';', n);
  const char *text, *end;
  char *p;
  unsigned long long prio, seq, usec;
  if (semi == NULL) return 0;
  prio = strtoull(buf, &p, 10);
  if (p == buf || *p != ',') return 0;
  seq = strtoull(p + 1, &p, 10);
  if (*p != ',') return 0;
  usec = strtoull(p + 1, &p, 10);
  if (*p != ',' && *p != ';') return 0;
  text = semi + 1;
  end = memchr(text, '\n', n - (size_t)(text - buf));
  if (end == NULL) end = buf + n;
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)(prio & 7));
  lua_setfield(L, -2, "level");
  lua_pushinteger(L, (lua_Integer)(prio >> 3));
  lua_setfield(L, -2, "facility");
  lua_pushinteger(L, (lua_Integer)seq);
  lua_setfield(L, -2, "seq");
  lua_pushinteger(L, (lua_Integer)usec);
  lua_setfield(L, -2, "usec");
  lua_pushlstring(L, text, (size_t)(end - text));
  lua_setfield(L, -2, "text");
  return 1;
}

/*
** reader:read([max]) -> list of records logged since the last read (or the
** open), oldest first, at most `max` of them (default all there are);
** records the kernel overwrote before they were read are skipped.
** On a read error: fail, message, errno.
*/
static int reader_read(lua_State *L) {
  Reader *r = check_reader(L);
  lua_Integer max = luaL_optinteger(L, 2, LUA_MAXINTEGER);
  size_t size = 8192;
  lua_Integer count = 0;
  char *buf;
  luaL_argcheck(L, max >= 0, 2, "must not be negative");
  lua_newtable(L);
  buf = lua_newuserdatauv(L, size, 0);  /* owned by Lua: freed if we raise */
  while (count < max) {
    ssize_t got = read(r->fd, buf, size);
    if (got < 0) {
      if (errno == EAGAIN) break;        /* nothing newer */
      if (errno == EPIPE) continue;      /* overwritten: next one */
      if (errno == EINTR) continue;
      if (errno == EINVAL && size < RECORD_MAX) {
        size *= 2;
        lua_pop(L, 1);
        buf = lua_newuserdatauv(L, size, 0);
        continue;
      }
      return sts_pushfail(L, errno, "read %s: %s", KMSG_PATH, strerror(errno));
    }
    if (got == 0) break;
    if (push_record(L, buf, (size_t)got)) lua_rawseti(L, -3, ++count);
  }
  lua_pop(L, 1);  /* the buffer */
  return 1;
}

/*
** kmsg.open() -> reader positioned after the newest record; on failure
** (no /dev/kmsg, not permitted): fail, message, errno.
*/
static int kmsg_open(lua_State *L) {
  Reader *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->fd = -1;
  luaL_setmetatable(L, KMSG_READER);
  r->fd = open(KMSG_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (r->fd < 0) return sts_pushfail(L, errno, "open %s: %s", KMSG_PATH, strerror(errno));
  if (lseek(r->fd, 0, SEEK_END) < 0) {
    int err = errno;
    close(r->fd);
    r->fd = -1;
    return sts_pushfail(L, err, "seek %s: %s", KMSG_PATH, strerror(err));
  }
  return 1;
}

static int reader_tostring(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, KMSG_READER);
  lua_pushstring(L, r->fd < 0 ? "sts.KmsgReader (closed)" : "sts.KmsgReader");
  return 1;
}

static const luaL_Reg reader_methods[] = {
  {"read", reader_read},
  {"close", reader_close},
  {NULL, NULL}
};

static const luaL_Reg reader_meta[] = {
  {"__gc", reader_close},
  {"__close", reader_close},
  {"__tostring", reader_tostring},
  {NULL, NULL}
};

int sts_open_kmsg(lua_State *L) {
  int module = lua_gettop(L);
  if (luaL_newmetatable(L, KMSG_READER)) {
    luaL_setfuncs(L, reader_meta, 0);
    luaL_newlib(L, reader_methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "sts.KmsgReader");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, kmsg_open);
  lua_setfield(L, module, "open");
  return 0;
}

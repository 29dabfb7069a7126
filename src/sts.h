/*
** Shared declarations of the sts C core.
** Each concern lives in its own file and exports one opener that adds its
** functions to the table on top of the stack; core.c stitches them into
** the `sts.core` module.
*/
#ifndef STS_H
#define STS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#define STS_VERSION "0.1.0"

/* openers: each takes the module table at the top of the stack */
int sts_open_dm(lua_State *L);    /* dm.c: libdevmapper operations (adds device.c's) */
int sts_open_device(lua_State *L);  /* device.c: the DmDevice object */
int sts_open_proc(lua_State *L);  /* proc.c: process runner */
int sts_open_loop(lua_State *L);  /* loop.c: loop device ioctls */
int sts_open_time(lua_State *L);  /* time.c: monotonic clock, sleep */
int sts_open_kmsg(lua_State *L);  /* kmsg.c: the kernel's log records */
int sts_open_random(lua_State *L);  /* random.c: reseeding the kernel's pool */
int sts_open_io(lua_State *L);    /* io.c: data patterns, raw block I/O */
int sts_open_thindump(lua_State *L);  /* thindump.c: streaming thin_dump reader */

/* bulk.c: create_all, remove_all (raw ioctls on threads of their own) into
** core.dm's table; and the device list with uuids in one ioctl: pushes it
** and returns 1, or returns 0 (nothing pushed) where the kernel's list
** carries no uuids */
int sts_open_bulk(lua_State *L);
int sts_dm_list_uuids(lua_State *L, int as_devices);

/* dm.c, for bulk.c: a target row read out of a Lua list once, the checks of
** names and uuids as core.dm makes them */
typedef struct {
  uint64_t start, size;
  const char *type, *args;  /* anchored by the rows' uservalue */
} StsRow;
const StsRow *sts_dm_read_targets(lua_State *L, int arg, size_t *count);
const char *sts_dm_check_name(lua_State *L, int arg);
const char *sts_dm_check_uuid(lua_State *L, int arg);

/* device.c: replaces the fields table on top of the stack with a DmDevice
** that keeps it as its uservalue */
void sts_push_device(lua_State *L);

/* dmlog.c: libdevmapper's log, captured per operation */
void sts_dmlog_install(void);      /* routes libdevmapper's log here */
void sts_dmlog_reset(void);        /* call before an operation */
int sts_dmlog_errno(void);         /* first errno logged since the reset, or 0 */
const char *sts_dmlog_text(void);  /* what was logged since the reset, or NULL */
/* pushes nil, "OP WHAT failed: <log or strerror(err)>", err (err 0: the
** logged errno) and returns 3 */
int sts_dmfail(lua_State *L, const char *op, const char *what, int err);

/*
** Raises an sts error object (see lua/sts/errors.lua) of `kind` with a
** formatted message and `err` as its errno (0 for none). Never returns.
*/
int sts_raise(lua_State *L, const char *kind, int err, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 4, 5)))
#endif
  ;

/*
** Pushes fail, a message and errno (the luaL_fileresult shape) and
** returns 3, for operational failures that the caller handles.
*/
int sts_pushfail(lua_State *L, int err, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

/*
** Inside a lua_next loop over an options table: the index in `names`
** (NULL-terminated) of the key at -2, or raises "bad option to 'FN'
** (unknown field 'x')". The one check of option names in the C core.
*/
int sts_optindex(lua_State *L, const char *fn, const char *const names[]);

/* luaopen of the C core; linked into stslua and built as sts/core.so */
int luaopen_sts_core(lua_State *L);

#endif

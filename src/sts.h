/*
** Shared declarations of the sts C core.
** Each concern lives in its own file and exports one opener that adds its
** functions to the table on top of the stack; core.c stitches them into
** the `sts.core` module.
*/
#ifndef STS_H
#define STS_H

#include <lua.h>
#include <lauxlib.h>

#define STS_VERSION "0.1.0"

/* openers: each takes the module table at the top of the stack */
int sts_open_dm(lua_State *L);    /* dm.c: libdevmapper binding */
int sts_open_proc(lua_State *L);  /* proc.c: process runner */
int sts_open_loop(lua_State *L);  /* loop.c: loop device ioctls */
int sts_open_thindump(lua_State *L);  /* thindump.c: streaming thin_dump reader */

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

/* luaopen of the C core; linked into stslua and built as sts/core.so */
int luaopen_sts_core(lua_State *L);

#endif

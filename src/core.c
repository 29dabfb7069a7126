/*
** sts.core: the C half of the sts module.
** Only stitches the per-concern openers together; each file owns its part.
*/
#include <stdarg.h>
#include <string.h>

#include "sts.h"

int sts_raise(lua_State *L, const char *kind, int err, const char *fmt, ...) {
  va_list ap;
  /* the message is pushed first so no C buffer outlives the raise */
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "sts.errors") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "sts.errors");
    lua_call(L, 1, 1);
  }
  lua_getfield(L, -1, "raise");
  lua_pushstring(L, kind);
  lua_pushvalue(L, -5);  /* the message */
  if (err != 0) lua_pushinteger(L, err); else lua_pushnil(L);
  lua_call(L, 3, 0);
  return luaL_error(L, "sts.errors.raise returned");  /* not reached */
}

int sts_pushfail(lua_State *L, int err, const char *fmt, ...) {
  va_list ap;
  luaL_pushfail(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushinteger(L, err);
  return 3;
}

int sts_optindex(lua_State *L, const char *fn, const char *const names[]) {
  int i;
  if (lua_type(L, -2) != LUA_TSTRING)
    return luaL_error(L, "bad option to '%s' (field names must be strings, got %s)", fn,
                      luaL_typename(L, -2));
  for (i = 0; names[i] != NULL; i++)
    if (strcmp(lua_tostring(L, -2), names[i]) == 0) return i;
  return luaL_error(L, "bad option to '%s' (unknown field '%s')", fn, lua_tostring(L, -2));
}

typedef struct {
  const char *name;
  lua_CFunction open;
} Part;

static const Part parts[] = {
  {"dm", sts_open_dm},
  {"proc", sts_open_proc},
  {"loop", sts_open_loop},
  {"time", sts_open_time},
  {"kmsg", sts_open_kmsg},
  {"random", sts_open_random},
  {"io", sts_open_io},
  {"thindump", sts_open_thindump},
  {NULL, NULL}
};

int luaopen_sts_core(lua_State *L) {
  const Part *p;
  lua_newtable(L);
  for (p = parts; p->name != NULL; p++) {
    lua_newtable(L);
    lua_pushcfunction(L, p->open);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    lua_setfield(L, -2, p->name);
  }
  lua_pushliteral(L, STS_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

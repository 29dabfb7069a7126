/*
** sts.core.dm's DmDevice object.
**
** A DmDevice is a userdata with no C payload: what it knows (its mapper
** name, uuid, numbers, ...) lives in its uservalue table, and the Lua half
** (lua/sts/dm.lua) gives it its methods and computed fields through the
** metatable device_metatable() returns. Only __index is C, as scripts read
** fields in their hot loops.
*/
#include "sts.h"

#define DEVICE_MT "sts.DmDevice"

void sts_push_device(lua_State *L) {
  lua_newuserdatauv(L, 0, 1);
  lua_rotate(L, -2, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, DEVICE_MT);
}

/* newdevice(fields) -> a DmDevice whose uservalue is `fields` */
static int l_newdevice(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  sts_push_device(L);
  return 1;
}

/* fields(d) -> the uservalue table of a DmDevice */
static int l_fields(lua_State *L) {
  luaL_checkudata(L, 1, DEVICE_MT);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/*
** __index of DmDevice: a method (upvalue 1), else a plain field stored in
** the uservalue (keys in the set at upvalue 2), else getter(fields) from
** upvalue 3, else nil. Upvalue 4 is the metatable: the function can be
** taken from it and called with anything, so `self` is checked against it
** (cheaper than luaL_checkudata's registry lookup, on every field read).
*/
static int device_index(lua_State *L) {
  int plain;
  lua_settop(L, 2);
  if (!lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(4)))
    return luaL_typeerror(L, 1, DEVICE_MT);
  lua_pop(L, 1);
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
  lua_settop(L, 3);
  luaL_getmetatable(L, DEVICE_MT);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, device_index, 4);
  lua_setfield(L, 4, "__index");
  return 0;
}

/* device_metatable() -> the metatable, for the Lua half to fill */
static int l_device_metatable(lua_State *L) {
  luaL_getmetatable(L, DEVICE_MT);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"newdevice", l_newdevice},
  {"fields", l_fields},
  {"device_metatable", l_device_metatable},
  {"set_device_index", l_set_device_index},
  {NULL, NULL}
};

int sts_open_device(lua_State *L) {
  if (luaL_newmetatable(L, DEVICE_MT)) {
    /* getmetatable(d) gives this name: the methods stay out of reach */
    lua_pushliteral(L, DEVICE_MT);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}

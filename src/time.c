/*
** sts.core.time: the monotonic clock and sleeping, for deadlines and brief
** waits (the Lua half is lua/sts/time.lua).
*/
#include <errno.h>
#include <time.h>

#include "sts.h"

/*
** sleep_ms(ms) -> true, or nil, "interrupted", EINTR when a signal ended
** the sleep early: back in Lua the interrupt hook (Ctrl-C) fires.
*/
static int l_sleep_ms(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  struct timespec ts;
  luaL_argcheck(L, ms >= 0, 1, "must be >= 0");
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
    return sts_pushfail(L, EINTR, "interrupted");
  lua_pushboolean(L, 1);
  return 1;
}

/* now_ms() -> milliseconds of CLOCK_MONOTONIC */
static int l_now_ms(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"sleep_ms", l_sleep_ms},
  {"now_ms", l_now_ms},
  {NULL, NULL}
};

int sts_open_time(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  return 0;
}

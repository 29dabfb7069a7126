/*
** libFuzzer harness: one Lua state with the sts modules (the C core linked
** in, the Lua sources embedded as in stslua) runs one function of
** fuzz/targets.lua, chosen at build time by STS_FUZZ_TARGET, on each input.
** The target raises when the library misbehaves (see fuzz/targets.lua);
** the harness then prints the error and aborts, which libFuzzer records as
** a crash with its input.
**
** The Lua interpreter comes from Debian and is not instrumented, so the
** sanitizer coverage of the C code alone would leave libFuzzer blind to
** the Lua code under test. A line hook gives it that coverage instead: each
** (function, line, previous line) step bumps one of libFuzzer's extra
** counters.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include "embedded.h"

#ifndef STS_FUZZ_TARGET
#error "build with -DSTS_FUZZ_TARGET=\"name\" (a function of fuzz/targets.lua)"
#endif

int luaopen_sts_core(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EDGE_COUNTERS (1u << 16)
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[EDGE_COUNTERS];

/* process-wide because libFuzzer's entry points take no context */
static lua_State *fuzz_L;
static int target_ref = LUA_NOREF;
static uintptr_t previous_step;
static unsigned runs_since_gc;

static void line_hook(lua_State *L, lua_Debug *ar) {
  uintptr_t fn, step;
  if (!lua_getinfo(L, "f", ar)) return;
  fn = (uintptr_t)lua_topointer(L, -1);
  lua_pop(L, 1);
  step = (fn >> 4) * 2654435761u ^ (uintptr_t)ar->currentline * 40503u;
  lua_edges[(step ^ (previous_step >> 1)) % EDGE_COUNTERS]++;
  previous_step = step;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what,
          fuzz_L ? lua_tostring(fuzz_L, -1) : "no Lua state");
  abort();
}

/* package.preload entries for sts.core and the embedded Lua modules */
static void preload_sts(lua_State *L) {
  const struct sts_embedded *m;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_sts_core);
  lua_setfield(L, -2, "sts.core");
  for (m = sts_embedded; m->module != NULL; m++) {
    if (luaL_loadbufferx(L, m->source, m->size, m->chunkname, "t") != LUA_OK)
      die("loading an embedded module");
    lua_setfield(L, -2, m->module);
  }
  lua_pop(L, 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *path = getenv("STS_FUZZ_TARGETS");
  (void)argc; (void)argv;
  fuzz_L = luaL_newstate();
  if (fuzz_L == NULL) { fprintf(stderr, "fuzz harness: no memory\n"); abort(); }
  luaL_openlibs(fuzz_L);
  preload_sts(fuzz_L);
  if (path == NULL) path = "fuzz/targets.lua";
  if (luaL_dofile(fuzz_L, path) != LUA_OK) die(path);
  lua_getfield(fuzz_L, -1, STS_FUZZ_TARGET);
  if (!lua_isfunction(fuzz_L, -1)) {
    lua_pushfstring(fuzz_L, "no function %s in the targets", STS_FUZZ_TARGET);
    die(path);
  }
  target_ref = luaL_ref(fuzz_L, LUA_REGISTRYINDEX);
  lua_settop(fuzz_L, 0);
  lua_sethook(fuzz_L, line_hook, LUA_MASKLINE, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_L;
  previous_step = 0;
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, target_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) die("target " STS_FUZZ_TARGET " raised");
  lua_settop(L, 0);
  /* a full collection now and then keeps the garbage of many small runs
     from piling up against libFuzzer's RSS limit */
  if (++runs_since_gc >= 1024) {
    lua_gc(L, LUA_GCCOLLECT);
    runs_since_gc = 0;
  }
  return 0;
}

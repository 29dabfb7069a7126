/*
** sts.core's capture of libdevmapper's log.
**
** libdevmapper logs through one process-global callback. What it says
** during an operation is collected here (never printed) and becomes the
** message of that operation's failure, with the first errno it reported.
** One operation runs at a time per process: Lua states share nothing else.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdevmapper.h>

#include "sts.h"

static struct {
  char *text;
  size_t len, cap;
  int err;  /* first errno libdevmapper reported */
} dmlog;

void sts_dmlog_reset(void) {
  dmlog.len = 0;
  if (dmlog.text != NULL) dmlog.text[0] = '\0';
  dmlog.err = 0;
}

int sts_dmlog_errno(void) {
  return dmlog.err;
}

const char *sts_dmlog_text(void) {
  return dmlog.len > 0 ? dmlog.text : NULL;
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

void sts_dmlog_install(void) {
  dm_log_with_errno_init(log_fn);
}

int sts_dmfail(lua_State *L, const char *op, const char *what, int err) {
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

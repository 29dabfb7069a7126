/* Lua sources of the sts modules compiled into stslua (see scripts/embed-lua) */
#ifndef STS_EMBEDDED_H
#define STS_EMBEDDED_H

#include <stddef.h>

struct sts_embedded {
  const char *module;     /* "sts.dm" */
  const char *chunkname;  /* "@lua/sts/dm.lua" */
  const char *source;
  size_t size;
};

/* terminated by an entry whose module is NULL */
extern const struct sts_embedded sts_embedded[];

#endif

/*
** core.random: mixing bytes into the kernel's random pool and reseeding it
** at once. A guest restored from a saved one (scripts/sts-vm
** --saved-state) carries the saved guest's random state: bytes written to
** /dev/urandom are mixed in but, since Linux 5.18, used only at the next
** scheduled reseed, so two restored guests would draw the same numbers
** until then. RNDADDENTROPY credits the bytes and RNDRESEEDCRNG reseeds the
** generator from the pool now (both need CAP_SYS_ADMIN).
*/
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sts.h"

#define MAX_SEED 4096

/* reseed(bytes) -> true, or nil, message, errno */
static int l_reseed(lua_State *L) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  struct rand_pool_info *info;
  int fd, err = 0;
  luaL_argcheck(L, len > 0 && len <= MAX_SEED, 1, "give 1 to 4096 bytes");
  info = lua_newuserdatauv(L, sizeof *info + ((len + 3) & ~(size_t)3), 0);
  memset(info, 0, sizeof *info + ((len + 3) & ~(size_t)3));
  info->entropy_count = (int)(len * 8);
  info->buf_size = (int)len;
  memcpy(info->buf, bytes, len);
  fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) return sts_pushfail(L, errno, "open /dev/urandom: %s", strerror(errno));
  if (ioctl(fd, RNDADDENTROPY, info) != 0 || ioctl(fd, RNDRESEEDCRNG) != 0) err = errno;
  close(fd);
  if (err != 0) return sts_pushfail(L, err, "reseed the kernel's random pool: %s", strerror(err));
  lua_pushboolean(L, 1);
  return 1;
}

int sts_open_random(lua_State *L) {
  lua_pushcfunction(L, l_reseed);
  lua_setfield(L, -2, "reseed");
  return 0;
}

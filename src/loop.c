/*
** sts.core.loop: loop devices through the kernel's loop ioctls.
** The Lua half (lua/sts/loop.lua) makes the backing files and the objects.
*/
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sts.h"

#define LOOP_CONTROL "/dev/loop-control"

/* closes fd (when >= 0) and pushes the failure "WHAT: <strerror>" of errno */
static int fail_close(lua_State *L, int fd, const char *what) {
  int err = errno;
  if (fd >= 0) close(fd);
  return sts_pushfail(L, err, "%s: %s", what, strerror(err));
}

/* configures dev_fd over file_fd; LOOP_CONFIGURE (5.8) does it in one
** step, older kernels need SET_FD then SET_STATUS64 */
static int configure(int dev_fd, int file_fd, int read_only, const char *file) {
  struct loop_config cfg;
  struct loop_info64 info;
  memset(&cfg, 0, sizeof cfg);
  cfg.fd = (unsigned)file_fd;
  cfg.info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
  strncpy((char *)cfg.info.lo_file_name, file, LO_NAME_SIZE - 1);  /* informational only */
  if (ioctl(dev_fd, LOOP_CONFIGURE, &cfg) == 0) return 0;
  if (errno != EINVAL && errno != ENOTTY) return -1;
  if (ioctl(dev_fd, LOOP_SET_FD, file_fd) < 0) return -1;
  memset(&info, 0, sizeof info);
  info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
  strncpy((char *)info.lo_file_name, file, LO_NAME_SIZE - 1);
  if (ioctl(dev_fd, LOOP_SET_STATUS64, &info) < 0) {
    int e = errno;
    (void)ioctl(dev_fd, LOOP_CLR_FD, 0);
    errno = e;
    return -1;
  }
  return 0;
}

/*
** attach(file, {read_only=}) -> number, "/dev/loopN", or nil, message, errno
** Another process may take the free device between GET_FREE and the
** configure (EBUSY): then ask for the next free one.
*/
static int l_attach(lua_State *L) {
  static const char *const known[] = {"read_only", NULL};
  const char *file = luaL_checkstring(L, 1);
  int read_only = 0;
  int ctl, file_fd, attempt, err = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
      (void)sts_optindex(L, "attach", known);
      if (lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_error(L, "bad option 'read_only' to 'attach' (boolean expected, got %s)",
                   luaL_typename(L, -1));
      read_only = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  ctl = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC);
  if (ctl < 0) return sts_pushfail(L, errno, "%s: %s", LOOP_CONTROL, strerror(errno));
  file_fd = open(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (file_fd < 0) {
    err = errno;
    close(ctl);
    return sts_pushfail(L, err, "%s: %s", file, strerror(err));
  }
  for (attempt = 0; attempt < 16; attempt++) {
    char dev[64];
    int dev_fd, nr = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (nr < 0) {
      err = errno;
      break;
    }
    snprintf(dev, sizeof dev, "/dev/loop%d", nr);
    dev_fd = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (dev_fd < 0) {
      err = errno;
      /* devtmpfs may lag a moment behind the new minor */
      if (err == ENOENT) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
        continue;
      }
      break;
    }
    if (configure(dev_fd, file_fd, read_only, file) == 0) {
      close(dev_fd);
      close(file_fd);
      close(ctl);
      lua_pushinteger(L, nr);
      lua_pushstring(L, dev);
      return 2;
    }
    err = errno;
    close(dev_fd);
    if (err != EBUSY) break;
  }
  close(file_fd);
  close(ctl);
  return sts_pushfail(L, err, "attach %s to a loop device: %s", file, strerror(err));
}

/* whether the loop device `rdev` still has a backing file (sysfs) */
static int still_bound(dev_t rdev) {
  char path[96];
  snprintf(path, sizeof path, "/sys/dev/block/%u:%u/loop/backing_file", major(rdev),
           minor(rdev));
  return access(path, F_OK) == 0;
}

/*
** detach(path) -> true | fail
** The kernel answers LOOP_CLR_FD on a device someone else holds open with
** success, having only set autoclear: the loop goes when its last opener
** closes it. So the detach is confirmed in sysfs (the backing file gone),
** waiting up to DETACH_WAIT_MS for a short-lived opener (blkid, udev);
** a loop still bound after that is reported (EBUSY), autoclear set.
*/
#define DETACH_WAIT_MS 1000
#define DETACH_STEP_MS 20

static int l_detach(lua_State *L) {
  const char *dev = luaL_checkstring(L, 1);
  struct stat st;
  int fd = open(dev, O_RDONLY | O_CLOEXEC), waited, err = 0;
  if (fd < 0) return fail_close(L, -1, dev);
  if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode)) {
    close(fd);
    return sts_pushfail(L, ENOTBLK, "detach %s: not a block device", dev);
  }
  for (waited = 0;; waited += DETACH_STEP_MS) {
    struct timespec ts = {0, DETACH_STEP_MS * 1000000L};
    if (ioctl(fd, LOOP_CLR_FD, 0) == 0) break;
    err = errno;
    /* older kernels: EBUSY while another opener holds it */
    if (err != EBUSY || waited >= DETACH_WAIT_MS) {
      close(fd);
      return sts_pushfail(L, err, "detach %s: %s", dev, strerror(err));
    }
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) {
      close(fd);
      return sts_pushfail(L, EINTR, "detach %s: interrupted", dev);
    }
  }
  close(fd);  /* ours was an opener too */
  for (waited = 0; still_bound(st.st_rdev); waited += DETACH_STEP_MS) {
    struct timespec ts = {0, DETACH_STEP_MS * 1000000L};
    if (waited >= DETACH_WAIT_MS)
      return sts_pushfail(L, EBUSY, "detach %s: still open elsewhere; the kernel set "
                          "autoclear, so it detaches when its last opener closes it", dev);
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
      return sts_pushfail(L, EINTR, "detach %s: interrupted", dev);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/*
** backing(path) -> the backing file of the loop device at path, as sysfs
** names it (the whole path: LOOP_GET_STATUS64 keeps only 64 bytes), or
** nil, message, errno (ENXIO when it has none)
*/
static int l_backing(lua_State *L) {
  const char *dev = luaL_checkstring(L, 1);
  char sys[96], text[4097];  /* a sysfs attribute is at most a page */
  struct stat st;
  ssize_t r;
  int fd;
  if (stat(dev, &st) != 0) return fail_close(L, -1, dev);
  if (!S_ISBLK(st.st_mode)) return sts_pushfail(L, ENOTBLK, "%s: not a block device", dev);
  snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u/loop/backing_file", major(st.st_rdev),
           minor(st.st_rdev));
  fd = open(sys, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sts_pushfail(L, ENXIO, "%s: no backing file", dev);
  do {
    r = read(fd, text, sizeof text - 1);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return fail_close(L, fd, sys);
  close(fd);
  if (r > 0 && text[r - 1] == '\n') r--;  /* sysfs ends it with a newline */
  lua_pushlstring(L, text, (size_t)r);
  return 1;
}

/* size(path) -> size in bytes of a block device or regular file */
static int l_size(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  lua_Integer bytes;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) < 0) return fail_close(L, fd, path);
  bytes = (lua_Integer)st.st_size;
  if (S_ISBLK(st.st_mode)) {
    unsigned long long dev_bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &dev_bytes) < 0) return fail_close(L, fd, path);
    bytes = (lua_Integer)dev_bytes;
  }
  close(fd);
  lua_pushinteger(L, bytes);
  return 1;
}

/* sparse_file(template, bytes) -> path of a new sparse file made from a
** mkstemp template ending in XXXXXX */
static int l_sparse_file(lua_State *L) {
  size_t len;
  const char *tmpl = luaL_checklstring(L, 1, &len);
  lua_Integer bytes = luaL_checkinteger(L, 2);
  char *path;
  int fd, err;
  luaL_argcheck(L, bytes > 0, 2, "size must be > 0");
  luaL_argcheck(L, len >= 6 && strcmp(tmpl + len - 6, "XXXXXX") == 0, 1,
                "template must end in XXXXXX");
  path = malloc(len + 1);
  if (path == NULL) return sts_pushfail(L, ENOMEM, "out of memory");
  memcpy(path, tmpl, len + 1);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    free(path);
    return sts_pushfail(L, err, "%s: %s", tmpl, strerror(err));
  }
  if (ftruncate(fd, (off_t)bytes) < 0) {
    err = errno;
    close(fd);
    unlink(path);
    free(path);
    return sts_pushfail(L, err, "size %s: %s", tmpl, strerror(err));
  }
  close(fd);
  lua_pushstring(L, path);
  free(path);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"attach", l_attach},
  {"detach", l_detach},
  {"backing", l_backing},
  {"size", l_size},
  {"sparse_file", l_sparse_file},
  {NULL, NULL}
};

int sts_open_loop(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  return 0;
}

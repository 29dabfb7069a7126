/*
** sts.core.io: data patterns at disk speed, raw block reads and writes,
** discard, zero-out and flush. The Lua half (lua/sts/io.lua) checks the
** options and resolves devices to paths; everything here takes plain
** paths and integers and checks them again, so any Lua value is safe.
**
** A pattern block of block_size bytes starts with a 40-byte stamp (all
** little-endian):
**     0  u64  magic "STSPATv1"
**     8  u64  seed
**    16  u64  offset       absolute byte offset of the block on the device
**    24  u64  generation
**    32  u32  block_size
**    36  u32  crc32c of bytes 40 .. block_size (the rest)
** and the rest is a fill derived from the stamp: one random buffer per
** seed (R, an xorshift stream) XORed word by word with a 64-bit key mixed
** from (seed, offset, generation). So a block that holds another block's
** data, an older generation or half of each is told apart from the right
** one, and the stamp names what it holds.
**
** Speed: crc32c is linear, so the checksum of R ^ key is the checksum of R
** XOR the sum of 64 precomputed terms, one per set bit of the key; writing
** a block costs one XOR pass and no checksum pass. Verifying compares each
** block with what it should hold (one XOR pass again); only a block that
** differs is read closely (its own checksum, its stamp) to say what it is.
** I/O goes in chunks of whole blocks (1 MiB by default) through one aligned
** buffer, O_DIRECT unless the caller asks for the page cache.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sts.h"

#define PAT_MAGIC 0x3176544150535453ULL   /* "STSPATv1" little-endian */
#define STAMP_BYTES 40
#define CHUNK_BYTES (1024 * 1024)
#define MAX_BLOCK (1024 * 1024)
#define ALIGN 4096

/* ---------- crc32c (Castagnoli), hardware or slicing-by-8 ---------- */

static uint32_t crc_table[8][256];
static int crc_ready;   /* 0: not set up, 1: tables, 2: SSE4.2 */

static void crc_setup(void) {
  uint32_t i, j, c;
  if (crc_ready) return;
  for (i = 0; i < 256; i++) {
    c = i;
    for (j = 0; j < 8; j++) c = (c >> 1) ^ (0x82F63B78U & (0U - (c & 1U)));
    crc_table[0][i] = c;
  }
  for (i = 0; i < 256; i++)
    for (j = 1; j < 8; j++)
      crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^ crc_table[0][crc_table[j - 1][i] & 0xFF];
#if defined(__x86_64__)
  __builtin_cpu_init();
  crc_ready = __builtin_cpu_supports("sse4.2") ? 2 : 1;
#else
  crc_ready = 1;
#endif
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t n) {
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w ^= crc;
    crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
          crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
          crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
          crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
  return (uint32_t)c;
}
#endif

/* crc32c of n bytes: initial value and final XOR 0xFFFFFFFF */
static uint32_t crc32c(const void *data, size_t n) {
  const unsigned char *p = data;
#if defined(__x86_64__)
  if (crc_ready == 2) return ~crc_hw(0xFFFFFFFFU, p, n);
#endif
  return ~crc_soft(0xFFFFFFFFU, p, n);
}

/* ---------- the pattern ---------- */

typedef struct {
  uint64_t seed, gen;
  size_t bs, words;      /* block size; 64-bit words in the rest */
  uint64_t *fill;        /* R: the rest of every block before the key */
  uint32_t crc_fill;     /* crc32c of R */
  uint32_t term[64];     /* crc change when bit b of the key is set */
} Pattern;

static uint64_t mix64(uint64_t x) {   /* splitmix64's finaliser */
  x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27; x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static uint64_t block_key(uint64_t seed, uint64_t offset, uint64_t gen) {
  return mix64(seed ^ mix64(offset ^ mix64(gen + 0x9E3779B97F4A7C15ULL)));
}

static void put64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *p, uint32_t v) {
  int i;
  for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void pattern_free(Pattern *pt) {
  free(pt->fill);
  pt->fill = NULL;
}

/* 0, or an errno (ENOMEM) */
static int pattern_init(Pattern *pt, uint64_t seed, uint64_t gen, size_t bs) {
  size_t i, rest = bs - STAMP_BYTES;
  uint64_t x = mix64(seed ^ 0x5354534C55410000ULL) | 1U;
  uint64_t *probe;
  uint32_t crc_zero;
  int b;
  crc_setup();
  memset(pt, 0, sizeof *pt);
  pt->seed = seed;
  pt->gen = gen;
  pt->bs = bs;
  pt->words = rest / 8;
  pt->fill = malloc(rest);
  probe = calloc(pt->words, 8);
  if (pt->fill == NULL || probe == NULL) {
    free(probe);
    pattern_free(pt);
    return ENOMEM;
  }
  for (i = 0; i < pt->words; i++) {   /* xorshift64 */
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    pt->fill[i] = x;
  }
  pt->crc_fill = crc32c(pt->fill, rest);
  /* crc is affine in its input: crc(a ^ b) = crc(a) ^ crc(b) ^ crc(0) */
  crc_zero = crc32c(probe, rest);
  for (b = 0; b < 64; b++) {
    uint64_t w = 1ULL << b;
    for (i = 0; i < pt->words; i++) probe[i] = w;
    pt->term[b] = crc32c(probe, rest) ^ crc_zero;
  }
  free(probe);
  return 0;
}

static uint32_t rest_crc(const Pattern *pt, uint64_t key) {
  uint32_t c = pt->crc_fill;
  int b;
  for (b = 0; b < 64; b++) c ^= pt->term[b] & (0U - (uint32_t)((key >> b) & 1U));
  return c;
}

static void put_stamp(unsigned char *blk, const Pattern *pt, uint64_t seed, uint64_t offset,
                      uint64_t gen, uint32_t crc) {
  put64(blk, PAT_MAGIC);
  put64(blk + 8, seed);
  put64(blk + 16, offset);
  put64(blk + 24, gen);
  put32(blk + 32, (uint32_t)pt->bs);
  put32(blk + 36, crc);
}

static void make_block(unsigned char *blk, const Pattern *pt, uint64_t offset) {
  uint64_t key = block_key(pt->seed, offset, pt->gen);
  unsigned char *rest = blk + STAMP_BYTES;
  size_t i;
  put_stamp(blk, pt, pt->seed, offset, pt->gen, rest_crc(pt, key));
  for (i = 0; i < pt->words; i++) {
    uint64_t w = pt->fill[i] ^ key;
    memcpy(rest + 8 * i, &w, 8);
  }
}

/* does the block hold exactly what make_block puts at offset? */
static int block_matches(const unsigned char *blk, const Pattern *pt, uint64_t offset) {
  unsigned char stamp[STAMP_BYTES];
  uint64_t key = block_key(pt->seed, offset, pt->gen), acc = 0;
  const unsigned char *rest = blk + STAMP_BYTES;
  size_t i;
  put_stamp(stamp, pt, pt->seed, offset, pt->gen, rest_crc(pt, key));
  if (memcmp(stamp, blk, STAMP_BYTES) != 0) return 0;
  for (i = 0; i < pt->words; i++) {
    uint64_t w;
    memcpy(&w, rest + 8 * i, 8);
    acc |= w ^ pt->fill[i] ^ key;
  }
  return acc == 0;
}

/* ---------- files ---------- */

/*
** What one call owns (the descriptor, the aligned buffer, the pattern's
** fill) lives in a userdata made before anything is acquired, so a Lua
** error raised halfway (out of memory while a report grows) leaks nothing:
** its __gc closes what is left. box_close is idempotent.
*/
#define BOX_MT "sts.io.Box"

typedef struct {
  int fd;
  unsigned char *buf;
  Pattern pt;
} Box;

static void box_close(Box *bx) {
  if (bx->fd >= 0) close(bx->fd);
  bx->fd = -1;
  free(bx->buf);
  bx->buf = NULL;
  pattern_free(&bx->pt);
}

static int box_gc(lua_State *L) {
  box_close((Box *)luaL_checkudata(L, 1, BOX_MT));
  return 0;
}

static Box *new_box(lua_State *L) {
  Box *bx = (Box *)lua_newuserdatauv(L, sizeof(Box), 0);
  bx->fd = -1;
  bx->buf = NULL;
  memset(&bx->pt, 0, sizeof bx->pt);
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return bx;
}

/* 0 or an errno; a refused O_DIRECT is EINVAL and the caller says so.
** writable: 0 read only, 1 read-write, 2 read-write with O_DSYNC */
static int box_open(Box *bx, const char *path, int writable, int direct, size_t buf_bytes) {
  int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | (direct ? O_DIRECT : 0) |
              (writable == 2 ? O_DSYNC : 0);
  bx->fd = open(path, flags);
  if (bx->fd < 0) return errno;
  if (buf_bytes > 0) {
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, buf_bytes) != 0) return ENOMEM;
    bx->buf = p;
  }
  return 0;
}

/* nil, message, errno, offset for a file that cannot be opened (or a
** buffer that cannot be had) before the I/O at offset */
static int open_failure(lua_State *L, const char *path, int err, int direct, uint64_t off) {
  if (err == EINVAL && direct)
    sts_pushfail(L, err, "%s: the file system refuses O_DIRECT (%s); pass direct=false "
                 "to go through the page cache", path, strerror(err));
  else if (err == ENOMEM) sts_pushfail(L, err, "%s: out of memory", path);
  else sts_pushfail(L, err, "%s: %s", path, strerror(err));
  lua_pushinteger(L, (lua_Integer)off);
  return 4;
}

/* 0, or an errno: EIO for a transfer the device cut short */
static int full_pwrite(int fd, const unsigned char *p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return ENOSPC;
    p += w; n -= (size_t)w; off += (uint64_t)w;
  }
  return 0;
}

static int full_pread(int fd, unsigned char *p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO;   /* past the end: the caller checked the range */
    p += r; n -= (size_t)r; off += (uint64_t)r;
  }
  return 0;
}

/* a failure: nil, message, errno, offset */
static int io_failure(lua_State *L, const char *what, const char *path, int err, uint64_t off) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s %s at offset %I: %s", what, path, (lua_Integer)off,
                  err == EIO ? "input/output error" : strerror(err));
  lua_pushinteger(L, err);
  lua_pushinteger(L, (lua_Integer)off);
  return 4;
}

/* ---------- argument checks (the Lua half checks too; this is the floor) ---------- */

static uint64_t check_u64(lua_State *L, int arg, const char *what) {
  lua_Integer v = luaL_checkinteger(L, arg);
  if (v < 0) luaL_argerror(L, arg, lua_pushfstring(L, "%s must be >= 0", what));
  return (uint64_t)v;
}

static size_t check_block_size(lua_State *L, int arg) {
  lua_Integer bs = luaL_checkinteger(L, arg);
  luaL_argcheck(L, bs >= 512 && bs <= MAX_BLOCK && bs % 512 == 0, arg,
                "block_size must be a multiple of 512 from 512 to 1048576");
  return (size_t)bs;
}

static void check_range(lua_State *L, uint64_t off, uint64_t len, size_t bs) {
  if (off % bs != 0 || len % bs != 0)
    luaL_error(L, "offset and length must be multiples of block_size (%d)", (int)bs);
  if (off > (uint64_t)INT64_MAX - len) luaL_error(L, "offset + length overflows");
}

/* a flag of the options table at arg (read raw): a boolean, or absent */
static int flag_field(lua_State *L, int arg, const char *key) {
  int t, v;
  lua_pushstring(L, key);
  t = lua_rawget(L, arg);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a boolean", key));
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* the options table at arg (absent or nil: no options); the flags are
** named, never positional booleans */
static void check_options(lua_State *L, int arg) {
  if (!lua_isnoneornil(L, arg)) luaL_checktype(L, arg, LUA_TTABLE);
}

static int option_flag(lua_State *L, int arg, const char *key) {
  return lua_istable(L, arg) ? flag_field(L, arg, key) : 0;
}

static size_t chunk_for(size_t bs) {
  size_t c = CHUNK_BYTES - CHUNK_BYTES % bs;
  return c < bs ? bs : c;
}

/* write_pattern(path, offset, length, block_size, seed, generation, {direct=})
** -> true | nil, message, errno, offset */
static int l_write_pattern(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset"), len = check_u64(L, 3, "length");
  size_t bs = check_block_size(L, 4), chunk = chunk_for(bs);
  uint64_t seed = (uint64_t)luaL_checkinteger(L, 5), gen = check_u64(L, 6, "generation");
  int direct, err;
  uint64_t pos, end;
  Box *bx;
  check_options(L, 7);
  direct = option_flag(L, 7, "direct");
  check_range(L, off, len, bs);
  bx = new_box(L);
  if ((err = pattern_init(&bx->pt, seed, gen, bs)) != 0) return open_failure(L, path, err, 0, off);
  if ((err = box_open(bx, path, 1, direct, chunk)) != 0) {
    box_close(bx);
    return open_failure(L, path, err, direct, off);
  }
  end = off + len;
  for (pos = off; pos < end;) {
    size_t n = (end - pos < chunk) ? (size_t)(end - pos) : chunk, k;
    for (k = 0; k < n; k += bs) make_block(bx->buf + k, &bx->pt, pos + k);
    if ((err = full_pwrite(bx->fd, bx->buf, n, pos)) != 0) break;
    pos += n;
  }
  if (err == 0 && !direct && fdatasync(bx->fd) < 0) err = errno, pos = off;
  box_close(bx);
  if (err != 0) return io_failure(L, "write", path, err, pos);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---------- verifying ---------- */

enum { K_ZEROS, K_GARBAGE, K_TORN, K_STALE, K_NEWER, K_MISDIRECTED, K_FOREIGN, K_IO, NKINDS };
static const char *const kind_names[NKINDS] = {
  "zeros", "garbage", "torn", "stale", "newer", "misdirected", "foreign", "io_error"
};

typedef struct {
  lua_State *L;
  int list;            /* stack index of the list of bad blocks */
  lua_Integer shown, cap, bad, counts[NKINDS];
} Report;

static int all_zero(const unsigned char *p, size_t n) {
  uint64_t acc = 0;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  return acc == 0;
}

/* adds one bad block; found_stamp: the block's stamp fields are meaningful */
static void report_bad(Report *r, int kind, uint64_t off, uint64_t gen, const unsigned char *blk,
                       int found_stamp, int err) {
  lua_State *L = r->L;
  r->bad++;
  r->counts[kind]++;
  if (r->shown >= r->cap) return;
  lua_createtable(L, 0, 5);
  lua_pushstring(L, kind_names[kind]);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)off);
  lua_setfield(L, -2, "offset");
  lua_pushinteger(L, (lua_Integer)gen);
  lua_setfield(L, -2, "expected_generation");
  if (found_stamp) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)get64(blk + 8));
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)get64(blk + 16));
    lua_setfield(L, -2, "offset");
    lua_pushinteger(L, (lua_Integer)get64(blk + 24));
    lua_setfield(L, -2, "generation");
    lua_pushinteger(L, (lua_Integer)get32(blk + 32));
    lua_setfield(L, -2, "block_size");
    lua_setfield(L, -2, "found");
  }
  if (err != 0) {
    lua_pushinteger(L, err);
    lua_setfield(L, -2, "errno");
    lua_pushstring(L, strerror(err));
    lua_setfield(L, -2, "error");
  }
  lua_rawseti(L, r->list, ++r->shown);
}

/* says what a block that is not the expected one holds */
static void classify(Report *r, const Pattern *pt, const unsigned char *blk, uint64_t off) {
  uint64_t f_seed, f_off, f_gen;
  int intact;
  if (all_zero(blk, pt->bs)) {
    report_bad(r, K_ZEROS, off, pt->gen, blk, 0, 0);
    return;
  }
  if (get64(blk) != PAT_MAGIC || get32(blk + 32) != pt->bs) {
    report_bad(r, K_GARBAGE, off, pt->gen, blk, get64(blk) == PAT_MAGIC, 0);
    return;
  }
  f_seed = get64(blk + 8);
  f_off = get64(blk + 16);
  f_gen = get64(blk + 24);
  /* intact: the rest is what its own stamp says and matches its checksum */
  intact = crc32c(blk + STAMP_BYTES, pt->bs - STAMP_BYTES) == get32(blk + 36);
  if (intact) {
    Pattern other;
    const Pattern *use = pt;
    if (f_seed != pt->seed || f_gen != pt->gen) {
      if (pattern_init(&other, f_seed, f_gen, pt->bs) != 0) {
        report_bad(r, K_IO, off, pt->gen, blk, 1, ENOMEM);
        return;
      }
      use = &other;
    }
    intact = block_matches(blk, use, f_off);
    if (use != pt) pattern_free(&other);
  }
  if (!intact) report_bad(r, K_TORN, off, pt->gen, blk, 1, 0);
  else if (f_seed != pt->seed) report_bad(r, K_FOREIGN, off, pt->gen, blk, 1, 0);
  else if (f_off != off) report_bad(r, K_MISDIRECTED, off, pt->gen, blk, 1, 0);
  else if (f_gen < pt->gen) report_bad(r, K_STALE, off, pt->gen, blk, 1, 0);
  else report_bad(r, K_NEWER, off, pt->gen, blk, 1, 0);
}

/* verify_pattern(path, offset, length, block_size, seed, generation,
**                {direct=, max_report=})
** -> true | false, {blocks=, bad=, counts={kind=n}, bad_blocks={...}, truncated=}
**  | nil, message, errno, offset */
static int l_verify_pattern(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset"), len = check_u64(L, 3, "length");
  size_t bs = check_block_size(L, 4), chunk = chunk_for(bs);
  uint64_t seed = (uint64_t)luaL_checkinteger(L, 5), gen = check_u64(L, 6, "generation");
  int direct, err, i;
  lua_Integer cap = 16;
  uint64_t pos, end;
  Box *bx;
  Report r;
  check_options(L, 7);
  direct = option_flag(L, 7, "direct");
  if (lua_istable(L, 7)) {
    int t;
    lua_pushliteral(L, "max_report");
    t = lua_rawget(L, 7);
    if (t != LUA_TNIL) {
      int isint;
      cap = lua_tointegerx(L, -1, &isint);
      luaL_argcheck(L, t == LUA_TNUMBER && isint && cap >= 0, 7,
                    "max_report must be an integer >= 0");
    }
    lua_pop(L, 1);
  }
  check_range(L, off, len, bs);
  memset(&r, 0, sizeof r);
  r.L = L;
  r.cap = cap;
  lua_settop(L, 7);
  lua_newtable(L);
  r.list = lua_gettop(L);
  luaL_checkstack(L, 8, "verify_pattern");
  bx = new_box(L);
  if ((err = pattern_init(&bx->pt, seed, gen, bs)) != 0) return open_failure(L, path, err, 0, off);
  if ((err = box_open(bx, path, 0, direct, chunk)) != 0) {
    box_close(bx);
    return open_failure(L, path, err, direct, off);
  }
  end = off + len;
  for (pos = off; pos < end;) {
    size_t n = (end - pos < chunk) ? (size_t)(end - pos) : chunk, k;
    unsigned char *buf = bx->buf;
    err = full_pread(bx->fd, buf, n, pos);
    if (err != 0) {
      /* read block by block to name the blocks that fail */
      for (k = 0; k < n; k += bs) {
        int e = full_pread(bx->fd, buf + k, bs, pos + k);
        if (e != 0) report_bad(&r, K_IO, pos + k, gen, NULL, 0, e);
        else if (!block_matches(buf + k, &bx->pt, pos + k)) classify(&r, &bx->pt, buf + k, pos + k);
      }
    } else {
      for (k = 0; k < n; k += bs)
        if (!block_matches(buf + k, &bx->pt, pos + k)) classify(&r, &bx->pt, buf + k, pos + k);
    }
    pos += n;
  }
  box_close(bx);
  if (r.bad == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_createtable(L, 0, 6);
  lua_pushvalue(L, r.list);
  lua_setfield(L, -2, "bad_blocks");
  lua_pushinteger(L, (lua_Integer)(len / bs));
  lua_setfield(L, -2, "blocks");
  lua_pushinteger(L, r.bad);
  lua_setfield(L, -2, "bad");
  lua_pushboolean(L, r.bad > r.shown);
  lua_setfield(L, -2, "truncated");
  lua_createtable(L, 0, NKINDS);
  for (i = 0; i < NKINDS; i++) {
    if (r.counts[i] == 0) continue;
    lua_pushinteger(L, r.counts[i]);
    lua_setfield(L, -2, kind_names[i]);
  }
  lua_setfield(L, -2, "counts");
  return 2;
}

/* ---------- raw blocks ---------- */

static int logical_block(int fd) {
  struct stat st;
  int lbs = 512;
  if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
    return lbs;
  return 512;
}

/* read(path, offset, n, {direct=}) -> string | nil, message, errno, offset.
** With O_DIRECT the aligned range around [offset, offset+n) is read into an
** aligned buffer, so any offset and length work. */
static int l_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset"), n = check_u64(L, 3, "n"), start, stop, lbs;
  int direct, err;
  Box *bx;
  check_options(L, 4);
  direct = option_flag(L, 4, "direct");
  luaL_argcheck(L, n <= (uint64_t)INT32_MAX, 3, "n must be under 2 GiB");
  luaL_argcheck(L, off <= (uint64_t)INT64_MAX - n - ALIGN, 2, "offset too large");
  bx = new_box(L);
  if ((err = box_open(bx, path, 0, direct, 0)) != 0) {
    box_close(bx);
    return open_failure(L, path, err, direct, off);
  }
  lbs = direct ? (uint64_t)logical_block(bx->fd) : 1;
  start = off - off % lbs;
  stop = off + n;
  if (stop % lbs) stop += lbs - stop % lbs;
  {
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, (size_t)(stop - start) + 1) != 0) {
      box_close(bx);
      return open_failure(L, path, ENOMEM, 0, off);
    }
    bx->buf = p;
  }
  err = full_pread(bx->fd, bx->buf, (size_t)(stop - start), start);
  if (err != 0) {
    /* name the first logical block that fails */
    uint64_t step = direct ? lbs : 512, at = start;
    while (at < stop && full_pread(bx->fd, bx->buf, (size_t)step, at) == 0) at += step;
    box_close(bx);
    return io_failure(L, "read", path, err, at < stop ? at : start);
  }
  lua_pushlstring(L, (const char *)bx->buf + (off - start), (size_t)n);
  box_close(bx);
  return 1;
}

/* write(path, offset, data, {direct=, dsync=}) -> true | nil, message, errno, offset.
** With O_DIRECT, offset and #data must be multiples of the logical block size.
** dsync opens with O_DSYNC: a direct write then goes down as a FUA write
** where the device takes FUA (a cache flush after it where not). */
static int l_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset");
  size_t n;
  const char *data = luaL_checklstring(L, 3, &n);
  int direct, dsync, err;
  Box *bx;
  check_options(L, 4);
  direct = option_flag(L, 4, "direct");
  dsync = option_flag(L, 4, "dsync");
  bx = new_box(L);
  if ((err = box_open(bx, path, dsync ? 2 : 1, direct, direct ? (n ? n : 1) : 0)) != 0) {
    box_close(bx);
    return open_failure(L, path, err, direct, off);
  }
  if (direct) {
    uint64_t lbs = (uint64_t)logical_block(bx->fd);
    if (off % lbs != 0 || n % lbs != 0) {
      box_close(bx);
      luaL_pushfail(L);
      lua_pushfstring(L, "write %s at offset %I: with O_DIRECT the offset and length must be "
                      "multiples of %d bytes", path, (lua_Integer)off, (int)lbs);
      lua_pushinteger(L, EINVAL);
      lua_pushinteger(L, (lua_Integer)off);
      return 4;
    }
    memcpy(bx->buf, data, n);
    err = full_pwrite(bx->fd, bx->buf, n, off);
  } else {
    err = full_pwrite(bx->fd, (const unsigned char *)data, n, off);
    if (err == 0 && fdatasync(bx->fd) < 0) err = errno;
  }
  box_close(bx);
  if (err != 0) return io_failure(L, "write", path, err, off);
  lua_pushboolean(L, 1);
  return 1;
}

/* fill(path, offset, length, pattern, {direct=}) -> true | nil, message, errno, offset
** pattern (a non-empty string) repeats from offset */
static int l_fill(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset"), len = check_u64(L, 3, "length"), pos, end;
  size_t plen, chunk = CHUNK_BYTES, k;
  const char *pat = luaL_checklstring(L, 4, &plen);
  int direct, err = 0;
  Box *bx;
  check_options(L, 5);
  direct = option_flag(L, 5, "direct");
  luaL_argcheck(L, plen > 0 && plen <= CHUNK_BYTES, 4, "pattern must be 1 byte to 1 MiB long");
  luaL_argcheck(L, off <= (uint64_t)INT64_MAX - len, 3, "offset + length overflows");
  /* a chunk that is a whole number of pattern repeats keeps the phase; with
  ** O_DIRECT it is lcm(#pattern, 4096), a multiple of the alignment too */
  chunk -= chunk % plen;
  if (direct) {
    size_t a = plen, c = ALIGN;
    while (c) { size_t t = a % c; a = c; c = t; }
    luaL_argcheck(L, plen / a <= 4096, 4, "with direct=true the pattern's length times 4096 "
                  "over their common factor must be at most 16 MiB");
    chunk = plen / a * ALIGN;
    while (chunk < CHUNK_BYTES / 2) chunk *= 2;
  }
  bx = new_box(L);
  if ((err = box_open(bx, path, 1, direct, chunk)) != 0) {
    box_close(bx);
    return open_failure(L, path, err, direct, off);
  }
  for (k = 0; k < chunk; k++) bx->buf[k] = (unsigned char)pat[k % plen];
  end = off + len;
  for (pos = off; pos < end;) {
    size_t n = (end - pos < chunk) ? (size_t)(end - pos) : chunk;
    if ((err = full_pwrite(bx->fd, bx->buf, n, pos)) != 0) break;
    pos += n;
  }
  if (err == 0 && !direct && fdatasync(bx->fd) < 0) err = errno, pos = off;
  box_close(bx);
  if (err != 0) return io_failure(L, "fill", path, err, pos);
  lua_pushboolean(L, 1);
  return 1;
}

/* range_ioctl(path, offset, length, op): BLKDISCARD or BLKZEROOUT */
static int range_ioctl(lua_State *L, unsigned long req, const char *what) {
  const char *path = luaL_checkstring(L, 1);
  uint64_t off = check_u64(L, 2, "offset"), len = check_u64(L, 3, "length");
  uint64_t range[2];
  int fd, err;
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return open_failure(L, path, errno, 0, off);
  range[0] = off;
  range[1] = len;
  if (ioctl(fd, req, range) < 0) {
    err = errno;
    close(fd);
    return io_failure(L, what, path, err, off);
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_discard(lua_State *L) { return range_ioctl(L, BLKDISCARD, "discard"); }
static int l_zeroout(lua_State *L) { return range_ioctl(L, BLKZEROOUT, "zeroout"); }

/* invalidate(path): BLKFLSBUF, writes back and drops a block device's page cache */
static int l_invalidate(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDONLY | O_CLOEXEC), err;
  if (fd < 0) return open_failure(L, path, errno, 0, 0);
  if (ioctl(fd, BLKFLSBUF, 0) < 0) {
    err = errno;
    close(fd);
    return io_failure(L, "invalidate", path, err, 0);
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

/* flush(path): fsync, which sends a cache flush to a block device */
static int l_flush(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDONLY | O_CLOEXEC), err;
  if (fd < 0) return open_failure(L, path, errno, 0, 0);
  if (fsync(fd) < 0) {
    err = errno;
    close(fd);
    return io_failure(L, "flush", path, err, 0);
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

/* list_dir(path) -> list of the names in a directory but "." and ".."
**                  | nil, message, errno
** The DIR lives in a userdata whose __gc closes it, so a push that raises
** (out of memory) leaks nothing. */
#define DIR_MT "sts.io.Dir"

static int dir_gc(lua_State *L) {
  DIR **d = (DIR **)luaL_checkudata(L, 1, DIR_MT);
  if (*d != NULL) closedir(*d);
  *d = NULL;
  return 0;
}

static int l_list_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR **d;
  struct dirent *e;
  lua_Integer n = 0;
  d = (DIR **)lua_newuserdatauv(L, sizeof(DIR *), 0);
  *d = NULL;
  if (luaL_newmetatable(L, DIR_MT)) {
    lua_pushcfunction(L, dir_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_newtable(L);
  *d = opendir(path);
  if (*d == NULL) return sts_pushfail(L, errno, "%s: %s", path, strerror(errno));
  while ((e = readdir(*d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(*d);
  *d = NULL;
  return 1;
}

/* is_block(path) -> true when path is a block device (false when it is not or is missing) */
static int l_is_block(lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  lua_pushboolean(L, stat(path, &st) == 0 && S_ISBLK(st.st_mode));
  return 1;
}

/* crc32c(string) -> integer: the checksum the stamps use, for tests and tools */
static int l_crc32c(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  crc_setup();
  lua_pushinteger(L, (lua_Integer)crc32c(s, n));
  return 1;
}

/* crc_impl() -> "sse4.2" | "table" */
static int l_crc_impl(lua_State *L) {
  crc_setup();
  lua_pushstring(L, crc_ready == 2 ? "sse4.2" : "table");
  return 1;
}

static const luaL_Reg funcs[] = {
  {"write_pattern", l_write_pattern},
  {"verify_pattern", l_verify_pattern},
  {"read", l_read},
  {"write", l_write},
  {"fill", l_fill},
  {"discard", l_discard},
  {"zeroout", l_zeroout},
  {"flush", l_flush},
  {"invalidate", l_invalidate},
  {"is_block", l_is_block},
  {"list_dir", l_list_dir},
  {"crc32c", l_crc32c},
  {"crc_impl", l_crc_impl},
  {NULL, NULL}
};

int sts_open_io(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  lua_pushinteger(L, STAMP_BYTES);
  lua_setfield(L, -2, "STAMP_BYTES");
  return 0;
}

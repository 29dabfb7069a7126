/*
** sts.core.thindump: a streaming reader of thin_dump XML over libexpat.
**
** read(source, on_mapping [, on_start [, on_end]])
**   source      the XML text (a string) or an open Lua file to read it from
**   on_mapping  called as on_mapping(dev_id, origin, data, length, time) for
**               every run of mappings of every device, in document order: a
**               <single_mapping> has length 1, a <range_mapping> is one
**               range, a <ref> to a shared <def> (newer tools) is expanded
**               in place, a mapping that carries the run before it on (the
**               next origin and data block, the same time) is joined to it,
**               and an absent time is 0
**   on_start    called as on_start(name, attrs) for <superblock> and
**               <device>, attrs being name -> string
**   on_end      called as on_end(name) at </device>
**   fast        false: expat alone, without the fast path (for tests)
** Returns the number of on_mapping calls. Raises DmpdError for malformed
** XML or a dump that breaks the rules parse_thin_dump checks.
**
** Expat never calls into Lua here: its handlers append compact records to
** a batch and suspend the parser when the batch is full; the driver then
** hands the batch to Lua and resumes. A Lua error therefore never unwinds
** through expat, and the reader (a userdata whose __gc frees the parser)
** is collected whatever happens. Memory stays bounded by the batch, the
** read buffer and the shared <def> subtrees (kept until the end, since any
** later device may refer to them).
*/
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "sts.h"

#define READER_META "sts.ThinDumpReader"
#define BATCH_RECORDS 4096      /* records handed to Lua per suspension */
#define READ_CHUNK (256 * 1024) /* bytes per read from a file */
#define TEXT_CHUNK (1024 * 1024)/* bytes of a string per parse call */

enum { REC_MAP, REC_REF, REC_START, REC_END };
enum { EL_SUPERBLOCK, EL_DEVICE };
static const char *const element_names[] = {"superblock", "device"};

typedef struct {
  int64_t origin, data, length, time;
} Mapping;

typedef struct {
  int kind;      /* REC_* */
  int element;   /* EL_* of REC_START and REC_END */
  int64_t dev;   /* device of REC_MAP and REC_REF */
  int64_t a, b, c, d;
  int64_t at;    /* a fast record's offset in what expat was given; -1 others */
  /* REC_MAP: origin, data, length, time;
     REC_REF: def index, count of its mappings at the <ref>;
     REC_START: arena offset of the attributes, number of attributes */
} Record;

typedef struct {
  Mapping *v;
  size_t n, cap;
} MapVec;

typedef struct {
  char *name;   /* NULL: empty slot */
  size_t def;
} DefSlot;

typedef struct {
  XML_Parser parser;
  Record *recs;
  size_t nrecs, caprecs;
  char *arena;           /* attribute strings of REC_START records */
  size_t arena_len, arena_cap;
  MapVec *defs;
  size_t ndefs, capdefs;
  DefSlot *slots;        /* open-addressing table: def name -> index */
  size_t nslots;
  int have_superblock, in_device, suspending;
  int64_t dev_id;
  long cur_def;          /* the <def> being read, or -1 */
  long depth;            /* open elements, as expat has seen them */
  char *error;           /* the first error a handler met */
  int64_t error_at;      /* and its offset */
  /* the fast path (see scan below) */
  int fast, scan, term;  /* enabled; SC_* state; bytes of a terminator matched */
  char *stage;           /* bytes for expat not yet given to it */
  size_t stage_len;
  int staged_markup;     /* the stage holds markup, not only character data */
  char *ibuf;            /* file input, with the carried-over tail */
  size_t ibuf_len;
  int64_t fed;           /* bytes given to expat so far */
  char last;             /* the last byte staged for expat */
} Reader;

/* ---- memory ---- */

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  size_t n = *cap ? *cap : 16;
  void *q;
  if (need <= *cap) return 1;
  while (n < need) {
    if (n > SIZE_MAX / 2 / size) return 0;
    n *= 2;
  }
  q = realloc(*p, n * size);
  if (q == NULL) return 0;
  *p = q;
  *cap = n;
  return 1;
}

static void reader_free(Reader *r) {
  size_t i;
  if (r->parser) XML_ParserFree(r->parser);
  r->parser = NULL;
  free(r->recs);
  r->recs = NULL;
  r->nrecs = r->caprecs = 0;
  free(r->arena);
  r->arena = NULL;
  r->arena_len = r->arena_cap = 0;
  for (i = 0; i < r->ndefs; i++) free(r->defs[i].v);
  free(r->defs);
  r->defs = NULL;
  r->ndefs = r->capdefs = 0;
  for (i = 0; i < r->nslots; i++) free(r->slots[i].name);
  free(r->slots);
  r->slots = NULL;
  r->nslots = 0;
  free(r->error);
  r->error = NULL;
  free(r->stage);
  r->stage = NULL;
  r->stage_len = 0;
  free(r->ibuf);
  r->ibuf = NULL;
  r->ibuf_len = 0;
}

static int reader_gc(lua_State *L) {
  reader_free((Reader *)luaL_checkudata(L, 1, READER_META));
  return 0;
}

/* ---- errors met inside handlers: kept, and the parser aborted ---- */

static void fail(Reader *r, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

static void fail(Reader *r, const char *fmt, ...) {
  va_list ap;
  unsigned long line;
  int n;
  if (r->error != NULL) return;
  line = (unsigned long)XML_GetCurrentLineNumber(r->parser);
  r->error_at = (int64_t)XML_GetCurrentByteIndex(r->parser);
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n >= 0) {
    size_t len = (size_t)n + 40;
    r->error = malloc(len);
    if (r->error != NULL) {
      va_start(ap, fmt);
      vsnprintf(r->error, len, fmt, ap);
      va_end(ap);
      snprintf(r->error + n, len - (size_t)n, " (line %lu)", line);
    }
  }
  if (r->error == NULL) r->error = strdup("out of memory");
  XML_StopParser(r->parser, XML_FALSE);
}

static void fail_oom(Reader *r) {
  fail(r, "out of memory reading thin_dump XML");
}

/* ---- records ---- */

static Record *new_record(Reader *r, int kind) {
  Record *rec;
  if (!grow((void **)&r->recs, &r->caprecs, r->nrecs + 1, sizeof *r->recs)) {
    fail_oom(r);
    return NULL;
  }
  rec = &r->recs[r->nrecs++];
  memset(rec, 0, sizeof *rec);
  rec->kind = kind;
  rec->dev = r->dev_id;
  rec->at = -1;
  if (r->nrecs >= BATCH_RECORDS && !r->suspending && r->error == NULL) {
    r->suspending = 1;
    XML_StopParser(r->parser, XML_TRUE);
  }
  return rec;
}

static int arena_add(Reader *r, const char *s) {
  size_t n = strlen(s) + 1;
  if (n > SIZE_MAX - r->arena_len ||
      !grow((void **)&r->arena, &r->arena_cap, r->arena_len + n, 1))
    return 0;
  memcpy(r->arena + r->arena_len, s, n);
  r->arena_len += n;
  return 1;
}

static void start_record(Reader *r, int element, const XML_Char **atts) {
  size_t off = r->arena_len, n = 0;
  Record *rec;
  for (; atts[0] != NULL; atts += 2, n++) {
    if (!arena_add(r, atts[0]) || !arena_add(r, atts[1])) {
      fail_oom(r);
      return;
    }
  }
  rec = new_record(r, REC_START);
  if (rec == NULL) return;
  rec->element = element;
  rec->a = (int64_t)off;
  rec->b = (int64_t)n;
}

/* ---- attributes ---- */

static const char *attr(const XML_Char **atts, const char *name) {
  for (; atts[0] != NULL; atts += 2)
    if (strcmp(atts[0], name) == 0) return atts[1];
  return NULL;
}

/* decimal digits only, at most INT64_MAX: what parse_thin_dump accepts */
static int parse_count(const char *s, int64_t *out) {
  int64_t v = 0;
  if (s == NULL || *s == '\0') return 0;
  for (; *s; s++) {
    int d;
    if (*s < '0' || *s > '9') return 0;
    d = *s - '0';
    if (v > (INT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

static int int_attr(Reader *r, const XML_Char **atts, const char *name, const char *element,
                    int64_t *out) {
  const char *v = attr(atts, name);
  if (parse_count(v, out)) return 1;
  fail(r, "<%s>: attribute '%s' missing or not a number (%s)", element, name, v ? v : "nil");
  return 0;
}

/* ---- shared subtrees ---- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static DefSlot *find_slot(Reader *r, const char *name) {
  size_t mask = r->nslots - 1, i = (size_t)hash_name(name) & mask;
  while (r->slots[i].name != NULL && strcmp(r->slots[i].name, name) != 0) i = (i + 1) & mask;
  return &r->slots[i];
}

static int rehash(Reader *r) {
  size_t old_n = r->nslots, i, n = old_n ? old_n * 2 : 64;
  DefSlot *old = r->slots;
  if (n > SIZE_MAX / sizeof *old) return 0;
  r->slots = calloc(n, sizeof *r->slots);
  if (r->slots == NULL) {
    r->slots = old;
    return 0;
  }
  r->nslots = n;
  for (i = 0; i < old_n; i++)
    if (old[i].name != NULL) *find_slot(r, old[i].name) = old[i];
  free(old);
  return 1;
}

static long lookup_def(Reader *r, const char *name) {
  DefSlot *s;
  if (r->nslots == 0) return -1;
  s = find_slot(r, name);
  return s->name ? (long)s->def : -1;
}

/* a new <def>; a name used again now names the new one, as in the tree parser */
static void begin_def(Reader *r, const char *name) {
  DefSlot *s;
  if (!grow((void **)&r->defs, &r->capdefs, r->ndefs + 1, sizeof *r->defs) ||
      ((r->ndefs + 1) * 2 > r->nslots && !rehash(r))) {
    fail_oom(r);
    return;
  }
  s = find_slot(r, name);
  if (s->name == NULL) {
    s->name = strdup(name);
    if (s->name == NULL) {
      fail_oom(r);
      return;
    }
  }
  memset(&r->defs[r->ndefs], 0, sizeof *r->defs);
  s->def = r->ndefs;
  r->cur_def = (long)r->ndefs++;
}

static int def_append(Reader *r, MapVec *d, const Mapping *m, size_t n) {
  if (n > SIZE_MAX - d->n || !grow((void **)&d->v, &d->cap, d->n + n, sizeof *d->v)) {
    fail_oom(r);
    return 0;
  }
  memmove(d->v + d->n, m, n * sizeof *m);
  d->n += n;
  return 1;
}

/* ---- expat handlers ---- */

static void mapping(Reader *r, const char *name, const XML_Char **atts, int range) {
  Mapping m;
  if (r->cur_def < 0 && !r->in_device) {
    fail(r, "<%s> outside a device", name);
    return;
  }
  /* time first, and 0 when absent, as parse_thin_dump has always read it */
  m.time = 0;
  if (attr(atts, "time") != NULL && !int_attr(r, atts, "time", name, &m.time)) return;
  if (range) {
    if (!int_attr(r, atts, "origin_begin", name, &m.origin) ||
        !int_attr(r, atts, "data_begin", name, &m.data) ||
        !int_attr(r, atts, "length", name, &m.length))
      return;
  } else {
    m.length = 1;
    if (!int_attr(r, atts, "origin_block", name, &m.origin) ||
        !int_attr(r, atts, "data_block", name, &m.data))
      return;
  }
  if (r->cur_def >= 0) {
    def_append(r, &r->defs[r->cur_def], &m, 1);
  } else {
    Record *rec = new_record(r, REC_MAP);
    if (rec == NULL) return;
    rec->a = m.origin;
    rec->b = m.data;
    rec->c = m.length;
    rec->d = m.time;
  }
}

static void ref(Reader *r, const XML_Char **atts) {
  const char *name = attr(atts, "name");
  long def = lookup_def(r, name ? name : "");
  if (def < 0) {
    fail(r, "<ref> to unknown <def> '%s'", name ? name : "nil");
    return;
  }
  if (r->cur_def >= 0) {
    MapVec *to = &r->defs[r->cur_def], *from = &r->defs[def];
    size_t n = from->n;
    /* reserve first: `from` may be `to`, whose storage then moves */
    if (n > SIZE_MAX - to->n || !grow((void **)&to->v, &to->cap, to->n + n, sizeof *to->v)) {
      fail_oom(r);
      return;
    }
    def_append(r, to, from->v, n);
  } else if (r->in_device) {
    Record *rec = new_record(r, REC_REF);
    if (rec == NULL) return;
    rec->a = def;
    rec->b = (int64_t)r->defs[def].n;
  } else {
    fail(r, "<ref> outside a device");
  }
}

static void XMLCALL on_start_element(void *ud, const XML_Char *name, const XML_Char **atts) {
  Reader *r = ud;
  r->depth++;
  if (r->error != NULL) return;
  switch (name[0]) {
  case 's':
    if (strcmp(name, "single_mapping") == 0) {
      mapping(r, name, atts, 0);
      return;
    }
    if (strcmp(name, "superblock") == 0) {
      r->have_superblock = 1;
      start_record(r, EL_SUPERBLOCK, atts);
    }
    return;
  case 'r':
    if (strcmp(name, "range_mapping") == 0) mapping(r, name, atts, 1);
    else if (strcmp(name, "ref") == 0) ref(r, atts);
    return;
  case 'd':
    if (strcmp(name, "device") == 0) {
      int64_t id;
      if (!r->have_superblock) {
        fail(r, "no <superblock> element before <device>");
        return;
      }
      if (!int_attr(r, atts, "dev_id", name, &id)) return;
      r->dev_id = id;
      r->in_device = 1;
      start_record(r, EL_DEVICE, atts);
    } else if (strcmp(name, "def") == 0) {
      const char *n = attr(atts, "name");
      begin_def(r, n ? n : "");
    }
    return;
  default:
    return;
  }
}

static void XMLCALL on_end_element(void *ud, const XML_Char *name) {
  Reader *r = ud;
  r->depth--;
  if (r->error != NULL || name[0] != 'd') return;
  if (strcmp(name, "device") == 0) {
    Record *rec;
    r->in_device = 0;
    rec = new_record(r, REC_END);
    if (rec != NULL) rec->element = EL_DEVICE;
  } else if (strcmp(name, "def") == 0) {
    r->cur_def = -1;
  }
}

/* ---- the driver ---- */

typedef struct {
  int on_mapping, on_start, on_end;  /* stack indices; 0: none */
  lua_Integer calls;
  /* the run being joined: a mapping is held back until the next one shows
     whether it carries the run on */
  int held;
  int64_t held_dev;
  Mapping run;
} Sinks;

static void push_attrs(lua_State *L, Reader *r, const Record *rec) {
  const char *p = r->arena + rec->a;
  int64_t i;
  lua_createtable(L, 0, (int)(rec->b < 64 ? rec->b : 64));
  for (i = 0; i < rec->b; i++) {
    const char *v = p + strlen(p) + 1;
    lua_pushstring(L, v);
    lua_setfield(L, -2, p);
    p = v + strlen(v) + 1;
  }
}

/* a + b wrapping as Lua's integers do (the tree reader's arithmetic) */
static int64_t wrap_add(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* hands the held run to Lua */
static void release(lua_State *L, Sinks *s) {
  if (!s->held) return;
  s->held = 0;
  lua_pushvalue(L, s->on_mapping);
  lua_pushinteger(L, (lua_Integer)s->held_dev);
  lua_pushinteger(L, (lua_Integer)s->run.origin);
  lua_pushinteger(L, (lua_Integer)s->run.data);
  lua_pushinteger(L, (lua_Integer)s->run.length);
  lua_pushinteger(L, (lua_Integer)s->run.time);
  s->calls++;
  lua_call(L, 5, 0);
}

/* a mapping that carries the held run on (next origin and data block,
   same time) joins it: 0.9 writes a run as one range, 1.x splits it where
   a shared subtree ends, and the pool holds the same blocks either way */
static void call_mapping(lua_State *L, Sinks *s, int64_t dev, const Mapping *m) {
  if (s->held && s->held_dev == dev && s->run.time == m->time &&
      wrap_add(s->run.origin, s->run.length) == m->origin &&
      wrap_add(s->run.data, s->run.length) == m->data) {
    s->run.length = wrap_add(s->run.length, m->length);
    return;
  }
  release(L, s);
  s->held = 1;
  s->held_dev = dev;
  s->run = *m;
}

/* hands the batch to Lua, up to a fast record beyond `limit`; the
   callbacks may raise (the reader is collected) */
static void deliver_until(lua_State *L, Reader *r, Sinks *s, int64_t limit) {
  size_t i;
  for (i = 0; i < r->nrecs; i++) {
    const Record *rec = &r->recs[i];
    if (rec->at > limit) break;
    switch (rec->kind) {
    case REC_MAP: {
      Mapping m;
      m.origin = rec->a;
      m.data = rec->b;
      m.length = rec->c;
      m.time = rec->d;
      call_mapping(L, s, rec->dev, &m);
      break;
    }
    case REC_REF: {
      /* defs only grow while the parser runs, never during a delivery */
      int64_t j;
      for (j = 0; j < rec->b; j++) call_mapping(L, s, rec->dev, &r->defs[rec->a].v[j]);
      break;
    }
    case REC_START:
      release(L, s);
      if (s->on_start) {
        lua_pushvalue(L, s->on_start);
        lua_pushstring(L, element_names[rec->element]);
        push_attrs(L, r, rec);
        lua_call(L, 2, 0);
      }
      break;
    case REC_END:
      release(L, s);
      if (s->on_end) {
        lua_pushvalue(L, s->on_end);
        lua_pushstring(L, element_names[rec->element]);
        lua_call(L, 1, 0);
      }
      break;
    }
  }
  r->nrecs = 0;
  r->arena_len = 0;
}

static void deliver(lua_State *L, Reader *r, Sinks *s) {
  deliver_until(L, r, s, INT64_MAX);
}

/* raises the reader's error, or expat's, after what came before it is
   delivered: the same mappings either path, since fast records beyond the
   error's offset (taken from character data expat had not checked yet)
   are dropped */
static int raise_parse_error(lua_State *L, Reader *r, Sinks *s) {
  deliver_until(L, r, s, r->error != NULL ? r->error_at : (int64_t)XML_GetCurrentByteIndex(r->parser));
  release(L, s);
  if (r->error != NULL) {
    lua_pushstring(L, r->error);
  } else {
    lua_pushfstring(L, "malformed XML at line %I: %s",
                    (lua_Integer)XML_GetCurrentLineNumber(r->parser),
                    XML_ErrorString(XML_GetErrorCode(r->parser)));
  }
  reader_free(r);
  return sts_raise(L, "DmpdError", 0, "%s", lua_tostring(L, -1));
}

/* finishes one parse call: resumes through every suspension */
static void settle(lua_State *L, Reader *r, Sinks *s, enum XML_Status st) {
  while (st == XML_STATUS_SUSPENDED) {
    deliver(L, r, s);
    r->suspending = 0;
    st = XML_ResumeParser(r->parser);
  }
  if (st == XML_STATUS_ERROR) raise_parse_error(L, r, s);
}

/* gives expat `n` bytes (never more than INT_MAX at once) */
static void feed(lua_State *L, Reader *r, Sinks *s, const char *p, size_t n, int final) {
  do {
    size_t k = n < TEXT_CHUNK ? n : TEXT_CHUNK;
    r->fed += (int64_t)k;
    settle(L, r, s, XML_Parse(r->parser, p, (int)k, final && k == n));
    p += k;
    n -= k;
  } while (n > 0);
}

/*
** The fast path. Nearly all of a dump's bytes are <single_mapping .../> and
** <range_mapping .../> lines, and expat's general machinery is most of the
** time spent on them. So the bytes go through a small scanner first, which
** follows the document's lexical structure (character data, tags with their
** quoted values, comments, CDATA sections, processing instructions) and
** recognises, in character data inside a <device> or <def>, a mapping
** element written exactly the way the tools write it: the element's own
** attributes, each once, each a run of digits, then "/>". Such an element
** becomes a record directly; every other byte goes to expat, in order, so
** expat still sees and checks the whole document but for those elements
** (whose removal from a well-formed document leaves it well-formed; the
** newlines around them still reach expat, so its line numbers hold). Any
** markup is handed to expat before the next fast element, so the
** in-device state the scanner relies on is expat's own. Anything the
** scanner does not recognise, an unusual spelling of a mapping included,
** takes expat's path; a <!DOCTYPE (which could declare default attributes)
** turns the scanner off for the rest of the document.
*/
enum { SC_CONTENT, SC_TAG, SC_QUOTE1, SC_QUOTE2, SC_COMMENT, SC_CDATA, SC_PI, SC_PASS };
enum { FAST_NO, FAST_OK, FAST_MORE };
#define STAGE_MAX (64 * 1024)
#define FAST_MAX 512  /* a longer candidate takes expat's path */

static void flush(lua_State *L, Reader *r, Sinks *s) {
  if (r->stage_len > 0) {
    size_t n = r->stage_len;
    r->stage_len = 0;
    r->staged_markup = 0;
    feed(L, r, s, r->stage, n, 0);
  }
}

static void stage(lua_State *L, Reader *r, Sinks *s, const char *p, size_t n, int markup) {
  if (n > 0) r->last = p[n - 1];
  while (n > 0) {
    size_t k = STAGE_MAX - r->stage_len;
    if (k > n) k = n;
    memcpy(r->stage + r->stage_len, p, k);
    r->stage_len += k;
    p += k;
    n -= k;
    if (markup) r->staged_markup = 1;
    if (r->stage_len == STAGE_MAX) flush(L, r, s);
  }
}

/* blanks inside a fast element: no line ends, so expat's line count holds */
static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

typedef struct {
  const char *name;
  size_t len;
  const char *const attrs[4];
  int nattrs;
} FastElement;

static const FastElement fast_elements[] = {
  {"single_mapping", 14, {"origin_block", "data_block", "time", NULL}, 3},
  {"range_mapping", 13, {"origin_begin", "data_begin", "length", "time"}, 4},
};

/* one fast element at p[0] == '<'; on FAST_OK *used is its length */
static int fast_tag(lua_State *L, Reader *r, Sinks *s, const char *p, size_t avail, int eof,
                    size_t *used) {
  const FastElement *e;
  const char *q, *end;
  int64_t v[4];
  unsigned seen = 0;
  int short_input;
  /* inside a device or def, and after a byte that ends whatever came
     before (no "&amp" + element + ";", no CR + element + LF) */
  if (r->depth <= 0 || (r->cur_def < 0 && !r->in_device) || r->error != NULL ||
      !(r->last == ' ' || r->last == '\t' || r->last == '\n' || r->last == '>'))
    return FAST_NO;
  short_input = avail < FAST_MAX && !eof;
  end = p + (avail < FAST_MAX ? avail : FAST_MAX);
  q = p + 1;
  if (q < end && *q == 's') e = &fast_elements[0];
  else if (q < end && *q == 'r') e = &fast_elements[1];
  else return q < end || !short_input ? FAST_NO : FAST_MORE;
  if ((size_t)(end - q) < e->len + 1) {
    if (memcmp(q, e->name, (size_t)(end - q)) != 0) return FAST_NO;
    return short_input ? FAST_MORE : FAST_NO;
  }
  if (memcmp(q, e->name, e->len) != 0 || !is_blank(q[e->len])) return FAST_NO;
  q += e->len;
  for (;;) {
    const char *name;
    size_t nlen;
    char quote;
    int64_t n = 0;
    int a;
    /* blanks, then "/>" or the next attribute (after at least one blank) */
    const char *before = q;
    while (q < end && is_blank(*q)) q++;
    if (q + 1 >= end) break;
    if (q[0] == '/' && q[1] == '>') {
      if (seen != (1u << e->nattrs) - 1) return FAST_NO;
      q += 2;
      goto done;
    }
    if (q == before) return FAST_NO;
    name = q;
    while (q < end && *q >= 'a' && *q <= 'z') q++;
    while (q < end && *q == '_') {
      q++;
      while (q < end && *q >= 'a' && *q <= 'z') q++;
    }
    if (q >= end) break;
    nlen = (size_t)(q - name);
    for (a = 0; a < e->nattrs; a++)
      if (strlen(e->attrs[a]) == nlen && memcmp(name, e->attrs[a], nlen) == 0) break;
    if (a == e->nattrs || (seen & (1u << a))) return FAST_NO;
    while (q < end && is_blank(*q)) q++;
    if (q >= end) break;
    if (*q++ != '=') return FAST_NO;
    while (q < end && is_blank(*q)) q++;
    if (q >= end) break;
    quote = *q++;
    if (quote != '"' && quote != '\'') return FAST_NO;
    if (q >= end) break;
    if (*q < '0' || *q > '9') return FAST_NO;
    while (q < end && *q >= '0' && *q <= '9') {
      int d = *q++ - '0';
      if (n > (INT64_MAX - d) / 10) return FAST_NO;  /* expat's path names it */
      n = n * 10 + d;
    }
    if (q >= end) break;
    if (*q++ != quote) return FAST_NO;
    v[a] = n;
    seen |= 1u << a;
  }
  /* ran out of bytes: wait for more, unless there are none */
  return short_input ? FAST_MORE : FAST_NO;
done:
  *used = (size_t)(q - p);
  {
    Mapping m;
    if (e == &fast_elements[0]) {
      m.origin = v[0];
      m.data = v[1];
      m.length = 1;
      m.time = v[2];
    } else {
      m.origin = v[0];
      m.data = v[1];
      m.length = v[2];
      m.time = v[3];
    }
    if (r->cur_def >= 0) {
      def_append(r, &r->defs[r->cur_def], &m, 1);
    } else if (grow((void **)&r->recs, &r->caprecs, r->nrecs + 1, sizeof *r->recs)) {
      Record *rec = &r->recs[r->nrecs++];
      memset(rec, 0, sizeof *rec);
      rec->kind = REC_MAP;
      rec->dev = r->dev_id;
      rec->at = r->fed + (int64_t)r->stage_len;
      rec->a = m.origin;
      rec->b = m.data;
      rec->c = m.length;
      rec->d = m.time;
      if (r->nrecs >= BATCH_RECORDS) {
        flush(L, r, s);  /* expat checks what comes before them first */
        deliver(L, r, s);
      }
    } else if (r->error == NULL) {
      r->error = strdup("out of memory reading thin_dump XML");
      r->error_at = INT64_MAX;
    }
    if (r->error != NULL) raise_parse_error(L, r, s);
  }
  return FAST_OK;
}

/* ends a comment, CDATA section or PI at `term`; returns bytes used */
static size_t find_term(Reader *r, const char *p, const char *end, const char *term, int *found) {
  size_t tlen = strlen(term);
  const char *q = p;
  *found = 0;
  while (q < end) {
    char c = *q++;
    if (c == term[r->term]) {
      if ((size_t)++r->term == tlen) {
        r->term = 0;
        *found = 1;
        break;
      }
    } else if (c != term[0]) {
      r->term = 0;
    }
    /* else: one more of the repeated first character ("--->", "]]]>", "??>"): keep the count */
  }
  return (size_t)(q - p);
}

/* runs the scanner over p[0..n); returns the bytes used (less than n only
   when a '<' near the end needs more bytes to be judged, and !eof) */
static size_t scan(lua_State *L, Reader *r, Sinks *s, const char *p, size_t n, int eof) {
  const char *start = p, *end = p + n;
  while (p < end) {
    switch (r->scan) {
    case SC_PASS:
      stage(L, r, s, p, (size_t)(end - p), 1);
      return n;
    case SC_CONTENT: {
      const char *lt = memchr(p, '<', (size_t)(end - p));
      size_t avail, used = 0;
      if (lt == NULL) {
        stage(L, r, s, p, (size_t)(end - p), 0);
        return n;
      }
      if (lt > p) stage(L, r, s, p, (size_t)(lt - p), 0);
      p = lt;
      avail = (size_t)(end - p);
      /* before a possible fast element, expat's view of where we are must be current */
      if (r->staged_markup && (avail < 2 || p[1] == 's' || p[1] == 'r')) flush(L, r, s);
      switch (fast_tag(L, r, s, p, avail, eof, &used)) {
      case FAST_OK:
        p += used;
        continue;
      case FAST_MORE:
        return (size_t)(p - start);
      default:
        break;
      }
      if (avail < 9 && !eof) {
        if (avail < 2) return (size_t)(p - start);
        if (p[1] == '!') return (size_t)(p - start);
      }
      if (avail >= 4 && memcmp(p, "<!--", 4) == 0) {
        stage(L, r, s, p, 4, 1);
        p += 4;
        r->scan = SC_COMMENT;
      } else if (avail >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        stage(L, r, s, p, 9, 1);
        p += 9;
        r->scan = SC_CDATA;
      } else if (avail >= 2 && p[1] == '!') {
        r->scan = SC_PASS;  /* <!DOCTYPE or worse: expat alone from here */
      } else if (avail >= 2 && p[1] == '?') {
        stage(L, r, s, p, 2, 1);
        p += 2;
        r->scan = SC_PI;
      } else {
        stage(L, r, s, p, 1, 1);
        p += 1;
        r->scan = SC_TAG;
      }
      break;
    }
    case SC_TAG: {
      const char *q = p;
      while (q < end && *q != '>' && *q != '"' && *q != '\'') q++;
      if (q < end) {
        r->scan = *q == '>' ? SC_CONTENT : *q == '"' ? SC_QUOTE2 : SC_QUOTE1;
        q++;
      }
      stage(L, r, s, p, (size_t)(q - p), 1);
      p = q;
      break;
    }
    case SC_QUOTE1:
    case SC_QUOTE2: {
      const char *q = memchr(p, r->scan == SC_QUOTE1 ? '\'' : '"', (size_t)(end - p));
      if (q != NULL) {
        q++;
        r->scan = SC_TAG;
      } else {
        q = end;
      }
      stage(L, r, s, p, (size_t)(q - p), 1);
      p = q;
      break;
    }
    default: {  /* SC_COMMENT, SC_CDATA, SC_PI */
      int found;
      const char *term = r->scan == SC_COMMENT ? "-->" : r->scan == SC_CDATA ? "]]>" : "?>";
      size_t k = find_term(r, p, end, term, &found);
      if (found) r->scan = SC_CONTENT;
      stage(L, r, s, p, k, 1);
      p += k;
      break;
    }
    }
  }
  return n;
}

static void parse_text(lua_State *L, Reader *r, Sinks *s, const char *text, size_t len) {
  if (!r->fast) {
    feed(L, r, s, text, len, 1);
    return;
  }
  scan(L, r, s, text, len, 1);
  flush(L, r, s);
  feed(L, r, s, "", 0, 1);
}

static void parse_file(lua_State *L, Reader *r, Sinks *s, luaL_Stream *stream) {
  size_t carry = 0;
  r->ibuf = malloc(READ_CHUNK + FAST_MAX);
  if (r->ibuf == NULL) {
    reader_free(r);
    sts_raise(L, "DmpdError", ENOMEM, "out of memory reading thin_dump XML");
  }
  for (;;) {
    size_t n, used;
    int eof;
    if (stream->closef == NULL) {  /* a callback closed it */
      reader_free(r);
      luaL_argerror(L, 1, "file closed while it was being read");
    }
    n = fread(r->ibuf + carry, 1, READ_CHUNK, stream->f);
    if (n < READ_CHUNK && ferror(stream->f)) {
      int err = errno;
      reader_free(r);
      sts_raise(L, "DmpdError", err, "cannot read the thin_dump XML: %s", strerror(err));
    }
    eof = n == 0;
    n += carry;
    if (!r->fast) {
      feed(L, r, s, r->ibuf, n, eof);
      if (eof) return;
      continue;
    }
    used = scan(L, r, s, r->ibuf, n, eof);
    carry = n - used;  /* at most FAST_MAX: a '<' waiting for its bytes */
    memmove(r->ibuf, r->ibuf + used, carry);
    if (eof) {
      flush(L, r, s);
      feed(L, r, s, "", 0, 1);
      return;
    }
  }
}

static int optfunc(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return 0;
  luaL_checktype(L, idx, LUA_TFUNCTION);
  return idx;
}

static int thindump_read(lua_State *L) {
  Sinks s;
  Reader *r;
  luaL_Stream *stream = NULL;
  size_t len = 0;
  const char *text = NULL;
  int fast;
  if (lua_type(L, 1) == LUA_TSTRING) {
    text = lua_tolstring(L, 1, &len);
  } else {
    stream = luaL_testudata(L, 1, LUA_FILEHANDLE);
    if (stream == NULL) return luaL_typeerror(L, 1, "string or file");
    if (stream->closef == NULL) return luaL_argerror(L, 1, "attempt to use a closed file");
  }
  luaL_checktype(L, 2, LUA_TFUNCTION);
  s.on_mapping = 2;
  s.on_start = optfunc(L, 3);
  s.on_end = optfunc(L, 4);
  s.calls = 0;
  s.held = 0;
  fast = lua_isnoneornil(L, 5) ? 1 : lua_toboolean(L, 5);
  lua_settop(L, 5);

  /* the userdata first, marked empty, then its metatable (liolib's order) */
  r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  r->cur_def = -1;
  luaL_setmetatable(L, READER_META);
  r->fast = fast;
  r->parser = XML_ParserCreate("UTF-8");
  r->stage = malloc(STAGE_MAX);
  if (r->parser == NULL || r->stage == NULL) {
    reader_free(r);
    return sts_raise(L, "DmpdError", ENOMEM, "out of memory: cannot create an XML parser");
  }
  XML_SetUserData(r->parser, r);
  XML_SetElementHandler(r->parser, on_start_element, on_end_element);

  if (text != NULL) parse_text(L, r, &s, text, len);
  else parse_file(L, r, &s, stream);
  deliver(L, r, &s);
  release(L, &s);
  if (!r->have_superblock) {
    reader_free(r);
    return sts_raise(L, "DmpdError", 0, "no <superblock> element in the output");
  }
  reader_free(r);
  lua_pushinteger(L, s.calls);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"read", thindump_read},
  {NULL, NULL}
};

int sts_open_thindump(lua_State *L) {
  if (luaL_newmetatable(L, READER_META)) {
    lua_pushcfunction(L, reader_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "not for use from Lua");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}

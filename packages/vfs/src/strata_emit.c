/*
 * Strata result emitter: runs one read-only query and writes its rows, as text, straight to a
 * file descriptor, for `strata sql --format csv|tsv|json|jsonl|table`.
 *
 *   strata_emit_rows(sql, format, fd) → rows written (>= 0), or -errno when writing to fd
 *                                        failed (-EPIPE: the reader closed the pipe), or NULL
 *                                        when `sql` is not a read-only statement with columns
 *   strata_emit_rows_written()        → the rows the last call wrote, also when it failed
 *
 * `sql` is prepared on the calling connection (sqlite3_context_db_handle) and stepped to its
 * end; an error while stepping (a lazy page fetch that failed, a constraint in a virtual table…)
 * becomes this function's error, with SQLite's extended code and message, after the rows before
 * it were written. The output is the same, byte for byte, as the JavaScript writers of
 * `strata sql` (packages/cli/src/sql-output.ts) produce from better-sqlite3's values:
 *
 * - text is decoded as V8 decodes UTF-8 (the WHATWG decoder: each maximal invalid subpart
 *   becomes U+FFFD) and written back as UTF-8;
 * - integers (read as bigints there) are decimal; in JSON, beyond ±(2^53-1) they are strings;
 * - reals are printed as JavaScript's Number→String does (shortest round-trip digits, plain
 *   notation for exponents -7 < e < 21, `1e+21`, `-0` → `0`); in JSON, ±Infinity is `null`;
 * - blobs are `x'<hex>'` (CSV, TSV) or `{"$blob":"<hex>"}` (JSON); NULL is empty or `null`;
 * - the table is laid out as render.ts lays it out (see "the aligned table" below).
 *
 * What the caller writes itself: the header line of CSV and TSV; the closing `]` of a `json`
 * result (its rows are written as `[row` then `,\nrow`), or `[]` when no row came; a table's
 * `(N rows)` line.
 *
 * Output is collected in a fixed buffer and written with write(2) in whole chunks: memory does
 * not grow with the result. A non-blocking descriptor (a pipe Node set to O_NONBLOCK) is waited
 * on with poll(). SIGPIPE is assumed ignored (as Node does), so a closed pipe is EPIPE.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

/* ---- buffered output -------------------------------------------------------------------- */

/* Bytes collected before a write(2). Large enough that the syscall cost vanishes per row. */
#define OUT_CAP (256 * 1024)
/* The most bytes one small item (a number, an escape, a key prefix piece) may put at once. */
#define ITEM_MAX 64

typedef struct Out {
  int fd;
  int err;      /* errno of the first failed write; once set, output is dropped */
  size_t n;     /* bytes in buf */
  unsigned char buf[OUT_CAP];
} Out;

/* Write buf[0..n) to the descriptor, whole; on failure remember errno and drop the rest. */
static void flushOut(Out *o) {
  size_t off = 0;
  while (off < o->n && !o->err) {
    ssize_t w = write(o->fd, o->buf + off, o->n - off);
    if (w > 0) { off += (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = { .fd = o->fd, .events = POLLOUT, .revents = 0 };
      if (poll(&p, 1, -1) < 0 && errno != EINTR) o->err = errno;
      continue; /* POLLERR/POLLHUP: the next write reports the error (EPIPE) */
    }
    o->err = w < 0 ? errno : EIO; /* write() returning 0 for a non-zero count: treat as I/O error */
  }
  o->n = 0;
}

/* Make room for `need` (<= OUT_CAP) more bytes. */
static inline void reserve(Out *o, size_t need) {
  if (OUT_CAP - o->n < need) flushOut(o);
}

static inline void putByte(Out *o, unsigned char c) {
  reserve(o, 1);
  o->buf[o->n++] = c;
}

/* Any length: copied through the buffer in pieces. */
static void putBytes(Out *o, const void *p, size_t len) {
  const unsigned char *s = p;
  while (len > 0) {
    if (o->n == OUT_CAP) flushOut(o);
    size_t take = OUT_CAP - o->n;
    if (take > len) take = len;
    memcpy(o->buf + o->n, s, take);
    o->n += take;
    s += take;
    len -= take;
  }
}


/* ---- numbers ---------------------------------------------------------------------------- */

/* Decimal digits of a 64-bit integer into out (>= 21 bytes); returns the length. */
static int int64Text(sqlite3_int64 v, char *out) {
  char tmp[24];
  int n = 0;
  /* The magnitude as unsigned, so that INT64_MIN needs no special case. */
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do { tmp[n++] = (char)('0' + (int)(u % 10)); u /= 10; } while (u);
  int len = 0;
  if (v < 0) out[len++] = '-';
  while (n > 0) out[len++] = tmp[--n];
  return len;
}

/*
 * The nearest decimal of p significant digits to `a` (> 0, finite) — or, when that one does not
 * read back (strtod) as `a`, its neighbour one unit in the last digit away on the other side of
 * `a`. Returns 1 with digits[0..p) and exponent *exp10 (a ≈ d1.d2…dp × 10^exp10) when the one
 * chosen reads back, else 0. digits has room for 17 bytes.
 *
 * printf("%.*e") is correctly rounded (glibc): it gives the nearest p-digit decimal. The p-digit
 * decimals that read back as `a` are those inside the rounding interval around `a`, so if any
 * does, one of the two bracketing `a` does; the nearest may miss while the other hits when the
 * interval is lopsided (at a power of two the gap below is half the gap above).
 */
static int decimalOf(double a, int p, char *digits, int *exp10) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.*e", p - 1, a); /* "d.ddde±XX" */
  char *e = strchr(buf, 'e');
  *exp10 = atoi(e + 1);
  int len = 0;
  digits[len++] = buf[0];
  for (char *c = buf + 2; c < e; c++) digits[len++] = *c;
  double nearest = strtod(buf, 0);
  if (nearest == a) return 1;
  char alt[17];
  memcpy(alt, digits, (size_t)len);
  int altExp = *exp10;
  int i = len - 1;
  if (nearest > a) {
    while (i >= 0 && alt[i] == '0') alt[i--] = '9';
    if (i >= 0) alt[i]--;
    if (alt[0] == '0') { /* 100…0 - 1 = 099…9: one place lower */
      memmove(alt, alt + 1, (size_t)len - 1);
      alt[len - 1] = '9';
      altExp--;
    }
  } else {
    while (i >= 0 && alt[i] == '9') alt[i--] = '0';
    if (i < 0) { alt[0] = '1'; altExp++; } /* 99…9 + 1 = 100…0: one place higher */
    else alt[i]++;
  }
  char txt[40];
  snprintf(txt, sizeof txt, "%c.%.*se%d", alt[0], len - 1, alt + 1, altExp);
  if (strtod(txt, 0) != a) return 0;
  memcpy(digits, alt, (size_t)len);
  *exp10 = altExp;
  return 1;
}

/*
 * The shortest digits d1…dk (no trailing zeros) and exponent n with a = 0.d1…dk × 10^n that
 * read back as `a` exactly; among several of that length, the one nearest to `a` — the digits
 * JavaScript prints. `a` is finite and > 0; digits has room for 17 bytes.
 *
 * For a normal double, a decimal of at most 15 digits maps to a double and back to itself
 * (DBL_DIG = 15): if any decimal of p <= 15 digits reads back as `a`, the nearest 15-digit one
 * is that decimal padded with zeros, so 15 digits are tried first and the zeros stripped, then
 * 16 and 17 (17 always read back). A subnormal has fewer digits of precision: every length is
 * tried, from 1.
 */
static void shortestDigits(double a, char *digits, int *k, int *n) {
  int exp10 = 0;
  int p = a < DBL_MIN ? 1 : 15;
  while (p < 17 && !decimalOf(a, p, digits, &exp10)) p++;
  if (p == 17) decimalOf(a, 17, digits, &exp10);
  int len = p;
  while (len > 1 && digits[len - 1] == '0') len--;
  *k = len;
  *n = exp10 + 1;
}

/*
 * `v` as JavaScript's String(number) prints it (ECMAScript Number::toString) into out
 * (>= 32 bytes); returns the length.
 */
static int jsNumberText(double v, char *out) {
  if (isnan(v)) { memcpy(out, "NaN", 3); return 3; }
  if (isinf(v)) {
    if (v < 0) { memcpy(out, "-Infinity", 9); return 9; }
    memcpy(out, "Infinity", 8); return 8;
  }
  if (v == 0) { out[0] = '0'; return 1; } /* also -0 */
  /* Whole numbers below 10^15 print as integers (at most 15 digits, so never exponential). */
  if (v > -1e15 && v < 1e15 && v == (double)(sqlite3_int64)v) return int64Text((sqlite3_int64)v, out);
  char d[18];
  int k, n, len = 0;
  if (v < 0) out[len++] = '-';
  shortestDigits(fabs(v), d, &k, &n);
  if (k <= n && n <= 21) {
    memcpy(out + len, d, (size_t)k); len += k;
    for (int i = k; i < n; i++) out[len++] = '0';
  } else if (0 < n && n <= 21) {
    memcpy(out + len, d, (size_t)n); len += n;
    out[len++] = '.';
    memcpy(out + len, d + n, (size_t)(k - n)); len += k - n;
  } else if (-6 < n && n <= 0) {
    out[len++] = '0';
    out[len++] = '.';
    for (int i = n; i < 0; i++) out[len++] = '0';
    memcpy(out + len, d, (size_t)k); len += k;
  } else {
    int e = n - 1;
    out[len++] = d[0];
    if (k > 1) {
      out[len++] = '.';
      memcpy(out + len, d + 1, (size_t)(k - 1)); len += k - 1;
    }
    len += snprintf(out + len, 8, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
  return len;
}

/* ---- text ------------------------------------------------------------------------------- */

enum { F_CSV, F_TSV, F_JSON, F_JSONL, F_TABLE };

/*
 * What an ASCII byte needs, per format: 0 = copy as is. For JSON the escape itself; for TSV the
 * letter after the backslash; for CSV, 1 = the value must be quoted (and '"' doubled).
 */
#define CTRL_U(c) [c] = 'u'
static const unsigned char jsonEsc[128] = {
  CTRL_U(0x00), CTRL_U(0x01), CTRL_U(0x02), CTRL_U(0x03), CTRL_U(0x04), CTRL_U(0x05), CTRL_U(0x06), CTRL_U(0x07),
  CTRL_U(0x0b), CTRL_U(0x0e), CTRL_U(0x0f), CTRL_U(0x10), CTRL_U(0x11), CTRL_U(0x12), CTRL_U(0x13), CTRL_U(0x14),
  CTRL_U(0x15), CTRL_U(0x16), CTRL_U(0x17), CTRL_U(0x18), CTRL_U(0x19), CTRL_U(0x1a), CTRL_U(0x1b), CTRL_U(0x1c),
  CTRL_U(0x1d), CTRL_U(0x1e), CTRL_U(0x1f),
  ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['"'] = '"', ['\\'] = '\\',
};
#undef CTRL_U
static const unsigned char tsvEsc[128] = { ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r' };
static const unsigned char csvSpecial[128] = { ['"'] = 1, [','] = 1, ['\r'] = 1, ['\n'] = 1 };

/*
 * Length of the well-formed UTF-8 sequence starting at s[0] (>= 0x80), of at most `left` bytes,
 * or, when it is ill-formed, -(length of its maximal invalid subpart), which the WHATWG
 * decoder (and V8) replaces with one U+FFFD. The ranges are the decoder's: a second byte
 * A0–BF after E0, 80–9F after ED (no surrogates), 90–BF after F0, 80–8F after F4.
 */
static int utf8Sequence(const unsigned char *s, size_t left) {
  unsigned char c = s[0];
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; else if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; else if (c == 0xF4) hi = 0x8F; }
  else return -1; /* 80–C1, F5–FF: never a lead byte */
  for (int i = 1; i <= need; i++) {
    if ((size_t)i >= left || s[i] < lo || s[i] > hi) return -i; /* the lead and the i-1 good bytes */
    lo = 0x80; hi = 0xBF;
  }
  return need + 1;
}

static const unsigned char REPLACEMENT[3] = { 0xEF, 0xBF, 0xBD };

/*
 * Text s[0..len) decoded as V8 decodes it and written as UTF-8, its ASCII bytes escaped per
 * `esc` (JSON or TSV table; NULL: copy). Runs of bytes that need nothing are copied at once.
 */
static void putText(Out *o, const unsigned char *s, size_t len, int format) {
  const unsigned char *esc = format == F_TSV ? tsvEsc : format == F_CSV ? 0 : jsonEsc;
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && s[run] < 0x80 && !(esc && esc[s[run]])) run++;
    if (run > i) { putBytes(o, s + i, run - i); i = run; continue; }
    unsigned char c = s[i];
    if (c < 0x80) {
      /* An ASCII byte with an escape (esc is set here). */
      unsigned char e = esc[c];
      reserve(o, 6);
      o->buf[o->n++] = '\\';
      if (e == 'u') {
        static const char hex[] = "0123456789abcdef";
        memcpy(o->buf + o->n, "u00", 3);
        o->buf[o->n + 3] = (unsigned char)hex[c >> 4];
        o->buf[o->n + 4] = (unsigned char)hex[c & 15];
        o->n += 5;
      } else {
        o->buf[o->n++] = e;
      }
      i++;
      continue;
    }
    int q = utf8Sequence(s + i, len - i);
    if (q > 0) { putBytes(o, s + i, (size_t)q); i += (size_t)q; }
    else { putBytes(o, REPLACEMENT, 3); i += (size_t)-q; }
  }
}

/* CSV: quoted when it holds '"', ',', CR or LF (ASCII bytes survive decoding unchanged). */
static void putCsvText(Out *o, const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len && !(s[i] < 0x80 && csvSpecial[s[i]])) i++;
  if (i == len) { putText(o, s, len, F_CSV); return; }
  putByte(o, '"');
  size_t from = 0;
  for (size_t j = 0; j < len; j++) {
    if (s[j] != '"') continue;
    putText(o, s + from, j + 1 - from, F_CSV); /* up to and including the quote … */
    putByte(o, '"');                           /* … which is doubled */
    from = j + 1;
  }
  putText(o, s + from, len - from, F_CSV);
  putByte(o, '"');
}

static void putHex(Out *o, const unsigned char *p, size_t len) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    reserve(o, 2);
    o->buf[o->n++] = (unsigned char)hex[p[i] >> 4];
    o->buf[o->n++] = (unsigned char)hex[p[i] & 15];
  }
}

/* ---- rows ------------------------------------------------------------------------------- */

/* The blob in column i of the current row as hex, between `open` and `close`. */
static void putBlob(Out *o, sqlite3_stmt *st, int i, const char *open, const char *close) {
  const unsigned char *b = sqlite3_column_blob(st, i);
  size_t len = (size_t)sqlite3_column_bytes(st, i);
  putBytes(o, open, strlen(open));
  if (b) putHex(o, b, len);
  putBytes(o, close, strlen(close));
}

#define MAX_SAFE_INTEGER 9007199254740991LL /* 2^53 - 1 */

/* One value of column i of the current row, in a JSON document. */
static void putJsonValue(Out *o, sqlite3_stmt *st, int i) {
  char num[32];
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: {
      sqlite3_int64 v = sqlite3_column_int64(st, i);
      int quoted = v > MAX_SAFE_INTEGER || v < -MAX_SAFE_INTEGER;
      int len = int64Text(v, num);
      reserve(o, (size_t)len + 2);
      if (quoted) o->buf[o->n++] = '"';
      memcpy(o->buf + o->n, num, (size_t)len); o->n += (size_t)len;
      if (quoted) o->buf[o->n++] = '"';
      break;
    }
    case SQLITE_FLOAT: {
      double v = sqlite3_column_double(st, i);
      if (!isfinite(v)) { putBytes(o, "null", 4); break; } /* JSON.stringify(±Infinity) */
      int len = jsNumberText(v, num);
      putBytes(o, num, (size_t)len);
      break;
    }
    case SQLITE_TEXT: {
      const unsigned char *t = sqlite3_column_text(st, i);
      size_t len = (size_t)sqlite3_column_bytes(st, i);
      putByte(o, '"');
      if (t) putText(o, t, len, F_JSON);
      putByte(o, '"');
      break;
    }
    case SQLITE_BLOB:
      putBlob(o, st, i, "{\"$blob\":\"", "\"}");
      break;
    default:
      putBytes(o, "null", 4);
  }
}

/* One value of column i of the current row, in CSV or TSV. */
static void putDelimitedValue(Out *o, sqlite3_stmt *st, int i, int format) {
  char num[32];
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: {
      int len = int64Text(sqlite3_column_int64(st, i), num);
      putBytes(o, num, (size_t)len);
      break;
    }
    case SQLITE_FLOAT: {
      int len = jsNumberText(sqlite3_column_double(st, i), num);
      putBytes(o, num, (size_t)len);
      break;
    }
    case SQLITE_TEXT: {
      const unsigned char *t = sqlite3_column_text(st, i);
      size_t len = (size_t)sqlite3_column_bytes(st, i);
      if (!t) break;
      if (format == F_CSV) putCsvText(o, t, len);
      else putText(o, t, len, F_TSV);
      break;
    }
    case SQLITE_BLOB:
      putBlob(o, st, i, "x'", "'"); /* holds no character either format escapes */
      break;
    default:
      break; /* NULL: empty */
  }
}

/* A column name longer than this (in bytes) makes the statement take the JavaScript path. */
#define KEY_MAX ((OUT_CAP - 16) / 6)

/*
 * The JSON object keys of a result, each with what precedes it: `{"a":`, `,"b":`, … in one
 * buffer *keys (sqlite3_malloc'd), key i at (*offsets)[i] … (*offsets)[i+1]. Returns SQLITE_OK,
 * SQLITE_NOMEM, or SQLITE_TOOBIG for a name longer than KEY_MAX (not a real case; the caller
 * leaves such a statement to the JavaScript writers rather than handle it here).
 */
static int jsonKeys(sqlite3_stmt *st, int columns, unsigned char **keys, size_t **offsets) {
  /* Each key is built in an Out that is never flushed: escaped, a byte becomes at most 6 bytes
   * (\u00XX; a replaced one 3), plus `{"` `":` = 4, which KEY_MAX keeps below OUT_CAP. */
  size_t cap = 0;
  for (int i = 0; i < columns; i++) {
    const char *name = sqlite3_column_name(st, i);
    size_t len = name ? strlen(name) : 4;
    if (len > KEY_MAX) return SQLITE_TOOBIG;
    cap += 6 * len + 4;
  }
  Out *o = sqlite3_malloc64(sizeof(Out));
  size_t *off = sqlite3_malloc64(sizeof(size_t) * ((size_t)columns + 1));
  unsigned char *buf = sqlite3_malloc64(cap);
  if (!o || !off || !buf) { sqlite3_free(o); sqlite3_free(off); sqlite3_free(buf); return SQLITE_NOMEM; }
  size_t at = 0;
  for (int i = 0; i < columns; i++) {
    const char *name = sqlite3_column_name(st, i);
    o->fd = -1; o->err = 0; o->n = 0;
    off[i] = at;
    putByte(o, i == 0 ? '{' : ',');
    if (name) {
      putByte(o, '"');
      putText(o, (const unsigned char *)name, strlen(name), F_JSON);
      putByte(o, '"');
    } else {
      putBytes(o, "null", 4); /* JSON.stringify(null): better-sqlite3 names such a column null */
    }
    putByte(o, ':');
    memcpy(buf + at, o->buf, o->n);
    at += o->n;
  }
  off[columns] = at;
  sqlite3_free(o);
  *keys = buf;
  *offsets = off;
  return SQLITE_OK;
}

/* ---- the aligned table ------------------------------------------------------------------ */

/*
 * As render.ts's tableLayout() and cellText() and sql-output.ts's TableWriter lay it out: the
 * columns are sized from the first TABLE_SIZING_ROWS rows (held until then), in UTF-16 code
 * units as JavaScript's String.length counts them; a column whose held values are all numbers
 * or NULL is right-aligned; a cell shows text on one line (CR LF and LF as \n, tab as \t), NULL
 * as NULL, a blob as x'<hex of its first 32 bytes>…', and is cut to 59 units and '…' when
 * longer than 60; cells are joined by two spaces and each line is trimmed of trailing
 * whitespace (String.prototype.trimEnd). The header is the column names as they are, and the
 * rule under it one '-' per unit of width. The caller writes the `(N rows)` line.
 */
#define TABLE_SIZING_ROWS 1000 /* sql-output.ts: TABLE_SIZING_ROWS */
#define CELL_UNITS 60          /* render.ts: cellText(v, max = 60) */
/* A cell's bytes: at most 59 units of at most 3 bytes each (an astral character is 4 bytes for
 * 2 units), or 60 units of 3, plus the 3 bytes of '…'. */
#define CELL_BYTES (CELL_UNITS * 3 + 3)

static const unsigned char ELLIPSIS[3] = { 0xE2, 0x80, 0xA6 }; /* U+2026 */

/* A growable byte buffer; `oom` once an allocation failed (later appends are dropped). */
typedef struct Buf {
  unsigned char *p;
  size_t n, cap;
  int oom;
} Buf;

/* Room for `more` bytes at b->p + b->n, or NULL (and b->oom) when memory ran out. */
static unsigned char *bufRoom(Buf *b, size_t more) {
  if (b->oom) return 0;
  if (b->cap - b->n < more) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < more) {
      if (cap > ((size_t)1 << 40)) { b->oom = 1; return 0; }
      cap *= 2;
    }
    unsigned char *p = sqlite3_realloc64(b->p, cap);
    if (!p) { b->oom = 1; return 0; }
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->n;
}

static void bufPut(Buf *b, const void *p, size_t len) {
  unsigned char *at = bufRoom(b, len);
  if (!at) return;
  memcpy(at, p, len);
  b->n += len;
}

static void bufSpaces(Buf *b, size_t count) {
  unsigned char *at = bufRoom(b, count);
  if (!at) return;
  memset(at, ' ', count);
  b->n += count;
}

/*
 * The next piece of text s[*i..len) as JavaScript sees it, into piece (>= 4 bytes): a well-formed
 * UTF-8 character as is, an invalid subpart as U+FFFD, and — when `oneLine` — CR LF and LF as
 * `\n`, tab as `\t`. Returns its length in UTF-16 units; sets *bytes and advances *i.
 */
static int nextPiece(const unsigned char *s, size_t len, size_t *i, int oneLine, unsigned char *piece, size_t *bytes) {
  unsigned char c = s[*i];
  if (oneLine && (c == '\n' || c == '\t' || (c == '\r' && *i + 1 < len && s[*i + 1] == '\n'))) {
    piece[0] = '\\';
    piece[1] = c == '\t' ? 't' : 'n';
    *bytes = 2;
    *i += c == '\r' ? 2 : 1;
    return 2;
  }
  if (c < 0x80) { piece[0] = c; *bytes = 1; *i += 1; return 1; }
  int q = utf8Sequence(s + *i, len - *i);
  if (q > 0) {
    memcpy(piece, s + *i, (size_t)q);
    *bytes = (size_t)q;
    *i += (size_t)q;
    return q == 4 ? 2 : 1; /* beyond U+FFFF: a surrogate pair */
  }
  memcpy(piece, REPLACEMENT, 3);
  *bytes = 3;
  *i += (size_t)-q;
  return 1;
}

/*
 * cellText() of text s[0..len) into out (CELL_BYTES): one line, cut to 59 units and '…' when
 * longer than 60 units (a surrogate pair cut in half leaves its first half, which Node writes
 * as U+FFFD; an escape cut in half its backslash). Only the first 61 units are looked at.
 * Returns the cell's length in units; *outLen its bytes.
 */
static int cellText(const unsigned char *s, size_t len, unsigned char *out, size_t *outLen) {
  size_t i = 0, o = 0, at59 = 0;
  int units = 0, cut = 0;
  unsigned char half[3];
  size_t halfLen = 0;
  while (i < len) {
    unsigned char piece[4];
    size_t bytes;
    int u = nextPiece(s, len, &i, 1, piece, &bytes);
    if (units + u > CELL_UNITS) { cut = 1; break; }
    if (units == CELL_UNITS - 2 && u == 2) {
      /* This piece holds units 59 and 60: a cut keeps only its first half. */
      at59 = o;
      if (piece[0] == '\\') { half[0] = '\\'; halfLen = 1; }
      else { memcpy(half, REPLACEMENT, 3); halfLen = 3; }
    }
    memcpy(out + o, piece, bytes);
    o += bytes;
    units += u;
    if (units == CELL_UNITS - 1) { at59 = o; halfLen = 0; }
  }
  if (!cut) { *outLen = o; return units; }
  o = at59;
  memcpy(out + o, half, halfLen);
  o += halfLen;
  memcpy(out + o, ELLIPSIS, 3);
  *outLen = o + 3;
  return CELL_UNITS;
}

/* cellText() of column i of the current row into out (CELL_BYTES); returns its units. */
static int tableCell(sqlite3_stmt *st, int i, unsigned char *out, size_t *outLen) {
  char tmp[80];
  size_t len = 0;
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: len = (size_t)int64Text(sqlite3_column_int64(st, i), tmp); break;
    case SQLITE_FLOAT: len = (size_t)jsNumberText(sqlite3_column_double(st, i), tmp); break;
    case SQLITE_TEXT: {
      const unsigned char *t = sqlite3_column_text(st, i);
      return cellText(t ? t : (const unsigned char *)"", t ? (size_t)sqlite3_column_bytes(st, i) : 0, out, outLen);
    }
    case SQLITE_BLOB: {
      static const char hex[] = "0123456789abcdef";
      const unsigned char *b = sqlite3_column_blob(st, i);
      size_t n = b ? (size_t)sqlite3_column_bytes(st, i) : 0;
      tmp[len++] = 'x';
      tmp[len++] = '\'';
      for (size_t k = 0; k < n && k < 32; k++) {
        tmp[len++] = hex[b[k] >> 4];
        tmp[len++] = hex[b[k] & 15];
      }
      if (n > 32) { memcpy(tmp + len, ELLIPSIS, 3); len += 3; }
      tmp[len++] = '\'';
      break;
    }
    default: memcpy(tmp, "NULL", 4); len = 4;
  }
  return cellText((const unsigned char *)tmp, len, out, outLen);
}

/* Whether code point c is white space to String.prototype.trimEnd (WhiteSpace or LineTerminator). */
static int jsSpace(uint32_t c) {
  return c == 0x20 || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/* p[0..n) without its trailing JavaScript white space; p is well-formed UTF-8. */
static size_t trimEnd(const unsigned char *p, size_t n) {
  while (n > 0) {
    size_t start = n - 1;
    while (start > 0 && (p[start] & 0xC0) == 0x80 && n - start < 4) start--;
    uint32_t c = p[start];
    if (c >= 0xF0) c &= 0x07; else if (c >= 0xE0) c &= 0x0F; else if (c >= 0xC0) c &= 0x1F;
    for (size_t k = start + 1; k < n; k++) c = (c << 6) | (p[k] & 0x3F);
    if (!jsSpace(c)) break;
    n = start;
  }
  return n;
}

/* One cell as shown in a table: its bytes and width in units. */
typedef struct Cell {
  uint32_t off; /* into the held bytes (held rows), or unused */
  uint16_t len;
  uint16_t units;
} Cell;

typedef struct Table {
  int columns;
  Buf names;        /* the column names, well-formed */
  Cell *name;       /* columns */
  Buf held;         /* the bytes of the held cells */
  Buf heldCells;    /* Cell[rows × columns] */
  int heldRows;
  uint8_t *numeric; /* columns: right-aligned */
  size_t *width;    /* columns, in units */
  Buf line;
  int released;
} Table;

static int tableInit(Table *t, sqlite3_stmt *st, int columns) {
  memset(t, 0, sizeof *t);
  t->columns = columns;
  t->name = sqlite3_malloc64(sizeof(Cell) * (size_t)columns);
  t->numeric = sqlite3_malloc64((size_t)columns);
  t->width = sqlite3_malloc64(sizeof(size_t) * (size_t)columns);
  if (!t->name || !t->numeric || !t->width) return SQLITE_NOMEM;
  for (int i = 0; i < columns; i++) {
    const char *name = sqlite3_column_name(st, i);
    /* better-sqlite3 names such a column null; JavaScript would print "null" */
    const unsigned char *s = (const unsigned char *)(name ? name : "null");
    size_t len = strlen((const char *)s), k = 0, units = 0;
    if (len > 65535) return SQLITE_TOOBIG; /* not a real case: left to JavaScript */
    t->name[i].off = (uint32_t)t->names.n;
    while (k < len) {
      unsigned char piece[4];
      size_t bytes;
      units += (size_t)nextPiece(s, len, &k, 0, piece, &bytes);
      bufPut(&t->names, piece, bytes);
    }
    t->name[i].len = (uint16_t)(t->names.n - t->name[i].off);
    t->name[i].units = (uint16_t)units;
    t->numeric[i] = 1;
    t->width[i] = units;
  }
  return t->names.oom ? SQLITE_NOMEM : SQLITE_OK;
}

static void tableFree(Table *t) {
  sqlite3_free(t->names.p);
  sqlite3_free(t->name);
  sqlite3_free(t->held.p);
  sqlite3_free(t->heldCells.p);
  sqlite3_free(t->numeric);
  sqlite3_free(t->width);
  sqlite3_free(t->line.p);
}

/* Hold the current row (sizing the columns). */
static void tableHold(Table *t, sqlite3_stmt *st) {
  for (int i = 0; i < t->columns; i++) {
    unsigned char *cell = bufRoom(&t->held, CELL_BYTES);
    Cell *c = (Cell *)bufRoom(&t->heldCells, sizeof(Cell));
    if (!cell || !c) return;
    size_t len;
    int units = tableCell(st, i, cell, &len);
    int type = sqlite3_column_type(st, i);
    if (type == SQLITE_TEXT || type == SQLITE_BLOB) t->numeric[i] = 0;
    if ((size_t)units > t->width[i]) t->width[i] = (size_t)units;
    if (t->held.n > UINT32_MAX - CELL_BYTES) { t->held.oom = 1; return; }
    c->off = (uint32_t)t->held.n;
    c->len = (uint16_t)len;
    c->units = (uint16_t)units;
    t->held.n += len;
    t->heldCells.n += sizeof(Cell);
  }
  t->heldRows++;
}

/* Append cell `bytes` (of `units`) of column i to the line, padded to the column's width. */
static void lineCell(Table *t, int i, const unsigned char *bytes, size_t len, size_t units, int isHeader) {
  if (i > 0) bufPut(&t->line, "  ", 2);
  size_t pad = t->width[i] > units ? t->width[i] - units : 0;
  int right = t->numeric[i] && !isHeader;
  if (right) bufSpaces(&t->line, pad);
  bufPut(&t->line, bytes, len);
  if (!right) bufSpaces(&t->line, pad);
}

/* Write the line, trimmed, and a newline; start the next. */
static void lineEnd(Table *t, Out *o) {
  if (!t->line.oom) {
    putBytes(o, t->line.p, trimEnd(t->line.p, t->line.n));
    putByte(o, '\n');
  }
  t->line.n = 0;
}

/* The columns are sized: write the header, the rule and the held rows. */
static void tableRelease(Table *t, Out *o) {
  t->released = 1;
  if (t->heldRows == 0) memset(t->numeric, 0, (size_t)t->columns); /* no rows: every column is left-aligned */
  for (int i = 0; i < t->columns; i++) lineCell(t, i, t->names.p + t->name[i].off, t->name[i].len, t->name[i].units, 1);
  lineEnd(t, o);
  for (int i = 0; i < t->columns; i++) {
    if (i > 0) putBytes(o, "  ", 2);
    for (size_t k = 0; k < t->width[i]; k++) putByte(o, '-');
  }
  putByte(o, '\n');
  const Cell *cells = (const Cell *)t->heldCells.p;
  for (int r = 0; r < t->heldRows; r++) {
    for (int i = 0; i < t->columns; i++) {
      const Cell *c = &cells[(size_t)r * (size_t)t->columns + (size_t)i];
      lineCell(t, i, t->held.p + c->off, c->len, c->units, 0);
    }
    lineEnd(t, o);
  }
  sqlite3_free(t->held.p);
  sqlite3_free(t->heldCells.p);
  memset(&t->held, 0, sizeof t->held);
  memset(&t->heldCells, 0, sizeof t->heldCells);
}

/* A row after the sizing rows: written at once. */
static void tableRow(Table *t, Out *o, sqlite3_stmt *st) {
  unsigned char cell[CELL_BYTES];
  for (int i = 0; i < t->columns; i++) {
    size_t len;
    int units = tableCell(st, i, cell, &len);
    lineCell(t, i, cell, len, (size_t)units, 0);
  }
  lineEnd(t, o);
}

static int tableOom(const Table *t) { return t->names.oom || t->held.oom || t->heldCells.oom || t->line.oom; }

/* Per connection: the rows the last call wrote, for strata_emit_rows_written(). */
typedef struct EmitState {
  sqlite3_int64 written;
} EmitState;

static void fnEmitRows(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  EmitState *state = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *sql = (const char *)sqlite3_value_text(argv[0]);
  const char *fmt = (const char *)sqlite3_value_text(argv[1]);
  sqlite3_int64 fd = sqlite3_value_int64(argv[2]);
  int format;
  state->written = 0;
  if (!sql || !fmt || fd < 0 || fd > INT32_MAX) { sqlite3_result_error(ctx, "strata_emit_rows: bad arguments", -1); return; }
  if (strcmp(fmt, "csv") == 0) format = F_CSV;
  else if (strcmp(fmt, "tsv") == 0) format = F_TSV;
  else if (strcmp(fmt, "json") == 0) format = F_JSON;
  else if (strcmp(fmt, "jsonl") == 0) format = F_JSONL;
  else if (strcmp(fmt, "table") == 0) format = F_TABLE;
  else { sqlite3_result_error(ctx, "strata_emit_rows: unknown format", -1); return; }

  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, 0);
  if (rc != SQLITE_OK) {
    sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
    sqlite3_result_error_code(ctx, sqlite3_extended_errcode(db));
    return;
  }
  int columns = st ? sqlite3_column_count(st) : 0;
  if (!st || columns == 0 || !sqlite3_stmt_readonly(st)) {
    sqlite3_finalize(st);
    sqlite3_result_null(ctx); /* not ours: the caller reads the rows itself */
    return;
  }
  unsigned char *keys = 0;
  size_t *keyAt = 0;
  Table table;
  memset(&table, 0, sizeof table);
  if (format == F_JSON || format == F_JSONL) rc = jsonKeys(st, columns, &keys, &keyAt);
  else if (format == F_TABLE) rc = tableInit(&table, st, columns);
  Out *o = rc == SQLITE_OK ? sqlite3_malloc64(sizeof(Out)) : 0;
  if (!o) {
    sqlite3_free(keys);
    sqlite3_free(keyAt);
    tableFree(&table);
    sqlite3_finalize(st);
    if (rc == SQLITE_TOOBIG) sqlite3_result_null(ctx);
    else sqlite3_result_error_nomem(ctx);
    return;
  }
  o->fd = (int)fd; o->err = 0; o->n = 0;

  sqlite3_int64 rows = 0;
  unsigned char sep = format == F_TSV ? '\t' : ',';
  int oom = 0;
  while (!o->err && !oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (format == F_CSV || format == F_TSV) {
      for (int i = 0; i < columns; i++) {
        if (i > 0) putByte(o, sep);
        putDelimitedValue(o, st, i, format);
      }
      putByte(o, '\n');
    } else if (format == F_TABLE) {
      if (table.released) tableRow(&table, o, st);
      else {
        tableHold(&table, st);
        if (table.heldRows >= TABLE_SIZING_ROWS) tableRelease(&table, o);
      }
      oom = tableOom(&table);
    } else {
      if (format == F_JSON) {
        if (rows == 0) putByte(o, '[');
        else putBytes(o, ",\n", 2);
      }
      for (int i = 0; i < columns; i++) {
        putBytes(o, keys + keyAt[i], keyAt[i + 1] - keyAt[i]);
        putJsonValue(o, st, i);
      }
      putByte(o, '}');
      if (format == F_JSONL) putByte(o, '\n');
    }
    rows++;
  }
  /* A table whose rows ended (or failed) before the sizing rows were all read is laid out from
   * those it has: the rows before an error are written, as the JavaScript writers do. */
  if (format == F_TABLE && !table.released && !o->err && !oom) {
    tableRelease(&table, o);
    oom = tableOom(&table);
  }
  flushOut(o);
  int err = o->err;
  state->written = rows;
  sqlite3_free(o);
  sqlite3_free(keys);
  sqlite3_free(keyAt);
  tableFree(&table);
  if (err) {
    sqlite3_finalize(st); /* stops the statement */
    sqlite3_result_int64(ctx, -(sqlite3_int64)err);
    return;
  }
  if (oom) {
    sqlite3_finalize(st);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (rc != SQLITE_DONE) {
    /* The message and extended code of the failed step (sqlite3_finalize would report them too,
     * but copy them first: the caller's error translation keys on the code). */
    int code = sqlite3_extended_errcode(db);
    char *msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_result_error(ctx, msg ? msg : "out of memory", -1);
    sqlite3_result_error_code(ctx, code);
    sqlite3_free(msg);
    return;
  }
  sqlite3_finalize(st);
  sqlite3_result_int64(ctx, rows);
}

/* strata_emit_rows_written() → the rows the last strata_emit_rows() call on this connection
 * wrote, also when it failed (the caller then closes what it opened: a JSON array, a table). */
static void fnEmitRowsWritten(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  EmitState *state = sqlite3_user_data(ctx);
  sqlite3_result_int64(ctx, state->written);
}

/*
 * Entry point for a second load of the same library on a connection that runs user SQL: it
 * registers strata_emit_rows() there (the VFS itself is process-wide and was registered by the
 * first load, sqlite3_strata_init).
 */
__attribute__((visibility("default"))) int sqlite3_strataemit_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api) {
  (void)errmsg;
  SQLITE_EXTENSION_INIT2(api);
  EmitState *state = sqlite3_malloc(sizeof(EmitState));
  if (!state) return SQLITE_NOMEM;
  state->written = 0;
  /* DIRECTONLY: never from a trigger or view a database file could bring along. The state is
   * freed with the function (the connection closes, or the function is replaced). */
  int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
  int rc = sqlite3_create_function_v2(db, "strata_emit_rows", 3, flags, state, fnEmitRows, 0, 0, sqlite3_free);
  if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "strata_emit_rows_written", 0, flags, state, fnEmitRowsWritten, 0, 0, 0);
  return rc;
}

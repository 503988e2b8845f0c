/*
 * Strata result emitter: runs one read-only query and writes its rows, as text, straight to a
 * file descriptor, for `strata sql --format csv|tsv|json|jsonl`.
 *
 *   strata_emit_rows(sql, format, fd) → rows written (>= 0), or -errno when writing to fd
 *                                        failed (-EPIPE: the reader closed the pipe), or NULL
 *                                        when `sql` is not a read-only statement with columns
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
 * - blobs are `x'<hex>'` (CSV, TSV) or `{"$blob":"<hex>"}` (JSON); NULL is empty or `null`.
 *
 * The rows of a `json` result are written as `[row` then `,\nrow`: the caller writes the
 * closing bracket (or `[]` when no row came), as it writes header lines.
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

enum { F_CSV, F_TSV, F_JSON, F_JSONL };

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
    case SQLITE_BLOB: {
      const unsigned char *b = sqlite3_column_blob(st, i);
      size_t len = (size_t)sqlite3_column_bytes(st, i);
      putBytes(o, "{\"$blob\":\"", 10);
      if (b) putHex(o, b, len);
      putBytes(o, "\"}", 2);
      break;
    }
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
    case SQLITE_BLOB: {
      /* x'…' holds no character either format escapes. */
      const unsigned char *b = sqlite3_column_blob(st, i);
      size_t len = (size_t)sqlite3_column_bytes(st, i);
      putBytes(o, "x'", 2);
      if (b) putHex(o, b, len);
      putByte(o, '\'');
      break;
    }
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

static void fnEmitRows(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *sql = (const char *)sqlite3_value_text(argv[0]);
  const char *fmt = (const char *)sqlite3_value_text(argv[1]);
  sqlite3_int64 fd = sqlite3_value_int64(argv[2]);
  int format;
  if (!sql || !fmt || fd < 0 || fd > INT32_MAX) { sqlite3_result_error(ctx, "strata_emit_rows: bad arguments", -1); return; }
  if (strcmp(fmt, "csv") == 0) format = F_CSV;
  else if (strcmp(fmt, "tsv") == 0) format = F_TSV;
  else if (strcmp(fmt, "json") == 0) format = F_JSON;
  else if (strcmp(fmt, "jsonl") == 0) format = F_JSONL;
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
  rc = format == F_JSON || format == F_JSONL ? jsonKeys(st, columns, &keys, &keyAt) : SQLITE_OK;
  Out *o = rc == SQLITE_OK ? sqlite3_malloc64(sizeof(Out)) : 0;
  if (!o) {
    sqlite3_free(keys);
    sqlite3_free(keyAt);
    sqlite3_finalize(st);
    if (rc == SQLITE_TOOBIG) sqlite3_result_null(ctx);
    else sqlite3_result_error_nomem(ctx);
    return;
  }
  o->fd = (int)fd; o->err = 0; o->n = 0;

  sqlite3_int64 rows = 0;
  unsigned char sep = format == F_TSV ? '\t' : ',';
  while (!o->err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (format == F_CSV || format == F_TSV) {
      for (int i = 0; i < columns; i++) {
        if (i > 0) putByte(o, sep);
        putDelimitedValue(o, st, i, format);
      }
      putByte(o, '\n');
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
  flushOut(o); /* the rows before an error are written, as the JavaScript writers do */
  int err = o->err;
  sqlite3_free(o);
  sqlite3_free(keys);
  sqlite3_free(keyAt);
  if (err) {
    sqlite3_finalize(st); /* stops the statement */
    sqlite3_result_int64(ctx, -(sqlite3_int64)err);
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

/*
 * Entry point for a second load of the same library on a connection that runs user SQL: it
 * registers strata_emit_rows() there (the VFS itself is process-wide and was registered by the
 * first load, sqlite3_strata_init).
 */
__attribute__((visibility("default"))) int sqlite3_strataemit_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api) {
  (void)errmsg;
  SQLITE_EXTENSION_INIT2(api);
  /* DIRECTONLY: never from a trigger or view a database file could bring along. */
  return sqlite3_create_function(db, "strata_emit_rows", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, 0, fnEmitRows, 0, 0);
}

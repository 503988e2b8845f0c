/*
 * Strata lazy-branch VFS: a loadable SQLite extension.
 *
 * Loaded once (`db.loadExtension`), it registers itself as the process's default VFS and stays
 * loaded (SQLITE_OK_LOAD_PERMANENTLY). Every file it has not been told about is opened by the
 * VFS that was the default before, with that VFS's own methods: no cost for ordinary files.
 *
 * A file registered with strata_vfs_register() (a branch's main database file: a sparse local
 * file of the branch's size) is "owned". Its pages 1..owned are either present (a bit in an
 * in-memory bitmap) or missing. A read of a present page is a local read. A read of a missing
 * page sends a request over a Unix stream socket to the fetcher (a Node worker thread) and
 * blocks, with a deadline, for the answer. The fetcher resolves and fetches the pages, verifies
 * their hashes and hands them back through strata_vfs_fill(), which writes the ones still
 * missing into the file and marks them present, under the file's mutex. SQLite's own writes
 * (checkpoints) mark pages present too, so a fill never overwrites newer content.
 *
 * Wire format (little-endian u32s): request  = magic 'SVQ1', seq, file id, first page, count;
 *                                   answer   = seq, status (0 = the pages are present).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#define REQ_MAGIC 0x31515653u /* "SVQ1" */
#define STRATA_VFS_NAME "strata"

typedef struct Owned Owned;
struct Owned {
  Owned *next;
  char *path;
  uint32_t id;
  uint32_t pageSize;
  uint32_t owned;      /* pages 1..owned come from the store unless present */
  uint32_t bitmapPages;
  uint8_t *bits;
  char *sockPath;
  int timeoutMs;
  int fillFd;
  int refs;            /* open sqlite3_files + 1 while registered */
  int registered;
  pthread_mutex_t lock;
  /* statistics */
  uint64_t misses, waitNs, pagesFilled, bytesFilled, storeBytes, storeRequests, sqliteWrites, failures;
  char lastError[512];
};

typedef struct StrataFile {
  sqlite3_file base;
  Owned *o;
  int sock;
  uint32_t seq;
  sqlite3_file *real;
} StrataFile;

static sqlite3_vfs strataVfs;
static sqlite3_vfs *origVfs = 0;
static pthread_mutex_t gLock = PTHREAD_MUTEX_INITIALIZER;
static Owned *gOwned = 0;
static int gRegistered = 0;

#define REAL_OFFSET ((sizeof(StrataFile) + 15) & ~(size_t)15)

/* ---- registry ------------------------------------------------------------------------- */

static Owned *findByPath(const char *path) {
  for (Owned *o = gOwned; o; o = o->next)
    if (o->registered && strcmp(o->path, path) == 0) return o;
  return 0;
}

static Owned *acquireById(uint32_t id) {
  pthread_mutex_lock(&gLock);
  Owned *found = 0;
  for (Owned *o = gOwned; o; o = o->next)
    if (o->registered && o->id == id) { found = o; found->refs++; break; }
  pthread_mutex_unlock(&gLock);
  return found;
}

static void releaseOwned(Owned *o) {
  pthread_mutex_lock(&gLock);
  int last = --o->refs == 0;
  if (last) {
    Owned **pp = &gOwned;
    while (*pp && *pp != o) pp = &(*pp)->next;
    if (*pp) *pp = o->next;
  }
  pthread_mutex_unlock(&gLock);
  if (!last) return;
  if (o->fillFd >= 0) close(o->fillFd);
  pthread_mutex_destroy(&o->lock);
  free(o->bits);
  free(o->path);
  free(o->sockPath);
  free(o);
}

/*
 * Presence bits only ever go from missing to present (and `owned` only shrinks), so a reader may
 * test them without the file's mutex: a bit it sees set was set after the page's bytes were
 * written (release/acquire), and a bit it sees clear sends it to the locked slow path. The read
 * of a present page thus costs a few loads and SQLite's own pread: no lock, no syscall.
 */
static int isPresent(Owned *o, uint32_t p) {
  if (p == 0 || p > __atomic_load_n(&o->owned, __ATOMIC_RELAXED)) return 1;
  uint32_t i = p - 1;
  return (__atomic_load_n(&o->bits[i >> 3], __ATOMIC_ACQUIRE) >> (i & 7)) & 1;
}

static void markPresent(Owned *o, uint32_t p) {
  if (p == 0 || p > o->bitmapPages) return;
  uint32_t i = p - 1;
  __atomic_fetch_or(&o->bits[i >> 3], (uint8_t)(1u << (i & 7)), __ATOMIC_RELEASE);
}

static uint64_t nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the fetch round trip --------------------------------------------------------------- */

static int writeAll(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

static void setError(Owned *o, const char *fmt, uint32_t a, uint32_t b, long c) {
  pthread_mutex_lock(&o->lock);
  snprintf(o->lastError, sizeof o->lastError, fmt, a, b, c);
  o->failures++;
  pthread_mutex_unlock(&o->lock);
}

/*
 * Ask the fetcher for pages first..first+count-1 and wait for its answer. `*sock` is the
 * caller's connection (opened on first use, closed after a timeout so a late answer is never
 * mistaken for the next one). Returns SQLITE_OK once the answer says the pages are present.
 */
static int fetchPages(Owned *o, int *sock, uint32_t *seq, uint32_t first, uint32_t count) {
  uint64_t start = nowNs();
  if (*sock < 0) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { setError(o, "socket() failed for page %u (%u) errno %ld", first, 0, errno); return SQLITE_IOERR_READ; }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, o->sockPath, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      int err = errno;
      close(fd);
      setError(o, "the page fetcher is not reachable (page %u, %u) errno %ld", first, 0, err);
      return SQLITE_IOERR_READ;
    }
    *sock = fd;
  }
  uint32_t req[5] = { REQ_MAGIC, ++*seq, o->id, first, count };
  if (writeAll(*sock, req, sizeof req) != 0) {
    int err = errno;
    close(*sock); *sock = -1;
    setError(o, "the page fetcher connection failed (page %u, %u) errno %ld", first, 0, err);
    return SQLITE_IOERR_READ;
  }
  uint32_t ans[2];
  size_t got = 0;
  uint64_t deadline = start + (uint64_t)o->timeoutMs * 1000000ull;
  while (got < sizeof ans) {
    uint64_t now = nowNs();
    int left = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
    struct pollfd pfd = { *sock, POLLIN, 0 };
    int r = left > 0 ? poll(&pfd, 1, left) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(*sock); *sock = -1;
      setError(o, "timeout: page %u (+%u) not fetched within %ld ms", first, count - 1, o->timeoutMs);
      return SQLITE_IOERR_READ;
    }
    ssize_t n = recv(*sock, (char *)ans + got, sizeof ans - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(*sock); *sock = -1;
      setError(o, "the page fetcher closed the connection (page %u, %u) %ld", first, 0, (long)n);
      return SQLITE_IOERR_READ;
    }
    got += (size_t)n;
    if (got == sizeof ans && ans[0] != *seq) got = 0; /* a stale answer: keep waiting */
  }
  pthread_mutex_lock(&o->lock);
  o->misses++;
  o->waitNs += nowNs() - start;
  int ok = 1;
  if (ans[1] == 0) {
    for (uint32_t p = first; p < first + count; p++) if (!isPresent(o, p)) { ok = 0; break; }
  }
  pthread_mutex_unlock(&o->lock);
  if (ans[1] != 0) {
    setError(o, "fetch of page %u (+%u) failed (status %ld)", first, count - 1, (long)ans[1]);
    return SQLITE_IOERR_READ;
  }
  if (!ok) {
    setError(o, "page %u (+%u) still missing after the fetcher answered %ld", first, count - 1, 0);
    return SQLITE_IOERR_READ;
  }
  return SQLITE_OK;
}

/* First missing page in [first, last], or 0. Lock-free when every page is present (see isPresent). */
static uint32_t firstMissing(Owned *o, uint32_t first, uint32_t last) {
  uint32_t p = first;
  while (p <= last && isPresent(o, p)) p++;
  if (p > last) return 0;
  pthread_mutex_lock(&o->lock);
  uint32_t found = 0;
  for (; p <= last; p++) if (!isPresent(o, p)) { found = p; break; }
  pthread_mutex_unlock(&o->lock);
  return found;
}

static int ensurePresent(StrataFile *f, sqlite3_int64 off, int amt) {
  Owned *o = f->o;
  uint32_t first = (uint32_t)(off / o->pageSize) + 1;
  uint32_t last = (uint32_t)((off + amt - 1) / o->pageSize) + 1;
  uint32_t miss = firstMissing(o, first, last);
  if (!miss) return SQLITE_OK;
  return fetchPages(o, &f->sock, &f->seq, miss, last - miss + 1);
}

/* ---- io methods of owned files ---------------------------------------------------------- */

static int oClose(sqlite3_file *pf) {
  StrataFile *f = (StrataFile *)pf;
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  if (f->sock >= 0) close(f->sock);
  f->sock = -1;
  if (f->o) releaseOwned(f->o);
  f->o = 0;
  return rc;
}

static int oRead(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off) {
  StrataFile *f = (StrataFile *)pf;
  int rc = ensurePresent(f, off, amt);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int oWrite(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off) {
  StrataFile *f = (StrataFile *)pf;
  Owned *o = f->o;
  uint32_t ps = o->pageSize;
  uint32_t first = (uint32_t)(off / ps) + 1;
  uint32_t last = (uint32_t)((off + amt - 1) / ps) + 1;
  /* A write that covers only part of a missing page needs the rest of that page first. */
  if (off % ps != 0 && firstMissing(o, first, first)) {
    int rc = fetchPages(o, &f->sock, &f->seq, first, 1);
    if (rc != SQLITE_OK) return SQLITE_IOERR_WRITE;
  }
  if ((off + amt) % ps != 0 && firstMissing(o, last, last)) {
    int rc = fetchPages(o, &f->sock, &f->seq, last, 1);
    if (rc != SQLITE_OK) return SQLITE_IOERR_WRITE;
  }
  pthread_mutex_lock(&o->lock);
  int rc = f->real->pMethods->xWrite(f->real, buf, amt, off);
  if (rc == SQLITE_OK) {
    for (uint32_t p = first; p <= last; p++) markPresent(o, p);
    o->sqliteWrites++;
  }
  pthread_mutex_unlock(&o->lock);
  return rc;
}

static int oTruncate(sqlite3_file *pf, sqlite3_int64 size) {
  StrataFile *f = (StrataFile *)pf;
  Owned *o = f->o;
  pthread_mutex_lock(&o->lock);
  int rc = f->real->pMethods->xTruncate(f->real, size);
  if (rc == SQLITE_OK) {
    uint32_t pages = (uint32_t)((size + o->pageSize - 1) / o->pageSize);
    if (pages < o->owned) __atomic_store_n(&o->owned, pages, __ATOMIC_RELAXED); /* cut pages are gone for good */
    o->sqliteWrites++;
  }
  pthread_mutex_unlock(&o->lock);
  return rc;
}

static int oSync(sqlite3_file *pf, int flags) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xSync(f->real, flags); }
static int oFileSize(sqlite3_file *pf, sqlite3_int64 *s) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xFileSize(f->real, s); }
static int oLock(sqlite3_file *pf, int l) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xLock(f->real, l); }
static int oUnlock(sqlite3_file *pf, int l) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xUnlock(f->real, l); }
static int oCheckReserved(sqlite3_file *pf, int *r) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xCheckReservedLock(f->real, r); }
static int oSectorSize(sqlite3_file *pf) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xSectorSize(f->real); }
static int oDeviceChar(sqlite3_file *pf) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xDeviceCharacteristics(f->real); }
static int oShmMap(sqlite3_file *pf, int i, int sz, int ext, void volatile **pp) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xShmMap(f->real, i, sz, ext, pp); }
static int oShmLock(sqlite3_file *pf, int off, int n, int flags) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xShmLock(f->real, off, n, flags); }
static void oShmBarrier(sqlite3_file *pf) { StrataFile *f = (StrataFile *)pf; f->real->pMethods->xShmBarrier(f->real); }
static int oShmUnmap(sqlite3_file *pf, int del) { StrataFile *f = (StrataFile *)pf; return f->real->pMethods->xShmUnmap(f->real, del); }

static int oFileControl(sqlite3_file *pf, int op, void *arg) {
  StrataFile *f = (StrataFile *)pf;
  if (op == SQLITE_FCNTL_PRAGMA) {
    char **az = (char **)arg;
    if (az[1] && sqlite3_stricmp(az[1], "mmap_size") == 0 && az[2] && atoll(az[2]) != 0) {
      az[0] = sqlite3_mprintf(
          "STRATA_UNSUPPORTED: PRAGMA mmap_size is not supported on a lazy branch: its pages arrive "
          "on demand through reads, which memory mapping would bypass; open the branch with mode 'file' to use it");
      return SQLITE_ERROR;
    }
  }
  if (op == SQLITE_FCNTL_VFSNAME) {
    *(char **)arg = sqlite3_mprintf("%s", STRATA_VFS_NAME);
    return SQLITE_OK;
  }
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

/* Version 2: no xFetch/xUnfetch, so SQLite never memory-maps an owned file. */
static const sqlite3_io_methods ownedMethods = {
  2, oClose, oRead, oWrite, oTruncate, oSync, oFileSize, oLock, oUnlock, oCheckReserved,
  oFileControl, oSectorSize, oDeviceChar, oShmMap, oShmLock, oShmBarrier, oShmUnmap, 0, 0,
};

/* ---- the VFS ----------------------------------------------------------------------------- */

static int vOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *outFlags) {
  (void)vfs;
  Owned *o = 0;
  if (name && (flags & SQLITE_OPEN_MAIN_DB)) {
    pthread_mutex_lock(&gLock);
    o = findByPath(name);
    if (o) o->refs++;
    pthread_mutex_unlock(&gLock);
  }
  if (!o) return origVfs->xOpen(origVfs, name, pf, flags, outFlags);
  StrataFile *f = (StrataFile *)pf;
  memset(f, 0, sizeof *f);
  f->real = (sqlite3_file *)((char *)pf + REAL_OFFSET);
  f->sock = -1;
  f->o = o;
  int rc = origVfs->xOpen(origVfs, name, f->real, flags, outFlags);
  if (rc != SQLITE_OK) {
    f->base.pMethods = 0;
    releaseOwned(o);
    return rc;
  }
  f->base.pMethods = &ownedMethods;
  return SQLITE_OK;
}

static int vDelete(sqlite3_vfs *v, const char *n, int s) { (void)v; return origVfs->xDelete(origVfs, n, s); }
static int vAccess(sqlite3_vfs *v, const char *n, int fl, int *r) { (void)v; return origVfs->xAccess(origVfs, n, fl, r); }
static int vFullPathname(sqlite3_vfs *v, const char *n, int sz, char *out) { (void)v; return origVfs->xFullPathname(origVfs, n, sz, out); }
static void *vDlOpen(sqlite3_vfs *v, const char *n) { (void)v; return origVfs->xDlOpen(origVfs, n); }
static void vDlError(sqlite3_vfs *v, int n, char *m) { (void)v; origVfs->xDlError(origVfs, n, m); }
static void (*vDlSym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return origVfs->xDlSym(origVfs, h, s); }
static void vDlClose(sqlite3_vfs *v, void *h) { (void)v; origVfs->xDlClose(origVfs, h); }
static int vRandomness(sqlite3_vfs *v, int n, char *o) { (void)v; return origVfs->xRandomness(origVfs, n, o); }
static int vSleep(sqlite3_vfs *v, int us) { (void)v; return origVfs->xSleep(origVfs, us); }
static int vCurrentTime(sqlite3_vfs *v, double *t) { (void)v; return origVfs->xCurrentTime(origVfs, t); }
static int vGetLastError(sqlite3_vfs *v, int n, char *m) { (void)v; return origVfs->xGetLastError(origVfs, n, m); }
static int vCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; return origVfs->xCurrentTimeInt64(origVfs, t); }
static int vSetSystemCall(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr p) { (void)v; return origVfs->xSetSystemCall(origVfs, n, p); }
static sqlite3_syscall_ptr vGetSystemCall(sqlite3_vfs *v, const char *n) { (void)v; return origVfs->xGetSystemCall(origVfs, n); }
static const char *vNextSystemCall(sqlite3_vfs *v, const char *n) { (void)v; return origVfs->xNextSystemCall(origVfs, n); }

/* ---- SQL functions ------------------------------------------------------------------------ */

/* strata_vfs_register(path, id, pageSize, pageCount, socketPath, timeoutMs) → full path */
static void fnRegister(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *path = (const char *)sqlite3_value_text(argv[0]);
  sqlite3_int64 id = sqlite3_value_int64(argv[1]);
  sqlite3_int64 pageSize = sqlite3_value_int64(argv[2]);
  sqlite3_int64 pageCount = sqlite3_value_int64(argv[3]);
  const char *sock = (const char *)sqlite3_value_text(argv[4]);
  sqlite3_int64 timeoutMs = sqlite3_value_int64(argv[5]);
  if (!path || !sock || id <= 0 || pageSize < 512 || pageSize > 65536 || pageCount < 0 || pageCount > 0xfffffffeLL || timeoutMs <= 0) {
    sqlite3_result_error(ctx, "strata_vfs_register: bad arguments", -1);
    return;
  }
  if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    sqlite3_result_error(ctx, "strata_vfs_register: socket path too long", -1);
    return;
  }
  int n = origVfs->mxPathname + 1;
  char *full = sqlite3_malloc(n);
  if (!full) { sqlite3_result_error_nomem(ctx); return; }
  if (origVfs->xFullPathname(origVfs, path, n, full) != SQLITE_OK) {
    sqlite3_free(full);
    sqlite3_result_error(ctx, "strata_vfs_register: cannot resolve the path", -1);
    return;
  }
  int fd = open(full, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    sqlite3_free(full);
    sqlite3_result_error(ctx, "strata_vfs_register: cannot open the file", -1);
    return;
  }
  Owned *o = calloc(1, sizeof *o);
  size_t bytes = ((size_t)pageCount + 7) / 8 + 1;
  if (o) o->bits = calloc(1, bytes);
  if (!o || !o->bits) {
    close(fd); sqlite3_free(full); if (o) free(o);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  o->path = strdup(full);
  o->sockPath = strdup(sock);
  o->id = (uint32_t)id;
  o->pageSize = (uint32_t)pageSize;
  o->owned = (uint32_t)pageCount;
  o->bitmapPages = (uint32_t)pageCount;
  o->timeoutMs = (int)timeoutMs;
  o->fillFd = fd;
  o->refs = 1;
  o->registered = 1;
  pthread_mutex_init(&o->lock, 0);
  pthread_mutex_lock(&gLock);
  int clash = findByPath(full) != 0;
  for (Owned *x = gOwned; x && !clash; x = x->next) if (x->registered && x->id == o->id) clash = 1;
  if (!clash) { o->next = gOwned; gOwned = o; }
  pthread_mutex_unlock(&gLock);
  if (clash) {
    sqlite3_free(full);
    o->refs = 0;
    close(fd); o->fillFd = -1;
    pthread_mutex_destroy(&o->lock);
    free(o->bits); free(o->path); free(o->sockPath); free(o);
    sqlite3_result_error(ctx, "strata_vfs_register: the path or id is registered already", -1);
    return;
  }
  sqlite3_result_text(ctx, full, -1, sqlite3_free);
}

/* strata_vfs_unregister(id) → 1 if it was registered. Open files keep their state until closed. */
static void fnUnregister(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  uint32_t id = (uint32_t)sqlite3_value_int64(argv[0]);
  pthread_mutex_lock(&gLock);
  Owned *found = 0;
  for (Owned *o = gOwned; o; o = o->next) if (o->registered && o->id == id) { found = o; break; }
  if (found) found->registered = 0;
  pthread_mutex_unlock(&gLock);
  if (found) releaseOwned(found);
  sqlite3_result_int(ctx, found ? 1 : 0);
}

/*
 * strata_vfs_fill(id, pages, body, storeBytes, storeRequests) → pages written.
 * `pages` holds u32 page numbers (little-endian); `body` their images in that order. Pages that
 * are present already (SQLite wrote them, or an earlier fill) are skipped.
 */
static void fnFill(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Owned *o = acquireById((uint32_t)sqlite3_value_int64(argv[0]));
  if (!o) { sqlite3_result_int(ctx, -1); return; }
  const uint32_t *pages = sqlite3_value_blob(argv[1]);
  int nPagesBytes = sqlite3_value_bytes(argv[1]);
  const uint8_t *body = sqlite3_value_blob(argv[2]);
  int nBody = sqlite3_value_bytes(argv[2]);
  int n = nPagesBytes / 4;
  if ((sqlite3_int64)n * o->pageSize != nBody) {
    releaseOwned(o);
    sqlite3_result_error(ctx, "strata_vfs_fill: body length does not match the page list", -1);
    return;
  }
  int written = 0;
  pthread_mutex_lock(&o->lock);
  int failed = 0;
  /* Runs of consecutive missing pages whose images are adjacent in `body` take one pwrite. */
  for (int i = 0; i < n && !failed;) {
    uint32_t p;
    memcpy(&p, (const uint8_t *)pages + 4 * i, 4);
    if (isPresent(o, p)) { i++; continue; }
    int j = i + 1;
    while (j < n) {
      uint32_t q;
      memcpy(&q, (const uint8_t *)pages + 4 * j, 4);
      if (q != p + (uint32_t)(j - i) || isPresent(o, q)) break;
      j++;
    }
    const uint8_t *src = body + (size_t)i * o->pageSize;
    size_t len = (size_t)(j - i) * o->pageSize;
    off_t at = (off_t)(p - 1) * o->pageSize;
    size_t done = 0;
    while (done < len) {
      ssize_t w = pwrite(o->fillFd, src + done, len - done, at + (off_t)done);
      if (w < 0) { if (errno == EINTR) continue; failed = errno; break; }
      done += (size_t)w;
    }
    if (failed) break;
    for (int k = i; k < j; k++) markPresent(o, p + (uint32_t)(k - i));
    written += j - i;
    i = j;
  }
  o->pagesFilled += (uint64_t)written;
  o->bytesFilled += (uint64_t)written * o->pageSize;
  o->storeBytes += (uint64_t)sqlite3_value_int64(argv[3]);
  o->storeRequests += (uint64_t)sqlite3_value_int64(argv[4]);
  pthread_mutex_unlock(&o->lock);
  releaseOwned(o);
  if (failed) {
    char msg[128];
    snprintf(msg, sizeof msg, "strata_vfs_fill: write failed: %s", strerror(failed));
    sqlite3_result_error(ctx, msg, -1);
    return;
  }
  sqlite3_result_int(ctx, written);
}

/* strata_vfs_missing(id, first, count) → blob of the u32 page numbers still missing in the range. */
static void fnMissing(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Owned *o = acquireById((uint32_t)sqlite3_value_int64(argv[0]));
  if (!o) { sqlite3_result_null(ctx); return; }
  sqlite3_int64 first = sqlite3_value_int64(argv[1]);
  sqlite3_int64 count = sqlite3_value_int64(argv[2]);
  if (first < 1) first = 1;
  if (count < 0) count = 0;
  uint32_t *out = sqlite3_malloc64((sqlite3_uint64)(count > 0 ? count : 1) * 4);
  if (!out) { releaseOwned(o); sqlite3_result_error_nomem(ctx); return; }
  int n = 0;
  pthread_mutex_lock(&o->lock);
  sqlite3_int64 end = first + count - 1;
  if (end > o->owned) end = o->owned;
  for (sqlite3_int64 p = first; p <= end; p++) if (!isPresent(o, (uint32_t)p)) out[n++] = (uint32_t)p;
  pthread_mutex_unlock(&o->lock);
  releaseOwned(o);
  sqlite3_result_blob(ctx, out, n * 4, sqlite3_free);
}

/* strata_vfs_ensure(id, first, count): fetch the missing pages of the range, blocking. */
static void fnEnsure(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Owned *o = acquireById((uint32_t)sqlite3_value_int64(argv[0]));
  if (!o) { sqlite3_result_error(ctx, "strata_vfs_ensure: no such file", -1); return; }
  uint32_t first = (uint32_t)sqlite3_value_int64(argv[1]);
  uint32_t count = (uint32_t)sqlite3_value_int64(argv[2]);
  int sock = -1;
  uint32_t seq = 0;
  int rc = SQLITE_OK;
  uint32_t last = first + count - 1;
  if (last > o->owned) last = o->owned;
  while (rc == SQLITE_OK && first <= last) {
    uint32_t miss = firstMissing(o, first, last);
    if (!miss) break;
    uint32_t n = last - miss + 1;
    if (n > 512) n = 512;
    rc = fetchPages(o, &sock, &seq, miss, n);
    first = miss + n;
  }
  if (sock >= 0) close(sock);
  if (rc != SQLITE_OK) {
    pthread_mutex_lock(&o->lock);
    char *msg = sqlite3_mprintf("STRATA_FETCH_FAILED: %s", o->lastError);
    pthread_mutex_unlock(&o->lock);
    releaseOwned(o);
    sqlite3_result_error(ctx, msg, -1);
    sqlite3_free(msg);
    return;
  }
  releaseOwned(o);
  sqlite3_result_int(ctx, 1);
}

/* strata_vfs_stats(id) → JSON text, or NULL for an unknown id. */
static void fnStats(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Owned *o = acquireById((uint32_t)sqlite3_value_int64(argv[0]));
  if (!o) { sqlite3_result_null(ctx); return; }
  pthread_mutex_lock(&o->lock);
  uint32_t present = 0;
  for (uint32_t p = 1; p <= o->bitmapPages; p++) if (isPresent(o, p)) present++;
  char *json = sqlite3_mprintf(
      "{\"pageCount\":%u,\"owned\":%u,\"present\":%u,\"misses\":%llu,\"waitMs\":%.3f,\"pagesFetched\":%llu,"
      "\"bytesFetched\":%llu,\"storeBytes\":%llu,\"storeRequests\":%llu,\"sqliteWrites\":%llu,\"failures\":%llu}",
      o->bitmapPages, o->owned, present, (unsigned long long)o->misses, o->waitNs / 1e6,
      (unsigned long long)o->pagesFilled, (unsigned long long)o->bytesFilled, (unsigned long long)o->storeBytes,
      (unsigned long long)o->storeRequests, (unsigned long long)o->sqliteWrites, (unsigned long long)o->failures);
  pthread_mutex_unlock(&o->lock);
  releaseOwned(o);
  sqlite3_result_text(ctx, json, -1, sqlite3_free);
}

/* strata_vfs_last_error(id) → the last failure's description, or NULL. */
static void fnLastError(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Owned *o = acquireById((uint32_t)sqlite3_value_int64(argv[0]));
  if (!o) { sqlite3_result_null(ctx); return; }
  pthread_mutex_lock(&o->lock);
  if (o->lastError[0]) sqlite3_result_text(ctx, o->lastError, -1, SQLITE_TRANSIENT);
  else sqlite3_result_null(ctx);
  pthread_mutex_unlock(&o->lock);
  releaseOwned(o);
}

__attribute__((visibility("default"))) int sqlite3_strata_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  pthread_mutex_lock(&gLock);
  if (!gRegistered) {
    origVfs = sqlite3_vfs_find(0);
    if (!origVfs) {
      pthread_mutex_unlock(&gLock);
      *errmsg = sqlite3_mprintf("strata: no default VFS to wrap");
      return SQLITE_ERROR;
    }
    memset(&strataVfs, 0, sizeof strataVfs);
    strataVfs.iVersion = origVfs->iVersion < 3 ? origVfs->iVersion : 3;
    strataVfs.szOsFile = (int)(REAL_OFFSET + (size_t)origVfs->szOsFile);
    strataVfs.mxPathname = origVfs->mxPathname;
    strataVfs.zName = STRATA_VFS_NAME;
    strataVfs.xOpen = vOpen;
    strataVfs.xDelete = vDelete;
    strataVfs.xAccess = vAccess;
    strataVfs.xFullPathname = vFullPathname;
    strataVfs.xDlOpen = vDlOpen;
    strataVfs.xDlError = vDlError;
    strataVfs.xDlSym = vDlSym;
    strataVfs.xDlClose = vDlClose;
    strataVfs.xRandomness = vRandomness;
    strataVfs.xSleep = vSleep;
    strataVfs.xCurrentTime = vCurrentTime;
    strataVfs.xGetLastError = vGetLastError;
    strataVfs.xCurrentTimeInt64 = vCurrentTimeInt64;
    strataVfs.xSetSystemCall = vSetSystemCall;
    strataVfs.xGetSystemCall = vGetSystemCall;
    strataVfs.xNextSystemCall = vNextSystemCall;
    int rc = sqlite3_vfs_register(&strataVfs, 1);
    if (rc != SQLITE_OK) {
      pthread_mutex_unlock(&gLock);
      *errmsg = sqlite3_mprintf("strata: cannot register the VFS");
      return rc;
    }
    gRegistered = 1;
  }
  pthread_mutex_unlock(&gLock);
  int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
  int rc = sqlite3_create_function(db, "strata_vfs_register", 6, flags, 0, fnRegister, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_unregister", 1, flags, 0, fnUnregister, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_fill", 5, flags, 0, fnFill, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_missing", 3, flags, 0, fnMissing, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_ensure", 3, flags, 0, fnEnsure, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_stats", 1, flags, 0, fnStats, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "strata_vfs_last_error", 1, flags, 0, fnLastError, 0, 0);
  if (rc != SQLITE_OK) return rc;
  return SQLITE_OK_LOAD_PERMANENTLY;
}

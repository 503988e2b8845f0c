import { createHash, randomBytes } from 'node:crypto'
import { constants as fsc, readFileSync } from 'node:fs'
import type { BigIntStats } from 'node:fs'
import fs from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  AbortedError,
  ConflictError,
  InvalidArgumentError,
  InvalidKeyError,
  StoreError,
  isStrataError,
} from '../errors/index.js'
import { BRANCHES_PREFIX, SEGMENTS_PREFIX, SNAPSHOTS_PREFIX } from '../format/keys.js'
import { compareKeys, isValidKey, validateKey, validatePrefix, validatePutOptions } from './keys.js'
import { fileErrorFrom, makeDirectory, syncDir } from './local-paths.js'
import type { GetOptions, GetResult, ListOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js'

/** Top-level directory of in-flight temporary files. Reserved: no key may start with it. */
const TMP_DIR = '.tmp'
/** Top-level directory of per-key writer locks. Reserved: no key may start with it. */
const LOCKS_DIR = '.locks'
/** Files a listing stats at once. */
const LIST_STATS = 64

const RESERVED = new Set([TMP_DIR, LOCKS_DIR])

const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0
const READ_FLAGS = fsc.O_RDONLY | O_NOFOLLOW
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | O_NOFOLLOW

/** OS error codes worth retrying: transient resource shortage or contention. */
const RETRYABLE = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'EMFILE', 'ENFILE', 'ENOMEM', 'ESTALE', 'ETIMEDOUT'])

/** Temporary files left by crashed writers are removed once they are this old. */
const ORPHAN_TEMP_AGE_MS = 24 * 60 * 60 * 1000
/** Concurrent unlinks in one `delete` call. */
const DELETE_CONCURRENCY = 8
/** A deferred directory fsync happens at the latest this long after the last deferring write (or before the next other write). */
const DEFERRED_SYNC_MS = 50
/** How often a put retries after its directory was pruned by a concurrent delete. */
const MISSING_DIR_RETRIES = 3

/** Options of {@link LocalStore}. */
export interface LocalStoreOptions {
  /**
   * How long a writer waits for another live writer's lock on the same key before giving up
   * with a retryable `StoreError`. Default 5000 ms.
   */
  lockTimeoutMs?: number
  /**
   * A lock held longer than this is judged abandoned and broken, even if its owner still runs
   * (locks of dead processes on this host are broken at once). A writer that finds it has held
   * its own lock for half this long gives up rather than write. Default 30 000 ms.
   */
  lockStaleMs?: number
  /**
   * Keys whose directory fsync may wait: immutable objects written create-only that nothing
   * reads as durable until a mutable key (a ref) points at them. Default: Strata's segments,
   * snapshots and branch records ({@link isDeferredSyncKey}).
   */
  deferDirSync?: (key: string) => boolean
  /** Called for every fsync the store makes, with what was synced (tests count them; see the README's table). */
  onSync?: (event: LocalStoreSync) => void
}

/** One fsync made by {@link LocalStore}: of a file's bytes, or of a directory's entries. */
export interface LocalStoreSync {
  kind: 'file' | 'directory'
  /** The path synced. */
  path: string
}

/** The immutable, content-addressed (or freshly random) keys whose directory fsync a LocalStore defers by default. */
export function isDeferredSyncKey(key: string): boolean {
  return key.startsWith(SEGMENTS_PREFIX) || key.startsWith(SNAPSHOTS_PREFIX) || key.startsWith(BRANCHES_PREFIX)
}

/** What a lock file records about its owner. */
interface LockOwner {
  pid: number
  hostname: string
  createdAt: number
  nonce: string
}

/** A lock file as read from disk: its identity (inode and raw bytes), age and parsed owner. */
interface LockSnapshot {
  ino: bigint
  raw: string
  ctimeMs: number
  owner: LockOwner | null
}

/**
 * An {@link ObjectStore} in a local directory: the embedded default.
 *
 * Layout: the object at key `a/b/c` is the plain file `<root>/a/b/c`, so a store can be read with
 * ordinary tools. `<root>/.tmp/` holds in-flight temporary files and `<root>/.locks/` holds
 * per-key writer locks; keys starting with `.tmp` or `.locks` are reserved and rejected.
 *
 * Guarantees:
 * - Writes are atomic and durable: the body goes to a temporary file that is fsynced, then
 *   renamed (or hard-linked, for create-only puts) into place, then the directory is fsynced.
 *   For immutable objects ({@link LocalStoreOptions.deferDirSync}: segments, snapshots) the
 *   directory fsync waits: every directory with such entries pending is fsynced once before the
 *   next other write is made (so before any ref can point at them), on `flush` and `close`, and
 *   soon after a burst of writes ends. A commit of n segments thus costs n + 1 file fsyncs and
 *   3 directory fsyncs, not 2(n + 2).
 * - Conditional writes are atomic between processes on the same host (and on filesystems with
 *   atomic `link`, between hosts): create-only puts rely on `link(2)` failing with `EEXIST`;
 *   replace-if-version puts, unconditional puts and deletes hold a per-key lock file.
 * - Nothing follows a symbolic link: a key whose path is, or goes through, a link is refused
 *   with a `StoreError`, so no key reaches outside the root.
 * - Version tokens come from the file's inode, size and modification time; every write stamps
 *   the file with a fresh modification time that carries a random sub-second part, so a
 *   recycled inode does not bring back an old token.
 *
 * A directory cannot hold a file and a sub-directory of the same name, so a key cannot be
 * both an object and the start of other keys (`a` and `a/b`). Such a put throws
 * `InvalidKeyError`; Strata's own key layout never does this.
 */
export class LocalStore implements ObjectStore {
  /** The absolute path of the store's root directory. */
  readonly root: string
  /** `file://` URL of the root directory. */
  readonly url: string

  readonly #rootWithSep: string
  readonly #lockTimeoutMs: number
  readonly #lockStaleMs: number
  readonly #deferDirSync: (key: string) => boolean
  readonly #onSync: ((event: LocalStoreSync) => void) | undefined
  #realRoot: string | null = null
  #prepared: Promise<string> | null = null
  /** Directories with entries whose fsync is deferred. */
  readonly #pendingDirs = new Set<string>()
  /** Every flush so far (a flush waits for the ones before it). */
  #flushed: Promise<void> = Promise.resolve()
  #flushTimer: NodeJS.Timeout | null = null

  /**
   * A store rooted at `root` (a path, resolved against the working directory). Does no I/O:
   * reads of a missing root find nothing, and the first write creates it.
   */
  constructor(root: string, options: LocalStoreOptions = {}) {
    this.root = path.resolve(root)
    this.#rootWithSep = this.root.endsWith(path.sep) ? this.root : this.root + path.sep
    this.url = pathToFileURL(this.root).href
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 5000
    this.#lockStaleMs = options.lockStaleMs ?? 30_000
    this.#deferDirSync = options.deferDirSync ?? isDeferredSyncKey
    this.#onSync = options.onSync
  }

  /**
   * Make every write so far durable: fsync each directory whose fsync was deferred (once each).
   * Waits for flushes already under way. Other writes call it themselves before they write.
   */
  flush(): Promise<void> {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer)
      this.#flushTimer = null
    }
    const dirs = [...this.#pendingDirs]
    this.#pendingDirs.clear()
    // A directory pruned since (its last object deleted) has nothing left to make durable.
    // One that fails stays pending, so the next write that needs it tries again (and fails, not proceeds).
    const sync = (d: string): Promise<void> =>
      this.#syncDir(d).catch((e: unknown) => {
        if (hasCode(e, 'ENOENT')) return
        this.#pendingDirs.add(d)
        throw e
      })
    const done = Promise.all([this.#flushed, ...dirs.map(sync)]).then(() => {})
    this.#flushed = done.catch(() => {})
    return done
  }

  /** Flush deferred directory fsyncs (see {@link LocalStore.flush}); the store stays usable. */
  async close(): Promise<void> {
    await this.flush()
  }

  /**
   * Open (creating it if needed) the store at a path, a `file:` URL string or a `file:` URL.
   * Throws `InvalidArgumentError` for another URL scheme, `FileError` if the location is a file,
   * lies under a file, or cannot be created (no permission, read-only, full), and `StoreError`
   * for any other failure.
   */
  static async open(location: string | URL, options?: LocalStoreOptions): Promise<LocalStore> {
    const root = toPath(location)
    const store = new LocalStore(root, options)
    try {
      await makeDirectory(store.root)
    } catch (e) {
      throw fileErrorFrom(e, store.root, { directory: true }) ?? store.#wrap('open', '', e)
    }
    return store
  }

  /** The bytes at `key` (or a range of them), read from one open file, or null if there is no object. */
  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    const file = this.#path(key)
    const range = opts.range
    if (range !== undefined) checkRange(range)
    throwIfAborted(opts.signal, 'get', key)
    try {
      const realRoot = await this.#findRealRoot()
      if (realRoot === null) return null
      if ((await this.#checkDir(path.dirname(file), realRoot)) === 'missing') return null
      let handle: FileHandle
      try {
        handle = await fs.open(file, READ_FLAGS)
      } catch (e) {
        if (hasCode(e, 'ENOENT', 'ENOTDIR')) return null
        if (hasCode(e, 'ELOOP')) throw linkError(file)
        throw e
      }
      try {
        // Size and version come from the descriptor the bytes are read from, so they agree
        // even if the key is replaced meanwhile.
        const st = await handle.stat({ bigint: true })
        if (!st.isFile()) return null
        const size = Number(st.size)
        const start = range === undefined ? 0 : Math.min(range.offset, size)
        const end = range === undefined ? size : Math.min(size, range.offset + range.length)
        // Into the caller's buffer when it lends one that fits: a bulk reader (export) then
        // allocates nothing per read.
        const body = opts.into && opts.into.byteLength >= end - start ? opts.into.subarray(0, end - start) : new Uint8Array(end - start)
        let done = 0
        while (done < body.length) {
          const { bytesRead } = await handle.read(body, done, body.length - done, start + done)
          if (bytesRead === 0) throw new Error('the file shrank while it was read')
          done += bytesRead
        }
        return { body, version: versionOf(st), size }
      } finally {
        await handle.close()
      }
    } catch (e) {
      throw this.#wrap('get', key, e)
    }
  }

  /** Size, version and modification time of the object at `key`, or null if there is none. */
  async head(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | null> {
    const file = this.#path(key)
    throwIfAborted(opts.signal, 'head', key)
    try {
      const realRoot = await this.#findRealRoot()
      if (realRoot === null) return null
      if ((await this.#checkDir(path.dirname(file), realRoot)) === 'missing') return null
      const st = await lstatOrNull(file)
      if (st === null || st.isDirectory()) return null
      if (st.isSymbolicLink()) throw linkError(file)
      if (!st.isFile()) return null
      return infoOf(key, st)
    } catch (e) {
      throw this.#wrap('head', key, e)
    }
  }

  /**
   * Write `body` at `key` atomically and durably. `ifNoneMatch: '*'` creates only;
   * `ifMatch` replaces only that version (a missing key is a conflict). A lost condition throws
   * `ConflictError` and leaves the stored bytes as they were.
   */
  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ version: string }> {
    const file = this.#path(key)
    validatePutOptions(opts)
    throwIfAborted(opts.signal, 'put', key)
    const defer = opts.ifNoneMatch === '*' && this.#deferDirSync(key)
    try {
      const realRoot = await this.#prepare()
      // What this write may point at must be durable before it is.
      if (!defer) await this.flush()
      const dir = path.dirname(file)
      await this.#ensureDir(dir, realRoot, key)
      const temp = this.#tempPath()
      const handle = await fs.open(temp, CREATE_FLAGS, 0o666)
      let tempExists = true
      let version: string
      try {
        await handle.writeFile(body)
        const stamp = freshModificationTime()
        await handle.utimes(stamp, stamp)
        await handle.sync()
        this.#onSync?.({ kind: 'file', path: temp })
        // The version is final now: nothing below writes the file or sets its times again.
        version = versionOf(await handle.stat({ bigint: true }))
        if (opts.ifNoneMatch === '*') {
          await this.#intoDir(dir, realRoot, key, async () => {
            try {
              await fs.link(temp, file)
            } catch (e) {
              if (!hasCode(e, 'EEXIST')) throw e
              if ((await lstatOrNull(file))?.isDirectory()) throw prefixOfOtherKeys(key)
              // Creating what is already there, byte for byte, is success (the ObjectStore contract).
              const held = await versionIfSameBytes(file, body)
              if (held === null) throw new ConflictError({ key, condition: 'if-none-match' })
              version = held
            }
          })
          await fs.unlink(temp)
          tempExists = false
        } else {
          const ifMatch = opts.ifMatch
          await this.#withLock(key, opts.signal, async (assertHeld) => {
            if (ifMatch !== undefined) {
              const current = await lstatOrNull(file)
              if (current === null || !current.isFile() || versionOf(current) !== ifMatch) {
                throw new ConflictError({ key, condition: 'if-match', expected: ifMatch })
              }
            }
            assertHeld()
            await this.#intoDir(dir, realRoot, key, async () => {
              try {
                await fs.rename(temp, file)
              } catch (e) {
                if (hasCode(e, 'EISDIR', 'ENOTEMPTY', 'EEXIST')) throw prefixOfOtherKeys(key)
                throw e
              }
            })
            tempExists = false
          })
        }
      } finally {
        await handle.close().catch(() => {})
        if (tempExists) await fs.unlink(temp).catch(() => {})
      }
      if (defer) this.#deferSync(dir)
      else await this.#syncDir(dir)
      return { version }
    } catch (e) {
      throw this.#wrap('put', key, e)
    }
  }

  /**
   * Every object whose key starts with `prefix` (and sorts after `startAfter`, if given), in
   * ascending byte order of keys. Directories are read one at a time as the iteration reaches them
   * (one wholly before `startAfter` is skipped unread, and only files after it are stat'ed); a
   * missing directory is simply empty. Temporary files, locks, links and names that are not valid
   * keys never appear.
   */
  list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix)
    checkReserved(prefix, true)
    return this.#list(prefix, opts.startAfter, opts.signal)
  }

  async *#list(prefix: string, after: string | undefined, signal: AbortSignal | undefined): AsyncGenerator<ObjectInfo> {
    throwIfAborted(signal, 'list', prefix)
    const slash = prefix.lastIndexOf('/')
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash)
    const namePrefix = prefix.slice(slash + 1)
    const dir = path.join(this.root, dirKey)
    try {
      const realRoot = await this.#findRealRoot()
      if (realRoot === null) return
      if ((await this.#checkDir(dir, realRoot)) === 'missing') return
    } catch (e) {
      throw this.#wrap('list', prefix, e)
    }
    yield* this.#walk(dir, dirKey, namePrefix, after, signal)
  }

  async *#walk(dir: string, dirKey: string, namePrefix: string, after: string | undefined, signal: AbortSignal | undefined): AsyncGenerator<ObjectInfo> {
    let names: { name: string; isDir: boolean; order: string }[]
    const base = dirKey === '' ? '' : `${dirKey}/`
    try {
      const entries = await fs.readdir(dir, { withFileTypes: true })
      names = entries
        .filter((d) => d.name.startsWith(namePrefix) && (d.isFile() || d.isDirectory()))
        .filter((d) => !(dirKey === '' && RESERVED.has(d.name)) && isValidKey(d.name))
        // A directory `a` sorts as `a/`, so its keys land where byte order puts them
        // relative to siblings such as `a-b` or `a.b`.
        .map((d) => ({ name: d.name, isDir: d.isDirectory(), order: d.isDirectory() ? `${d.name}/` : d.name }))
        // A file at or before `after` is not listed; nor is a directory all of whose keys are.
        .filter((d) => after === undefined || compareKeys(base + d.order, after) > 0 || (d.isDir && after.startsWith(base + d.order)))
        .sort((x, y) => compareKeys(x.order, y.order))
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ENOTDIR')) return
      throw this.#wrap('list', dirKey, e)
    }
    // Files are stat'ed LIST_STATS at a time (one after another, a listing of 20,000 keys waits
    // for 20,000 round trips to the filesystem), and yielded in order.
    for (let from = 0; from < names.length; from += LIST_STATS) {
      throwIfAborted(signal, 'list', dirKey)
      const batch = names.slice(from, from + LIST_STATS)
      const stats = await Promise.all(
        batch.map((entry) =>
          entry.isDir ? null : lstatOrNull(path.join(dir, entry.name)).catch((e: unknown) => Promise.reject(this.#wrap('list', dirKey === '' ? entry.name : `${dirKey}/${entry.name}`, e))),
        ),
      )
      for (let i = 0; i < batch.length; i++) {
        const entry = batch[i]!
        const key = base + entry.name
        if (entry.isDir) {
          yield* this.#walk(path.join(dir, entry.name), key, '', after, signal)
          continue
        }
        const st = stats[i]!
        if (st !== null && st.isFile() && isValidKey(key)) yield infoOf(key, st)
      }
    }
  }

  /**
   * Delete every key in `keys`; missing keys are ignored. All keys are validated before any is
   * deleted. Directories left empty are removed, best effort (never the root).
   */
  async delete(keys: readonly string[]): Promise<void> {
    const files = keys.map((key) => ({ key, file: this.#path(key) }))
    if (files.length === 0) return
    const realRoot = await this.#findRealRoot().catch((e: unknown) => {
      throw this.#wrap('delete', files[0]?.key ?? '', e)
    })
    if (realRoot === null) return
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const item = files[next++]
        if (item !== undefined) await this.#deleteOne(item.key, item.file, realRoot)
      }
    }
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, files.length) }, worker))
  }

  async #deleteOne(key: string, file: string, realRoot: string): Promise<void> {
    try {
      const dir = path.dirname(file)
      if ((await this.#checkDir(dir, realRoot)) === 'missing') return
      const st = await lstatOrNull(file)
      if (st === null || st.isDirectory()) return
      await this.#prepare()
      let removed = false
      await this.#withLock(key, undefined, async () => {
        try {
          await fs.unlink(file)
          removed = true
        } catch (e) {
          if (!hasCode(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw e
        }
      })
      if (removed) await this.#prune(dir)
    } catch (e) {
      throw this.#wrap('delete', key, e)
    }
  }

  /** Remove empty directories from `dir` up to (not including) the root. Races with puts are fine: they recreate it. */
  async #prune(dir: string): Promise<void> {
    let d = dir
    while (d !== this.root && d.startsWith(this.#rootWithSep)) {
      try {
        await fs.rmdir(d)
      } catch {
        return
      }
      d = path.dirname(d)
    }
  }

  /** The absolute path of `key`, after validating it and checking that it stays under the root. */
  #path(key: string): string {
    validateKey(key)
    checkReserved(key, false)
    const file = path.join(this.root, ...key.split('/'))
    if (!file.startsWith(this.#rootWithSep)) throw new InvalidKeyError({ key, reason: 'resolves outside the store' })
    return file
  }

  #tempPath(): string {
    return path.join(this.root, TMP_DIR, `${process.pid}-${randomBytes(8).toString('hex')}`)
  }

  /** The root's real path, or null while the root does not exist. */
  async #findRealRoot(): Promise<string | null> {
    if (this.#realRoot !== null) return this.#realRoot
    try {
      this.#realRoot = await fs.realpath(this.root)
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ENOTDIR')) return null
      throw e
    }
    return this.#realRoot
  }

  /** Create the root and its reserved directories once, check they are real directories, sweep orphans. */
  #prepare(): Promise<string> {
    this.#prepared ??= (async () => {
      await fs.mkdir(this.root, { recursive: true })
      const realRoot = await this.#findRealRoot()
      if (realRoot === null) throw new Error(`${this.root} vanished while it was created`)
      for (const name of RESERVED) {
        const dir = path.join(this.root, name)
        await fs.mkdir(dir).catch((e: unknown) => {
          if (!hasCode(e, 'EEXIST')) throw e
        })
        const st = await fs.lstat(dir)
        if (!st.isDirectory()) throw new Error(`${dir} must be a directory (links are not followed)`)
      }
      await this.#sweepOrphans()
      return realRoot
    })().catch((e: unknown) => {
      this.#prepared = null
      throw e
    })
    return this.#prepared
  }

  /** Remove temporary files of writers that crashed long ago. Best effort. */
  async #sweepOrphans(): Promise<void> {
    const dir = path.join(this.root, TMP_DIR)
    const cutoff = Date.now() - ORPHAN_TEMP_AGE_MS
    try {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        if (!entry.isFile()) continue
        const file = path.join(dir, entry.name)
        const st = await fs.lstat(file).catch(() => null)
        if (st !== null && st.mtimeMs < cutoff) await fs.unlink(file).catch(() => {})
      }
    } catch {
      // Sweeping is housekeeping; a failure here must not fail the write that triggered it.
    }
  }

  /**
   * 'ok' if `dir` exists inside the root with no link on the way, 'missing' if it (or an
   * ancestor) does not exist yet. Throws if a link is on the way (callers wrap it in a `StoreError`).
   */
  async #checkDir(dir: string, realRoot: string): Promise<'ok' | 'missing'> {
    let probe = dir
    while (probe !== this.root) {
      let real: string
      try {
        real = await fs.realpath(probe)
      } catch (e) {
        if (hasCode(e, 'ENOTDIR')) return 'missing'
        if (!hasCode(e, 'ENOENT')) throw e
        probe = path.dirname(probe)
        continue
      }
      if (real !== path.join(realRoot, path.relative(this.root, probe))) throw linkError(probe)
      return probe === dir ? 'ok' : 'missing'
    }
    return dir === this.root ? 'ok' : 'missing'
  }

  /** Make sure `dir` exists inside the root, creating it (and fsyncing the parents of what was created). */
  async #ensureDir(dir: string, realRoot: string, key: string): Promise<void> {
    if ((await this.#checkDir(dir, realRoot)) === 'ok') return
    let first: string | undefined
    try {
      first = await fs.mkdir(dir, { recursive: true })
    } catch (e) {
      if (hasCode(e, 'ENOTDIR', 'EEXIST')) throw extendsAnObject(key)
      throw e
    }
    if ((await this.#checkDir(dir, realRoot)) === 'missing') {
      // Pruned by a concurrent delete already; the caller's retry loop recreates it.
      return
    }
    if (first !== undefined) {
      for (let d = dir; d !== path.dirname(first) && d.startsWith(this.#rootWithSep); d = path.dirname(d)) {
        await this.#syncDir(path.dirname(d))
      }
    }
  }

  async #syncDir(dir: string): Promise<void> {
    await syncDir(dir)
    this.#onSync?.({ kind: 'directory', path: dir })
  }

  /** Note `dir` for the next flush, and flush soon after this burst of writes ends. */
  #deferSync(dir: string): void {
    this.#pendingDirs.add(dir)
    if (this.#flushTimer) clearTimeout(this.#flushTimer)
    this.#flushTimer = setTimeout(() => void this.flush().catch(() => {}), DEFERRED_SYNC_MS)
    this.#flushTimer.unref()
  }

  /** Run `step` (a link or rename into `dir`), recreating `dir` if a concurrent delete pruned it. */
  async #intoDir(dir: string, realRoot: string, key: string, step: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await step()
        return
      } catch (e) {
        if (hasCode(e, 'ENOTDIR')) throw extendsAnObject(key)
        if (!hasCode(e, 'ENOENT') || attempt >= MISSING_DIR_RETRIES) throw e
        await this.#ensureDir(dir, realRoot, key)
      }
    }
  }

  /**
   * Run `fn` holding the writer lock of `key`: a file in `.locks/` created atomically with
   * `link(2)`, recording the owner. Waits (with backoff) while a live writer holds it, breaks it
   * if its owner is dead or it is older than the stale limit, and gives up after the timeout.
   * `fn` calls `assertHeld()` right before its irreversible step.
   */
  async #withLock<T>(key: string, signal: AbortSignal | undefined, fn: (assertHeld: () => void) => Promise<T>): Promise<T> {
    const lockPath = path.join(this.root, LOCKS_DIR, createHash('sha256').update(key).digest('hex'))
    const owner: LockOwner = { pid: process.pid, hostname: hostname(), createdAt: Date.now(), nonce: randomBytes(12).toString('hex') }
    const draft = this.#tempPath()
    await fs.writeFile(draft, JSON.stringify(owner), { flag: 'wx' })
    const started = performance.now()
    let delay = 1
    let holder: LockSnapshot | null = null
    try {
      for (;;) {
        try {
          await fs.link(draft, lockPath)
          break
        } catch (e) {
          if (!hasCode(e, 'EEXIST')) throw e
        }
        holder = await readLock(lockPath)
        if (holder !== null && this.#isStale(holder)) {
          await breakLock(lockPath, holder)
          continue
        }
        if (performance.now() - started > this.#lockTimeoutMs) {
          const who = holder?.owner ? `pid ${holder.owner.pid} on ${holder.owner.hostname}` : 'another writer'
          throw new StoreError(
            { operation: 'lock', key, store: this.url, retryable: true },
            { cause: new Error(`${who} held the lock on this key for more than ${this.#lockTimeoutMs} ms`) },
          )
        }
        throwIfAborted(signal, 'lock', key)
        await sleep(delay * (0.5 + Math.random()))
        delay = Math.min(delay * 1.5, 25)
      }
    } finally {
      await fs.unlink(draft).catch(() => {})
    }
    const acquired = performance.now()
    const heldTooLong = (): boolean => performance.now() - acquired > this.#lockStaleMs / 2
    try {
      return await fn(() => {
        if (heldTooLong()) {
          throw new StoreError(
            { operation: 'lock', key, store: this.url, retryable: true },
            { cause: new Error('this writer held the key lock so long that others may judge it stale; nothing was written') },
          )
        }
      })
    } finally {
      await releaseLock(lockPath, owner.nonce, heldTooLong())
    }
  }

  #isStale(lock: LockSnapshot): boolean {
    if (Date.now() - lock.ctimeMs > this.#lockStaleMs) return true
    const owner = lock.owner
    return owner !== null && owner.hostname === hostname() && !isProcessAlive(owner.pid)
  }

  /** Map anything that is not already a Strata error to a `StoreError` naming operation and key. */
  #wrap(operation: string, key: string, e: unknown): unknown {
    if (isStrataError(e)) return e
    const code = (e as { code?: unknown } | null)?.code
    const retryable = typeof code === 'string' && RETRYABLE.has(code)
    return new StoreError({ operation, key, store: this.url, retryable }, { cause: e })
  }
}

/** Turn a path, `file:` URL string or `file:` URL into an absolute path. */
function toPath(location: string | URL): string {
  if (location instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    const url = location instanceof URL ? location : new URL(location)
    if (url.protocol !== 'file:') {
      throw new InvalidArgumentError({ argument: 'location', reason: `LocalStore opens file: URLs or paths, not ${url.protocol}` })
    }
    return fileURLToPath(url)
  }
  if (location === '') throw new InvalidArgumentError({ argument: 'location', reason: 'empty path' })
  return path.resolve(location)
}

/** The version token of a file: inode, modification time (ns) and size. */
function versionOf(st: BigIntStats): string {
  return `${st.ino.toString(36)}.${st.mtimeNs.toString(36)}.${st.size.toString(36)}`
}

function infoOf(key: string, st: BigIntStats): ObjectInfo {
  return { key, size: Number(st.size), version: versionOf(st), lastModified: new Date(Number(st.mtimeMs)) }
}

/**
 * A modification time for a fresh write: now, minus a random part of a second. The random part
 * keeps version tokens unique when an inode number is recycled within the same clock tick.
 */
function freshModificationTime(): number {
  return Date.now() / 1000 - Math.random()
}

function checkReserved(key: string, isPrefix: boolean): void {
  const slash = key.indexOf('/')
  const first = slash < 0 ? key : key.slice(0, slash)
  // A prefix such as `.t` may still match ordinary keys; the walk skips the reserved directories.
  if (RESERVED.has(first) && (!isPrefix || slash >= 0)) {
    throw new InvalidKeyError({ key, reason: `'${first}' is reserved by the local-directory store` })
  }
}

function checkRange(range: { offset: number; length: number }): void {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0 || !Number.isSafeInteger(range.length) || range.length < 0) {
    throw new InvalidArgumentError({
      argument: 'range',
      reason: `offset and length must be non-negative integers, got ${JSON.stringify(range)}`,
    })
  }
}

function throwIfAborted(signal: AbortSignal | undefined, operation: string, key: string): void {
  if (signal?.aborted) throw new AbortedError({ operation: `${operation} ${key}` })
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && codes.includes(code)
}

function linkError(file: string): Error {
  return new Error(`${file} is or goes through a symbolic link; the local-directory store never follows links`)
}

function extendsAnObject(key: string): InvalidKeyError {
  return new InvalidKeyError({
    key,
    reason: 'a leading part of it is an object, and a directory store cannot hold a file and a directory of one name',
  })
}

function prefixOfOtherKeys(key: string): InvalidKeyError {
  return new InvalidKeyError({
    key,
    reason: `other keys start with "${key}/", and a directory store cannot hold a file and a directory of one name`,
  })
}

// The version of the file at `file` if it holds exactly `body`, else null. Files are replaced
// whole by rename, so the handle reads one version throughout.
async function versionIfSameBytes(file: string, body: Uint8Array): Promise<string | null> {
  let handle
  try {
    handle = await fs.open(file, 'r')
  } catch (e) {
    if (hasCode(e, 'ENOENT')) return null
    throw e
  }
  try {
    const st = await handle.stat({ bigint: true })
    if (st.size !== BigInt(body.byteLength)) return null
    const held = await handle.readFile()
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(held) ? versionOf(st) : null
  } finally {
    await handle.close()
  }
}

async function lstatOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await fs.lstat(file, { bigint: true })
  } catch (e) {
    if (hasCode(e, 'ENOENT', 'ENOTDIR')) return null
    throw e
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Read a lock file through one descriptor, or null if it is gone. */
async function readLock(file: string): Promise<LockSnapshot | null> {
  let handle: FileHandle
  try {
    handle = await fs.open(file, READ_FLAGS)
  } catch (e) {
    if (hasCode(e, 'ENOENT')) return null
    throw e
  }
  try {
    const st = await handle.stat({ bigint: true })
    const raw = (await handle.readFile()).toString('utf8')
    let owner: LockOwner | null = null
    try {
      const parsed = JSON.parse(raw) as Partial<LockOwner>
      if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string' && typeof parsed.nonce === 'string') {
        owner = { pid: parsed.pid, hostname: parsed.hostname, createdAt: Number(parsed.createdAt), nonce: parsed.nonce }
      }
    } catch {
      // An unreadable lock can only be judged by its age.
    }
    return { ino: st.ino, raw, ctimeMs: Number(st.ctimeMs), owner }
  } finally {
    await handle.close()
  }
}

/**
 * Break a lock judged stale: move it aside under a unique name, then check that what was moved
 * is the lock that was judged. If another writer had meanwhile broken it and taken a fresh
 * lock, put that one back.
 */
async function breakLock(lockPath: string, judged: LockSnapshot): Promise<void> {
  const aside = `${lockPath}.broken-${randomBytes(8).toString('hex')}`
  try {
    await fs.rename(lockPath, aside)
  } catch (e) {
    if (hasCode(e, 'ENOENT')) return
    throw e
  }
  const moved = await readLock(aside)
  if (moved !== null && (moved.ino !== judged.ino || moved.raw !== judged.raw)) {
    await fs.link(aside, lockPath).catch(() => {})
  }
  await fs.unlink(aside).catch(() => {})
}

/**
 * Remove our lock. After holding it long enough that someone may have broken it, check first
 * that the lock file is still ours, so a successor's lock is never removed.
 */
async function releaseLock(lockPath: string, nonce: string, verify: boolean): Promise<void> {
  if (verify) {
    const current = await readLock(lockPath).catch(() => null)
    if (current?.owner?.nonce !== nonce) return
  }
  await fs.unlink(lockPath).catch(() => {})
}

/** Whether a process with this pid runs on this host (a zombie counts as dead). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return hasCode(e, 'EPERM')
  }
  if (process.platform === 'linux') {
    try {
      // A killed child that its parent has not reaped yet still answers signal 0.
      const stat = readProcStat(pid)
      if (stat !== null && / Z /.test(stat.slice(stat.lastIndexOf(')')))) return false
    } catch {
      // No /proc: trust kill(0).
    }
  }
  return true
}

function readProcStat(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
}

/**
 * The fetcher thread of lazy branches. It listens on a Unix socket for the VFS's page
 * requests, fetches the pages (whole stored runs, ranged reads, hashes verified) through its own
 * instances of the stores, writes them into the sparse file with `strata_vfs_fill` and answers.
 * It runs its own event loop, so it keeps serving while the main thread is blocked inside
 * SQLite waiting for it.
 */
import { createServer, type Socket } from 'node:net'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import Database from 'better-sqlite3'
import type { ObjectStore, PageNo, ResolvedTable } from '@strata/core'
import { LOCK_PAGE_LEVEL, fetchPageRuns, type FetchedRun } from '@strata/core/page-reader'
import {
  ANSWER_BYTES,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  toWire,
  type FetcherInit,
  type FromFetcher,
  type OpenFile,
  type StoreRecipe,
  type ToFetcher,
} from './protocol.js'
import { interiorChildren } from './btree-page.js'

const init = workerData as FetcherInit
const errors: MessagePort = init.errors
const db = new Database(':memory:')
// better-sqlite3 takes the entry point as a second argument (its typings omit it).
;(db.loadExtension as (path: string, entryPoint: string) => unknown)(init.extensionPath, init.entryPoint)
const fill = db.prepare('SELECT strata_vfs_fill(?, ?, ?, ?, ?)').pluck()
const missing = db.prepare('SELECT strata_vfs_missing(?, ?, ?)').pluck()

interface ServedFile {
  spec: OpenFile
  table: ResolvedTable
  /** Aborts every fetch of the file when it closes. */
  closing: AbortController
  /** Where the last demand fetch ended, and the window it used (read-ahead doubles on sequential misses). */
  nextExpected: number
  /** Where the read-ahead windows end (a scan's next miss comes just past them). */
  aheadUntil: number
  /** A scan is under way: finished read-ahead windows start the next ones (see `pump`). */
  streaming: boolean
  /** Read-ahead windows in flight. */
  aheadInflight: number
  /** The first page of the latest miss. */
  lastMiss: number
  window: number
  /** Fetches under way (demand and read-ahead), by the page range they cover. */
  inflight: Set<{ from: number; to: number; done: Promise<void> }>
  /** Index p: page p is being fetched (so no other fetch asks for it). */
  pending: Uint8Array
}

/** Windows a sequential reader keeps fetched ahead of itself: one per parallel read but its own. */
const aheadWindows = (spec: OpenFile): number => Math.max(1, spec.concurrency - 1)

const files = new Map<number, ServedFile>()
const stores = new Map<string, Promise<ObjectStore>>()

function send(m: FromFetcher): void {
  parentPort!.postMessage(m)
}

function openStore(r: StoreRecipe): Promise<ObjectStore> {
  const key = r.key ?? JSON.stringify(r)
  let p = stores.get(key)
  if (!p) {
    p = (async () => {
      const mod = (await import(r.module)) as Record<string, (...a: unknown[]) => ObjectStore | Promise<ObjectStore>>
      const f = mod[r.export]
      if (typeof f !== 'function') throw new Error(`${r.module} exports no function ${r.export}`)
      return f(...r.args)
    })()
    stores.set(key, p)
    p.catch(() => stores.delete(key))
  }
  return p
}

/** Resolved tables received, by snapshot (immutable); the last few are kept. */
const tables = new Map<string, NonNullable<OpenFile['table']>>()
const MAX_TABLES = 4

class NeedTable extends Error {}

async function openFile(spec: OpenFile): Promise<void> {
  let wire = spec.table ?? tables.get(spec.snapshot)
  if (!wire) throw new NeedTable(`no table of snapshot ${spec.snapshot}`)
  tables.delete(spec.snapshot)
  tables.set(spec.snapshot, wire)
  while (tables.size > MAX_TABLES) tables.delete(tables.keys().next().value!)
  const handles = await Promise.all(spec.stores.map(openStore))
  const table = {
    snapshot: spec.snapshot,
    pageSize: spec.pageSize,
    pageCount: spec.pageCount,
    levels: wire.levels.map((l) => ({
      id: l.id,
      store: { store: handles[l.store]!, id: String(l.store) },
      manifest: { pages: l.pages, segments: l.segments.map((id) => ({ id })) },
    })),
    level: wire.level,
    entry: wire.entry,
  } as unknown as ResolvedTable
  const file: ServedFile = { spec, table, closing: new AbortController(), nextExpected: 0, aheadUntil: 0, streaming: false, aheadInflight: 0, lastMiss: 0, window: spec.minWindow, inflight: new Set(), pending: new Uint8Array(spec.pageCount + 1) }
  files.set(spec.id, file)
  // Page 1 (and what follows it: the schema, the first roots) before SQLite asks. Pages fetched
  // on the ref's hint are here already (verified); the open window fetches only the others.
  let stored: { write: number; read: number } | null = null
  const onPage1 = (page1: Uint8Array): void => {
    stored = { write: page1[18]!, read: page1[19]! }
  }
  const pre = spec.preloaded
  if (pre) deliver(file, pre.pages, pre.body, pre.storeBytes, pre.requests, onPage1, true)
  const have = new Set(pre?.pages)
  const open = range(1, Math.min(spec.openPages, spec.pageCount)).filter((p) => !have.has(p))
  if (open.length > 0) await fetchInto(file, open, onPage1, true)
  if (!stored) throw new Error('page 1 was not fetched')
  send({ type: 'opened', id: spec.id, storedFormat: stored })
  if (spec.background) void hydrate(file)
}

function range(first: number, count: number): number[] {
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push(first + i)
  return out
}

/** The pages of `candidates` the file still lacks. */
function stillMissing(id: number, first: number, count: number): number[] {
  const blob = missing.get(id, first, count) as Buffer | null
  if (!blob) return []
  const out: number[] = []
  for (let i = 0; i + 4 <= blob.byteLength; i += 4) out.push(blob.readUInt32LE(i))
  return out
}

/**
 * Fetch `pages` of `file` (verified) and write them into its sparse file. The lock-byte page is
 * never stored: it is written as zeros. `onPage1` sees stored page 1 before its header bytes
 * become local ones.
 */
async function fetchInto(file: ServedFile, pages: number[], onPage1?: (page: Uint8Array) => void, children = false): Promise<void> {
  const { spec, table } = file
  const size = spec.pageSize
  const lockPages = pages.filter((p) => table.level[p - 1] === LOCK_PAGE_LEVEL)
  if (lockPages.length > 0) writePages(spec.id, lockPages, new Uint8Array(lockPages.length * size), 0, 0)
  const timeout = AbortSignal.timeout(spec.timeoutMs)
  const signals = [file.closing.signal, timeout]
  await fetchPageRuns(
    table,
    (run: FetchedRun) => deliver(file, run.pages, run.body, run.body.byteLength, 1, onPage1, children),
    { concurrency: spec.concurrency, maxRunBytes: spec.maxWindow * size, signal: AbortSignal.any(signals) },
    pages.filter((p) => table.level[p - 1] !== LOCK_PAGE_LEVEL) as PageNo[],
  )
}

/**
 * Write verified pages into `file` (page `pages[i]` at `body[i × pageSize …]`), counting
 * `storeBytes` and `requests` as what they cost. Page 1 is shown to `onPage1` as stored, then
 * gets the local header bytes 18/19; `children`: prefetch those of interior pages among them.
 */
function deliver(file: ServedFile, pages: readonly number[], body: Uint8Array, storeBytes: number, requests: number, onPage1: ((page: Uint8Array) => void) | undefined, children: boolean): void {
  const { spec } = file
  const size = spec.pageSize
  const i1 = pages.indexOf(1)
  if (i1 >= 0) {
    onPage1?.(body.subarray(i1 * size, (i1 + 1) * size))
    if (spec.localFormat) {
      // A copy: the store may share its buffer.
      body = body.slice()
      body[i1 * size + 18] = spec.localFormat.write
      body[i1 * size + 19] = spec.localFormat.read
    }
  }
  if (file.closing.signal.aborted) return
  writePages(spec.id, pages, body, storeBytes, requests)
  if (children && spec.prefetchChildren > 0) prefetchChildren(file, pages, body)
}

function writePages(id: number, pages: readonly number[], body: Uint8Array, storeBytes: number, requests: number): void {
  const list = Buffer.alloc(pages.length * 4)
  pages.forEach((p, i) => list.writeUInt32LE(p, i * 4))
  fill.get(id, list, Buffer.from(body.buffer, body.byteOffset, body.byteLength), storeBytes, requests)
}

/** Run `fetch` of pages `from`…`to` of `file`, known to later requests while it runs. */
function track(file: ServedFile, pages: number[], fetch: () => Promise<void>): Promise<void> {
  for (const p of pages) file.pending[p] = 1
  const done = fetch()
  const entry = { from: pages[0]!, to: pages[pages.length - 1]!, done }
  file.inflight.add(entry)
  return done.finally(() => {
    file.inflight.delete(entry)
    for (const p of pages) file.pending[p] = 0
  })
}

/** Fetch the pages of `pages` file `id` lacks, in one batch, after any fetch under way. */
async function prefetch(id: number, pages: readonly number[]): Promise<void> {
  const file = files.get(id)
  if (!file) throw new Error(`file ${id} is not served (closed?)`)
  const wanted = [...new Set(pages)].filter((p) => p >= 1 && p <= file.spec.pageCount).sort((a, b) => a - b)
  if (wanted.length === 0) return
  for (const f of [...file.inflight]) await f.done.catch(() => {})
  const missing = new Set(stillMissing(id, wanted[0]!, wanted[wanted.length - 1]! - wanted[0]! + 1))
  const fetch = wanted.filter((p) => missing.has(p))
  if (fetch.length > 0) await track(file, fetch, () => fetchInto(file, fetch))
}

/** The pages of the range that are neither in the file nor being fetched. */
function toFetch(file: ServedFile, first: number, count: number): number[] {
  return stillMissing(file.spec.id, first, count).filter((p) => file.pending[p] === 0)
}

/**
 * Serve one request: the wanted pages and a read-ahead window after them. A miss just past the
 * previous window (a scan) doubles the window and starts a stream of windows ahead of the reader
 * (see {@link pump}); any other miss starts small again and stops the stream.
 */
async function serve(id: number, first: number, count: number): Promise<void> {
  const file = files.get(id)
  if (!file) throw new Error(`file ${id} is not served (closed?)`)
  const { spec } = file
  // Sequential: the miss falls in the window after the previous one (or in the read-ahead).
  const end = Math.max(file.nextExpected, file.aheadUntil)
  const sequential = file.nextExpected > 0 && first >= file.nextExpected - file.window && first < end + file.window
  file.window = sequential ? Math.min(file.window * 2, spec.maxWindow) : spec.minWindow
  const span = Math.max(count, file.window)
  file.lastMiss = first
  file.streaming = sequential
  if (sequential) {
    // Before waiting: the stream's next windows are on their way while this one arrives.
    file.aheadUntil = Math.max(file.aheadUntil, first + span)
    pump(file)
  } else file.aheadUntil = 0
  // Pages a fetch under way already asks for: wait for it rather than fetch them twice. If it
  // failed, they are still missing and are fetched (and their error reported) below.
  for (const f of [...file.inflight]) if (f.from < first + count && f.to >= first) await f.done.catch(() => {})
  // A fetch under way (a prefetched child) brought the pages asked for: the reader goes on, and
  // the window around a point-like miss is not worth a request of its own.
  if (!sequential && toFetch(file, first, count).length === 0 && stillMissing(id, first, count).length === 0) {
    file.nextExpected = first + count
    return
  }
  const pages = toFetch(file, first, span)
  // Children of interior pages only for a point-like miss: a scan reads leaves in order anyway.
  const fetch = pages.length > 0 ? track(file, pages, () => fetchInto(file, pages, undefined, !sequential)) : null
  // The reader waits only if a page it asked for is in this fetch (else the rest of the window
  // comes in the background).
  if (fetch && pages[0]! < first + count) await fetch
  else fetch?.catch(() => {})
  file.nextExpected = first + span
}

/**
 * How far a scan's read-ahead runs past its latest miss, in windows. The window doubles with
 * each sequential miss, so a short run of misses streams a little and a long scan a lot.
 */
const STREAM_WINDOWS = 16

/**
 * Keep a scan's read-ahead going: up to one window per parallel read but the reader's own in
 * flight at all times, each finished window starting the next, until the stream runs
 * {@link STREAM_WINDOWS} windows past the reader's latest miss (so a scan that stops early
 * over-fetches a bounded amount), the file ends, or a miss elsewhere stops it. Waiting for the
 * next miss to start more would drain the pipeline between misses: a scan reads present pages
 * far faster than a store delivers them. Errors stop the stream and are left to demand reads.
 */
function pump(file: ServedFile): void {
  const { spec } = file
  while (
    file.streaming &&
    !file.closing.signal.aborted &&
    file.aheadInflight < aheadWindows(spec) &&
    file.aheadUntil <= spec.pageCount &&
    file.aheadUntil - file.lastMiss < STREAM_WINDOWS * file.window
  ) {
    const from = file.aheadUntil
    const n = Math.min(file.window, spec.pageCount - from + 1)
    file.aheadUntil = from + n
    const pages = toFetch(file, from, n)
    if (pages.length === 0) continue
    file.aheadInflight++
    track(file, pages, () => fetchInto(file, pages)).then(
      () => {
        file.aheadInflight--
        pump(file)
      },
      () => {
        file.aheadInflight--
        file.streaming = false
      },
    )
  }
}

/**
 * A point query walks a B-tree from its root: once an interior page arrives, its children are
 * the next pages it can want. Fetch them now, in parallel, when a page has at most
 * `prefetchChildren` of them (a page just above the leaves has hundreds: those are left to demand),
 * so the next level is on its way before SQLite asks for it. Each run of adjacent children is
 * its own fetch, so a demand read waits only for the one that holds its page. Errors are left to
 * demand reads; children fetched this way do not prefetch theirs.
 */
function prefetchChildren(file: ServedFile, pages: readonly number[], body: Uint8Array): void {
  const { spec } = file
  const wanted: number[] = []
  for (let i = 0; i < pages.length; i++) {
    const kids = interiorChildren(body.subarray(i * spec.pageSize, (i + 1) * spec.pageSize), pages[i]!, spec.pageCount)
    if (kids && kids.length <= spec.prefetchChildren) wanted.push(...kids)
  }
  if (wanted.length === 0) return
  const missingNow = new Set(stillMissingOf(spec.id, wanted))
  const todo = [...new Set(wanted)].filter((c) => missingNow.has(c) && file.pending[c] === 0).sort((a, b) => a - b)
  for (let i = 0; i < todo.length; ) {
    let j = i + 1
    while (j < todo.length && todo[j] === todo[j - 1]! + 1) j++
    const group = todo.slice(i, j)
    track(file, group, () => fetchInto(file, group)).catch(() => {})
    i = j
  }
}

/** Which of `pages` (any order) the file still lacks. */
function stillMissingOf(id: number, pages: readonly number[]): number[] {
  const lo = Math.min(...pages)
  const hi = Math.max(...pages)
  if (hi - lo < 4096) return stillMissing(id, lo, hi - lo + 1)
  return pages.flatMap((p) => stillMissing(id, p, 1))
}

async function hydrate(file: ServedFile): Promise<void> {
  const { spec } = file
  try {
    for (let first = 1; first <= spec.pageCount && !file.closing.signal.aborted; first += spec.maxWindow) {
      const pages = toFetch(file, first, spec.maxWindow)
      if (pages.length > 0) await track(file, pages, () => fetchInto(file, pages))
      await new Promise((r) => setImmediate(r))
    }
    send({ type: 'hydrated', id: spec.id })
  } catch (e) {
    if (!file.closing.signal.aborted) send({ type: 'hydrated', id: spec.id, error: toWire(e) })
  }
}

function onConnection(sock: Socket): void {
  let pending = Buffer.alloc(0)
  let chain = Promise.resolve()
  sock.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.byteLength >= REQUEST_BYTES) {
      const req = pending.subarray(0, REQUEST_BYTES)
      pending = pending.subarray(REQUEST_BYTES)
      const magic = req.readUInt32LE(0)
      const seq = req.readUInt32LE(4)
      const id = req.readUInt32LE(8)
      const first = req.readUInt32LE(12)
      const count = req.readUInt32LE(16)
      if (magic !== REQUEST_MAGIC) {
        sock.destroy()
        return
      }
      // One connection belongs to one blocked reader: its requests come one at a time.
      chain = chain.then(async () => {
        let status = 0
        try {
          await serve(id, first, count)
        } catch (e) {
          status = 1
          errors.postMessage({ type: 'fetch-failed', id, first, count, error: toWire(e) })
        }
        const answer = Buffer.alloc(ANSWER_BYTES)
        answer.writeUInt32LE(seq, 0)
        answer.writeUInt32LE(status, 4)
        if (!sock.destroyed) sock.write(answer)
      })
    }
  })
  sock.on('error', () => {})
}

const server = createServer(onConnection)
server.listen(init.socketPath, () => {
  parentPort!.on('message', (m: ToFetcher) => {
    if (m.type === 'open') {
      openFile(m).catch((e: unknown) => {
        files.get(m.id)?.closing.abort()
        files.delete(m.id)
        send({ type: 'open-failed', id: m.id, error: toWire(e), ...(e instanceof NeedTable ? { needTable: true } : {}) })
      })
    } else if (m.type === 'prefetch') {
      prefetch(m.id, m.pages).then(
        () => send({ type: 'prefetched', id: m.id }),
        (e: unknown) => send({ type: 'prefetched', id: m.id, error: toWire(e) }),
      )
    } else if (m.type === 'close') {
      files.get(m.id)?.closing.abort()
      files.delete(m.id)
      send({ type: 'closed', id: m.id })
    }
  })
  parentPort!.postMessage({ type: 'ready' })
})

import type { MessagePort } from 'node:worker_threads'

/**
 * Messages between a lazy branch's main thread and the fetcher thread (internal). The page
 * requests themselves do not travel here: the VFS sends them over a Unix socket (see
 * `packages/vfs/README.md`); these messages set files up, tear them down and report errors.
 */

/** How another thread opens its own instance of a store: `(await import(module))[export](...args)`. */
export interface StoreRecipe {
  /** A module specifier or URL the thread can import. */
  module: string
  /** The name of the exported function that returns the store (or a promise of it). */
  export: string
  /** Structured-clonable arguments. */
  args: unknown[]
  /**
   * Two recipes with the same key open the same store instance in the thread. Default: the
   * recipe's JSON (so give one when the arguments hold something JSON does not show, such as
   * a `SharedArrayBuffer`).
   */
  key?: string
}

/** One level of a resolved chain, as the fetcher needs it. */
export interface WireLevel {
  id: string
  /** Index into {@link OpenFile.stores}. */
  store: number
  /** Segment ids, by the manifest's segment index. */
  segments: string[]
  pages: { pageNos: Uint32Array; segments: Uint32Array; slots: Uint32Array; hashes: Uint8Array }
}

/** Main → fetcher: serve pages of file `id`. Answered with {@link Opened}. */
export interface OpenFile {
  type: 'open'
  id: number
  snapshot: string
  pageSize: number
  pageCount: number
  /**
   * The resolved table, or null when the thread has it already (it keeps the last few, by
   * snapshot: they are immutable). If it has not, it answers `open-failed` with `needTable`.
   */
  table: { levels: WireLevel[]; level: Uint16Array; entry: Uint32Array } | null
  stores: StoreRecipe[]
  /** Header bytes 18/19 the local page 1 gets (WAL), or null to keep the stored ones. */
  localFormat: { write: number; read: number } | null
  /** Pages fetched at open from page 1 on (the schema and the first roots). */
  openPages: number
  /**
   * Pages of the file already fetched and verified (the first pages a ref's hint named, read
   * alongside the manifest): written in at open as if fetched there, so the open window only
   * fetches the rest. `storeBytes` and `requests` are what reading them cost, for the statistics.
   */
  preloaded: { pages: number[]; body: Uint8Array; storeBytes: number; requests: number } | null
  /**
   * Prefetch the children of an interior B-tree page fetched at open or on a point-like miss,
   * when it has at most this many (0: never).
   */
  prefetchChildren: number
  /** First and largest read-ahead window, in pages. */
  minWindow: number
  maxWindow: number
  concurrency: number
  /** A fetch still running after this long fails (the VFS waits a little longer). */
  timeoutMs: number
  /** Fetch every remaining page in the background. */
  background: boolean
}

/** Main → fetcher: stop serving file `id` (in-flight fetches are aborted). Answered with {@link Closed}. */
export interface CloseFile {
  type: 'close'
  id: number
}

/**
 * Main → fetcher: fetch `pages` of file `id` that are not in it yet, in one batch (ranged reads
 * of adjacent slots, in parallel). Answered with {@link Prefetched}.
 */
export interface PrefetchPages {
  type: 'prefetch'
  id: number
  pages: number[]
}

/** Fetcher → main: the pages of a {@link PrefetchPages} are in the file (or `error` says why not). */
export interface Prefetched {
  type: 'prefetched'
  id: number
  error?: WireError
}

/** Fetcher → main: file `id` is served; `page1` is its stored page 1 header bytes 18/19. */
export interface Opened {
  type: 'opened'
  id: number
  storedFormat: { write: number; read: number }
}

/** Fetcher → main. */
export interface Closed {
  type: 'closed'
  id: number
}

/** An error as it crosses threads. */
export interface WireError {
  name: string
  code?: string
  message: string
  data?: Record<string, unknown>
  stack?: string
}

/** Fetcher → main: an open failed. */
export interface OpenFailed {
  type: 'open-failed'
  id: number
  error: WireError
  /** The thread does not hold the table: send it. */
  needTable?: boolean
}

/** Fetcher → main (on the error port): the fetch of pages `first`… of file `id` failed. */
export interface FetchFailed {
  type: 'fetch-failed'
  id: number
  first: number
  count: number
  error: WireError
}

/** Fetcher → main: background hydration of file `id` finished (or stopped on `error`). */
export interface Hydrated {
  type: 'hydrated'
  id: number
  error?: WireError
}

export type ToFetcher = OpenFile | CloseFile | PrefetchPages
export type FromFetcher = Opened | Closed | OpenFailed | Hydrated | Prefetched

/** The worker's start data. */
export interface FetcherInit {
  socketPath: string
  extensionPath: string
  entryPoint: string
  errors: MessagePort
}

/** Request frame: magic, seq, file id, first page, count (little-endian u32s). */
export const REQUEST_BYTES = 20
export const REQUEST_MAGIC = 0x31515653
/** Answer frame: seq, status. */
export const ANSWER_BYTES = 8

/** An error, flattened for postMessage. */
export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const out: WireError = { name: e.name, message: e.message }
    const x = e as Error & { code?: unknown; data?: unknown }
    if (typeof x.code === 'string') out.code = x.code
    if (x.data && typeof x.data === 'object') out.data = JSON.parse(JSON.stringify(x.data)) as Record<string, unknown>
    if (e.stack) out.stack = e.stack
    return out
  }
  return { name: 'Error', message: String(e) }
}

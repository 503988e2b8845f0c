import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { hash } from 'node:crypto'
import { RUN_CHECKSUM_BYTES, computeRunChecksums, runChecksumsWith, type RunChecksums } from '../../format/run-checksums.js'

/**
 * Read verification off the main thread. Hashing what an export reads is its main CPU cost: one
 * SHA-256 call per 4 KiB page runs at about half the speed of one call over a large buffer, so a
 * read is checked run by run where the segment records run checksums, and page by page where it
 * does not (or where a run fails, to name the page). A few worker threads hash big reads in
 * parallel while the main thread keeps the transfers going. Small reads are hashed in place: a
 * round trip to a worker costs more than hashing a few pages.
 *
 * The bytes reach a worker through shared memory: each job copies its read into a free slot (a
 * `SharedArrayBuffer`, reused), so nothing is allocated per read and no worker ever holds
 * garbage buffers — memory stays at one slot per read in flight. The caller's buffer is never
 * handed over: a store may share it with other readers. Bytes that are already in shared memory
 * (a buffer a bulk reader lent the store, see `FetchOptions.lendBuffers`) skip the copy: the
 * worker reads them where they are.
 */

/** Reads of at least this many bytes are hashed by the pool. */
export const POOL_MIN_BYTES = 64 * 1024

/** Free slots are released after the pool has been idle this long. */
const IDLE_RELEASE_MS = 1000

/** One read to verify: which pages of the body are wanted, their recorded hashes, and the whole runs it covers. */
export interface ReadHashJob {
  pageSize: number
  /** The page number of each wanted page. */
  pages: readonly number[]
  /** The byte offset of each wanted page in the body, ascending; null when page i lies at i × pageSize. */
  offsets: readonly number[] | null
  /** The recorded hash of each wanted page, 16 bytes each. */
  expected: Uint8Array
  /** Runs wholly inside the body, as `[start, length]` byte pairs, ascending. */
  runs: readonly number[]
  /** The recorded checksum of each run in `runs`, 16 bytes each. */
  runHashes: Uint8Array
}

/** What hashing a read yields. */
export interface PageHashesOfRun {
  /** The 16-byte hash of every wanted page, concatenated. */
  hashes: Uint8Array
  /** Wanted pages verified by their run's checksum rather than one by one. */
  pagesByRun: number
}

/**
 * Verify one read: each run whose bytes hash to its recorded checksum (one call per run) vouches
 * for the wanted pages inside it, whose hashes are then the recorded ones; every other wanted page
 * — outside a whole run, or in a run that does not match — is hashed on its own, so a damaged
 * page shows up as a page whose hash differs, and the caller names it.
 *
 * Self-contained (no closure, no import: `sha` is node's one-shot `crypto.hash`), because the
 * hashing threads run its source text.
 */
function hashReadWith(sha: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Uint8Array, body: Uint8Array, job: ReadHashJob): PageHashesOfRun {
  const H = 16
  const size = job.pageSize
  const n = job.pages.length
  const hashes = new Uint8Array(n * H)
  const byRun = new Uint8Array(n)
  let pagesByRun = 0
  let i = 0
  for (let r = 0; 2 * r < job.runs.length; r++) {
    const start = job.runs[2 * r]!
    const end = start + job.runs[2 * r + 1]!
    const digest = sha('sha256', body.subarray(start, end), 'buffer')
    let ok = true
    for (let j = 0; j < H; j++) if (digest[j] !== job.runHashes[r * H + j]) ok = false
    while (i < n && (job.offsets ? job.offsets[i]! : i * size) < start) i++
    for (; i < n && (job.offsets ? job.offsets[i]! : i * size) + size <= end; i++) {
      if (ok) {
        byRun[i] = 1
        pagesByRun++
      }
    }
  }
  for (let k = 0; k < n; k++) {
    if (byRun[k] === 1) {
      hashes.set(job.expected.subarray(k * H, (k + 1) * H), k * H)
    } else {
      const off = job.offsets ? job.offsets[k]! : k * size
      hashes.set(sha('sha256', body.subarray(off, off + size), 'buffer').subarray(0, H), k * H)
    }
  }
  return { hashes, pagesByRun }
}

// CommonJS, evaluated: no file to locate, so it works from sources and from dist alike.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { hash } = require('node:crypto')
const hashReadWith = ${hashReadWith.toString()}
const runChecksumsWith = ${runChecksumsWith.toString()}
parentPort.on('message', ({ id, slot, offset, length, job, runBytes }) => {
  const view = new Uint8Array(slot, offset, length)
  const r = job ? hashReadWith(hash, view, job) : { hashes: runChecksumsWith(hash, view, runBytes), pagesByRun: 0 }
  parentPort.postMessage({ id, ...r }, [r.hashes.buffer])
})
`

interface Job {
  /** The pooled slot the bytes were copied into; null for a caller's shared buffer, never recycled. */
  slot: SharedArrayBuffer | null
  resolve(r: PageHashesOfRun): void
  reject(e: unknown): void
}

interface PoolWorker {
  worker: Worker
  jobs: Map<number, Job>
}

/**
 * A small pool of hashing threads, started on first use and never keeping the process alive
 * (the threads are unref'd while idle). A thread that dies fails its jobs and is replaced on the
 * next use.
 */
class HashPool {
  readonly #size: number
  readonly #workers: PoolWorker[] = []
  readonly #freeSlots: SharedArrayBuffer[] = []
  #nextId = 1
  #jobs = 0
  #idleTimer: NodeJS.Timeout | null = null

  constructor(size: number) {
    this.#size = size
  }

  /** Verify one read (see `hashReadWith`), or with `runBytes` compute a segment's run checksums, on a worker. */
  hash(body: Uint8Array, work: { job: ReadHashJob } | { runBytes: number }): Promise<PageHashesOfRun> {
    const w = this.#pick()
    const id = this.#nextId++
    // Bytes already in shared memory (a buffer the caller lent the store) are hashed where they
    // are; other bytes are copied into a pooled slot.
    const lent = body.buffer instanceof SharedArrayBuffer ? body.buffer : null
    const slot = lent ?? this.#slot(body.byteLength)
    const offset = lent ? body.byteOffset : 0
    if (!lent) new Uint8Array(slot, 0, body.byteLength).set(body)
    return new Promise((resolve, reject) => {
      w.jobs.set(id, { slot: lent ? null : slot, resolve, reject })
      this.#started(w)
      w.worker.postMessage({ id, slot, offset, length: body.byteLength, ...work })
    })
  }

  /** Start a hashing thread now if none is running, so that its start-up overlaps the caller's. */
  warm(): void {
    if (this.#workers.length === 0) this.#spawn()
  }

  #slot(bytes: number): SharedArrayBuffer {
    const i = this.#freeSlots.findIndex((s) => s.byteLength >= bytes)
    if (i >= 0) return this.#freeSlots.splice(i, 1)[0]!
    return new SharedArrayBuffer(Math.max(bytes, 1024 * 1024))
  }

  #started(w: PoolWorker): void {
    if (w.jobs.size === 1) w.worker.ref()
    this.#jobs++
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
  }

  #finished(w: PoolWorker, id: number): Job | undefined {
    const job = w.jobs.get(id)
    if (!job) return undefined
    w.jobs.delete(id)
    if (w.jobs.size === 0) w.worker.unref()
    if (job.slot) this.#freeSlots.push(job.slot)
    if (--this.#jobs === 0) {
      this.#idleTimer = setTimeout(() => (this.#freeSlots.length = 0), IDLE_RELEASE_MS)
      this.#idleTimer.unref()
    }
    return job
  }

  #pick(): PoolWorker {
    if (this.#workers.length < this.#size && this.#workers.every((w) => w.jobs.size > 0)) return this.#spawn()
    let best = this.#workers[0]!
    for (const w of this.#workers) if (w.jobs.size < best.jobs.size) best = w
    return best
  }

  #spawn(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    const w: PoolWorker = { worker, jobs: new Map() }
    worker.unref()
    worker.on('message', (m: PageHashesOfRun & { id: number }) => {
      this.#finished(w, m.id)?.resolve({ hashes: m.hashes, pagesByRun: m.pagesByRun })
    })
    const fail = (e: unknown): void => {
      const i = this.#workers.indexOf(w)
      if (i >= 0) this.#workers.splice(i, 1)
      for (const id of [...w.jobs.keys()]) this.#finished(w, id)?.reject(e)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`page hashing thread exited with code ${code}`)))
    this.#workers.push(w)
    return w
  }
}

let pool: HashPool | null = null

/**
 * Verify one read (see `hashReadWith`): the whole runs it covers with one hash call each, every
 * other wanted page on its own; on a worker thread for reads of at least {@link POOL_MIN_BYTES},
 * else in place. Returns the wanted pages' hashes for the caller to compare with the recorded ones.
 */
export async function hashRead(body: Uint8Array, job: ReadHashJob): Promise<PageHashesOfRun> {
  if (body.byteLength >= POOL_MIN_BYTES) {
    return thePool().hash(body, { job })
  }
  return hashReadWith(hash, body, job)
}

/**
 * The run checksums of a whole segment (as `computeRunChecksums`), on a worker thread for
 * segments of at least {@link POOL_MIN_BYTES}, so that a writer's main thread keeps packing pages.
 */
export async function runChecksumsOf(segment: Uint8Array, runBytes = RUN_CHECKSUM_BYTES): Promise<RunChecksums> {
  if (segment.byteLength < POOL_MIN_BYTES) return computeRunChecksums(segment, runBytes)
  return { runBytes, hashes: (await thePool().hash(segment, { runBytes })).hashes }
}

/**
 * Start a hashing thread ahead of a bulk read of `bytes` bytes (a thread takes tens of
 * milliseconds to start: started now, it does so while the caller plans its reads and waits for
 * the first of them). Nothing for a read too small to be hashed off the main thread. The thread
 * never keeps the process alive.
 */
export function prepareHashing(bytes: number): void {
  if (bytes >= POOL_MIN_BYTES) thePool().warm()
}

function thePool(): HashPool {
  // One core stays with the main thread, which copies, reads and writes meanwhile.
  return (pool ??= new HashPool(Math.max(1, Math.min(4, availableParallelism() - 1))))
}

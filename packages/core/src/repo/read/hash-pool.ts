import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { DatabaseChecksum, PAGE_HASH_BYTES, hashPage } from '../../format/hash.js'
import type { PageNo } from '../../format/page.js'

/**
 * Page hashing off the main thread. Verifying every page of a large read with SHA-256 is the
 * main cost of an export (about 1.9 GB/s on one core, against a `cp` at 3 GB/s); a few worker
 * threads hash the pages of big reads in parallel while the main thread keeps the transfers
 * going. Small reads are hashed in place: a round trip to a worker costs more than hashing a
 * few pages.
 *
 * The bytes reach a worker through shared memory: each job copies its read into a free slot (a
 * `SharedArrayBuffer`, reused), so nothing is allocated per read and no worker ever holds
 * garbage buffers — memory stays at one slot per read in flight. The caller's buffer is never
 * handed over: a store may share it with other readers.
 */

/** Reads of at least this many bytes are hashed by the pool. */
export const POOL_MIN_BYTES = 64 * 1024

/** Free slots are released after the pool has been idle this long. */
const IDLE_RELEASE_MS = 1000

// CommonJS, evaluated: no file to locate, so it works from sources and from dist alike. The
// checksum term of page p is SHA-256(p as u32 BE ‖ hash(page)), as in `DatabaseChecksum`.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { hash } = require('node:crypto')
const term = Buffer.alloc(4 + ${PAGE_HASH_BYTES})
parentPort.on('message', ({ id, slot, length, pageSize, pages }) => {
  const view = new Uint8Array(slot, 0, length)
  const n = length / pageSize
  const hashes = new Uint8Array(n * ${PAGE_HASH_BYTES})
  const terms = new Uint8Array(${PAGE_HASH_BYTES})
  for (let i = 0; i < n; i++) {
    const digest = hash('sha256', view.subarray(i * pageSize, (i + 1) * pageSize), 'buffer')
    hashes.set(digest.subarray(0, ${PAGE_HASH_BYTES}), i * ${PAGE_HASH_BYTES})
    term.writeUInt32BE(pages[i], 0)
    term.set(digest.subarray(0, ${PAGE_HASH_BYTES}), 4)
    const t = hash('sha256', term, 'buffer')
    for (let j = 0; j < ${PAGE_HASH_BYTES}; j++) terms[j] ^= t[j]
  }
  parentPort.postMessage({ id, hashes, terms }, [hashes.buffer, terms.buffer])
})
`

/** What hashing a read yields. */
export interface PageHashesOfRun {
  /** The 16-byte hash of every page, concatenated. */
  hashes: Uint8Array
  /** The XOR of the pages' `DatabaseChecksum` terms. */
  checksumTerms: Uint8Array
}

interface Job {
  slot: SharedArrayBuffer
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

  /** Hash every `pageSize` page of `body` (numbered `pages`) on a worker. */
  hash(body: Uint8Array, pageSize: number, pages: readonly number[]): Promise<PageHashesOfRun> {
    const w = this.#pick()
    const id = this.#nextId++
    const slot = this.#slot(body.byteLength)
    new Uint8Array(slot, 0, body.byteLength).set(body)
    return new Promise((resolve, reject) => {
      w.jobs.set(id, { slot, resolve, reject })
      this.#started(w)
      w.worker.postMessage({ id, slot, length: body.byteLength, pageSize, pages })
    })
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
    this.#freeSlots.push(job.slot)
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
    worker.on('message', (m: { id: number; hashes: Uint8Array; terms: Uint8Array }) => {
      this.#finished(w, m.id)?.resolve({ hashes: m.hashes, checksumTerms: m.terms })
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
 * Hash every `pageSize` page of `body`, numbered `pages` (16 bytes each, as `hashPage` computes
 * them), and XOR their checksum terms: on a worker thread for reads of at least
 * {@link POOL_MIN_BYTES}, else in place.
 */
export async function hashPages(body: Uint8Array, pageSize: number, pages: readonly PageNo[]): Promise<PageHashesOfRun> {
  if (body.byteLength >= POOL_MIN_BYTES) {
    // One core stays with the main thread, which copies, reads and writes meanwhile.
    pool ??= new HashPool(Math.max(1, Math.min(4, availableParallelism() - 1)))
    return pool.hash(body, pageSize, pages)
  }
  const hashes = new Uint8Array(pages.length * PAGE_HASH_BYTES)
  const sum = new DatabaseChecksum()
  for (let i = 0; i < pages.length; i++) {
    hashes.set(hashPage(body.subarray(i * pageSize, (i + 1) * pageSize)), i * PAGE_HASH_BYTES)
    sum.toggle(pages[i]!, hashes, i * PAGE_HASH_BYTES)
  }
  return { hashes, checksumTerms: sum.bytes }
}

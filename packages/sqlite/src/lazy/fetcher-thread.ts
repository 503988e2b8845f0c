import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { lstat, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import { distUrl } from './dist-url.js'
import type { FetchFailed, FetcherInit, FromFetcher, OpenFile, WireError } from './protocol.js'

/**
 * The fetcher thread, seen from the main thread: one per process, started on the first lazy
 * open and shared by every lazy file. It keeps the process alive only while an open or close
 * waits for it.
 */
export class FetcherThread {
  readonly #worker: Worker
  readonly #errors: MessagePort
  readonly #waiting = new Map<number, { resolve(m: FromFetcher): void; reject(e: Error): void }>()
  readonly #failures: FetchFailed[] = []
  readonly #onHydrated = new Map<number, (error: WireError | undefined) => void>()
  readonly socketPath: string
  /** Snapshots whose tables the thread was sent (it may have dropped some since). */
  readonly #sent = new Set<string>()
  #dead: Error | null = null

  private constructor(worker: Worker, errors: MessagePort, socketPath: string) {
    this.#worker = worker
    this.#errors = errors
    this.socketPath = socketPath
    worker.on('message', (m: FromFetcher | { type: 'ready' }) => {
      if (m.type === 'ready') return
      if (m.type === 'hydrated') {
        this.#onHydrated.get(m.id)?.(m.error)
        return
      }
      const w = this.#waiting.get(m.id)
      if (w) {
        this.#waiting.delete(m.id)
        this.#updateRef()
        w.resolve(m)
      }
    })
    const fail = (e: Error): void => {
      this.#dead = e
      for (const w of this.#waiting.values()) w.reject(e)
      this.#waiting.clear()
      rmSync(socketPath, { force: true })
      if (current === this) current = null
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the page fetcher thread exited (code ${code})`)))
  }

  /** Start the thread and wait until its socket listens. */
  static async start(extensionPath: string, entryPoint: string): Promise<FetcherThread> {
    const socketPath = join(tmpdir(), `${SOCKET_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.sock`)
    const { port1, port2 } = new MessageChannel()
    const init: FetcherInit = { socketPath, extensionPath, entryPoint, errors: port2 }
    // No inherited flags: the worker is compiled JavaScript and must resolve packages to their
    // compiled form too, even when this process runs from sources (`--conditions=source`).
    const worker = new Worker(new URL(distUrl('./fetch-worker.js')), { workerData: init, transferList: [port2], execArgv: [] })
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { type: string }): void => {
        if (m.type !== 'ready') return
        worker.off('message', onMessage)
        worker.off('error', reject)
        resolve()
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
    })
    process.once('exit', () => rmSync(socketPath, { force: true }))
    // A process killed outright (SIGKILL, the OOM killer) could not remove its socket: clear
    // those of dead processes now, off the open's path.
    sweepStaleSockets(tmpdir()).catch(() => {})
    const t = new FetcherThread(worker, port1, socketPath)
    worker.unref()
    port1.unref()
    return t
  }

  /**
   * Serve a file; resolves once page 1 (and the open window) is in the file. The table is sent
   * only when the thread does not hold that snapshot's already.
   */
  async open(spec: OpenFile, onHydrated: (error: WireError | undefined) => void): Promise<{ write: number; read: number }> {
    const full = spec.table
    let m = await this.#request(spec.id, () => this.#worker.postMessage({ ...spec, table: this.#sent.has(spec.snapshot) ? null : full }))
    if (m.type === 'open-failed' && m.needTable) m = await this.#request(spec.id, () => this.#worker.postMessage(spec))
    if (m.type === 'open-failed') throw Object.assign(new Error(m.error.message), { wire: m.error })
    this.#sent.add(spec.snapshot)
    if (m.type !== 'opened') throw new Error(`unexpected answer ${m.type}`)
    this.#onHydrated.set(spec.id, onHydrated)
    return m.storedFormat
  }

  /** Fetch the pages of `pages` file `id` lacks, in one batch; resolves once they are in the file. */
  async prefetch(id: number, pages: readonly number[]): Promise<void> {
    const m = await this.#request(id, () => this.#worker.postMessage({ type: 'prefetch', id, pages: [...pages] }))
    if (m.type !== 'prefetched') throw new Error(`unexpected answer ${m.type}`)
    if (m.error) throw Object.assign(new Error(m.error.message), { wire: m.error })
  }

  /** Stop serving a file: its in-flight fetches are aborted, nothing more is written into it. */
  async close(id: number): Promise<void> {
    this.#onHydrated.delete(id)
    this.#failures.splice(0, this.#failures.length, ...this.#failures.filter((f) => f.id !== id))
    if (this.#dead) return
    await this.#request(id, () => this.#worker.postMessage({ type: 'close', id }))
  }

  /**
   * Keep the process alive while a request (open, close) is pending, not otherwise: serving
   * reads needs no event loop on this side (the reader is blocked in SQLite), and a process that
   * is done must be able to exit with lazy handles still open, as with working files.
   */
  #updateRef(): void {
    if (this.#waiting.size > 0) this.#worker.ref()
    else this.#worker.unref()
  }

  /** The newest fetch failure of file `id` whose range holds `page`, if the thread reported one (taken). */
  takeFailure(id: number, page: number | null): FetchFailed | null {
    for (let m = receiveMessageOnPort(this.#errors); m; m = receiveMessageOnPort(this.#errors)) this.#failures.push(m.message as FetchFailed)
    for (let i = this.#failures.length - 1; i >= 0; i--) {
      const f = this.#failures[i]!
      if (f.id === id && (page === null || (page >= f.first && page < f.first + Math.max(1, f.count)))) {
        this.#failures.splice(i, 1)
        return f
      }
    }
    return null
  }

  #request(id: number, post: () => void): Promise<FromFetcher> {
    if (this.#dead) return Promise.reject(this.#dead)
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      this.#updateRef()
      post()
    })
  }
}

let current: Promise<FetcherThread> | null | FetcherThread = null

/** The process's fetcher thread, started on first use. */
export async function fetcherThread(extensionPath: string, entryPoint: string): Promise<FetcherThread> {
  if (!current) {
    const p = FetcherThread.start(extensionPath, entryPoint)
    current = p
    p.then(
      (t) => {
        if (current === p) current = t
      },
      () => {
        if (current === p) current = null
      },
    )
  }
  return current
}

const SOCKET_PREFIX = 'strata-vfs-'
const SOCKET_NAME = /^strata-vfs-(\d+)-[0-9a-f]{8}\.sock$/

/**
 * Remove the fetcher sockets in `dir` left by processes that no longer run (their pid is in the
 * name; `process.kill(pid, 0)` fails with ESRCH). Only sockets of that exact name are touched; a
 * pid that was reused keeps its file until that process ends too. Returns the paths removed.
 */
export async function sweepStaleSockets(dir: string): Promise<string[]> {
  const removed: string[] = []
  for (const name of await readdir(dir)) {
    const m = SOCKET_NAME.exec(name)
    if (!m || alive(Number(m[1]))) continue
    const path = join(dir, name)
    try {
      if (!(await lstat(path)).isSocket()) continue
      await rm(path, { force: true })
      removed.push(path)
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** A command for a store worker process (see `race-worker.ts`). */
export type WorkerCommand = { id: number } & (
  | { op: 'open'; module: string; arg: unknown }
  | { op: 'close' }
  | { op: 'put'; key: string; body: string; ifNoneMatch?: boolean; ifMatch?: string; startAt?: number }
  | { op: 'increment'; key: string; times: number; startAt?: number }
)

/** Distributes `Omit` over the command union. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

/** A command as callers write it; the pool assigns the id. */
export type WorkerRequest = WithoutId<WorkerCommand>

/** A worker's answer to one command: the result, or the error's stable code and message. */
export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string | undefined; message: string } }

interface Worker {
  child: ChildProcess
  pending: Map<number, (reply: WorkerReply) => void>
}

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/**
 * A pool of child processes that each open a store through a fixture's `child.module` and run
 * puts against it on command, so tests can race real processes.
 */
export class StoreWorkers {
  readonly #workers: Worker[]
  #nextId = 1

  private constructor(workers: Worker[]) {
    this.#workers = workers
  }

  /** Spawn `count` workers and wait until each is ready for commands. */
  static async start(count: number): Promise<StoreWorkers> {
    const script = fileURLToPath(new URL(`./race-worker${extension}`, import.meta.url))
    const args = ['--conditions=source', ...loaderArgs(), script]
    const workers = await Promise.all(
      Array.from({ length: count }, async () => {
        const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
        const worker: Worker = { child, pending: new Map() }
        const ready = new Promise<void>((resolve, reject) => {
          child.once('error', reject)
          child.once('exit', (code, signal) => {
            const error = new Error(`store worker exited (code ${code}, signal ${signal})`)
            reject(error)
            for (const settle of worker.pending.values()) {
              settle({ id: 0, ok: false, error: { code: undefined, message: error.message } })
            }
            worker.pending.clear()
          })
          const lines = createInterface({ input: child.stdout! })
          lines.on('line', (line) => {
            const message = JSON.parse(line) as WorkerReply | { ready: true }
            if ('ready' in message) return resolve()
            const settle = worker.pending.get(message.id)
            worker.pending.delete(message.id)
            settle?.(message)
          })
        })
        await ready
        return worker
      }),
    )
    return new StoreWorkers(workers)
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length
  }

  /** Send one command to worker `index` and wait for its reply. */
  request(index: number, command: WorkerRequest): Promise<WorkerReply> {
    const worker = this.#workers[index]
    if (worker === undefined) throw new RangeError(`no worker ${index}`)
    const id = this.#nextId++
    return new Promise((resolve) => {
      worker.pending.set(id, resolve)
      worker.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`)
    })
  }

  /** Send `make(i)` to every worker i at once and wait for all replies. */
  broadcast(make: (index: number) => WorkerRequest): Promise<WorkerReply[]> {
    return Promise.all(this.#workers.map((_, i) => this.request(i, make(i))))
  }

  /** End every worker: close stdin, and kill any that does not exit within a few seconds. */
  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
            child.once('exit', () => {
              clearTimeout(timer)
              resolve()
            })
            child.stdin!.end()
          }),
      ),
    )
  }
}

/** `--import <tsx>` when tsx is installed, so workers and child modules may be TypeScript. */
function loaderArgs(): string[] {
  try {
    return ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
  } catch {
    return []
  }
}

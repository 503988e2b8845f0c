import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The directory of the worker scripts the reliability tests spawn. */
export const WORKERS = join(dirname(fileURLToPath(import.meta.url)), '..', 'workers')

/** Node arguments that run a TypeScript worker from sources (no build needed). */
export const NODE_ARGS = ['--conditions=source', '--import', 'tsx']

/** What a finished worker process printed and how it ended. */
export interface WorkerExit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Start `workers/<script>` with `arg` as JSON in argv[2]. */
export function startWorker(script: string, arg: unknown, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...NODE_ARGS, join(WORKERS, script), JSON.stringify(arg)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
}

/**
 * Run one worker per argument in lock-step rounds: before each round every worker opens its
 * store (first round only), prints `ready` and waits for a line on stdin; when all are ready,
 * `beforeRound(r)` runs (the parent may set the round up) and every worker is told to go at once.
 * Resolves with each worker's final JSON document, in argument order.
 */
export async function runWorkersTogether<T>(
  script: string,
  args: readonly unknown[],
  opts: { rounds?: number; beforeRound?: (round: number) => Promise<void>; env?: Record<string, string> } = {},
): Promise<T[]> {
  const rounds = opts.rounds ?? 1
  const children = args.map((a) => startWorker(script, a, opts.env))
  const exits = children.map((c) => waitForExit(c))
  const readyCounts = children.map(() => 0)
  const waiters: (() => void)[] = []
  children.forEach((c, i) => {
    let buffered = ''
    c.stdout?.on('data', (d: Buffer | string) => {
      buffered += d.toString()
      const parts = buffered.split('\n')
      buffered = parts.pop()!
      for (const line of parts) if (line === 'ready') readyCounts[i]!++
      for (const w of waiters.splice(0)) w()
    })
  })
  let failed = false
  void Promise.all(exits).then(() => {
    failed = true
    for (const w of waiters.splice(0)) w()
  })
  const allReady = async (n: number): Promise<void> => {
    while (!readyCounts.every((k) => k >= n)) {
      if (failed || exits.length === 0) break
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  try {
    for (let r = 0; r < rounds; r++) {
      await allReady(r + 1)
      if (!readyCounts.every((k) => k >= r + 1)) throw new Error(`a ${script} worker exited before round ${r}`)
      await opts.beforeRound?.(r)
      for (const c of children) c.stdin?.write('go\n')
    }
  } catch (e) {
    for (const c of children) c.kill('SIGKILL')
    const done = await Promise.all(exits)
    throw new Error(`${(e as Error).message}:\n${done.map((x) => x.stderr).join('\n')}`)
  }
  for (const c of children) c.stdin?.end()
  const done = await Promise.all(exits)
  return done.map((exit) => {
    if (exit.code !== 0) throw new Error(`worker ${script} exited with ${exit.code ?? exit.signal}:\n${exit.stderr}\n${exit.stdout}`)
    const lines = exit.stdout.trim().split('\n')
    return JSON.parse(lines[lines.length - 1]!) as T
  })
}

/** Collect a started worker's output until it exits. */
export function waitForExit(child: ChildProcess): Promise<WorkerExit> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/**
 * Run a worker to completion and parse the JSON document it prints last on stdout. A non-zero
 * exit fails with its stderr.
 */
export async function runWorker<T>(script: string, arg: unknown, env?: Record<string, string>): Promise<T> {
  const exit = await waitForExit(startWorker(script, arg, env))
  if (exit.code !== 0) throw new Error(`worker ${script} exited with ${exit.code ?? exit.signal}:\n${exit.stderr}\n${exit.stdout}`)
  const lines = exit.stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as T
}

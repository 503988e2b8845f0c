// The writer process the crash harness kills. It runs one operation on each of several prepared
// local stores at once (independent trials sharing one process start-up), reporting every store
// call on stdout as it happens — synchronously, so what the parent reads is what had happened
// when the signal landed — and stopping dead at each trial's kill point. The one trial whose
// kill lands while a call is running starts only once every other trial has stopped, so the
// parent can time the signal to that call.
import { writeSync } from 'node:fs'
import { LocalStore, Repository } from '@strata/core'
import { REPO_OPTIONS, runOp, storeDir, type CrashOp } from '../support/crash-ops.js'
import { TracingStore, type KillPoint } from '../support/tracing-store.js'

interface Arg {
  op: CrashOp
  trials: { dir: string; stopAt: KillPoint }[]
}

function emit(line: string): void {
  const buf = Buffer.from(`${line}\n`)
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off)
    } catch (e) {
      // A full pipe on a non-blocking descriptor: the parent drains it in a moment.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
    }
  }
}

const arg = JSON.parse(process.argv[2]!) as Arg
let stopping = arg.trials.filter((t) => t.stopAt.mode !== 'during').length
let release!: () => void
const othersStopped = new Promise<void>((resolve) => (release = resolve))
const stopped = (): void => {
  if (--stopping === 0) release()
}
if (stopping === 0) release()

await Promise.all(
  arg.trials.map(async (trial, j) => {
    const during = trial.stopAt.mode === 'during'
    const store = new TracingStore(new LocalStore(storeDir(trial.dir)), (line) => emit(`${j} ${line}`), trial.stopAt, stopped)
    if (during) await othersStopped
    const repo = await Repository.open(store, REPO_OPTIONS)
    await runOp(arg.op, repo, trial.dir)
    emit(`${j} END`)
    if (!during) stopped()
  }),
)

// Every trial has ended (some completed before reaching their kill point). Stay alive until the
// parent kills us: exiting here would race its SIGKILL and read as "the writer was not killed".
setInterval(() => {}, 1 << 30)

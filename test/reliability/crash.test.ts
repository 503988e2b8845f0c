import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { tempDir, type TempDir } from '@strata/core/testing'
import { CRASH_OPS, REPO_OPTIONS, copyPrepared, prepare, runOp, storeDir, type CrashOp } from './support/crash-ops.js'
import { classify, observe, rerun } from './support/outcomes.js'
import { startWorker, waitForExit } from './support/run-node.js'
import { TracingStore, type KillPoint } from './support/tracing-store.js'

// SIGKILL a writer process at chosen points of import, commit, materialize (by reference and as a
// copy) and gc, then check
// that the store is whole: verify --deep passes, every branch reads in full and holds either the
// state before the operation or the state after it, and running the operation again succeeds.

/** Kills per operation. */
const DEFAULT_TRIALS = 50
/** The copying materialize shares its writes with import and commit, which have their own 50. */
const TRIALS_OF: Partial<Record<CrashOp, number>> = { 'materialize-copy': 20 }
const PARALLEL = 2
const MODES: KillPoint['mode'][] = ['before', 'during', 'after']

let work: TempDir
afterAll(async () => {
  await work?.cleanup()
})

/** The kill points of an operation, spread over its mutating call groups and the three modes. */
function planKills(calls: string[], trials: number): KillPoint[] {
  const counts = new Map<string, number>()
  for (const g of calls) if (g.startsWith('put ') || g.startsWith('delete ')) counts.set(g, (counts.get(g) ?? 0) + 1)
  const combos = [...counts.keys()].sort().flatMap((group) => MODES.map((mode) => ({ group, mode })))
  return Array.from({ length: trials }, (_, i) => {
    const { group, mode } = combos[i % combos.length]!
    return { group, mode, nth: 1 + Math.floor(Math.random() * counts.get(group)!) }
  })
}

interface TrialOutcome {
  /** Where the kill landed, e.g. `during put segments/`. */
  landed: string
  state: string
  rerun: string
}

/** Trials per writer process: one whose kill is timed to a running call, and the rest stopped at their points. */
const BATCH = 4

/**
 * Run the operation in one child process on each trial directory and SIGKILL it once every trial
 * is at its kill point: the `before`/`after` trials stop there themselves; the (at most one)
 * `during` trial is killed a random moment (0–1.5 ms) after its target call reached the store.
 * Returns where each trial's kill actually landed.
 */
async function killBatch(op: CrashOp, trials: { dir: string; stopAt: KillPoint }[]): Promise<string[]> {
  const child = startWorker('crash-child.ts', { op, trials })
  const exited = waitForExit(child)
  const state = trials.map((t) => ({ point: t.stopAt, seen: new Map<string, number>(), target: -1, landed: '', done: false }))
  let killed = false
  const kill = (): void => {
    if (killed) return
    killed = true
    child.kill('SIGKILL')
  }
  const maybeKill = (): void => {
    if (state.every((t) => t.done)) kill()
  }
  const guard = setTimeout(kill, 60_000)
  let buffered = ''
  child.stdout!.on('data', (d: Buffer | string) => {
    buffered += d.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      const parts = line.split(' ')
      const t = state[Number(parts[0])]
      if (t === undefined || killed) continue
      const { point } = t
      switch (parts[1]) {
        case 'S': {
          const group = `${parts[3]} ${parts[4]}`
          const nth = (t.seen.get(group) ?? 0) + 1
          t.seen.set(group, nth)
          if (group === point.group && nth === point.nth) t.target = Number(parts[2])
          break
        }
        case 'STOP':
          t.landed = `${point.mode} ${point.group}`
          t.done = true
          maybeKill()
          break
        case 'I':
          if (Number(parts[2]) === t.target && point.mode === 'during') {
            t.landed = `during ${point.group}`
            setTimeout(() => {
              t.done = true
              maybeKill()
            }, Math.random() * 1.5)
          }
          break
        case 'D':
          if (Number(parts[2]) === t.target && point.mode === 'during') t.landed = `after ${point.group} (it finished before the kill)`
          break
        case 'END':
          if (t.landed === '') t.landed = 'the operation completed before the kill point'
          t.done = true
          maybeKill()
          break
      }
    }
  })
  const exit = await exited
  clearTimeout(guard)
  if (!killed || exit.signal !== 'SIGKILL') throw new Error(`the writer was not killed (exit ${exit.code}):\n${exit.stderr}`)
  return state.map((t, j) => {
    if (!t.done) throw new Error(`trial ${j} never reached its kill point ${JSON.stringify(t.point)}:\n${exit.stderr}`)
    return t.landed
  })
}

describe('crash safety: SIGKILL a writer process mid-operation (LocalStore)', () => {
  const summary: string[] = []
  afterAll(() => {
    if (summary.length > 0) console.info(summary.join('\n'))
  })

  for (const op of CRASH_OPS) {
    const TRIALS = TRIALS_OF[op] ?? DEFAULT_TRIALS
    it(`${op}: ${TRIALS} kills spread over its store writes; after each, verify --deep passes, the branch is old or new, and a rerun succeeds`, async () => {
      work ??= await tempDir('strata-crash-')
      const base = join(work.path, op)
      const template = join(base, 'template')
      await mkdir(template, { recursive: true })
      await prepare(op, template)

      // The states before and after an uninterrupted run, and the calls it makes.
      const scratch = join(base, 'scratch')
      await copyPrepared(template, scratch)
      const before = await observe(scratch)
      const calls: string[] = []
      const traced = new TracingStore(new LocalStore(storeDir(scratch)), (line) => {
        const parts = line.split(' ')
        if (parts[0] === 'S') calls.push(`${parts[2]} ${parts[3]}`)
      })
      await runOp(op, await Repository.open(traced, REPO_OPTIONS), scratch)
      const after = await observe(scratch)
      expect(classify(op, after, before, after)).toBe('new')

      // Batches of trials per writer process: at most one `during` kill each, the rest stopped at their points.
      const points = planKills(calls, TRIALS)
      const during = points.filter((p) => p.mode === 'during')
      const stopping = points.filter((p) => p.mode !== 'during')
      const batches: KillPoint[][] = []
      while (during.length + stopping.length > 0) {
        const batch = during.length > 0 ? [during.shift()!] : []
        while (batch.length < BATCH && stopping.length > 0) batch.push(stopping.shift()!)
        batches.push(batch)
      }
      const outcomes: TrialOutcome[] = []
      let next = 0
      let trialNo = 0
      const runner = async (): Promise<void> => {
        while (next < batches.length) {
          const batch = batches[next++]!
          const trials = batch.map((stopAt) => ({ dir: join(base, `trial-${trialNo++}`), stopAt }))
          for (const t of trials) await copyPrepared(template, t.dir)
          const landed = await killBatch(op, trials)
          for (const [j, t] of trials.entries()) {
            const where = `after a kill ${landed[j]} (${t.dir})`
            const got = await observe(t.dir).catch((e: unknown) => {
              throw new Error(`${where}: ${(e as Error).message}`)
            })
            const state = classify(op, got, before, after)
            expect(['old', 'new', 'partly swept'], where).toContain(state)
            const outcome = await rerun(op, t.dir, state, before, after)
            outcomes.push({ landed: landed[j]!, state, rerun: outcome })
            await rm(t.dir, { recursive: true, force: true })
          }
        }
      }
      await Promise.all(Array.from({ length: PARALLEL }, runner))

      expect(outcomes).toHaveLength(TRIALS)
      const tally = (key: (o: TrialOutcome) => string): string => {
        const m = new Map<string, number>()
        for (const o of outcomes) m.set(key(o), (m.get(key(o)) ?? 0) + 1)
        return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`).join(', ')
      }
      summary.push(
        `[reliability] crash ${op}: ${TRIALS} trials, ${batches.length} writer processes SIGKILLed (${calls.length} store calls per run). Landed: ${tally((o) => o.landed)}. ` +
          `State after the kill: ${tally((o) => o.state)}. Rerun: ${tally((o) => o.rerun)}. verify --deep passed after every kill and every rerun.`,
      )
      // The kills reached every kind of write the operation makes.
      const groups = new Set(calls.filter((g) => g.startsWith('put ') || g.startsWith('delete ')))
      for (const g of groups) expect(outcomes.some((o) => o.landed.includes(g)), `no kill landed at ${g}`).toBe(true)
    }, 300_000)
  }
})

import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError } from '@strata/core'
import { FaultyStore, tempDir, type FaultRule, type StoreOperation, type TempDir } from '@strata/core/testing'
import { s3StoreFixture } from '@strata/s3/testing'
import { CRASH_OPS, PAGE_SIZE, REPO_OPTIONS, baseDb, copyPrepared, crashCommitWrites, prepare, runOp, storeDir, type CrashOp } from './support/crash-ops.js'
import { writeDb } from './support/databases.js'
import { stampedPage } from './support/pages.js'
import { classify, observe, rerun, same, type Observed } from './support/outcomes.js'
import { FlakyStore } from './support/flaky-store.js'
import { TracingStore } from './support/tracing-store.js'

// Store faults injected in-process with FaultyStore: every kind of call an operation makes fails
// once (before it reaches the store, or after it did its work), calls are slowed down, an
// operation is aborted mid-way through its AbortSignal, and a store fails at random. Each time:
// the operation succeeds or throws a typed Strata error, verify --deep passes, each branch holds
// the old or the new state, and the operation then runs again cleanly.

let work: TempDir
const summary: string[] = []
afterAll(async () => {
  if (summary.length > 0) console.info(summary.join('\n'))
  await work?.cleanup()
})

interface Prepared {
  base: string
  template: string
  before: Observed
  after: Observed
  /** Each call group the clean run makes, with how often (in call order of first use). */
  calls: Map<string, number>
}

const prepared = new Map<CrashOp, Prepared>()

/** The template, the states before and after a clean run, and its calls (computed once per operation). */
async function prepareOnce(op: CrashOp): Promise<Prepared> {
  const hit = prepared.get(op)
  if (hit) return hit
  work ??= await tempDir('strata-faults-')
  const base = join(work.path, op)
  const template = join(base, 'template')
  await mkdir(template, { recursive: true })
  await prepare(op, template)
  const scratch = join(base, 'scratch')
  await copyPrepared(template, scratch)
  const before = await observe(scratch)
  const calls = new Map<string, number>()
  const traced = new TracingStore(new LocalStore(storeDir(scratch)), (line) => {
    const parts = line.split(' ')
    if (parts[0] === 'S') calls.set(`${parts[2]} ${parts[3]}`, (calls.get(`${parts[2]} ${parts[3]}`) ?? 0) + 1)
  })
  await runOp(op, await Repository.open(traced, REPO_OPTIONS), scratch)
  const after = await observe(scratch)
  const p = { base, template, before, after, calls }
  prepared.set(op, p)
  return p
}

let trialNo = 0

/**
 * Run `op` once on a fresh copy through a FaultyStore set up by `configure`, then check the
 * outcome. Returns the outcome (`ok` or the error code) and the state the store was left in.
 */
async function faultTrial(op: CrashOp, p: Prepared, configure: (s: FaultyStore) => void, opts: { signal?: () => AbortSignal } = {}): Promise<{ outcome: string; state: string; faults: number }> {
  const dir = join(p.base, `trial-${trialNo++}`)
  await copyPrepared(p.template, dir)
  const faulty = new FaultyStore(new LocalStore(storeDir(dir)))
  configure(faulty)
  let outcome = 'ok'
  try {
    const repo = await Repository.open(faulty, REPO_OPTIONS)
    await runOp(op, repo, dir, opts.signal ? { signal: opts.signal() } : {})
  } catch (e) {
    expect(isStrataError(e), `an untyped error escaped ${op}: ${String(e)}`).toBe(true)
    outcome = (e as { code: string }).code
  }
  const got = await observe(dir)
  const state = classify(op, got, p.before, p.after)
  expect(['old', 'new', 'partly swept'], `${op} after ${outcome}`).toContain(state)
  if (outcome === 'ok') expect(state, `${op} succeeded but did not leave the new state`).toBe('new')
  await rerun(op, dir, state, p.before, p.after)
  await rm(dir, { recursive: true, force: true })
  return { outcome, state, faults: faulty.injected.length }
}

/** Open a repository through a flaky store (opening reads the format marker, which may fail too). */
async function openThrough(flaky: FlakyStore): Promise<Repository> {
  for (let i = 0; ; i++) {
    try {
      return await Repository.open(flaky, REPO_OPTIONS)
    } catch (e) {
      if (i > 20 || !isStrataError(e, 'STRATA_STORE_ERROR')) throw e
    }
  }
}

function tally(items: string[]): string {
  const m = new Map<string, number>()
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1)
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`).join(', ')
}

describe('faults: every store call an operation makes fails once (LocalStore)', () => {
  for (const op of CRASH_OPS) {
    it(`${op}: a retryable StoreError before or after each kind of call → success or a typed error, old or new state, clean rerun`, async () => {
      const p = await prepareOnce(op)
      const results: string[] = []
      let runs = 0
      for (const [group, count] of p.calls) {
        const [operation, keyPrefix] = group.split(' ') as [StoreOperation, string]
        for (const nth of [...new Set([1, count])]) {
          for (const when of ['before', 'after'] as const) {
            const rule: FaultRule = { operation, keyPrefix, nth, when }
            const r = await faultTrial(op, p, (s) => s.addRule(rule)).catch((e: unknown) => {
              throw new Error(`with the fault ${JSON.stringify(rule)}: ${(e as Error).message}`, { cause: e })
            })
            runs++
            expect(r.faults, `the fault ${JSON.stringify(rule)} never fired`).toBe(1)
            results.push(`${r.outcome}→${r.state}`)
          }
        }
      }
      summary.push(`[reliability] faults ${op}: ${runs} single faults over ${p.calls.size} call kinds: ${tally(results)} (outcome→state); verify --deep passed and a clean rerun succeeded every time`)
    }, 120_000)
  }
})

describe('faults: slow calls, aborts and a flaky store (LocalStore)', () => {
  it('slow calls (0–6 ms each) change nothing but time', async () => {
    for (const op of CRASH_OPS) {
      const p = await prepareOnce(op)
      const r = await faultTrial(op, p, (s) => (s.latencyMs = () => Math.random() * 6))
      expect(r.outcome).toBe('ok')
    }
  }, 120_000)

  it('an AbortSignal firing mid-operation ends it with STRATA_ABORTED or lets it finish; the store stays whole', async () => {
    const results: string[] = []
    for (const op of CRASH_OPS) {
      const p = await prepareOnce(op)
      const latency = 2
      // The calls' added latency dominates the run, so a timer within it fires mid-operation.
      const expected = [...p.calls.values()].reduce((a, b) => a + b, 0) * latency
      for (let i = 0; i < 6; i++) {
        const r = await faultTrial(op, p, (s) => (s.latencyMs = latency), { signal: () => AbortSignal.timeout(Math.max(1, Math.floor(Math.random() * expected))) })
        expect(['ok', 'STRATA_ABORTED']).toContain(r.outcome)
        results.push(`${op} ${r.outcome}→${r.state}`)
      }
    }
    summary.push(`[reliability] aborts: ${results.length} runs: ${tally(results)}`)
    expect(results.some((r) => r.includes('STRATA_ABORTED'))).toBe(true)
  }, 120_000)

  it('commitWithRetry lands through a store failing 15% of calls at random (before or after the call), exactly once', async () => {
    const p = await prepareOnce('commit')
    let attempts = 0
    let lostAnswers = 0
    const injected = { before: 0, after: 0 }
    for (let i = 0; i < 10; i++) {
      const dir = join(p.base, `flaky-${i}`)
      await copyPrepared(p.template, dir)
      const clean = await Repository.open(new LocalStore(storeDir(dir)), REPO_OPTIONS)
      const headBefore = (await clean.getBranch('b')).head
      const flaky = new FlakyStore(new LocalStore(storeDir(dir)), 0.15)
      // The repository reads and writes through the flaky store from here on.
      const flakyRepo = await openThrough(flaky)
      const r = await flakyRepo.commitWithRetry('b', { writes: crashCommitWrites(), maxAttempts: 60, baseDelayMs: 1, maxDelayMs: 4, expectedHead: headBefore })
      attempts += r.attempts
      if (!r.changed) lostAnswers++
      injected.before += flaky.injected.before
      injected.after += flaky.injected.after
      // Exactly one new snapshot on top of the old head, holding the new state.
      const log = await (await Repository.open(new LocalStore(storeDir(dir)))).log('b')
      expect(log[1]!.id).toBe(headBefore)
      expect(log[0]!.id).toBe(r.snapshot)
      const got = await observe(dir)
      expect(classify('commit', got, p.before, p.after)).toBe('new')
      expect(same(got.branches.get('b')!.bytes, p.after.branches.get('b')!.bytes)).toBe(true)
      await rm(dir, { recursive: true, force: true })
    }
    summary.push(
      `[reliability] flaky store (15% of calls fail, retryable): 10 commitWithRetry runs all landed exactly once in ${attempts} attempts; ` +
        `${injected.before} failures before and ${injected.after} after the call were injected; ${lostAnswers} runs found their commit had landed although its answer was lost`,
    )
  }, 120_000)
})

describe('faults: a flaky S3 store', () => {
  it('commitWithRetry through an S3 store failing 15% of calls (before or after the request) lands every commit exactly once', async () => {
    const COMMITS = 12
    const t = await s3StoreFixture()
    const dir = await tempDir('strata-flaky-s3-')
    try {
      const repo = await Repository.init(t.store, REPO_OPTIONS)
      await repo.importDatabase(await writeDb(dir.path, 'base.db', baseDb()))
      await repo.createBranch('b')
      const flaky = new FlakyStore(t.store, 0.15)
      const writer = await openThrough(flaky)
      const landed: string[] = []
      let attempts = 0
      for (let i = 1; i <= COMMITS; i++) {
        const writes: [number, Uint8Array][] = [[1 + i, stampedPage(PAGE_SIZE, 1 + i, 3, i)], [40 + i, stampedPage(PAGE_SIZE, 40 + i, 3, i)]]
        const r = await writer.commitWithRetry('b', { writes, maxAttempts: 60, baseDelayMs: 1, maxDelayMs: 4 })
        attempts += r.attempts
        landed.push(r.snapshot)
      }
      const log = await repo.log('b')
      // Each commit is one snapshot on top of the previous (none doubled, none lost), then the fork point.
      expect(log.slice(0, COMMITS).map((e) => e.id)).toEqual([...landed].reverse())
      expect(log).toHaveLength(COMMITS + 1)
      const db = await repo.readDatabase('b')
      for (let i = 1; i <= COMMITS; i++) {
        for (const p of [1 + i, 40 + i]) expect(Buffer.from(db.subarray((p - 1) * PAGE_SIZE, p * PAGE_SIZE)).equals(Buffer.from(stampedPage(PAGE_SIZE, p, 3, i)))).toBe(true)
      }
      expect((await repo.verify({ deep: true })).ok).toBe(true)
      summary.push(`[reliability] flaky S3 store: ${COMMITS} commitWithRetry runs landed exactly once each in ${attempts} attempts (${flaky.injected.before} failures injected before and ${flaky.injected.after} after a request)`)
    } finally {
      await dir.cleanup()
      await t.cleanup()
    }
  }, 120_000)
})

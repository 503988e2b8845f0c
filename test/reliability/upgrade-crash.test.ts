import { createHash } from 'node:crypto'
import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalStore, Repository } from '@strata/core'
import { REFS_PREFIX, refKey } from '@strata/core/engine'
import { CountingStore, tempDir, type TempDir } from '@strata/core/testing'
import { startWorker, waitForExit } from './support/run-node.js'

// `strata upgrade` killed for real (SIGKILL of the process running it) at random points of the
// format 1.0 fixture's upgrade, then run again: the store must pass `verify --deep`, hold every
// branch byte for byte as before, and have its refs at their 2.0 keys only.

const FIXTURE = join(import.meta.dirname, '../../packages/core/test/fixtures/format-1.0-store')
const EXPECTED = JSON.parse(await readFile(`${FIXTURE}.json`, 'utf8')) as { branches: Record<string, string> }
/** Trials killed at a random moment, besides those stopped at each store call (before it, and after it). */
const TIMED_TRIALS = 12
/** Child processes for the trials stopped at a store call (one process start-up serves many trials). */
const CALL_CHILDREN = 2

let work: TempDir
afterAll(async () => {
  await work?.cleanup()
})

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function exports(repo: Repository): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const b of await repo.listBranches()) out[b.name] = sha256(await repo.readDatabase(b.name))
  return out
}

async function refKeys(store: LocalStore): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list(REFS_PREFIX)) keys.push(o.key)
  return keys.sort()
}

interface Trial {
  dir: string
  stopAt: number | null
  after: boolean
  /** When the child starts this trial's upgrade (so one kill finds the timed trials at different points). */
  startAfterMs: number
}

/** Run one child on `trials` and make sure it died by SIGKILL; `killAfterMs` is the parent's own kill, for timed trials. */
async function killBatch(trials: Trial[], killAfterMs: number | null): Promise<void> {
  const child = startWorker('upgrade-child.ts', { trials })
  const exited = waitForExit(child)
  if (killAfterMs !== null) {
    // Timed from the moment the child starts its upgrades (module loading excluded).
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()))
    setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  }
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const exit = await exited
  clearTimeout(guard)
  expect(exit.signal, exit.stderr).toBe('SIGKILL')
}

describe('upgrade killed by SIGKILL at random points, then run again', () => {
  it('leaves a store verify --deep accepts with every branch byte-identical (at least 50 kills)', async () => {
    work = await tempDir('upgrade-crash')
    // How many store calls an uninterrupted upgrade of the fixture makes, and how long it takes.
    await cp(FIXTURE, join(work.path, 'probe'), { recursive: true })
    const counting = new CountingStore(new LocalStore(join(work.path, 'probe')))
    const t0 = performance.now()
    await Repository.upgrade(counting)
    const upgradeMs = performance.now() - t0
    const calls = counting.log.length
    expect(calls).toBeGreaterThan(10)

    // Every call, stopped before it and after it; random calls for the rest of 50.
    const points = Array.from({ length: calls }, (_, n) => [n, n]).flat()
    while (points.length + TIMED_TRIALS < 50) points.push(Math.floor(Math.random() * calls))
    const trials: Trial[] = []
    for (let i = 0; i < points.length + TIMED_TRIALS; i++) {
      const dir = join(work.path, `t${i}`)
      await cp(FIXTURE, dir, { recursive: true })
      trials.push(
        i < points.length
          ? { dir, stopAt: points[i]!, after: i % 2 === 1, startAfterMs: 0 }
          : { dir, stopAt: null, after: false, startAfterMs: Math.random() * 4 * upgradeMs },
      )
    }
    const stopped = trials.filter((t) => t.stopAt !== null)
    const per = Math.ceil(stopped.length / CALL_CHILDREN)
    await Promise.all([
      ...Array.from({ length: CALL_CHILDREN }, (_, c) => killBatch(stopped.slice(c * per, (c + 1) * per), null)),
      // Killed while the staggered upgrades are under way (some done, some not yet started).
      killBatch(trials.filter((t) => t.stopAt === null), (1 + Math.random() * 2) * upgradeMs),
    ])

    let upgradedBeforeRerun = 0
    for (const t of trials) {
      const store = new LocalStore(t.dir)
      // Between the kill and the rerun the store opens (read-only or already upgraded) with every branch.
      const before = await Repository.open(store)
      expect(await exports(before)).toEqual(EXPECTED.branches)
      const again = await Repository.upgrade(store)
      if (!again.upgraded) upgradedBeforeRerun++
      const repo = await Repository.open(store)
      expect((await repo.verify({ deep: true })).problems).toEqual([])
      expect(await exports(repo)).toEqual(EXPECTED.branches)
      expect(await refKeys(store)).toEqual([refKey('Feature/X'), refKey('MixedCase'), 'refs/lower', 'refs/main'].sort())
    }
    expect(trials.length).toBeGreaterThanOrEqual(50)
    // The kills landed on both sides of the marker switch.
    expect(upgradedBeforeRerun).toBeGreaterThan(0)
    expect(upgradedBeforeRerun).toBeLessThan(trials.length)
  })
})

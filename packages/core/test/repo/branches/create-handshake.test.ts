import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { LocalStore, Repository } from '../../../src/index.js'
import { SWEEPS_ENDED_PREFIX, refKey } from '../../../src/engine.js'
import { CountingStore, FaultyStore } from '../../../src/testing/index.js'
import { scratch, syntheticDb, writeDb } from '../../helpers.js'
import { EAGER, keysOf } from '../lifecycle/lifecycle-helpers.js'

// A branch create from a branch costs three requests — the source ref, the new ref, one listing
// of `sweeps/` — unless that listing shows a gc sweep that may have run since the source ref was
// read: then it takes the full handshake (see lifecycle/gc.ts). The records of ended sweeps that
// the listing reads are kept ten minutes and judged by their time. (The race they exist for — a
// whole gc between the create's read of the source and its listing — is in loss-windows.test.ts.)
const PS = 4096
const MINUTE = 60_000
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function setup() {
  const s = await scratch()
  cleanups.push(s.cleanup)
  let now = Date.now()
  const clock = { advance: (ms: number) => void (now += ms) }
  const local = new LocalStore(join(s.dir, 'store'))
  const store = new CountingStore(local)
  const repo = await Repository.init(store, { segmentBytes: 4 * PS, now: () => new Date(now) })
  await repo.importDatabase(await writeDb(s.dir, 'base.db', syntheticDb(PS, 8)))
  /** The store calls `run` makes, as `operation key` lines. */
  const callsOf = async (run: () => Promise<unknown>): Promise<string[]> => {
    store.reset()
    await run()
    return store.log.map((c) => `${c.operation} ${c.key}`)
  }
  return { local, store, repo, clock, callsOf, now: () => new Date(now) }
}

describe('branch create from a branch: the look for sweeps', () => {
  it('is one listing when no gc ran; after a gc the full handshake, until its record is older than the clocks could disagree by', async () => {
    const { repo, clock, callsOf } = await setup()
    expect(await callsOf(() => repo.createBranch('a'))).toEqual([`get ${refKey('main')}`, `put ${refKey('a')}`, 'list sweeps/'])

    await repo.gc(EAGER)
    // The sweep's record is there: the create waits out running sweeps (a second listing) and
    // reads the source ref again, which still names the head it copied.
    expect(await callsOf(() => repo.createBranch('b'))).toEqual([`get ${refKey('main')}`, `put ${refKey('b')}`, 'list sweeps/', 'list sweeps/', `get ${refKey('main')}`])
    // Two minutes (twice the clock skew gc.ts assumes) after the sweep ended, a create started then
    // cannot have been overtaken by it.
    clock.advance(2 * MINUTE + 1)
    expect(await callsOf(() => repo.createBranch('c'))).toEqual([`get ${refKey('main')}`, `put ${refKey('c')}`, 'list sweeps/'])
    expect((await repo.getBranch('c')).head).toBe((await repo.getBranch('main')).head)
  })

  it('gc deletes the records of sweeps that ended more than ten minutes ago, and retires a dead marker into a record', async () => {
    const { local, repo, clock, now } = await setup()
    await repo.gc(EAGER)
    const [first] = await keysOf(local, SWEEPS_ENDED_PREFIX)
    expect(first).toBeDefined()
    clock.advance(5 * MINUTE)
    await repo.gc(EAGER)
    expect(await keysOf(local, SWEEPS_ENDED_PREFIX)).toHaveLength(2)
    clock.advance(6 * MINUTE)
    await repo.gc(EAGER)
    const kept = await keysOf(local, SWEEPS_ENDED_PREFIX)
    expect(kept).toHaveLength(2)
    expect(kept).not.toContain(first)

    // A gc that cannot record its end leaves its marker (it will look dead once not renewed)...
    const dying = await Repository.open(new FaultyStore(local, { rules: [{ operation: 'put', keyPrefix: SWEEPS_ENDED_PREFIX }] }), { now })
    await dying.gc(EAGER)
    const markers = (await keysOf(local, 'sweeps/')).filter((k) => !k.startsWith(SWEEPS_ENDED_PREFIX))
    expect(markers).toHaveLength(1)
    // ...which creates treat as a sweep that may have run (once it is dead, without waiting), and a
    // later gc retires into a record.
    clock.advance(2 * MINUTE)
    const store = new CountingStore(local)
    const creator = await Repository.open(store, { now })
    store.reset()
    await creator.createBranch('x')
    expect(store.counts.list.calls).toBe(2)
    await repo.gc(EAGER)
    expect((await keysOf(local, 'sweeps/')).filter((k) => !k.startsWith(SWEEPS_ENDED_PREFIX))).toEqual([])
    const retired = markers[0]!.slice('sweeps/'.length)
    expect((await keysOf(local, SWEEPS_ENDED_PREFIX)).some((k) => k.endsWith(`-${retired}`))).toBe(true)
  })
})

describe('Repository.createBranchIn: a create that reads the format marker only when it must', () => {
  it('from a branch whose ref proves the format: the source ref, the new ref, the listing — and after a gc, the marker too, for the check', async () => {
    const { store, repo, callsOf } = await setup()
    expect(await callsOf(() => Repository.createBranchIn(store, 'a'))).toEqual([`get ${refKey('main')}`, `put ${refKey('a')}`, 'list sweeps/'])
    await repo.gc(EAGER)
    expect(await callsOf(() => Repository.createBranchIn(store, 'b', { ttlMs: MINUTE }))).toEqual([
      `get ${refKey('main')}`,
      `put ${refKey('b')}`,
      'list sweeps/',
      'get strata.format',
      'list sweeps/',
      `get ${refKey('main')}`,
    ])
    const b = await repo.getBranch('b')
    expect(b.head).toBe((await repo.getBranch('main')).head)
    expect(b.expiresAt).not.toBeNull()
  })

  it('anything else opens the repository first: a snapshot id, a missing branch, a store with no repository, a bad name', async () => {
    const { local, store, repo, callsOf } = await setup()
    const head = (await repo.getBranch('main')).head
    // (A snapshot id is also a valid branch name, and a branch of that name would win: its ref is looked for first.)
    const calls = await callsOf(() => Repository.createBranchIn(store, 'by-id', { from: head }))
    expect(calls.slice(0, 2)).toEqual([`get ${refKey(head)}`, 'get strata.format'])
    expect((await repo.getBranch('by-id')).head).toBe(head)
    await expect(Repository.createBranchIn(store, 'x', { from: 'nope' })).rejects.toMatchObject({ code: 'STRATA_BRANCH_NOT_FOUND' })
    await expect(Repository.createBranchIn(store, 'bad name')).rejects.toMatchObject({ code: 'STRATA_INVALID_NAME' })
    await expect(Repository.createBranchIn(store, 'main')).rejects.toMatchObject({ code: 'STRATA_BRANCH_EXISTS' })
    const s = await scratch()
    cleanups.push(s.cleanup)
    await expect(Repository.createBranchIn(new LocalStore(join(s.dir, 'empty')), 'x')).rejects.toMatchObject({ code: 'STRATA_NOT_A_REPOSITORY' })
    expect((await (await Repository.open(local)).verify({ deep: true })).problems).toEqual([])
  })
})

import { afterEach, describe, expect, it } from 'vitest'
import { LocalStore, Repository, isStrataError, type ObjectStore } from '@strata/core'
import { foldName, refKey } from '@strata/core/engine'
import { FaultyStore, tempDir } from '@strata/core/testing'
import { syntheticDb, writeDb } from './support/databases.js'
import { checkRepository } from './support/oracle.js'
import { stampedPage } from './support/pages.js'
import { runWorkersTogether } from './support/run-node.js'
import { TARGETS } from './support/targets.js'
import type { BranchOp, BranchOpResult } from './workers/brancher.js'

const PAGE_SIZE = 512
const PROCESSES = 4
const ROUNDS_PER_SCENARIO = 8

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

type Scenario = 'create-same' | 'create-case' | 'rename-delete-commit' | 'rename-create-same-target'
const SCENARIOS: Scenario[] = ['create-same', 'create-case', 'rename-delete-commit', 'rename-create-same-target']

/** The operation of process `i` in round `r`. */
function opOf(scenario: Scenario, r: number, i: number): BranchOp {
  switch (scenario) {
    case 'create-same':
      return { op: 'create', name: `same/r${r}` }
    case 'create-case':
      return { op: 'create', name: [`fold-r${r}`, `Fold-r${r}`, `FOLD-r${r}`, `foLD-r${r}`][i]! }
    case 'rename-delete-commit':
      return ([
        { op: 'rename', from: `m-r${r}`, to: `ma-r${r}` },
        { op: 'rename', from: `m-r${r}`, to: `mb-r${r}` },
        { op: 'delete', name: `m-r${r}` },
        { op: 'commit', branch: `m-r${r}`, page: 2, writer: 9, counter: r + 1 },
      ] as const)[i]!
    case 'rename-create-same-target':
      return ([
        { op: 'rename', from: `x-r${r}`, to: `y-r${r}` },
        { op: 'rename', from: `z-r${r}`, to: `y-r${r}` },
        { op: 'create', name: `y-r${r}` },
        { op: 'create', name: `Y-r${r}` },
      ] as const)[i]!
  }
}

for (const target of TARGETS) {
  describe(`branch create / delete / rename races between processes (${target.name})`, () => {
    it(`${PROCESSES} processes, ${SCENARIOS.length} scenarios × ${ROUNDS_PER_SCENARIO} rounds: one winner per name, no lost commit, no branch under two names`, async () => {
      const t = await target.make()
      cleanups.push(t.cleanup)
      const dir = await tempDir('strata-rel-')
      cleanups.push(dir.cleanup)
      const repo = await Repository.init(t.store, { segmentBytes: 4 * PAGE_SIZE })
      await repo.importDatabase(await writeDb(dir.path, 'base.db', syntheticDb(PAGE_SIZE, 16)))
      const rounds = SCENARIOS.length * ROUNDS_PER_SCENARIO
      const scenarioOf = (round: number): Scenario => SCENARIOS[round % SCENARIOS.length]!
      const branchIds = new Map<number, Map<string, string>>()

      const results = await runWorkersTogether<BranchOpResult[]>(
        'brancher.ts',
        Array.from({ length: PROCESSES }, (_, i) => ({ store: t.child, pageSize: PAGE_SIZE, rounds: Array.from({ length: rounds }, (_, r) => opOf(scenarioOf(r), r, i)) })),
        {
          rounds,
          beforeRound: async (r) => {
            const ids = new Map<string, string>()
            if (scenarioOf(r) === 'rename-delete-commit') ids.set(`m-r${r}`, (await repo.createBranch(`m-r${r}`)).branchId)
            if (scenarioOf(r) === 'rename-create-same-target') {
              ids.set(`x-r${r}`, (await repo.createBranch(`x-r${r}`)).branchId)
              ids.set(`z-r${r}`, (await repo.createBranch(`z-r${r}`)).branchId)
            }
            branchIds.set(r, ids)
          },
        },
      )

      const fresh = await Repository.open(t.store)
      const branches = await fresh.listBranches()
      const byName = new Map(branches.map((b) => [b.name, b]))
      const violations: string[] = []
      const check = (cond: boolean, what: string): void => {
        if (!cond) violations.push(what)
      }
      // Identity: no branch lives under two names.
      const seenIds = new Map<string, string>()
      for (const b of branches) {
        const other = seenIds.get(b.branchId)
        check(other === undefined, `branch ${b.branchId} lives under two names: ${other} and ${b.name}`)
        seenIds.set(b.branchId, b.name)
      }
      // The case rule holds between processes too.
      const seenFolds = new Map<string, string>()
      for (const b of branches) {
        const other = seenFolds.get(foldName(b.name))
        check(other === undefined, `names that differ only in case: ${other} and ${b.name}`)
        seenFolds.set(foldName(b.name), b.name)
      }

      const tally: Record<Scenario, { ok: number; failed: number }> = Object.fromEntries(SCENARIOS.map((s) => [s, { ok: 0, failed: 0 }])) as never
      for (let r = 0; r < rounds; r++) {
        const scenario = scenarioOf(r)
        const round = results.map((perProcess) => perProcess[r]!)
        const ok = round.flatMap((x, i) => (x.ok ? [i] : []))
        tally[scenario].ok += ok.length
        tally[scenario].failed += round.length - ok.length
        const codes = round.filter((x) => !x.ok).map((x) => x.code)
        const why = `round ${r} (${scenario}): ${JSON.stringify(round)}`
        const sameId = (a: string | undefined, b: string | undefined, what: string): void => check(a !== undefined && a === b, `${what}: ${why}`)
        switch (scenario) {
          case 'create-same': {
            check(ok.length === 1, `not exactly one creator won: ${why}`)
            check(codes.every((c) => c === 'STRATA_BRANCH_EXISTS'), `unexpected error: ${why}`)
            if (ok.length === 1) sameId(byName.get(`same/r${r}`)?.branchId, round[ok[0]!]!.value, 'the winner is not the branch that exists')
            break
          }
          case 'create-case': {
            // Case twins share one key: exactly one create-only put wins.
            check(ok.length === 1, `not exactly one of four names differing only in case was created: ${why}`)
            check(codes.every((c) => c === 'STRATA_BRANCH_EXISTS'), `unexpected error: ${why}`)
            const live = branches.filter((b) => foldName(b.name) === `fold-r${r}`).map((b) => b.branchId)
            check(JSON.stringify(live) === JSON.stringify(ok.map((i) => round[i]!.value)), `the branches that exist (${live}) are not the creators that won: ${why}`)
            break
          }
          case 'rename-delete-commit': {
            const id = branchIds.get(r)!.get(`m-r${r}`)!
            const [renameA, renameB, del, commit] = round
            check(!(renameA!.ok && renameB!.ok), `two renames of one branch both succeeded: ${why}`)
            const holders = branches.filter((b) => b.branchId === id)
            if (renameA!.ok || renameB!.ok || del!.ok) check(!byName.has(`m-r${r}`), `the old name survived: ${why}`)
            if (commit!.ok) {
              // The branch may be gone (deleted), but wherever it lives its history has the commit.
              for (const h of holders) {
                const log = await fresh.log(h.name)
                check(log.some((e) => e.id === commit!.value), `commit ${commit!.value} lost on ${h.name}: ${why}`)
              }
            }
            if (holders.length === 0) check(del!.ok, `branch vanished without a delete: ${why}`)
            break
          }
          case 'rename-create-same-target': {
            const y = byName.get(`y-r${r}`) ?? byName.get(`Y-r${r}`)
            // All four contend for one key (`Y` is the case twin of `y`): exactly one wins.
            check(ok.length === 1, `not exactly one of two renames and two creates of one name won: ${why}`)
            check(codes.every((c) => c === 'STRATA_BRANCH_EXISTS'), `unexpected error: ${why}`)
            check((y === undefined) === (ok.length === 0), `a name exists although no one won, or the reverse: ${why}`)
            const winner = ok[0]
            if (winner === 0) sameId(y?.branchId, branchIds.get(r)!.get(`x-r${r}`), 'y is not the renamed x')
            if (winner === 1) sameId(y?.branchId, branchIds.get(r)!.get(`z-r${r}`), 'y is not the renamed z')
            if (winner !== undefined && winner >= 2) sameId(y?.branchId, round[winner]!.value, 'y is not the created branch')
            // A rename that lost leaves its source where it was.
            if (winner !== 0) sameId(byName.get(`x-r${r}`)?.branchId, branchIds.get(r)!.get(`x-r${r}`), 'x moved although its rename failed')
            if (winner !== 1) sameId(byName.get(`z-r${r}`)?.branchId, branchIds.get(r)!.get(`z-r${r}`), 'z moved although its rename failed')
            break
          }
        }
      }
      expect(violations).toEqual([])
      await checkRepository(t.store)
      console.info(
        `[reliability] ${target.name}: branch races, ${PROCESSES} processes × ${rounds} rounds: ` +
          SCENARIOS.map((s) => `${s} ${tally[s].ok} ok / ${tally[s].failed} refused`).join('; '),
      )
    }, 180_000)
  })
}

describe('rename: the fence on the old name (in-process, LocalStore)', () => {
  async function setup() {
    const dir = await tempDir('strata-rename-')
    cleanups.push(dir.cleanup)
    const store = new LocalStore(`${dir.path}/store`)
    const repo = await Repository.init(store, { segmentBytes: 4 * PAGE_SIZE })
    await repo.importDatabase(await writeDb(dir.path, 'base.db', syntheticDb(PAGE_SIZE, 16)))
    const b = await repo.createBranch('old')
    await repo.commit('old', { writes: [[2, stampedPage(PAGE_SIZE, 2, 1, 1)]] })
    return { store, repo, branchId: b.branchId, head: (await repo.getBranch('old')).head }
  }
  const codeOf = (e: unknown): string => (isStrataError(e) ? e.code : String(e))

  it('a rename stopped after the fence refuses changes to the old name, still reads, and finishes when run again', async () => {
    const { store, repo, branchId, head } = await setup()
    // The new ref cannot be written, nor read back after the check that the name is free: the
    // rename stops with the old name fenced.
    const faulty = new FaultyStore(store, {
      rules: [
        { operation: 'put', keyPrefix: refKey('new'), times: Infinity },
        { operation: 'get', keyPrefix: refKey('new'), nth: 2, times: Infinity },
      ],
    })
    const broken = await Repository.open(faulty)
    expect(codeOf(await broken.renameBranch('old', 'new').catch((e: unknown) => e))).toBe('STRATA_STORE_ERROR')
    const e = await repo.commit('old', { writes: [[3, stampedPage(PAGE_SIZE, 3, 1, 1)]] }).catch((x: unknown) => x)
    expect(codeOf(e)).toBe('STRATA_BRANCH_NOT_FOUND')
    expect((e as Error).message).toContain('being renamed to "new"')
    expect(codeOf(await repo.materialize('old').catch((x: unknown) => x))).toBe('STRATA_BRANCH_NOT_FOUND')
    expect(codeOf(await repo.deleteBranch('old').catch((x: unknown) => x))).toBe('STRATA_BRANCH_NOT_FOUND')
    expect(codeOf(await repo.renameBranch('old', 'elsewhere').catch((x: unknown) => x))).toBe('STRATA_BRANCH_NOT_FOUND')
    expect(codeOf(await repo.createBranch('old').catch((x: unknown) => x))).toBe('STRATA_BRANCH_EXISTS')
    await repo.readDatabase('old')
    expect((await repo.verify({ deep: true })).ok).toBe(true)
    const done = await repo.renameBranch('old', 'new')
    expect(done).toMatchObject({ name: 'new', branchId, head })
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['main', 'new'])
  })

  it('a rename stopped after creating the new name finishes when run again; a failed create gives the name back', async () => {
    const { store, repo, branchId, head } = await setup()
    // The first put to `old` is the fence; the second, turning it into a tombstone, fails.
    const faulty = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: refKey('old'), nth: 2 }] })
    expect(codeOf(await (await Repository.open(faulty)).renameBranch('old', 'new').catch((e: unknown) => e))).toBe('STRATA_STORE_ERROR')
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['main', 'new', 'old'])
    expect(await repo.renameBranch('old', 'new')).toMatchObject({ branchId, head })
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['main', 'new'])
    // The new ref's put fails but can be read back (absent): the fence is lifted, nothing moved.
    const failing = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: refKey('newer') }] })
    expect(codeOf(await (await Repository.open(failing)).renameBranch('new', 'newer').catch((e: unknown) => e))).toBe('STRATA_STORE_ERROR')
    await repo.commit('new', { writes: [[4, stampedPage(PAGE_SIZE, 4, 1, 1)]] })
    // The put lands but reports a failure: the rename sees its own ref and finishes.
    const lost = new FaultyStore(store, { rules: [{ operation: 'put', keyPrefix: refKey('newer'), when: 'after' }] })
    expect(await (await Repository.open(lost)).renameBranch('new', 'newer')).toMatchObject({ name: 'newer', branchId })
    expect((await repo.listBranches()).map((b) => b.name)).toEqual(['main', 'newer'])
  })

  it('a commit that read the branch before the fence fails with a conflict; retrying finds the name gone; nothing is lost', async () => {
    const { store, repo } = await setup()
    let renamed = false
    // A store that runs the rename just before the commit's compare-and-swap of the ref.
    const racing: ObjectStore = {
      url: store.url,
      get: (k, o) => store.get(k, o),
      head: (k, o) => store.head(k, o),
      list: (p, o) => store.list(p, o),
      delete: (k) => store.delete(k),
      put: async (k, body, o) => {
        if (k === refKey('old') && o?.ifMatch !== undefined && !renamed) {
          renamed = true
          await repo.renameBranch('old', 'new')
        }
        return store.put(k, body, o)
      },
    }
    const writer = await Repository.open(racing)
    const e = await writer.commit('old', { writes: [[5, stampedPage(PAGE_SIZE, 5, 1, 1)]] }).catch((x: unknown) => x)
    expect(renamed).toBe(true)
    expect(codeOf(e)).toBe('STRATA_CONFLICT')
    expect(codeOf(await writer.commitWithRetry('old', { writes: [[5, stampedPage(PAGE_SIZE, 5, 1, 1)]] }).catch((x: unknown) => x))).toBe('STRATA_BRANCH_NOT_FOUND')
    // Nothing of the commit is visible under either name.
    expect((await repo.readDatabase('new')).subarray(4 * PAGE_SIZE, 5 * PAGE_SIZE)).toEqual(syntheticDb(PAGE_SIZE, 16).subarray(4 * PAGE_SIZE, 5 * PAGE_SIZE))
  })
})

import { join } from 'node:path'
import { expect } from 'vitest'
import { LocalStore, Repository, isStrataError, type ObjectStore } from '@strata/core'
import { REPO_OPTIONS, baseDb, runOp, storeDir, type CrashOp } from './crash-ops.js'
import { checkRepository } from './oracle.js'

/** What the operation may leave: each branch's bytes and head. */
export interface Observed {
  branches: Map<string, { head: string; bytes: Uint8Array; standalone: boolean }>
  objects: Map<string, number>
}

/**
 * Every branch (bytes, head, standalone or not) and the object count per key prefix. With
 * `verify`, the full oracle runs first (verify --deep); reading every branch checks every page
 * hash and each snapshot's checksum either way.
 */
export async function observe(dir: string, verify = true, store: ObjectStore = new LocalStore(storeDir(dir))): Promise<Observed> {
  const checked = verify ? (await checkRepository(store)).branches : null
  const repo = await Repository.open(store)
  const out: Observed['branches'] = new Map()
  for (const b of await repo.listBranches()) {
    const m = await repo.snapshot(b.head)
    out.set(b.name, { head: b.head, bytes: checked?.get(b.name) ?? (await repo.readDatabase(b.name)), standalone: m.fallback === null })
  }
  const objects = new Map<string, number>()
  for await (const o of store.list('')) {
    const prefix = o.key.split('/')[0]!
    objects.set(prefix, (objects.get(prefix) ?? 0) + 1)
  }
  return { branches: out, objects }
}

export const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b))

/** Which state a killed run left: 'old', 'new', or a description of what is wrong. */
export function classify(op: CrashOp, got: Observed, before: Observed, after: Observed): string {
  const names = [...got.branches.keys()].sort().join(',')
  switch (op) {
    case 'import': {
      if (got.branches.size === 0) return 'old'
      if (names === 'main' && same(got.branches.get('main')!.bytes, baseDb())) return 'new'
      return `import left branches ${names}`
    }
    case 'commit': {
      if (!same(got.branches.get('main')?.bytes, before.branches.get('main')!.bytes)) return 'main changed'
      const b = got.branches.get('b')?.bytes
      if (same(b, before.branches.get('b')!.bytes)) return 'old'
      if (same(b, after.branches.get('b')!.bytes)) return 'new'
      return 'b holds neither the old nor the new state'
    }
    case 'materialize':
    case 'materialize-copy': {
      for (const [name, s] of before.branches) if (!same(got.branches.get(name)?.bytes, s.bytes)) return `${name} changed content`
      const b = got.branches.get('b')!
      if (b.head === before.branches.get('b')!.head) return 'old'
      if (b.standalone) return 'new'
      return 'b moved to a snapshot that is not standalone'
    }
    case 'gc': {
      if (names !== [...before.branches.keys()].sort().join(',')) return `branches changed to ${names}`
      for (const [name, s] of before.branches) if (!same(got.branches.get(name)?.bytes, s.bytes)) return `${name} changed content`
      const swept = (got.objects.get('segments') ?? 0) + (got.objects.get('snapshots') ?? 0)
      const full = (before.objects.get('segments') ?? 0) + (before.objects.get('snapshots') ?? 0)
      return swept >= full ? 'old' : swept <= (after.objects.get('segments') ?? 0) + (after.objects.get('snapshots') ?? 0) ? 'new' : 'partly swept'
    }
  }
}

/** Run the operation again in this process, and check the result is the operation's outcome. */
export async function rerun(op: CrashOp, dir: string, state: string, before: Observed, after: Observed): Promise<string> {
  const repo = await Repository.open(new LocalStore(storeDir(dir)), REPO_OPTIONS)
  let outcome = 'reran'
  if (op === 'import' && state === 'new') {
    const e = await runOp(op, repo, dir).catch((x: unknown) => x)
    if (!isStrataError(e, 'STRATA_BRANCH_EXISTS')) throw new Error(`re-importing onto the imported main: ${String(e)}`)
    await repo.importDatabase(join(dir, 'base.db'), { branch: 'again' })
    outcome = 'main existed (refused); imported again as another branch'
  } else {
    await runOp(op, repo, dir)
  }
  const got = await observe(dir, false)
  switch (op) {
    case 'import':
      expect(same(got.branches.get('main')?.bytes, baseDb())).toBe(true)
      break
    case 'commit':
    case 'materialize':
    case 'materialize-copy':
    case 'gc':
      for (const [name, s] of after.branches) expect(same(got.branches.get(name)?.bytes, s.bytes), `${name} after the rerun`).toBe(true)
      if (op === 'materialize' || op === 'materialize-copy') expect(got.branches.get('b')!.standalone).toBe(true)
      if (op === 'gc') {
        // Nothing the interrupted run left behind survives the rerun: another gc finds nothing to delete.
        const dry = await repo.gc({ dryRun: true, graceMs: 0, retention: { keepLast: 1, keepWithinMs: 0 } })
        expect(dry.deleted.map((d) => d.key)).toEqual([])
        expect([...got.branches.keys()].sort()).toEqual([...before.branches.keys()].sort())
      }
      break
  }
  return outcome
}


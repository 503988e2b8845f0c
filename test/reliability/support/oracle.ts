import { Repository, type ObjectStore } from '@strata/core'

/** What {@link checkRepository} found. */
export interface RepositoryCheck {
  /** Every branch's whole database, read through a fresh repository (no cache). */
  branches: Map<string, Uint8Array>
  /** Objects verify checked. */
  checked: { refs: number; snapshots: number; segments: number; pages: number }
}

/**
 * The post-damage oracle: open the store afresh, run `verify --deep` (every ref resolves, every
 * referenced object exists with the right length, every page re-hashes, every checksum agrees)
 * and read every branch's database in full (which checks page hashes and the snapshot checksum
 * again on the export path). Throws with the problems found.
 */
export async function checkRepository(store: ObjectStore): Promise<RepositoryCheck> {
  const repo = await Repository.open(store)
  const result = await repo.verify({ deep: true })
  if (!result.ok) {
    throw new Error(`verify --deep found ${result.problems.length} problem(s):\n${result.problems.map((p) => `  ${p.code}: ${p.message}`).join('\n')}`)
  }
  const branches = new Map<string, Uint8Array>()
  for (const b of await repo.listBranches()) branches.set(b.name, await repo.readDatabase(b.name))
  return { branches, checked: result.checked }
}

/** Index of the entry of `states` equal to `bytes`, or -1. */
export function whichState(bytes: Uint8Array | undefined, states: readonly (Uint8Array | undefined)[]): number {
  return states.findIndex((s) => (s === undefined ? bytes === undefined : bytes !== undefined && Buffer.from(s).equals(Buffer.from(bytes))))
}

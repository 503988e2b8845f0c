import { parseStoreRef } from '../../format/store-ref.js'
import { MAIN_BRANCH, validateName } from '../../format/names.js'
import { addBranch, checkBranchTtl, type BranchInfo, type CreateBranchOptions } from '../branches/branches.js'
import { assertNameFree, readRef } from '../branches/refs.js'
import { branchTarget, resolveTarget } from '../branches/resolve-target.js'
import { createContext, openContext, type RepoContext, type RepositoryOptions } from '../read/context.js'
import type { ObjectStore } from '../../store/object-store.js'
import { stackOnOtherStore } from './cross-store.js'

/**
 * Create branch `name` stacked on `from` (default `main`): a branch name or snapshot id of this
 * store, or `<store-url>#<branch-or-snapshot>` in another store (see `parseStoreRef`). O(1):
 * writes a branch record and a ref, copies no page and reads no manifest. From another store it
 * also reads the base's manifest once, writes a stub snapshot that falls back into it, and pins
 * the base snapshot there unless `pin: false` (see `stackOnOtherStore`); that store must be on
 * the allowlist.
 */
export async function createBranch(ctx: RepoContext, name: string, opts: CreateBranchOptions = {}): Promise<BranchInfo> {
  validateName(name)
  checkBranchTtl(opts.ttlMs)
  const other = parseStoreRef(opts.from ?? MAIN_BRANCH)
  // Name first for another store: stacking there writes a pin and a stub. Locally the
  // create-only put of the ref is the check (a lost race removes the branch record again).
  if (other) await assertNameFree(ctx.store, name)
  const readSince = { at: ctx.now().getTime(), perf: performance.now() }
  const source = other ? await stackOnOtherStore(ctx, other, opts.pin === undefined ? {} : { pin: opts.pin }) : { ...(await resolveTarget(ctx, opts.from ?? MAIN_BRANCH)), crossStore: null }
  return addBranch(ctx, name, source, opts.ttlMs, readSince)
}

/**
 * Create branch `name` in the repository in `store` as {@link createBranch} does, but from a branch
 * of that store without opening the repository first when the source ref itself proves the store
 * is of the current format (see `decodeRefRecord`): the format marker is then read only if the
 * create must check, under the full handshake, that gc kept the source head. Anything else — another
 * store, a tag, a snapshot id, a ref that proves nothing, no such branch — opens the repository
 * (reading the marker: `NotARepositoryError`, `UnsupportedFormatError`, read-only 1.x) first. One
 * request fewer for a process that opens a store only to create a branch.
 */
export async function createBranchIn(store: ObjectStore, name: string, opts: CreateBranchOptions = {}, options: RepositoryOptions = {}): Promise<BranchInfo> {
  const from = opts.from ?? MAIN_BRANCH
  if (parseStoreRef(from) === null && isName(from)) {
    validateName(name)
    checkBranchTtl(opts.ttlMs)
    const bare = createContext(store, '', options)
    const readSince = { at: bare.now().getTime(), perf: performance.now() }
    const r = await readRef(store, from).catch(() => null)
    if (r?.provesFormat) return addBranch(bare, name, { ...branchTarget(from, r), crossStore: null }, opts.ttlMs, readSince, () => openContext(store, options))
  }
  return createBranch(await openContext(store, options), name, opts)
}

function isName(spec: string): boolean {
  try {
    validateName(spec)
    return true
  } catch {
    return false
  }
}

import { parseStoreRef } from '../../format/store-ref.js'
import { MAIN_BRANCH, validateName } from '../../format/names.js'
import { addBranch, checkBranchTtl, type BranchInfo, type CreateBranchOptions } from '../branches/branches.js'
import { assertNameFree } from '../branches/refs.js'
import { resolveTarget } from '../branches/resolve-target.js'
import type { RepoContext } from '../read/context.js'
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

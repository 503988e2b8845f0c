import { ProtectedBranchError, isStrataError } from '../../errors/index.js'
import type { BranchId } from '../../format/ids.js'
import { validateName } from '../../format/names.js'
import { isBranchHeld } from '../reachability/holds.js'
import type { OperationOptions } from '../read/progress.js'
import { listRefs, removeRef, requireRef } from '../branches/refs.js'
import { MAIN_BRANCH } from '../../format/names.js'
import { nowIso, type RepoContext } from '../read/context.js'
import { materialize, type MaterializeResult } from '../write/materialize.js'

/** Options for deleting a branch. */
export interface DeleteBranchOptions extends OperationOptions {
  /**
   * First materialize every branch whose chain runs through one of this branch's snapshots, so
   * that nothing stacks on them any more and gc can free all of this branch's pages. Default false.
   */
  detachChildren?: boolean
  /**
   * With `detachChildren`: materialize the children as full copies (see `MaterializeOptions.copy`)
   * instead of by reference. By reference is cheap, but a child keeps alive the segments of this
   * branch that hold pages it reads; copies let gc free every segment of this branch.
   */
  copy?: boolean
}

/** What deleting a branch did. */
export interface DeleteBranchResult {
  name: string
  branchId: string
  /** The head the branch had. */
  head: string
  /** Branches materialized first (with `detachChildren`), in the order they were. */
  detached: MaterializeResult[]
}

/** Rounds of looking for new children before giving up the race with branch creation. */
const MAX_DETACH_ROUNDS = 5

/**
 * Delete branch `name`: remove its ref, so the name is free at once. The removal is a
 * compare-and-swap against the ref as first read (see `removeRef`): a commit, rename or reset that
 * lands while this runs makes it fail with `ConflictError` and delete nothing, so a change that
 * reported success is never deleted unseen. `main` cannot be deleted,
 * nor can a held branch (`ProtectedBranchError`; unhold it first). Without `detachChildren`,
 * branches stacked on its snapshots keep them alive and gc frees only what nothing reaches.
 * Retained history of a detached branch may still stack on this branch's snapshots; those go
 * when retention lets them.
 *
 * With `detachChildren`, every other branch whose chain contains a snapshot committed on
 * this branch is materialized first (by reference unless `copy`: then the segments of this branch
 * that hold pages a child reads stay, owned by the child, and gc frees the rest) (children, and their own children, since those stack through
 * a child's snapshots onto this branch's). Idempotent: re-running after a crash materializes
 * only the branches still stacked on it. A branch created from it while this runs is detached
 * in a further round; a concurrent commit to a child makes its materialize fail with
 * `ConflictError` and nothing is deleted.
 */
export async function deleteBranch(ctx: RepoContext, name: string, opts: DeleteBranchOptions = {}): Promise<DeleteBranchResult> {
  validateName(name)
  if (name === MAIN_BRANCH) throw new ProtectedBranchError({ name, operation: 'deleted' })
  const current = await requireRef(ctx.store, name)
  const { ref } = current
  if (await isBranchHeld(ctx, name)) throw new ProtectedBranchError({ name, operation: `deleted while it is held (release it with \`strata unhold ${name}\` first)` })
  const detached: MaterializeResult[] = []
  if (opts.detachChildren) {
    for (let round = 0; round < MAX_DETACH_ROUNDS; round++) {
      const children = await stackedOn(ctx, ref.branchId, name)
      if (children.length === 0) break
      for (const child of children) detached.push(await materialize(ctx, child, { message: `materialize ${child}: detach from deleted branch ${name}`, ...(opts.copy ? { copy: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }))
    }
  }
  await removeRef(ctx.store, current, nowIso(ctx))
  return { name, branchId: ref.branchId, head: ref.head, detached }
}

/** Branches (other than `self`) whose head's chain contains a snapshot committed on `branchId`. */
async function stackedOn(ctx: RepoContext, branchId: BranchId, self: string): Promise<string[]> {
  const out: string[] = []
  for (const { ref: other } of await listRefs(ctx.store)) {
    if (other.name === self) continue
    try {
      const levels = await ctx.chains.chain(other.head)
      if (levels.some((l) => l.store.id === ctx.storeId && l.manifest.branchId === branchId)) out.push(other.name)
    } catch (e) {
      // A child whose chain is already broken cannot be materialized; deleting its parent does
      // not make it worse, and verify reports it.
      if (!isStrataError(e)) throw e
    }
  }
  return out
}

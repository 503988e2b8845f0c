import type { SnapshotId } from '../../format/ids.js'
import { validateName } from '../../format/names.js'
import type { ResolvedTable } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'
import { fetchHintedRuns, verifyHintedPages, type FirstPages } from '../read/first-pages.js'
import { requireRef } from './refs.js'

/** A branch resolved for reading (see {@link resolveBranch}). */
export interface ResolvedBranch {
  head: SnapshotId
  base: SnapshotId
  table: ResolvedTable
  /** The first pages fetched on the ref's hint and verified, or null (not asked, no hint, nothing verified). */
  firstPages: FirstPages | null
}

/** What {@link resolveBranch} fetches besides the ref and the manifests. */
export interface ResolveBranchOptions {
  /** Fetch the first pages on the ref's hint too. Default false. */
  firstPages?: boolean
  /** Gives up on the hinted fetch (not on the ref or the manifests): the reader then fetches those pages itself. */
  signal?: AbortSignal
}

/**
 * Resolve branch `name` for reading: its ref (`BranchNotFoundError` if there is none, or it is
 * being renamed), then its head's chain of manifests and — with `firstPages`, in parallel with
 * them — the first pages the ref's hint names, verified against the resolved table. So a cold
 * reader has the header and schema pages when the manifest arrives, one round trip earlier than
 * if it asked for them after. A hint that is absent, stale or wrong changes nothing but that.
 */
export async function resolveBranch(ctx: RepoContext, name: string, opts: ResolveBranchOptions = {}): Promise<ResolvedBranch> {
  validateName(name)
  const { ref } = await requireRef(ctx.store, name)
  const hint = opts.firstPages && ref.firstPages?.snapshot === ref.head ? ref.firstPages : null
  const [table, bodies] = await Promise.all([ctx.chains.resolve(ref.head, { branch: name }), hint ? fetchHintedRuns(ctx.store, hint, opts.signal) : null])
  return { head: ref.head, base: ref.base, table, firstPages: hint && bodies ? verifyHintedPages(table, hint, bodies) : null }
}

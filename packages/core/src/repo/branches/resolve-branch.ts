import type { SnapshotId } from '../../format/ids.js'
import { validateName } from '../../format/names.js'
import type { ResolvedTable } from '../read/chain.js'
import type { RepoContext } from '../read/context.js'
import { fetchHintedRuns, verifyHintedPages, type FirstPages } from '../read/read-hint.js'
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
 * being renamed), then, all at once, the manifests of its head's chain the ref's read hint lists
 * and — with `firstPages` — the first pages it locates, verified against the resolved table. So a
 * cold reader has the whole chain and the header and schema pages one round trip after the ref,
 * however deep the chain. A hint that is absent, stale or wrong changes nothing but that.
 */
export async function resolveBranch(ctx: RepoContext, name: string, opts: ResolveBranchOptions = {}): Promise<ResolvedBranch> {
  validateName(name)
  const { ref } = await requireRef(ctx.store, name)
  const hint = ref.readHint?.snapshot === ref.head ? ref.readHint : null
  const resolving = ctx.chains.resolve(ref.head, { branch: name })
  // The chain's manifests at once: the walk down its fallback pointers finds each one loaded or
  // on its way. A wrong id costs one read; a failed load is the walk's to report, if it needs it.
  for (const id of hint?.fallbacks ?? []) ctx.chains.manifest(id).catch(() => {})
  const [table, bodies] = await Promise.all([resolving, hint && opts.firstPages ? fetchHintedRuns(ctx.store, hint, opts.signal) : null])
  return { head: ref.head, base: ref.base, table, firstPages: hint && bodies ? verifyHintedPages(table, hint, bodies) : null }
}

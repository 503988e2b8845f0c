import { AbortedError, ConflictError, InvalidArgumentError, isStrataError } from '../../errors/index.js'
import { hashAtEqual, hashPage } from '../../format/hash.js'
import type { SnapshotId } from '../../format/ids.js'
import { refKey } from '../../format/keys.js'
import { validateName } from '../../format/names.js'
import type { PageNo } from '../../format/page.js'
import { pageHashOf, shortId, type ResolvedTable } from '../read/chain.js'
import type { CommitOptions, CommitResult } from './commit.js'
import { comparePageTables } from '../read/compare-tables.js'
import { requireRef } from '../branches/refs.js'
import { commit } from './commit.js'
import { type RepoContext } from '../read/context.js'

// Where Strata retries, in one place:
// - Single store requests are retried by the store adapter that knows which failures are
//   transient (S3Store: throttling, 5xx, timeouts, with backoff, reading back a conditional put
//   whose answer was lost). Core never re-sends a single request: on top of the adapter's own
//   attempts that would only multiply them.
// - Whole operations are retried here. Every mutation publishes by one compare-and-swap of a ref
//   after uploading content-addressed, create-only objects, so re-running it from a fresh read of
//   the branch is safe: an attempt that failed left at most unreferenced objects, and one that
//   landed although its answer was lost is recognised (its pages are already the head's).

/** Options of {@link commitWithRetry}: a commit plus how hard to try. */
export interface CommitWithRetryOptions extends CommitOptions {
  /**
   * The head this change was computed against. Pages that changed between it and the head found
   * at commit time are checked for overlap. Default: the branch's head when the call starts.
   */
  expectedHead?: SnapshotId
  /** Attempts in all, the first included; at least 1. Default 8. */
  maxAttempts?: number
  /** Base of the backoff before a retry: retry n waits a random time in `[0, base · 2^(n-1)]`. Default 10 ms. */
  baseDelayMs?: number
  /** Upper bound of one backoff. Default 1000 ms. */
  maxDelayMs?: number
  /** Also retry failures of the store that are marked retryable (`StoreError.data.retryable`). Default true. */
  retryStoreErrors?: boolean
}

/** What {@link commitWithRetry} did. */
export interface CommitWithRetryResult extends CommitResult {
  /** Attempts made, the successful one included. */
  attempts: number
  /** The heads the change was rebased onto, oldest first (empty: it landed where it was computed). */
  rebasedOnto: SnapshotId[]
}

const DEFAULT_MAX_ATTEMPTS = 8

/**
 * Commit `opts.writes` (and `opts.pageCount`) to `branch`, rebasing onto concurrent commits that
 * touched other pages.
 *
 * Each attempt is an ordinary commit guarded by the head the change was last checked against.
 * When another writer moved the branch (`ConflictError`), the branch is re-read and the pages
 * that changed between that head and the new one are compared — from page tables and hashes,
 * downloading no page — with the pages this change writes (and, for a change of size, the pages
 * it adds or removes). No overlap: the same writes are committed on the new head. Overlap: a
 * `ConflictError` whose `data.overlapping` lists the pages both changed, and nothing is written.
 * A page both changed to identical bytes is not an overlap. Retryable store failures are
 * retried the same way (after re-reading the branch).
 *
 * If an earlier attempt landed but its answer was lost, or someone made the very same change,
 * the last attempt finds nothing left to change: the result has `changed: false` and `snapshot`
 * is the head that holds the change. Gives up with the last error after `maxAttempts`.
 */
export async function commitWithRetry(ctx: RepoContext, branch: string, opts: CommitWithRetryOptions): Promise<CommitWithRetryResult> {
  validateName(branch)
  const { maxAttempts = DEFAULT_MAX_ATTEMPTS, baseDelayMs = 10, maxDelayMs = 1000, retryStoreErrors = true, ...commitOpts } = opts
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new InvalidArgumentError({ argument: 'maxAttempts', reason: `${maxAttempts} is not a whole number ≥ 1` })
  // The writes are replayed on every attempt, so an iterable that can be read once is copied.
  const writes: [number, Uint8Array][] = [...(opts.writes ?? [])].map(([p, page]) => [p, page])
  const retryable = (e: unknown): boolean =>
    isStrataError(e, 'STRATA_CONFLICT') || (retryStoreErrors && isStrataError(e, 'STRATA_STORE_ERROR') && e.data.retryable === true)
  let expected: SnapshotId | null = opts.expectedHead ?? null
  const rebasedOnto: SnapshotId[] = []
  for (let attempt = 1; ; attempt++) {
    let failure: unknown
    let current: SnapshotId | null = null
    try {
      expected ??= (await requireRef(ctx.store, branch)).ref.head
      const result = await commit(ctx, branch, { ...commitOpts, writes, expectedHead: expected })
      return { ...result, attempts: attempt, rebasedOnto }
    } catch (e) {
      if (!retryable(e)) throw e
      failure = e
    }
    // Where is the branch now, and does what moved it clash with this change? A store failure
    // here is retried like one in the commit.
    let clash: ConflictError | null = null
    try {
      current = (await requireRef(ctx.store, branch)).ref.head
      if (expected !== null && current !== expected) {
        const overlapping = await overlap(ctx, branch, expected, current, writes, opts.pageCount)
        if (overlapping.length > 0) {
          clash = new ConflictError(
            { key: refKey(branch), condition: 'if-match', branch, expected, actual: current, overlapping },
            `branch "${branch}" moved from ${shortId(expected)} to ${shortId(current)}, and that change touched ${describePages(overlapping)} this commit also changes; ` +
              'nothing was written — re-read the branch, redo the change on it and commit again',
          )
        } else {
          rebasedOnto.push(current)
          expected = current
        }
      }
    } catch (e) {
      if (!retryable(e)) throw e
      failure = e
    }
    if (clash) throw clash
    if (attempt >= maxAttempts) {
      if (isStrataError(failure, 'STRATA_CONFLICT')) {
        throw new ConflictError(
          { key: refKey(branch), condition: 'if-match', branch, ...(expected ? { expected } : {}), ...(current ? { actual: current } : {}) },
          `branch "${branch}" kept moving: gave up after ${attempt} attempts; nothing of this commit is visible — retry later`,
        )
      }
      throw failure
    }
    await backoff(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)), commitOpts.signal)
  }
}

/**
 * The pages a change (`writes`, optional new `pageCount`) computed against snapshot `from` would
 * clash on if replayed on snapshot `to`, ascending. Reads manifests only.
 */
async function overlap(
  ctx: RepoContext,
  branch: string,
  from: SnapshotId,
  to: SnapshotId,
  writes: readonly (readonly [number, Uint8Array])[],
  pageCount: number | undefined,
): Promise<number[]> {
  const [a, b] = [await ctx.chains.resolve(from, { branch: branch }), await ctx.chains.resolve(to, { branch: branch })]
  const diff = comparePageTables(a, b)
  const theirs = new Set<number>([...diff.changed, ...diff.added, ...diff.removed])
  const out = new Set<number>()
  const written = new Set<number>()
  let maxWritten = 0
  for (const [p, page] of writes) {
    written.add(p)
    maxWritten = Math.max(maxWritten, p)
    if (theirs.has(p) && !sameContent(b, p, page)) out.add(p)
  }
  if (pageCount !== undefined) {
    // This change cuts the database to `pageCount`: pages past it that they changed or added would vanish.
    for (const p of theirs) if (p > pageCount && p <= b.pageCount) out.add(p)
  }
  // They cut pages this change's database still holds and it does not write itself: keeping them would need content no one has.
  const keepsUpTo = pageCount ?? maxWritten
  for (const p of diff.removed) if (p <= keepsUpTo && !written.has(p)) out.add(p)
  return [...out].sort((x, y) => x - y)
}

/** Whether page `p` of `t` holds exactly `page`. */
function sameContent(t: ResolvedTable, p: number, page: Uint8Array): boolean {
  if (p > t.pageCount) return false
  const h = pageHashOf(t, p as PageNo)
  return h !== null && page.byteLength === t.pageSize && hashAtEqual(h, 0, hashPage(page), 0)
}

function describePages(pages: readonly number[]): string {
  const shown = pages.slice(0, 10).join(', ')
  return `${pages.length === 1 ? 'page' : 'pages'} ${shown}${pages.length > 10 ? `, … (${pages.length} in all)` : ''}`
}

async function backoff(capMs: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw new AbortedError({ operation: 'commit (retry)' })
  const ms = Math.random() * capMs
  if (ms < 1) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AbortedError({ operation: 'commit (retry)' }))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

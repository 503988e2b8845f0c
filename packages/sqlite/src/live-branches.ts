import type { BranchInfo, Repository, SnapshotId } from '@strata/core'
import { InvalidStateError } from './errors/index.js'
import type { LiveCommitOptions, LiveCommitResult } from './live-commit.js'

/** What to do with uncommitted changes when switching branches. */
export type OnUncommitted = 'refuse' | 'commit' | 'discard'

/** Options of {@link LiveBranches.switch}. */
export interface SwitchOptions extends LiveCommitOptions {
  /**
   * Uncommitted changes on the current branch: `refuse` (the default) throws
   * `UncommittedChangesError` and changes nothing; `commit` commits them first (with this
   * object's `message`, `author` and `tags`); `discard` drops them.
   */
  onUncommitted?: OnUncommitted
}

/** What a switch did. */
export interface SwitchResult {
  /** The branch now open. */
  branch: string
  /** The snapshot it was hydrated from. */
  head: SnapshotId
  /** The commit of the previous branch's changes (`onUncommitted: 'commit'`), else null. */
  commit: LiveCommitResult | null
}

/** Options of {@link LiveBranches.overwrite}. */
export interface OverwriteOptions extends LiveCommitOptions {
  /**
   * Overwrite only if the target's head is this snapshot (else `ConflictError`). Default: the
   * head read when the overwrite starts, so a commit racing with it is never lost silently.
   */
  expectedHead?: SnapshotId
}

/** Options of {@link LiveBranches.delete}: those of `Repository.deleteBranch`. */
export type DeleteOptions = Parameters<Repository['deleteBranch']>[1]

/** What {@link LiveBranches.delete} returns: what `Repository.deleteBranch` returns. */
export type DeleteResult = Awaited<ReturnType<Repository['deleteBranch']>>

/** The operations of a live handle that the facade calls (internal). */
export interface BranchesHost {
  readonly repo: Repository
  current(): string
  assertOpen(operation: string): void
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  switchTo(name: string, opts: SwitchOptions): Promise<SwitchResult>
  overwrite(target: string, opts: OverwriteOptions): Promise<LiveCommitResult>
}

/**
 * The branches of a live handle's repository, seen from the handle: which one is open, and
 * the operations that create, open, delete and promote branches.
 */
export class LiveBranches {
  readonly #host: BranchesHost

  /** Internal: built by the live handle. */
  constructor(host: BranchesHost) {
    this.#host = host
  }

  /** The name of the branch the handle has open. */
  get current(): string {
    return this.#host.current()
  }

  /** Every branch of the repository, sorted by name. */
  async list(): Promise<BranchInfo[]> {
    this.#host.assertOpen('list branches')
    return this.#host.repo.listBranches()
  }

  /**
   * Create branch `name` from `from` (a branch name or snapshot id; default: the current
   * branch's committed head — uncommitted changes are not part of it). O(1). Does not switch.
   */
  async create(name: string, opts: { from?: string; ttlMs?: number } = {}): Promise<BranchInfo> {
    this.#host.assertOpen('create a branch')
    return this.#host.exclusive(() => this.#host.repo.createBranch(name, { ...opts, from: opts.from ?? this.#host.current() }))
  }

  /**
   * Open branch `name` in this handle: deal with uncommitted changes as `onUncommitted` says
   * (default `refuse`: `UncommittedChangesError`), then bring the working database to the
   * target's head — in file mode by rewriting only the pages that differ (from the page tables)
   * and the uncommitted ones, else by hydrating afresh. The handle's `db` is replaced by a new
   * connection (the old one is closed: prepared statements of it are dead). Switching to the
   * current branch re-reads its head. On any error the handle stays on its branch, unchanged.
   */
  async switch(name: string, opts: SwitchOptions = {}): Promise<SwitchResult> {
    this.#host.assertOpen('switch branches')
    return this.#host.switchTo(name, opts)
  }

  /**
   * Delete branch `name` through `Repository.deleteBranch` (options and result are its). The
   * branch the handle has open cannot be deleted (`InvalidStateError`); `main` never can
   * (`ProtectedBranchError`).
   */
  async delete(name: string, opts?: DeleteOptions): Promise<DeleteResult> {
    this.#host.assertOpen('delete a branch')
    if (name === this.#host.current()) {
      throw new InvalidStateError({ operation: `delete branch "${name}"`, reason: 'it is the branch this handle has open; switch to another branch first' })
    }
    return this.#host.exclusive(() => this.#host.repo.deleteBranch(name, opts))
  }

  /**
   * Make the handle's current database state — committed or not — the new head of branch
   * `target` ("the experiment succeeded, promote it"). The pages that differ from the target's
   * head are committed onto the target's base, with compare-and-swap on the target's head
   * (`ConflictError` if it moved). The handle stays on its branch; its own uncommitted changes
   * stay uncommitted there, unless `target` is the current branch, which this then force-commits
   * over whatever its head is now. The page sizes must match.
   */
  async overwrite(target: string, opts: OverwriteOptions = {}): Promise<LiveCommitResult> {
    this.#host.assertOpen('overwrite a branch')
    return this.#host.overwrite(target, opts)
  }
}

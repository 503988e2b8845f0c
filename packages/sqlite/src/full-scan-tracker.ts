import { hashPage } from '@strata/core/engine'
import type { CapturedChanges, ChangeTracker, ChangeTrackerFactory, TrackerContext } from './change-tracker.js'
import type { PageHashes } from './page-hashes.js'

/**
 * The first change tracker: hash every page of the working database and compare each with the
 * reference state's hash. Needs no hooks into SQLite and is exact, but costs O(database) per
 * capture — every page is read and SHA-256-hashed — however small the change. Nothing is
 * downloaded: the reference hashes come from manifests.
 */
export class FullScanTracker implements ChangeTracker {
  readonly name = 'full-scan'

  constructor(readonly context: TrackerContext) {}

  capture(against: PageHashes = this.context.committed()): CapturedChanges {
    const writes = new Map<number, Uint8Array>()
    const hashes = new Map<number, Uint8Array>()
    const { pageCount } = this.context.working.scan((p, page) => {
      const h = hashPage(page)
      if (!against.matches(p, h)) {
        writes.set(p, page.slice())
        hashes.set(p, h)
      }
    })
    return { pageCount, writes, hashes, pagesScanned: pageCount, via: this.name }
  }

  hasChanges(): boolean {
    const committed = this.context.committed()
    let changed = false
    const { pageCount } = this.context.working.scan((p, page) => {
      if (committed.matches(p, hashPage(page))) return true
      changed = true
      return false
    })
    return changed || pageCount !== committed.pageCount
  }

  committed(): void {}

  dispose(): void {}
}

/** The factory of {@link FullScanTracker}, for `tracker:` when exact hashing of every page is wanted (the default is `walTracker`). */
export const fullScanTracker: ChangeTrackerFactory = (context) => new FullScanTracker(context)

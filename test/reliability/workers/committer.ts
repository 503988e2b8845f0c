// A writer process for the concurrent-writer tests: opens the shared store, waits for the common
// start time, then makes `commits` commits to one branch, each writing this writer's own pages
// stamped with the commit's counter. Prints one JSON document: what landed and what conflicted.
import { Repository, isStrataError } from '@strata/core'
import { openChildStore, readyThenWait, type ChildStoreSpec } from '../support/open-child-store.js'
import { pagesOf, stampedPage } from '../support/pages.js'

interface Arg {
  store: ChildStoreSpec
  branch: string
  writer: number
  pagesPerWriter: number
  pageSize: number
  commits: number
  /** Use commitWithRetry (every commit must land) instead of one guarded attempt. */
  retry: boolean
}

const arg = JSON.parse(process.argv[2]!) as Arg
const store = await openChildStore(arg.store)
const repo = await Repository.open(store)
const landed: { snapshot: string; counter: number; attempts: number }[] = []
const conflicts: number[] = []
await readyThenWait()
for (let counter = 1; counter <= arg.commits; counter++) {
  const writes = pagesOf(arg.writer, arg.pagesPerWriter).map((p) => [p, stampedPage(arg.pageSize, p, arg.writer, counter)] as [number, Uint8Array])
  const message = `writer ${arg.writer} commit ${counter}`
  if (arg.retry) {
    const r = await repo.commitWithRetry(arg.branch, { writes, message, maxAttempts: 200, baseDelayMs: 2, maxDelayMs: 50 })
    if (!r.changed) throw new Error(`commit ${counter} of writer ${arg.writer} changed nothing`)
    landed.push({ snapshot: r.snapshot, counter, attempts: r.attempts })
    continue
  }
  const head = (await repo.getBranch(arg.branch)).head
  try {
    const r = await repo.commit(arg.branch, { writes, message, expectedHead: head })
    landed.push({ snapshot: r.snapshot, counter, attempts: 1 })
  } catch (e) {
    if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
    conflicts.push(counter)
  }
}
await repo.close()
process.stdout.write(`${JSON.stringify({ writer: arg.writer, landed, conflicts })}\n`)

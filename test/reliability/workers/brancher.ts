// A process for the branch-race tests: in each round it waits for the common start, then runs
// its one branch operation of that round (create, delete, rename or commit) against the shared
// store. Prints one JSON document: per round, what it did and whether it succeeded (with the
// error code if not).
import { Repository, isStrataError } from '@strata/core'
import { openChildStore, readyThenWait, type ChildStoreSpec } from '../support/open-child-store.js'
import { stampedPage } from '../support/pages.js'

/** One branch operation. */
export type BranchOp =
  | { op: 'create'; name: string; from?: string }
  | { op: 'delete'; name: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'commit'; branch: string; page: number; writer: number; counter: number }
  | { op: 'none' }

/** The outcome of one operation. */
export interface BranchOpResult {
  ok: boolean
  code?: string
  message?: string
  /** For a commit: the snapshot it made. For a create or rename: the branch id. */
  value?: string
}

interface Arg {
  store: ChildStoreSpec
  pageSize: number
  /** This process's operation in each round. */
  rounds: BranchOp[]
}

const arg = JSON.parse(process.argv[2]!) as Arg
const repo = await Repository.open(await openChildStore(arg.store))
const results: BranchOpResult[] = []

async function run(op: BranchOp): Promise<string | undefined> {
  switch (op.op) {
    case 'create':
      return (await repo.createBranch(op.name, op.from === undefined ? {} : { from: op.from })).branchId
    case 'delete':
      await repo.deleteBranch(op.name)
      return undefined
    case 'rename':
      return (await repo.renameBranch(op.from, op.to)).branchId
    case 'commit':
      return (await repo.commit(op.branch, { writes: [[op.page, stampedPage(arg.pageSize, op.page, op.writer, op.counter)]] })).snapshot
    case 'none':
      return undefined
  }
}

for (const op of arg.rounds) {
  await readyThenWait()
  try {
    const value = await run(op)
    results.push(value === undefined ? { ok: true } : { ok: true, value })
  } catch (e) {
    if (!isStrataError(e)) throw e
    results.push({ ok: false, code: e.code, message: e.message })
  }
}
await repo.close()
process.stdout.write(`${JSON.stringify(results)}\n`)

import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import type { ObjectStore } from '@strata/core'

/** How a child process opens the store its parent uses: a module exporting `openStore(arg)` (a fixture's `child`). */
export interface ChildStoreSpec {
  module: string
  arg: unknown
}

/** Open the store `spec` describes. */
export async function openChildStore(spec: ChildStoreSpec): Promise<ObjectStore> {
  const mod = (await import(pathToFileURL(spec.module).href)) as { openStore(arg: unknown): Promise<ObjectStore> }
  return mod.openStore(spec.arg)
}

let lines: AsyncIterator<string> | null = null

/**
 * The start barrier of `runWorkersTogether`: print `ready`, then wait for the parent's `go` line
 * on stdin, which every worker gets at the same moment. Call it once per round.
 */
export async function readyThenWait(): Promise<void> {
  lines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  process.stdout.write('ready\n')
  const next = await lines.next()
  if (next.done) throw new Error('the parent closed stdin before saying go')
}

// A child process for the multi-process tests of `describeObjectStore`. It reads one JSON
// command per line on stdin, runs them one at a time against a store it opened through a
// fixture's `child.module`, and answers one JSON line per command on stdout.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { isStrataError } from '../errors/index.js'
import type { ObjectStore } from '../store/object-store.js'
import type { WorkerCommand, WorkerReply } from './store-workers.js'

let store: ObjectStore | null = null

async function run(command: WorkerCommand): Promise<unknown> {
  switch (command.op) {
    case 'open': {
      await store?.close?.()
      const mod = (await import(pathToFileURL(command.module).href)) as { openStore(arg: unknown): Promise<ObjectStore> }
      store = await mod.openStore(command.arg)
      return null
    }
    case 'close': {
      await store?.close?.()
      store = null
      return null
    }
    case 'put': {
      const s = opened()
      await waitUntil(command.startAt)
      const body = Buffer.from(command.body, 'base64')
      const opts = command.ifNoneMatch ? { ifNoneMatch: '*' as const } : command.ifMatch ? { ifMatch: command.ifMatch } : {}
      return await s.put(command.key, new Uint8Array(body), opts)
    }
    case 'increment': {
      const s = opened()
      await waitUntil(command.startAt)
      let conflicts = 0
      for (let i = 0; i < command.times; i++) {
        for (;;) {
          const current = await s.get(command.key)
          if (current === null) throw new Error(`counter ${command.key} is missing`)
          const next = Number(Buffer.from(current.body).toString('utf8')) + 1
          try {
            await s.put(command.key, new TextEncoder().encode(String(next)), { ifMatch: current.version })
            break
          } catch (e) {
            if (!isStrataError(e, 'STRATA_CONFLICT')) throw e
            conflicts++
          }
        }
      }
      return { conflicts }
    }
  }
}

function opened(): ObjectStore {
  if (store === null) throw new Error('no store is open; send an open command first')
  return store
}

/** Sleep until the wall-clock time `at` (ms), spinning for the last moment so all workers start together. */
async function waitUntil(at: number | undefined): Promise<void> {
  if (at === undefined) return
  const coarse = at - Date.now() - 3
  if (coarse > 0) await new Promise((resolve) => setTimeout(resolve, coarse))
  while (Date.now() < at) {
    // spin
  }
}

function reply(message: WorkerReply): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

const lines = createInterface({ input: process.stdin })
process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
for await (const line of lines) {
  if (line.trim() === '') continue
  const command = JSON.parse(line) as WorkerCommand
  try {
    reply({ id: command.id, ok: true, result: await run(command) })
  } catch (e) {
    const code = isStrataError(e) ? e.code : undefined
    reply({ id: command.id, ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } })
  }
}
// `store` is assigned inside run(); TypeScript cannot see that from here.
await (store as ObjectStore | null)?.close?.()

// Start the per-session-branch API (see app.ts) over a seeded catalogue database.
// Run with `npm start -w @strata-examples/app`; stop it with Ctrl-C.
//
// STRATA_STORE=DIR keeps the repository in DIR across runs (default: a temporary directory,
// removed on exit). PORT picks the port (default: any free one).

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { startApp } from './app.js'
import { seedDatabase } from './seed.js'

const work = await mkdtemp(join(tmpdir(), 'strata-app-'))
const repo = await Repository.openOrInit(new LocalStore(process.env.STRATA_STORE ?? join(work, 'store')))
if (!(await repo.listBranches()).some((b) => b.name === 'main')) {
  seedDatabase(join(work, 'seed.sqlite'))
  await repo.importDatabase(join(work, 'seed.sqlite'), { message: 'seed catalogue' })
}

const app = await startApp({ repo, cacheDir: join(work, 'cache'), port: Number(process.env.PORT ?? 0) })
console.log(`listening on ${app.url} — try:
  curl -s -X POST ${app.url}/sessions
  curl -s ${app.url}/sessions/<id>/sql -d '{"sql": "UPDATE books SET copies = 0 WHERE author = ?", "params": ["Author 7"]}'
  curl -s ${app.url}/sessions/<id>/sql -d '{"sql": "SELECT count(*) AS n FROM books WHERE copies = 0"}'
  curl -s -o session.sqlite ${app.url}/sessions/<id>/export
  curl -s -X DELETE ${app.url}/sessions/<id>`)

const stop = async (): Promise<void> => {
  await app.close()
  await repo.close()
  await rm(work, { recursive: true, force: true })
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())

// Start the per-session-branch API (see app.ts) over a seeded catalogue database.
// Run with `npm start -w @strata-examples/app`; stop it with Ctrl-C.
//
// APP_TOKENS=T1,T2,… are the clients' bearer tokens (default: one new random token, printed).
// STRATA_STORE=DIR keeps the repository in DIR across runs (default: a temporary directory,
// removed on exit). PORT picks the port (default: any free one).

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalStore, Repository } from '@strata/core'
import { checkTokens, startApp } from './app.js'
import { seedDatabase } from './seed.js'

const fromEnv = process.env.APP_TOKENS?.split(',').filter((t) => t !== '')
const tokens = fromEnv?.length ? fromEnv : [randomBytes(24).toString('base64url')]
try {
  checkTokens(tokens)
} catch (e) {
  console.error(`APP_TOKENS: ${(e as Error).message}`)
  process.exit(2)
}

const work = await mkdtemp(join(tmpdir(), 'strata-app-'))
const repo = await Repository.openOrInit(new LocalStore(process.env.STRATA_STORE ?? join(work, 'store')))
if (!(await repo.listBranches()).some((b) => b.name === 'main')) {
  seedDatabase(join(work, 'seed.sqlite'))
  await repo.importDatabase(join(work, 'seed.sqlite'), { message: 'seed catalogue' })
}

const app = await startApp({ repo, cacheDir: join(work, 'cache'), tokens, port: Number(process.env.PORT ?? 0) })
const token = fromEnv?.length ? '$TOKEN' : tokens[0]!
const auth = `-H "Authorization: Bearer ${token}"`
console.log(`listening on ${app.url}${fromEnv?.length ? ` for the ${tokens.length} tokens in APP_TOKENS` : ` with token ${token}`} — try:
  curl -s ${auth} -X POST ${app.url}/sessions
  curl -s ${auth} ${app.url}/sessions/<id>/ops/set-copies -d '{"author": "Author 7", "copies": 0}'
  curl -s ${auth} -X POST ${app.url}/sessions/<id>/ops/stock
  curl -s ${auth} -o session.sqlite ${app.url}/sessions/<id>/export
  curl -s ${auth} -X DELETE ${app.url}/sessions/<id>`)

const stop = async (): Promise<void> => {
  await app.close()
  await repo.close()
  await rm(work, { recursive: true, force: true })
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())

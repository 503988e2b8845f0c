// Opens branch "work" lazily and loops: lazy point reads over the whole table, then a commit
// that stamps every tenth row and the meta row with the round number. Prints `committed <k>`
// after each commit. The parent SIGKILLs it at a random moment.
// Usage: lazy-writer.ts '{"storeDir": "...", "cacheDir": "..."}'
import { LocalStore, Repository } from '@strata/core'
import { openBranch } from '@strata/sqlite'

const { storeDir, cacheDir } = JSON.parse(process.argv[2]!) as { storeDir: string; cacheDir: string }
const repo = await Repository.open(new LocalStore(storeDir))
const live = await openBranch(repo, 'work', { mode: 'lazy', cacheDir, lazy: { minWindow: 1, maxWindow: 4 } })
if (live.mode !== 'lazy') throw new Error('not lazy')
const rows = (live.db.prepare('SELECT max(id) AS n FROM t').get() as { n: number }).n
const read = live.db.prepare('SELECT v FROM t WHERE id = ?')
const stamp = live.db.prepare('UPDATE t SET v = ? WHERE id % 10 = 0')
const meta = live.db.prepare('UPDATE meta SET round = ?')
for (let k = 1; ; k++) {
  process.stdout.write(`reading ${k}\n`)
  for (let i = 0; i < 200; i++) read.get(1 + ((i * 7919 + k * 104729) % rows))
  live.db.transaction(() => {
    stamp.run(`round ${k}`)
    meta.run(k)
  })()
  process.stdout.write(`committing ${k}\n`)
  await live.commit({ message: `round ${k}` })
  process.stdout.write(`committed ${k}\n`)
}

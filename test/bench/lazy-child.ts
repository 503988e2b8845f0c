// Runs in a child process: open a branch lazily, run point queries, report memory above the
// process's idle state. Usage: lazy-child.ts <store dir> <branch> <cache dir> <rows>
import { readFileSync } from 'node:fs'
import { LocalStore, Repository } from '@strata/core'
import { openBranch } from '@strata/sqlite'

const [storeDir, branch, cacheDir, rows] = process.argv.slice(2)
const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
const repo = await Repository.open(new LocalStore(storeDir!))
await repo.getBranch(branch!)
globalThis.gc?.()
const idle = rss()
const live = await openBranch(repo, branch!, { mode: 'lazy', cacheDir: cacheDir! })
const q = live.db.prepare('SELECT id, label FROM items WHERE label = ?')
const n = Number(rows)
for (let i = 0; i < 200; i++) q.get(`item ${1 + ((i * 7919) % n)}`)
globalThis.gc?.()
const open = rss()
const stats = live.lazyStats()
await live.close()
process.stdout.write(JSON.stringify({ idle, open, pagesFetched: stats?.pagesFetched ?? -1 }) + '\n')

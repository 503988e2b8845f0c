#!/usr/bin/env node
// Enforces the package boundaries and the layers inside @strata/core; exits 1 on any breach.
//
// Packages: dependencies flow cli → sqlite → core, sqlite → vfs and s3 → core only. Core imports no other
// workspace package and neither the AWS SDK nor better-sqlite3.
//
// Inside packages/core/src: errors/ imports nothing; format/ imports only errors/; store/ only
// errors/ and format/; the folders of repo/ import in one direction only
// (read ← branches ← write ← reachability ← cross-store ← history | lifecycle), and nothing
// under repo/ imports the Repository facade (repo/repository.ts). Import cycles among the files
// of packages/core/src are listed and fail the check too.
//
// Usage: node scripts/check-boundaries.mjs [repository root]   (default: this repository)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
const packages = {
  core: { workspace: [], forbidden: ['better-sqlite3', '@aws-sdk/', 'commander', 'cli-progress'] },
  s3: { workspace: ['@strata/core'], forbidden: ['better-sqlite3', 'commander'] },
  sqlite: { workspace: ['@strata/core', '@strata/vfs'], forbidden: ['@aws-sdk/', 'commander'] },
  cli: { workspace: ['@strata/core', '@strata/s3', '@strata/sqlite'], forbidden: [] },
}

/** The layers of packages/core/src: a folder may import the folders listed for it (and itself). */
const REPO_ORDER = ['read', 'branches', 'write', 'reachability', 'cross-store', ['history', 'lifecycle']]
const coreAllowed = {
  errors: [],
  format: ['errors'],
  store: ['errors', 'format'],
  testing: ['errors', 'format', 'store'],
}
const repoRank = new Map(REPO_ORDER.flatMap((entry, rank) => (Array.isArray(entry) ? entry : [entry]).map((f) => [f, rank])))

const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
const importsOf = (text) => [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1])

const problems = []
for (const [pkg, rule] of Object.entries(packages)) {
  const src = join(root, 'packages', pkg, 'src')
  if (!existsSync(src)) continue
  for (const file of files(src)) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('@strata/') && !rule.workspace.some((w) => spec === w || spec.startsWith(`${w}/`))) {
        problems.push(`${relative(root, file)}: @strata/${pkg} must not import ${spec}`)
      }
      if (rule.forbidden.some((f) => spec === f || spec.startsWith(f))) {
        problems.push(`${relative(root, file)}: @strata/${pkg} must not import ${spec}`)
      }
    }
  }
}

// ---- layers and cycles inside packages/core/src ----------------------------------------------
const coreSrc = join(root, 'packages', 'core', 'src')
/** The layer a core file belongs to: `errors`, `format`, `store`, `testing`, `repo`, `repo/<folder>` or `root`. */
function layerOf(rel) {
  const parts = rel.split('/')
  if (parts.length === 1) return 'root'
  if (parts[0] !== 'repo') return parts[0]
  return parts.length === 2 ? 'repo' : `repo/${parts[1]}`
}
function breach(from, to, toRel) {
  if (from === to) return null
  if (from === 'root' || from === 'repo') return null // the entry points and the facade see everything
  if (toRel === 'repo/repository.ts') return 'must not import the Repository facade (repo/repository.ts): take a RepoContext'
  if (from in coreAllowed) {
    return coreAllowed[from].includes(to) ? null : `${from}/ must import ${coreAllowed[from].length ? `only ${coreAllowed[from].map((l) => `${l}/`).join(' and ')}` : 'nothing'}, not ${to}/`
  }
  if (from.startsWith('repo/')) {
    if (to in coreAllowed && to !== 'testing') return null
    const a = repoRank.get(from.slice(5))
    const b = repoRank.get(to.slice(5))
    if (a === undefined) return `${from}/ is not a known layer of repo/ (add it to REPO_ORDER in scripts/check-boundaries.mjs)`
    if (to.startsWith('repo/') && b !== undefined && b < a) return null
    return `${from}/ must not import ${to}/ (repo/ layers: ${REPO_ORDER.map((e) => (Array.isArray(e) ? e.join(' | ') : e)).join(' ← ')})`
  }
  return null
}

const graph = new Map()
if (existsSync(coreSrc)) {
  for (const file of files(coreSrc)) {
    const rel = relative(coreSrc, file)
    const edges = []
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue
      const toRel = relative(coreSrc, resolve(dirname(file), spec)).replace(/\.js$/, '.ts')
      edges.push(toRel)
      const why = breach(layerOf(rel), layerOf(toRel), toRel)
      if (why) problems.push(`packages/core/src/${rel}: imports ${spec}: ${why}`)
    }
    graph.set(rel, edges)
  }
}

// Tarjan's strongly connected components: every component of more than one file is a cycle.
let index = 0
const state = new Map()
const stack = []
const cycles = []
function visit(v) {
  const s = { index, low: index, onStack: true }
  index++
  state.set(v, s)
  stack.push(v)
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue
    const t = state.get(w)
    if (!t) {
      visit(w)
      s.low = Math.min(s.low, state.get(w).low)
    } else if (t.onStack) s.low = Math.min(s.low, t.index)
  }
  if (s.low === s.index) {
    const component = []
    let w
    do {
      w = stack.pop()
      state.get(w).onStack = false
      component.push(w)
    } while (w !== v)
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort())
  }
}
for (const v of graph.keys()) if (!state.has(v)) visit(v)
for (const c of cycles) problems.push(`packages/core/src: import cycle among ${c.length} files: ${c.join(', ')}`)

if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log(`package boundaries and core layers: ok (${graph.size} core files, no import cycle)`)

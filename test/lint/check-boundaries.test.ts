import { spawnSync } from 'node:child_process'
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const repoRoot = join(import.meta.dirname, '..', '..')
const checker = join(repoRoot, 'scripts', 'check-boundaries.mjs')
const dirs: string[] = []

/** A throwaway copy of packages/core/src, with `edit` applied, checked by the real script. */
function check(edit: (src: string) => void = () => {}): { status: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'strata-boundaries-'))
  dirs.push(root)
  const src = join(root, 'packages', 'core', 'src')
  cpSync(join(repoRoot, 'packages', 'core', 'src'), src, { recursive: true })
  edit(src)
  const r = spawnSync(process.execPath, [checker, root], { encoding: 'utf8' })
  return { status: r.status, output: r.stdout + r.stderr }
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('scripts/check-boundaries.mjs', () => {
  it('passes the source as it is', () => {
    const r = check()
    expect(r.output).toContain('no import cycle')
    expect(r.status).toBe(0)
  })

  it('fails when an operation imports the Repository facade', () => {
    const r = check((src) => appendFileSync(join(src, 'repo', 'lifecycle', 'gc.ts'), "\nimport type { Repository } from '../repository.js'\n"))
    expect(r.status).toBe(1)
    expect(r.output).toContain('packages/core/src/repo/lifecycle/gc.ts: imports ../repository.js: must not import the Repository facade')
  })

  it('fails when a repo/ folder imports against the layer order', () => {
    const r = check((src) => appendFileSync(join(src, 'repo', 'read', 'chain.ts'), "\nimport { commit } from '../write/commit.js'\nvoid commit\n"))
    expect(r.status).toBe(1)
    expect(r.output).toContain('repo/read/ must not import repo/write/')
  })

  it('fails when two sibling layers import each other', () => {
    const r = check((src) => appendFileSync(join(src, 'repo', 'history', 'log.ts'), "\nimport { gc } from '../lifecycle/gc.js'\nvoid gc\n"))
    expect(r.status).toBe(1)
    expect(r.output).toContain('repo/history/ must not import repo/lifecycle/')
  })

  it('fails when errors/, format/ or store/ import a higher layer', () => {
    const r = check((src) => {
      appendFileSync(join(src, 'errors', 'codes.ts'), "\nimport type { PageNo } from '../format/page.js'\n")
      appendFileSync(join(src, 'format', 'page.ts'), "\nimport type { ObjectStore } from '../store/object-store.js'\n")
      appendFileSync(join(src, 'store', 'keys.ts'), "\nimport type { RepoContext } from '../repo/read/context.js'\n")
    })
    expect(r.status).toBe(1)
    expect(r.output).toContain('packages/core/src/errors/codes.ts: imports ../format/page.js: errors/ must import nothing')
    expect(r.output).toContain('packages/core/src/format/page.ts: imports ../store/object-store.js: format/ must import only errors/')
    expect(r.output).toContain('packages/core/src/store/keys.ts: imports ../repo/read/context.js: store/ must import only errors/ and format/')
  })

  it('lists an import cycle and fails on it', () => {
    const r = check((src) => {
      writeFileSync(join(src, 'format', 'cycle-a.ts'), "import { b } from './cycle-b.js'\nexport const a = (): number => b()\n")
      writeFileSync(join(src, 'format', 'cycle-b.ts'), "import { a } from './cycle-a.js'\nexport const b = (): number => a()\n")
    })
    expect(r.status).toBe(1)
    expect(r.output).toContain('import cycle among 2 files: format/cycle-a.ts, format/cycle-b.ts')
  })
})

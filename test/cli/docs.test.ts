import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, assertBuilt, makeFixture, strata } from './helpers.js'

// The README's commands are run here, so the first thing a newcomer reads cannot rot.

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The body of the first fenced block after `heading` (or of the first block in the file). */
function block(heading?: string): string {
  const from = heading === undefined ? 0 : readme.indexOf(heading)
  expect(from, `README has no "${heading}"`).toBeGreaterThanOrEqual(0)
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(from))
  expect(m, `no code block after "${heading}"`).not.toBeNull()
  return m![1]!
}

/** Split a shell line into words (quotes and trailing comments), enough for the README's lines. */
function words(line: string): string[] {
  const out: string[] = []
  let cur: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1)
      cur = (cur ?? '') + line.slice(i + 1, end)
      i = end
    } else if (c === ' ') {
      if (cur !== null) out.push(cur)
      cur = null
    } else if (c === '#' && cur === null) {
      break
    } else {
      cur = (cur ?? '') + c
    }
  }
  if (cur !== null) out.push(cur)
  return out
}

let dir: string
beforeAll(async () => {
  assertBuilt()
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-docs-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('README', () => {
  it('opens with the two commands for a fresh machine, and both exist', () => {
    expect(block().trim().split('\n')).toEqual(['npm ci && npm run build && npm run demo', 'npm test'])
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts.build).toBe('tsc -b')
    expect(pkg.scripts.pretest).toBe('tsc -b')
    const demo = /^node (\S+)$/.exec(pkg.scripts.demo ?? '')
    expect(demo && existsSync(join(ROOT, demo[1]!))).toBe(true)
  })

  it('the main job (npm run demo) runs end to end on a local store', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'packages', 'cli', 'scripts', 'demo.mjs')], { encoding: 'utf8', env: { ...process.env, STRATA_STORE: '' } })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    for (const step of ['init', 'import', 'branch create', 'sql', 'export', 'branch delete', 'gc', 'verify']) expect(r.stdout).toContain(`$ strata ${step}`)
    expect(r.stdout).toContain('integrity_check ok')
    expect(r.stdout.trimEnd().endsWith('demo ok')).toBe(true)
  })

  it('every command of the 60-second tour works as shown', async () => {
    makeFixture(join(dir, 'app.db'), 200)
    const env: Record<string, string> = {}
    for (const line of block('## A 60-second tour').split('\n')) {
      const argv = words(line)
      if (argv.length === 0) continue
      if (argv[0] === 'export') {
        const [k, v] = argv[1]!.split('=') as [string, string]
        env[k] = v
        continue
      }
      expect(argv[0], line).toBe('strata')
      const r = await strata(argv.slice(1), { cwd: dir, env })
      expect(r.code, `${line}\n${r.stderr}`).toBe(0)
    }
    expect(existsSync(join(dir, 'migrated.db'))).toBe(true)
  })

  it('the library example runs as written', async () => {
    const code = block('## Using it as a library')
    const app = join(dir, 'lib')
    await rm(app, { recursive: true, force: true })
    await import('node:fs/promises').then((fs) => fs.mkdir(app))
    await symlink(join(ROOT, 'node_modules'), join(app, 'node_modules'))
    makeFixture(join(app, 'app.db'), 50)
    await writeFile(join(app, 'example.mts'), code)
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'example.mts'], { cwd: app, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const check = await strata(['--store', join(app, 'data'), 'branch', 'list', '--json'], { cwd: app })
    expect(JSON.parse(check.stdout)).toMatchObject({ branches: [{ name: 'main' }] })
    expect(existsSync(join(app, 'run-42.db'))).toBe(true)
  })
})

import { describe, expect, it } from 'vitest'
import { json, useImportedStore } from './helpers.js'

// `strata merge` through the built CLI: a clean merge, conflicts printed for people and as data
// (exit 1, nothing committed), a strategy, a dry run, and usage errors.

const { cli } = useImportedStore('merge', 200)

async function run(...args: string[]): Promise<void> {
  const r = await cli(...args)
  expect(r.code, r.stderr).toBe(0)
}

async function head(branch: string): Promise<string> {
  const r = await cli('show', branch, '--json')
  expect(r.code, r.stderr).toBe(0)
  return json<{ id: string }>(r).id
}

async function rows(branch: string, sql: string): Promise<unknown[]> {
  const r = await cli('sql', branch, sql, '--json')
  expect(r.code, r.stderr).toBe(0)
  return json<{ results: { rows: unknown[][] }[] }>(r).results.at(-1)!.rows
}

describe('strata merge', () => {
  it('merges disjoint row changes into the target as one commit', async () => {
    await run('branch', 'create', 'feature')
    await run('sql', 'feature', "UPDATE users SET name = 'feature' WHERE id = 2; INSERT INTO users (id, name) VALUES (1000, 'new')")
    await run('sql', 'main', "UPDATE users SET name = 'main' WHERE id = 1")
    const before = await head('main')
    const r = await cli('merge', 'feature', '--into', 'main', '--json')
    expect(r.code, r.stderr).toBe(0)
    const doc = json<{ status: string; target: { head: string }; commit: { snapshot: string }; tables: { table: string; inserted: number; updated: number }[] }>(r)
    expect(doc).toMatchObject({ status: 'merged', target: { head: before }, tables: [{ table: 'users', inserted: 1, updated: 1 }] })
    expect(await rows('main', 'SELECT id, name FROM users WHERE id IN (1, 2, 1000) ORDER BY id')).toEqual([
      [1, 'main'],
      [2, 'feature'],
      [1000, 'new'],
    ])
  })

  it('prints conflicts with table, key and base/ours/theirs values, exits 1 and commits nothing', async () => {
    await run('branch', 'create', 'clash')
    await run('sql', 'clash', "UPDATE users SET name = 'theirs', score = 1 WHERE id = 5")
    await run('sql', 'main', "UPDATE users SET name = 'ours' WHERE id = 5")
    const before = await head('main')
    const human = await cli('merge', 'clash', '--into', 'main')
    expect(human.code).toBe(1)
    expect(human.stdout).toContain('merge clash into main: 1 conflict, nothing committed')
    expect(human.stdout).toContain('  users id=5: update/update: both sides changed these cells to different values')
    expect(human.stdout).toMatch(/COLUMN +BASE +OURS \(main\) +THEIRS \(clash\)/)
    expect(human.stdout).toMatch(/name +'user 5' +'ours' +'theirs'/)
    const r = await cli('merge', 'clash', '--into', 'main', '--json')
    expect(r.code).toBe(1)
    expect(json(r)).toEqual({
      status: 'conflicts',
      source: 'clash',
      target: 'main',
      base: expect.any(String),
      conflicts: [{ kind: 'update/update', table: 'users', key: { id: 5 }, columns: [{ name: 'name', base: 'user 5', ours: 'ours', theirs: 'theirs' }], detail: expect.any(String), resolution: null }],
    })
    expect(await head('main')).toBe(before)

    const dry = await cli('merge', 'clash', '--into', 'main', '--dry-run', '--strategy', 'theirs')
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^Dry run: merging clash into main/)
    expect(await head('main')).toBe(before)

    await run('merge', 'clash', '--into', 'main', '--strategy', 'theirs', '-m', 'take clash')
    expect(await rows('main', 'SELECT name, score FROM users WHERE id = 5')).toEqual([['theirs', 1]])
    const log = await cli('log', 'main', '--limit', '1', '--json')
    const entry = json<{ entries: { id: string; parent: string; operation: string; message: string; merge: { source: string; sourceBranch: string; base: string } }[] }>(log).entries[0]!
    expect(entry).toMatchObject({ operation: 'merge', message: 'take clash', parent: before, merge: { sourceBranch: 'clash' } })
    // People see both parents in the log, and the source and base in show.
    const text = await cli('log', 'main', '--limit', '1')
    expect(text.stdout).toContain(`Merge:   ${before.slice(0, 12)} ${entry.merge.source.slice(0, 12)} (clash), base ${entry.merge.base.slice(0, 12)}`)
    const shown = await cli('show', 'main')
    expect(shown.stdout).toMatch(new RegExp(`^merged in: +${entry.merge.source} \\(clash\\)$`, 'm'))
    expect(shown.stdout).toMatch(new RegExp(`^merge base: +${entry.merge.base}$`, 'm'))
  })

  it('usage errors: a missing --into, an unknown strategy', async () => {
    const noInto = await cli('merge', 'feature')
    expect(noInto.code).toBe(2)
    expect(noInto.stderr).toMatch(/--into <target>/)
    expect(noInto.stderr).toMatch(/^Try: strata merge --help$/m)
    const bad = await cli('merge', 'feature', '--into', 'main', '--strategy', 'mine')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--strategy must be fail, ours or theirs/)
  })
})

import { describe, expect, it } from 'vitest'
import { json, useImportedStore } from './helpers.js'

// `strata sql --retry`: concurrent writers to one branch, each commit guarded by the head it ran
// on. A writer that loses the race runs its script again on the new head instead of failing.

const fixture = useImportedStore('sql-retry')
const WRITERS = 4
const INSERTS = 8

describe('strata sql --retry', () => {
  it(`${WRITERS} processes × ${INSERTS} inserts into one table with --retry 20: all ${WRITERS * INSERTS} land`, async () => {
    const setup = await fixture.cli('sql', 'main', 'CREATE TABLE hits (writer INTEGER, n INTEGER, UNIQUE (writer, n))')
    expect(setup.code, setup.stderr).toBe(0)
    const attempts: number[] = []
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let n = 0; n < INSERTS; n++) {
          const r = await fixture.cli('sql', 'main', `INSERT INTO hits VALUES (${w}, ${n})`, '--retry', '20', '--json')
          expect(r.code, r.stderr).toBe(0)
          const out = json<{ changed: boolean; changes: number; attempts: number }>(r)
          expect(out).toMatchObject({ changed: true, changes: 1 })
          attempts.push(out.attempts)
        }
      }),
    )
    const rows = json<{ results: { rows: number[][] }[] }>(await fixture.cli('sql', 'main', 'SELECT writer, n FROM hits ORDER BY writer, n', '--json'))
    expect(rows.results[0]!.rows).toEqual(Array.from({ length: WRITERS * INSERTS }, (_, i) => [Math.floor(i / INSERTS), i % INSERTS]))
    // Four writers racing for one branch: some commits lost the race and ran again.
    expect(attempts.some((a) => a > 1), `attempts: ${attempts.join(' ')}`).toBe(true)
    const log = json<{ entries: unknown[] }>(await fixture.cli('log', 'main', '--limit', '100', '--json'))
    expect(log.entries.length).toBe(1 + 1 + WRITERS * INSERTS) // import, CREATE TABLE, one commit per insert
  })

  it('takes a whole number of retries', async () => {
    const r = await fixture.cli('sql', 'main', 'SELECT 1', '--retry', 'x')
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--retry must be a whole number ≥ 0\n[\s\S]*Try: strata sql --help/)
  })
})

import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { run } from '../src/index.js'
import { buildProgram } from '../src/program.js'
import { pointInTime } from '../src/time-spec.js'
import { captureIo } from './capture.js'

function paths(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()].join(' '), ...paths(c, [...prefix, c.name()])])
}

describe('history and lifecycle commands', () => {
  it('are all registered', async () => {
    expect(paths((await buildProgram(captureIo())).program)).toEqual(
      expect.arrayContaining(['tag', 'tag create', 'tag list', 'tag delete', 'reset', 'diff', 'map', 'stats', 'why-alive', 'hold', 'unhold', 'holds', 'compact']),
    )
  })

  it('bad option values are usage errors naming the option', async () => {
    for (const [argv, message] of [
      [['log', '--since', 'yesterday'], /--since must be an ISO date or time/],
      [['diff', 'a', 'b', '--max-rows', '-1'], /--max-rows must be a whole number/],
      [['compact', '--min-live', '2'], /--min-live must be a number from 0 to 1/],
      [['branch', 'create', 'x', '--ttl', 'soon'], /--ttl must be a duration/],
    ] as const) {
      const io = captureIo()
      expect(await run([...argv], io)).toBe(2)
      expect(io.stdout.text).toBe('')
      expect(io.stderr.text).toMatch(message)
    }
  })
})

describe('pointInTime', () => {
  const now = Date.parse('2026-03-10T12:00:00Z')
  const parse = pointInTime('--since', () => now)

  it('reads ages as that long before now', () => {
    expect(parse('2h').toISOString()).toBe('2026-03-10T10:00:00.000Z')
    expect(parse('3d').toISOString()).toBe('2026-03-07T12:00:00.000Z')
    expect(parse('1w').toISOString()).toBe('2026-03-03T12:00:00.000Z')
    expect(parse('90s').toISOString()).toBe('2026-03-10T11:58:30.000Z')
    expect(parse('1.5h').toISOString()).toBe('2026-03-10T10:30:00.000Z')
  })

  it('reads ISO dates and times', () => {
    expect(parse('2026-01-31T08:30:00Z').toISOString()).toBe('2026-01-31T08:30:00.000Z')
    expect(parse('2026-01-31T08:30:00+02:00').toISOString()).toBe('2026-01-31T06:30:00.000Z')
    expect(parse('2026-01-31').getTime()).toBe(Date.parse('2026-01-31'))
  })

  it('refuses anything else', () => {
    for (const bad of ['', 'yesterday', '2h ago', '-2h', '2026-13-45', '31/01/2026', '12']) expect(() => parse(bad), bad).toThrow(/--since must be/)
  })
})

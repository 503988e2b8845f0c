import { BranchNotFoundError, ConflictError, InvalidArgumentError, InvalidNameError } from '@strata/core'
import { describe, expect, it } from 'vitest'
import { CliError } from '../src/cli-error.js'
import { reportError } from '../src/error-report.js'

describe('reportError', () => {
  it('maps invalid names and arguments to usage errors (2) with a Try line', () => {
    for (const e of [new InvalidNameError({ name: 'a b', reason: 'x' }), new InvalidArgumentError({ argument: 'store', reason: 'y' })]) {
      const r = reportError(e, 'strata branch create')
      expect(r.exitCode).toBe(2)
      expect(r.lines.at(-1)).toBe('Try: strata branch create --help')
      expect(r.json.code).toBe(e.code)
    }
  })

  it('maps other Strata errors to operational errors (1), with their data', () => {
    const r = reportError(new BranchNotFoundError({ name: 'nope' }), 'strata sql')
    expect(r).toMatchObject({ exitCode: 1, json: { code: 'STRATA_BRANCH_NOT_FOUND', data: { name: 'nope' } } })
    expect(r.lines.some((l) => l.startsWith('Try:'))).toBe(false)
  })

  it('adds a hint only where the message does not already say what to run next', () => {
    expect(reportError(new BranchNotFoundError({ name: 'nope' }), 'strata').json.hint).toBeUndefined()
    const conflict = reportError(new ConflictError({ key: 'refs/main', condition: 'if-match', branch: 'main' }), 'strata sql')
    expect(conflict.json.hint).toMatch(/run the command again/)
    expect(conflict.lines[1]).toBe(`hint: ${conflict.json.hint}`)
  })

  it('keeps the exit code a CliError carries, and reports anything else as an internal error', () => {
    expect(reportError(new CliError('STRATA_SQL_ERROR', 'bad SQL'), 'strata sql').exitCode).toBe(1)
    const r = reportError(new TypeError('boom'), 'strata show', true)
    expect(r).toMatchObject({ exitCode: 1, json: { code: 'STRATA_INTERNAL', message: 'boom' } })
    expect(r.lines.join('\n')).toContain('TypeError: boom')
  })
})

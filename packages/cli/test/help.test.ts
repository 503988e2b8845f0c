import { Command } from 'commander'
import { describe, expect, it, vi } from 'vitest'
import { run } from '../src/index.js'
import { COMMANDS } from '../src/commands/index.js'
import { buildProgram, loadCommands } from '../src/program.js'
import { captureIo } from './capture.js'

function paths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])])
}

const ALL = [[], ...paths((await buildProgram(captureIo())).program)]

describe('--help', () => {
  it('covers every registered command', async () => {
    // Each module of the registry adds exactly one top-level command, named as its entry, and
    // every one of them (with its subcommands) gets a --help case below.
    const registered = await Promise.all(
      COMMANDS.map(async (entry) => {
        const probe = new Command('strata')
        ;(await entry.load())(probe, { context: () => { throw new Error('not run') } })
        expect(probe.commands).toHaveLength(1)
        expect(probe.commands[0]!.name()).toBe(entry.name)
        return entry.name
      }),
    )
    expect(registered.length).toBeGreaterThan(0)
    expect(new Set(registered).size).toBe(registered.length)
    expect(ALL.filter((p) => p.length === 1).map((p) => p[0])).toEqual(registered)
    expect(ALL.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['init', 'import', 'branch', 'branch list', 'branch create', 'branch delete', 'branch rename', 'sql', 'log', 'show', 'materialize', 'export', 'gc', 'verify']),
    )
  })

  it('a run loads only the command it names; a bare --version loads none', async () => {
    const names = async (argv: string[]): Promise<string[]> => {
      const loaded = await loadCommands(argv)
      const probe = new Command('strata')
      for (const register of loaded.register) register(probe, { context: () => { throw new Error('not run') } })
      return probe.commands.map((c) => c.name())
    }
    const all = COMMANDS.map((c) => c.name)
    expect(await names(['--store', 'sql', '--json', 'sql', 'main', 'SELECT 1'])).toEqual(['sql'])
    expect(await names(['--allow-store', 's3://b/p', 'branch', 'list'])).toEqual(['branch'])
    expect(await names(['--version'])).toEqual([])
    expect((await loadCommands(['--version'])).Context).toBeNull()
    expect(await names([])).toEqual(all)
    expect(await names(['--help'])).toEqual(all)
    expect(await names(['help', 'sql'])).toEqual(all)
    expect(await names(['sqll', 'main'])).toEqual(all)
    expect(await names(['--', 'sql'])).toEqual(all)
  })

  it("a run warms up the command it names first, with the words after its name; --help, help and --version warm nothing", async () => {
    const sql = COMMANDS.find((c) => c.name === 'sql')!
    expect(sql.warm).toBeTypeOf('function')
    const order: string[] = []
    const warm = vi.spyOn(sql, 'warm').mockImplementation(async () => void order.push('warm'))
    const original = sql.load.bind(sql)
    const load = vi.spyOn(sql, 'load').mockImplementation(async () => {
      order.push('load')
      return original()
    })
    try {
      await loadCommands(['--store', 'sql', '-q', 'sql', 'main', 'SELECT 1', '--hydrate'])
      expect(warm.mock.calls).toEqual([[['main', 'SELECT 1', '--hydrate']]])
      expect(order).toEqual(['warm', 'load'])
      warm.mockClear()
      for (const argv of [['sql', '--help'], ['sql', 'main', '-h'], ['help', 'sql'], ['--help'], ['--version'], ['--', 'sql']]) await loadCommands(argv)
      expect(warm).not.toHaveBeenCalled()
      // A warm-up that fails is ignored: the command meets the problem itself.
      warm.mockImplementation(async () => {
        throw new Error('no head start')
      })
      expect((await loadCommands(['sql', 'main', 'SELECT 1'])).register).toHaveLength(1)
    } finally {
      warm.mockRestore()
      load.mockRestore()
    }
  })

  it('the environment variables named in --help are the ones the store code reads', async () => {
    const { STORE_ENV } = await import('../src/store-location.js')
    const { ALLOW_STORES_ENV } = await import('../src/allowed-stores.js')
    const io = captureIo()
    expect(await run(['--help'], io)).toBe(0)
    expect(io.stdout.text).toContain(`\n  ${STORE_ENV}        the store when --store is not given`)
    expect(io.stdout.text).toContain(`\n  ${ALLOW_STORES_ENV} stores cross-store fallbacks may open`)
  })

  for (const path of ALL) {
    it(`strata ${path.join(' ')} --help shows an example of itself on stdout`, async () => {
      const io = captureIo()
      expect(await run([...path, '--help'], io)).toBe(0)
      expect(io.stderr.text).toBe('')
      const example = io.stdout.text.split('\nExample:\n')[1]
      expect(example, io.stdout.text).toBeDefined()
      expect(example).toContain(['$ strata', ...path].join(' '))
      // Global options are listed on every command.
      expect(io.stdout.text).toContain('--store <url-or-path>')
    })
  }
})

describe('usage errors', () => {
  it('end with a Try line naming the command, and exit 2', async () => {
    const io = captureIo()
    expect(await run(['branch', 'create', 'x', 'y'], io)).toBe(2)
    expect(io.stdout.text).toBe('')
    expect(io.stderr.text).toBe("strata: too many arguments for 'create'. Expected 1 argument but got 2.\nTry: strata branch create --help\n")
  })

  it('a command group without a subcommand prints its help on stderr and exits 2', async () => {
    const io = captureIo()
    expect(await run(['branch'], io)).toBe(2)
    expect(io.stdout.text).toBe('')
    expect(io.stderr.text).toContain('Usage: strata branch')
    expect(io.stderr.text.trimEnd().split('\n').at(-1)).toBe('Try: strata branch --help')
  })

  it('are JSON on stderr with --json, wherever the flag is', async () => {
    const io = captureIo()
    expect(await run(['--json', 'show'], io)).toBe(2)
    expect(io.stdout.text).toBe('')
    expect(JSON.parse(io.stderr.text)).toEqual({
      error: { code: 'STRATA_USAGE', message: "missing required argument 'target'", data: { reason: 'commander.missingArgument' } },
    })
  })
})

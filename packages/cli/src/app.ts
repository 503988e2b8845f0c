import { InvalidArgumentError as InvalidOptionArgument, type Command } from 'commander'
import type { CommandContext } from './context.js'

/** What every subcommand's `register` function receives from the program. */
export interface App {
  /** The context of the running command: global options merged from every level, output, store. */
  context(cmd: Command): CommandContext
}

/** Append an "Example:" section (shown by `--help`) to a command. */
export function examples(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExample:\n${lines.map((l) => (l.startsWith('#') ? `  ${l}` : `  $ ${l}`)).join('\n')}\n`)
}

/** Parse a positive integer option value; Commander reports the error as a usage error. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      // Commander's own error class: it becomes "error: option '…' argument '…' is invalid. …" (exit 2).
      throw new InvalidOptionArgument(`${name} must be a positive integer`)
    }
    return n
  }
}

/** Parse a whole-number option value (0 allowed); Commander reports the error as a usage error. */
export function nonNegativeInt(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidOptionArgument(`${name} must be a whole number ≥ 0`)
    return Number(value)
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parse a duration option (`0`, `500ms`, `30s`, `15m`, `2h`, `7d`; a bare number is milliseconds) into ms. */
export function duration(name: string): (value: string) => number {
  return (value: string) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim())
    if (!m) throw new InvalidOptionArgument(`${name} must be a duration like 0, 30s, 15m, 2h or 7d`)
    return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!)
  }
}

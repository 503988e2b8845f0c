// How the docs check reads markdown: fenced blocks, the shell commands in `sh` blocks, and what
// each command is (so that a command the check has no way to run fails instead of being skipped).
// Pure functions; docs.test.ts runs what they return.

/** A fenced code block of a markdown file. */
export interface Fence {
  file: string
  /** 1-based line of the opening fence. */
  line: number
  /** The info string's first word (`sh`, `ts`, `text`, …); '' for a bare fence. */
  lang: string
  /** The nearest heading above the block ('' before the first heading). */
  heading: string
  body: string
}

/** Every fenced block of `text`, in order. An unclosed fence is an error naming its line. */
export function fences(file: string, text: string): Fence[] {
  const out: Fence[] = []
  const lines = text.split('\n')
  let heading = ''
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const open = /^(`{3,}|~{3,})\s*([^\s`]*)/.exec(line)
    if (!open) {
      const h = /^#{1,6}\s+(.*)$/.exec(line)
      if (h) heading = h[1]!.trim()
      continue
    }
    const marker = open[1]!
    const body: string[] = []
    let j = i + 1
    const closes = (l: string): boolean => {
      const t = l.trim()
      return t.length >= marker.length && t === marker[0]!.repeat(t.length)
    }
    while (j < lines.length && !closes(lines[j]!)) {
      body.push(lines[j]!)
      j++
    }
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: the code block opened here is never closed`)
    out.push({ file, line: i + 1, lang: open[2] ?? '', heading, body: body.join('\n') })
    i = j
  }
  return out
}

/** One command of an `sh` block. */
export interface ShellCommand {
  /** 1-based line in the markdown file. */
  line: number
  /** The command as the shell runs it: continuation lines joined, the trailing comment and a trailing `&` removed. */
  text: string
  /** The trailing comment, without `#`, or null. */
  comment: string | null
  /** The reason given by a trailing `# not run: <reason>`, or null for a command the check runs. */
  notRun: string | null
  /** The command ended in `&`: it runs in the background (a server) until `kill %N` or the end of the file. */
  background: boolean
  /** `# {…}` / `# […]` lines right after the command: the JSON it prints (keys checked, values are examples). */
  output: string[]
}

/** The prefix of a trailing comment that excuses a command from being run. */
export const NOT_RUN = 'not run:'

/**
 * The commands of an `sh` block. Lines ending in `\` continue on the next; blank lines and
 * comment lines are skipped, except `# {` / `# [` lines directly after a command, which are its
 * output. Throws on `# not run` without a reason.
 */
export function shellCommands(f: Fence): ShellCommand[] {
  const out: ShellCommand[] = []
  const lines = f.body.split('\n')
  let last: ShellCommand | null = null
  for (let i = 0; i < lines.length; i++) {
    const lineNo = f.line + 1 + i
    let raw = lines[i]!
    while (raw.endsWith('\\') && i + 1 < lines.length) raw = raw.slice(0, -1).trimEnd() + ' ' + lines[++i]!.trim()
    const trimmed = raw.trim()
    if (trimmed === '') {
      last = null
      continue
    }
    if (trimmed.startsWith('#')) {
      const rest = trimmed.slice(1).trim()
      if (last && (rest.startsWith('{') || rest.startsWith('['))) last.output.push(rest)
      else last = null
      continue
    }
    const { code, comment } = splitComment(trimmed)
    let text = code.trim()
    let background = false
    if (/[^&]&$/.test(text)) {
      background = true
      text = text.slice(0, -1).trim()
    }
    let notRun: string | null = null
    if (comment !== null && comment.toLowerCase().startsWith('not run')) {
      const reason = comment.slice(comment.indexOf('not run') + 'not run'.length).replace(/^:/, '').trim()
      if (!comment.startsWith(NOT_RUN) || reason === '') throw new Error(`${f.file}:${lineNo}: write "# ${NOT_RUN} <why it cannot run offline>"`)
      notRun = reason
    }
    last = { line: lineNo, text, comment, notRun, background, output: [] }
    out.push(last)
  }
  return out
}

/** Split a shell line at its comment: a `#` that starts a word outside quotes. */
export function splitComment(line: string): { code: string; comment: string | null } {
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"') i++
    } else if (c === "'" || c === '"') quote = c
    else if (c === '\\') i++
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return { code: line.slice(0, i), comment: line.slice(i + 1).trim() }
  }
  return { code: line, comment: null }
}

/** The simple commands of a command line: split at `&&`, `||`, `;` and `|` outside quotes. */
export function simpleCommands(text: string): { parts: string[]; separators: string[] } {
  const parts: string[] = []
  const separators: string[] = []
  let quote: string | null = null
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"') i++
      continue
    }
    if (c === "'" || c === '"') quote = c
    else if (c === '\\') i++
    else if (c === ';' || c === '|' || c === '&') {
      const two = text.slice(i, i + 2)
      const sep = two === '&&' || two === '||' ? two : c
      if (sep === '&') continue // a lone & inside a line (a background job mid-line) is caught by the classifier
      parts.push(text.slice(start, i).trim())
      separators.push(sep)
      i += sep.length - 1
      start = i + 1
    }
  }
  parts.push(text.slice(start).trim())
  return { parts, separators }
}

/** Split a simple command into words, resolving quotes (no expansion). */
export function words(command: string): string[] {
  const out: string[] = []
  let cur: string | null = null
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!
    if (c === "'" || c === '"') {
      const end = command.indexOf(c, i + 1)
      if (end < 0) throw new Error(`unbalanced ${c} in: ${command}`)
      cur = (cur ?? '') + command.slice(i + 1, end)
      i = end
    } else if (/\s/.test(c)) {
      if (cur !== null) out.push(cur)
      cur = null
    } else {
      cur = (cur ?? '') + c
    }
  }
  if (cur !== null) out.push(cur)
  return out
}

/**
 * What a simple command is, for the check:
 * - `env`: `export NAME=value …` — the check keeps the variables for the file's later commands;
 * - `sandbox`: `strata …` or `curl …` — run in the file's scratch directory;
 * - `repo`: `npm run <script>` or `npm start -w <workspace> …` — run from the repository root;
 * - `installed`: `npm ci`, `npm run build`, `npm test` — true of the checkout the check runs in,
 *   which it verifies instead of re-running (it runs inside `npm test`, after its build);
 * - `job`: `kill %N` — stop a background command started earlier in the file;
 * - `unknown`: anything else, which fails the check unless marked `# not run: …`.
 */
export type CommandKind = 'env' | 'sandbox' | 'repo' | 'installed' | 'job' | 'unknown'

/** Classify one simple command (see {@link CommandKind}); `why` explains an `unknown`. */
export function classify(part: string): { kind: CommandKind; argv: string[]; why?: string } {
  if (/\$\(|`/.test(part)) return { kind: 'unknown', argv: [], why: 'command substitution hides a command the check cannot see' }
  const argv = words(part)
  let k = 0
  while (k < argv.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[k]!)) k++
  const [cmd, ...args] = argv.slice(k)
  if (cmd === undefined) return { kind: 'unknown', argv, why: 'an assignment without export does not reach the next command' }
  if (cmd === 'export') return k === 0 && args.every((a) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) ? { kind: 'env', argv } : { kind: 'unknown', argv, why: 'write export NAME=value' }
  if (cmd === 'strata' || cmd === 'curl') return { kind: 'sandbox', argv }
  if (cmd === 'kill' && args.length === 1 && /^%\d+$/.test(args[0]!)) return { kind: 'job', argv }
  if (cmd === 'npm') {
    const a = args.join(' ')
    if (a === 'ci' || a === 'run build' || a === 'test') return { kind: 'installed', argv }
    if (/^run [\w:-]+( |$)/.test(a) || /^start (-s )?-w @?[\w/.-]+( |$)/.test(a)) return { kind: 'repo', argv }
  }
  return { kind: 'unknown', argv, why: `the docs check has no way to run \`${cmd}\`` }
}

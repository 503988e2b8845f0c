import { tableLayout } from './render.js'

/** The output formats of `strata sql --format`. */
export const SQL_FORMATS = ['table', 'csv', 'tsv', 'json', 'jsonl'] as const

/** One of {@link SQL_FORMATS}. */
export type SqlFormat = (typeof SQL_FORMATS)[number]

/**
 * The table format sizes its columns from this many rows of each result, then prints them and
 * every later row at once; a later, wider value overflows its column (the table is never held
 * in memory whole).
 */
export const TABLE_SIZING_ROWS = 1000

/**
 * Turns result sets into text, one row at a time, handing every piece to `out`. Only the table
 * format holds rows back (at most {@link TABLE_SIZING_ROWS}), to size its columns.
 */
export interface ResultWriter {
  /** A statement's result set starts: `statement` is its 1-based position in the script. */
  begin(statement: number, columns: readonly string[]): void
  /** One row, its values in column order. */
  row(values: readonly unknown[]): void
  /**
   * The format, when the rows of a result may be written by `StatementRun.emit` instead of
   * {@link row} (same bytes); null for the `--json` document.
   */
  readonly native: 'csv' | 'tsv' | 'json' | 'jsonl' | 'table' | null
  /**
   * The rows of the open result were written by `StatementRun.emit` instead of {@link row},
   * `count` of them (with what comes with them: a table's header); also after it failed part way.
   */
  emitted(count: number): void
  /** The result set is complete. */
  end(): void
  /** The script ended: close whatever the format still has open (`fields` end the `--json` document). */
  finish(fields: Readonly<Record<string, unknown>>): void
  /**
   * The script failed with error `code`: print what is held back and close what is open, so the
   * output stays well-formed. A `--json` document that has not started stays unwritten (the
   * error document goes to stderr).
   */
  abort(code: string): void
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** A value as JSON text: bigints as numbers (strings when beyond 2^53), blobs as `{"$blob": "<hex>"}`. */
export function jsonValue(v: unknown): string {
  // Most frequent first: text and integers make up most cells of a large result.
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'bigint') return v <= MAX_SAFE && v >= -MAX_SAFE ? '' + v : `"${v}"`
  if (v === null || v === undefined) return 'null'
  if (v instanceof Uint8Array) return `{"$blob":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"}`
  return JSON.stringify(v) ?? 'null'
}

/** A value as text for CSV and TSV: NULL is empty, blobs are `x'<hex>'`. */
function plainText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (v instanceof Uint8Array) return `x'${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}'`
  return String(v)
}

/** A writer for `format`, or for the `--json` document when `document` is set. */
export function resultWriter(format: SqlFormat, out: (text: string) => void, document: { branch: string } | null): ResultWriter {
  if (document) return new DocumentWriter(out, document.branch)
  switch (format) {
    case 'table':
      return new TableWriter(out)
    case 'csv':
      return new DelimitedWriter(out, ',', csvText, 'csv')
    case 'tsv':
      return new DelimitedWriter(out, '\t', tsvText, 'tsv')
    case 'json':
      return new JsonArrayWriter(out)
    case 'jsonl':
      return new JsonLinesWriter(out)
  }
}

const CSV_SPECIAL = /[",\r\n]/

/** RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
function csvText(s: string): string {
  return CSV_SPECIAL.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

const TSV_SPECIAL = /[\\\t\n\r]/

/** Tab, newline, carriage return and backslash escaped with a backslash, so one row is one line. */
function tsvText(s: string): string {
  if (!TSV_SPECIAL.test(s)) return s
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

class DelimitedWriter implements ResultWriter {
  constructor(
    private readonly out: (text: string) => void,
    private readonly sep: string,
    /** Quotes or escapes one text value (numbers never need it). */
    private readonly text: (s: string) => string,
    readonly native: 'csv' | 'tsv',
  ) {}

  emitted(): void {}

  begin(_statement: number, columns: readonly string[]): void {
    this.out(columns.map(this.text).join(this.sep) + '\n')
  }

  row(values: readonly unknown[]): void {
    const sep = this.sep
    let line = ''
    for (let i = 0; i < values.length; i++) {
      const v = values[i]
      const s = typeof v === 'string' ? this.text(v) : typeof v === 'bigint' || typeof v === 'number' ? '' + v : this.text(plainText(v))
      line = i === 0 ? s : line + sep + s
    }
    this.out(line + '\n')
  }

  end(): void {}
  finish(): void {}
  abort(): void {}
}

/** Like `sqlite3 -json`: each result set one array of objects, one row per line. */
class JsonArrayWriter implements ResultWriter {
  #keys: readonly string[] = []
  /** Rows of the open result; -1 when none is open. */
  #rows = -1
  readonly native = 'json'
  constructor(private readonly out: (text: string) => void) {}

  emitted(count: number): void {
    this.#rows = count
  }

  begin(_statement: number, columns: readonly string[]): void {
    this.#keys = objectKeys(columns)
    this.#rows = 0
  }

  row(values: readonly unknown[]): void {
    this.out((this.#rows++ === 0 ? '[' : ',\n') + objectText(this.#keys, values))
  }

  end(): void {
    this.out(this.#rows === 0 ? '[]\n' : ']\n')
    this.#rows = -1
  }

  finish(): void {}

  abort(): void {
    if (this.#rows > 0) this.out(']\n')
  }
}

/** One JSON object per row, one per line, for every result set. */
class JsonLinesWriter implements ResultWriter {
  #keys: readonly string[] = []
  readonly native = 'jsonl'
  constructor(private readonly out: (text: string) => void) {}

  emitted(): void {}

  begin(_statement: number, columns: readonly string[]): void {
    this.#keys = objectKeys(columns)
  }

  row(values: readonly unknown[]): void {
    this.out(objectText(this.#keys, values) + '\n')
  }

  end(): void {}
  finish(): void {}
  abort(): void {}
}

/** What precedes each value in a row's JSON object: `{"id":`, `,"name":`, … */
function objectKeys(columns: readonly string[]): string[] {
  return columns.map((c, i) => (i === 0 ? '{' : ',') + JSON.stringify(c) + ':')
}

function objectText(keys: readonly string[], values: readonly unknown[]): string {
  if (keys.length === 0) return '{}'
  let s = ''
  for (let i = 0; i < keys.length; i++) s += keys[i]! + jsonValue(values[i])
  return s + '}'
}

/** The `--json` document: `{"branch", "results": [{statement, columns, rows}], …fields}`, written as it goes. */
class DocumentWriter implements ResultWriter {
  #started = false
  #results = 0
  #rows = -1
  readonly native = null
  constructor(
    private readonly out: (text: string) => void,
    private readonly branch: string,
  ) {}

  emitted(): void {
    throw new Error('the --json document is written by JavaScript only')
  }

  /** The document's opening, written with the first result (so a script that fails first leaves stdout empty). */
  #start(): void {
    if (this.#started) return
    this.#started = true
    this.out(`{\n  "branch": ${JSON.stringify(this.branch)},\n  "results": [`)
  }

  begin(statement: number, columns: readonly string[]): void {
    this.#start()
    this.out(`${this.#results++ === 0 ? '' : ','}\n    {"statement": ${statement}, "columns": ${JSON.stringify(columns)}, "rows": [`)
    this.#rows = 0
  }

  row(values: readonly unknown[]): void {
    let s = this.#rows++ === 0 ? '\n      [' : ',\n      ['
    for (let i = 0; i < values.length; i++) s += (i > 0 ? ', ' : '') + jsonValue(values[i])
    this.out(s + ']')
  }

  end(): void {
    this.out(this.#rows === 0 ? ']}' : '\n    ]}')
    this.#rows = -1
  }

  abort(code: string): void {
    if (!this.#started) return
    if (this.#rows >= 0) this.end()
    this.finish({ error: code })
  }

  finish(fields: Readonly<Record<string, unknown>>): void {
    this.#start()
    let s = this.#results === 0 ? ']' : '\n  ]'
    for (const [k, v] of Object.entries(fields)) s += `,\n  ${JSON.stringify(k)}: ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x))}`
    this.out(s + '\n}\n')
  }
}

/**
 * The aligned table: columns sized from the first {@link TABLE_SIZING_ROWS} rows, then those and
 * every later row printed as they come; a later, wider value overflows its column. Results are
 * separated by a blank line and end with a `(N rows)` line.
 */
class TableWriter implements ResultWriter {
  #columns: readonly string[] = []
  #held: unknown[][] | null = null
  #layout: ((values: readonly unknown[]) => string) | null = null
  #rows = 0
  #results = 0
  readonly native = 'table'
  constructor(private readonly out: (text: string) => void) {}

  emitted(count: number): void {
    // The header, the rule and the rows are written; what is left is the `(N rows)` line.
    this.#held = null
    this.#rows = count
  }

  begin(_statement: number, columns: readonly string[]): void {
    if (this.#results++ > 0) this.out('\n')
    this.#columns = columns
    this.#held = []
    this.#layout = null
    this.#rows = 0
  }

  row(values: readonly unknown[]): void {
    this.#rows++
    if (this.#held) {
      this.#held.push([...values])
      if (this.#held.length >= TABLE_SIZING_ROWS) this.#release()
      return
    }
    this.#line(values)
  }

  end(): void {
    if (this.#held) this.#release()
    this.out(`(${this.#rows} row${this.#rows === 1 ? '' : 's'})\n`)
  }

  finish(): void {}

  abort(): void {
    if (this.#held) this.#release()
  }

  #release(): void {
    const held = this.#held ?? []
    this.#held = null
    const layout = tableLayout(this.#columns, held)
    this.#layout = layout.values
    this.out(layout.line(this.#columns, true) + '\n' + layout.rule + '\n')
    for (const r of held) this.#line(r)
  }

  #line(values: readonly unknown[]): void {
    this.out(this.#layout!(values) + '\n')
  }
}

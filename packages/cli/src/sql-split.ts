// Token classes and state machine of SQLite's own `sqlite3_complete()` (src/complete.c), so
// statements split exactly where SQLite would end them — including `;` inside string
// literals, quoted identifiers, comments and `CREATE TRIGGER … BEGIN …; END` bodies.
const enum Tk {
  Semi = 0,
  Ws = 1,
  Other = 2,
  Explain = 3,
  Create = 4,
  Temp = 5,
  Trigger = 6,
  End = 7,
}

// trans[state][token] → state. States: 0 invalid (nothing yet), 1 start (after `;`), 2 normal,
// 3 explain, 4 create, 5 trigger body, 6 `;` inside a trigger, 7 `END` inside a trigger.
const TRANS: readonly (readonly number[])[] = [
  [1, 0, 2, 3, 4, 2, 2, 2],
  [1, 1, 2, 3, 4, 2, 2, 2],
  [1, 2, 2, 2, 2, 2, 2, 2],
  [1, 3, 3, 2, 4, 2, 2, 2],
  [1, 4, 2, 2, 2, 4, 5, 2],
  [6, 5, 5, 5, 5, 5, 5, 5],
  [6, 6, 5, 5, 5, 5, 5, 7],
  [1, 7, 5, 5, 5, 5, 5, 5],
]

const KEYWORDS: Record<string, Tk> = {
  create: Tk.Create,
  trigger: Tk.Trigger,
  temp: Tk.Temp,
  temporary: Tk.Temp,
  end: Tk.End,
  explain: Tk.Explain,
}

const isIdChar = (c: string): boolean => /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) >= 0x80

/**
 * Split `sql` into its statements, in order, each with its terminating `;` (the last one may
 * lack it). Pieces holding only whitespace, comments or stray `;` are dropped. An unterminated
 * string, identifier or comment runs to the end of the input, where SQLite will report it.
 */
export function splitStatements(sql: string): string[] {
  return walk(sql).statements
}

/**
 * True if `sql` ends a statement — as SQLite's `sqlite3_complete()` decides: its last token is a
 * `;` outside strings, comments and trigger bodies. A prompt reads lines until this holds.
 */
export function isCompleteSql(sql: string): boolean {
  const w = walk(sql)
  return w.statements.length > 0 && w.endState === 1
}

/** Run the state machine over `sql`: its statements, and the state it ends in (1: after a complete statement). */
function walk(sql: string): { statements: string[]; endState: number } {
  const out: string[] = []
  let state = 0
  let start = 0
  let content = false
  let i = 0
  const n = sql.length
  const skipTo = (close: string, from: number): number => {
    const j = sql.indexOf(close, from)
    return j < 0 ? n : j + close.length
  }
  while (i < n) {
    const c = sql[i]!
    let tk: Tk
    if (c === ';') {
      tk = Tk.Semi
      i++
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      tk = Tk.Ws
      i++
    } else if (c === '/' && sql[i + 1] === '*') {
      tk = Tk.Ws
      i = skipTo('*/', i + 2)
    } else if (c === '-' && sql[i + 1] === '-') {
      tk = Tk.Ws
      i = skipTo('\n', i + 2)
    } else if (c === '[') {
      tk = Tk.Other
      i = skipTo(']', i + 1)
    } else if (c === '`' || c === '"' || c === "'") {
      tk = Tk.Other
      i = skipTo(c, i + 1)
    } else if (isIdChar(c)) {
      let j = i + 1
      while (j < n && isIdChar(sql[j]!)) j++
      tk = KEYWORDS[sql.slice(i, j).toLowerCase()] ?? Tk.Other
      i = j
    } else {
      tk = Tk.Other
      i++
    }
    if (tk !== Tk.Ws && tk !== Tk.Semi) content = true
    state = TRANS[state]![tk]!
    if (tk === Tk.Semi && state === 1) {
      if (content) out.push(sql.slice(start, i))
      start = i
      content = false
    }
  }
  if (content) out.push(sql.slice(start))
  return { statements: out.map((s) => s.trim()), endState: state }
}

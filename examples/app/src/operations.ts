// The only SQL a session can run: the app's own operations, each one fixed, parameterized
// statement on the app's tables. Clients pick an operation by name and send its parameters as
// values; no text a client sends ever becomes SQL, so no request can reach ATTACH, VACUUM INTO,
// load_extension or a PRAGMA — or any file outside the session's branch.
//
// better-sqlite3 has no authorizer (sqlite3_set_authorizer), which is what a raw-SQL endpoint
// would need to be safe: see the README for why a fixed list is the rule here.

/** The type a parameter's value must have: `text` a string, `integer` a safe integer. */
export type ParamType = 'text' | 'integer'

/** One operation a session can run. */
export interface Operation {
  /** The statement, with a `:name` placeholder for each parameter. */
  sql: string
  /** Every parameter the statement takes, and its type; a request must send exactly these. */
  params: Readonly<Record<string, ParamType>>
}

/**
 * Every operation a session can run, by the name clients use in `POST /sessions/:id/ops/:name`.
 * A query answers with its rows; any other statement is committed to the session's branch.
 */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  stock: {
    sql: 'SELECT count(*) AS books, count(*) FILTER (WHERE copies = 0) AS outOfStock FROM books',
    params: {},
  },
  'books-by-author': {
    sql: 'SELECT id, title, year, copies FROM books WHERE author = :author ORDER BY id',
    params: { author: 'text' },
  },
  'set-copies': {
    sql: 'UPDATE books SET copies = :copies WHERE author = :author',
    params: { author: 'text', copies: 'integer' },
  },
  'add-book': {
    sql: 'INSERT INTO books (title, author, year, copies) VALUES (:title, :author, :year, :copies)',
    params: { title: 'text', author: 'text', year: 'integer', copies: 'integer' },
  },
  'remove-year': {
    sql: 'DELETE FROM books WHERE year = :year',
    params: { year: 'integer' },
  },
}

/**
 * The operation named `name`, or undefined. Only the list's own names count: `toString` or
 * `__proto__` are not operations.
 */
export function findOperation(name: string): Operation | undefined {
  return Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined
}

/**
 * Check a request's parameters against `op`: exactly its names, each of its type. Returns a
 * sentence saying what is wrong, or null when they fit.
 */
export function paramsProblem(op: Operation, params: Record<string, unknown>): string | null {
  const expected = Object.keys(op.params)
  for (const name of Object.keys(params)) if (!Object.hasOwn(op.params, name)) return `unknown parameter "${name}"; this operation takes ${describe(op)}`
  for (const name of expected) {
    const value = params[name]
    const type = op.params[name]
    if (type === 'text' && typeof value !== 'string') return `"${name}" must be a string; this operation takes ${describe(op)}`
    if (type === 'integer' && !Number.isSafeInteger(value)) return `"${name}" must be an integer; this operation takes ${describe(op)}`
  }
  return null
}

function describe(op: Operation): string {
  const names = Object.entries(op.params).map(([name, type]) => `${name} (${type})`)
  return names.length === 0 ? 'no parameters' : names.join(', ')
}

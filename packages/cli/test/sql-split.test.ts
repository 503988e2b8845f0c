import { describe, expect, it } from 'vitest'
import { splitStatements } from '../src/sql-split.js'

describe('splitStatements', () => {
  it('splits on semicolons between statements and keeps the last one without a semicolon', () => {
    expect(splitStatements('SELECT 1; SELECT 2;\nSELECT 3')).toEqual(['SELECT 1;', 'SELECT 2;', 'SELECT 3'])
  })

  it('ignores semicolons in strings, quoted identifiers and comments', () => {
    const sql = `INSERT INTO t VALUES ('a;b', 'it''s;'); SELECT "x;y", [p;q], \`r;s\` FROM t -- c;d
      ; /* e;f */ SELECT 2`
    expect(splitStatements(sql)).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s;');",
      'SELECT "x;y", [p;q], `r;s` FROM t -- c;d\n      ;',
      '/* e;f */ SELECT 2',
    ])
  })

  it('keeps a trigger body with its inner semicolons in one statement', () => {
    const trigger = 'CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 1; DELETE FROM u; END;'
    expect(splitStatements(`${trigger} SELECT 1`)).toEqual([trigger, 'SELECT 1'])
    expect(splitStatements('create trigger tr after insert on t begin select 1; end; select 2')).toHaveLength(2)
  })

  it('does not mistake identifiers named like keywords for a trigger', () => {
    expect(splitStatements('CREATE TABLE trigger_log (end_at TEXT); SELECT 1')).toEqual(['CREATE TABLE trigger_log (end_at TEXT);', 'SELECT 1'])
  })

  it('drops empty pieces: whitespace, comments and stray semicolons', () => {
    expect(splitStatements(' ;; -- nothing\n /* at all */ ;')).toEqual([])
    expect(splitStatements(';SELECT 1;;')).toEqual(['SELECT 1;'])
  })

  it('leaves an unterminated string to run to the end, for SQLite to report', () => {
    expect(splitStatements("SELECT 'abc; SELECT 2")).toEqual(["SELECT 'abc; SELECT 2"])
  })
})

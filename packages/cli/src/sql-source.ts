import { readFile } from 'node:fs/promises'
import { InvalidArgumentError } from '@strata/core'

/**
 * The SQL of `strata sql`: the argument, or the file of `-f`, where `-` (as either) means stdin.
 * Exactly one of the two must be given. Read whole: statements are split before any runs.
 */
export async function readSqlSource(arg: string | undefined, file: string | undefined, stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  if (arg !== undefined && file !== undefined) {
    throw new InvalidArgumentError({ argument: 'SQL', reason: 'give it either as an argument or with -f <file>, not both' })
  }
  const source = file ?? arg
  if (source === undefined) {
    throw new InvalidArgumentError({ argument: 'SQL', reason: 'none given: pass it as an argument, with -f <file>, or - to read it from stdin' })
  }
  if (source === '-') {
    if (!stdin) throw new InvalidArgumentError({ argument: 'SQL', reason: 'stdin is not available' })
    return readAll(stdin)
  }
  if (file === undefined) return source
  try {
    return await readFile(file, 'utf8')
  } catch (e) {
    throw new InvalidArgumentError({ argument: '--file', reason: `cannot read ${file}: ${(e as Error).message}` })
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  stream.setEncoding('utf8')
  let text = ''
  for await (const chunk of stream) text += chunk as string
  return text
}

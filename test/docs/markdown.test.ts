import { describe, expect, it } from 'vitest'
import { classify, fences, shellCommands, simpleCommands, splitComment } from './markdown.js'

// The docs check is only as good as its reading of the markdown: these pin down what counts as a
// command, what excuses one, and what the check refuses.

const md = (s: string): string => s.replace(/^ {4}/gm, '')

describe('fences', () => {
  it('finds each block with its language, line and heading', () => {
    const f = fences(
      'x.md',
      md(`# Title
    intro
    \`\`\`sh
    strata init
    \`\`\`
    ## Later
    \`\`\`
    bare
    \`\`\`
    `),
    )
    expect(f.map((b) => [b.line, b.lang, b.heading, b.body])).toEqual([
      [3, 'sh', 'Title', 'strata init'],
      [7, '', 'Later', 'bare'],
    ])
  })

  it('does not take a heading inside a block for one, and refuses an unclosed block', () => {
    expect(fences('x.md', '```sh\n# a comment\n```\n')[0]!.heading).toBe('')
    expect(() => fences('x.md', '# T\n```sh\nstrata init\n')).toThrow('x.md:2')
  })
})

describe('shell commands', () => {
  const block = (body: string) => shellCommands({ file: 'x.md', line: 10, lang: 'sh', heading: 'H', body })

  it('joins continuation lines, splits trailing comments, and skips comment lines', () => {
    const cmds = block(md(`# a heading comment
    strata sql main "SELECT '#not a comment'" \\
      -m "msg"   # commits nothing
    strata log`))
    expect(cmds.map((c) => [c.line, c.text, c.comment])).toEqual([
      [12, `strata sql main "SELECT '#not a comment'" -m "msg"`, 'commits nothing'],
      [14, 'strata log', null],
    ])
  })

  it('takes # {…} lines right after a command as its JSON output', () => {
    const [a, b] = block(md(`curl -s localhost/x
    # {"id":"4d8015e5"}
    strata log
    # just a remark
    # {"not":"output"}`))
    expect(a!.output).toEqual(['{"id":"4d8015e5"}'])
    expect(b!.output).toEqual([])
  })

  it('excuses a command only with "# not run: <reason>"', () => {
    expect(block('export AWS_PROFILE=prod   # not run: needs an AWS account')[0]!.notRun).toBe('needs an AWS account')
    expect(() => block('strata init   # not run')).toThrow('x.md:11')
    expect(() => block('strata init   # Not run because')).toThrow('not run:')
  })

  it('sees a trailing & as a background job, but not &&', () => {
    expect(block('npm start -w @strata-examples/app &')[0]).toMatchObject({ background: true, text: 'npm start -w @strata-examples/app' })
    expect(block('strata gc && strata verify')[0]!.background).toBe(false)
  })
})

describe('classify', () => {
  const kinds = (line: string) => simpleCommands(line).parts.map((p) => classify(p).kind)

  it('knows the commands it can run, and where', () => {
    expect(kinds('strata gc && strata pins prune')).toEqual(['sandbox', 'sandbox'])
    expect(kinds('curl -sf -X POST http://127.0.0.1:$PORT/sessions')).toEqual(['sandbox'])
    expect(kinds('npm start -w @strata-examples/app -- --break')).toEqual(['repo'])
    expect(kinds('npm ci && npm run build && npm run demo')).toEqual(['installed', 'installed', 'repo'])
    expect(kinds('export STRATA_STORE=./data STRATA_ALLOW_STORES=s3://b/p')).toEqual(['env'])
    expect(kinds('kill %1')).toEqual(['job'])
  })

  it('refuses anything else, with a reason', () => {
    for (const line of ['rm -rf data', 'aws s3 ls', 'npm install left-pad', 'STRATA_STORE=./data', 'strata show $(strata log --json)', 'kill 1234']) {
      const c = simpleCommands(line).parts.map(classify)
      expect(c.some((k) => k.kind === 'unknown'), line).toBe(true)
      expect(c.find((k) => k.kind === 'unknown')!.why, line).toBeTruthy()
    }
  })

  it('does not split inside quotes', () => {
    expect(simpleCommands(`strata sql main "DELETE FROM t; SELECT 1 | 2" && strata log`).parts).toEqual([`strata sql main "DELETE FROM t; SELECT 1 | 2"`, 'strata log'])
    expect(splitComment(`strata sql main 'a # b' # c`)).toEqual({ code: `strata sql main 'a # b' `, comment: 'c' })
  })
})

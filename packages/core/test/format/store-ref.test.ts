import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { formatStoreRef, normalizeStoreUrl, parseStoreRef } from '../../src/format/store-ref.js'

describe('normalizeStoreUrl', () => {
  it('keeps canonical store URLs as they are', () => {
    expect(normalizeStoreUrl('s3://base-bucket/team/prefix')).toBe('s3://base-bucket/team/prefix')
    expect(normalizeStoreUrl('file:///data/base')).toBe('file:///data/base')
  })

  it('normalizes scheme case, repeated and trailing slashes, dot segments', () => {
    expect(normalizeStoreUrl('S3://base-bucket//team/prefix/')).toBe('s3://base-bucket/team/prefix')
    expect(normalizeStoreUrl('file:///data/x/../base/')).toBe('file:///data/base')
    expect(normalizeStoreUrl('  s3://b-ucket  ')).toBe('s3://b-ucket')
  })

  it('turns a plain path into the file: URL of its absolute form', () => {
    expect(normalizeStoreUrl('./base')).toBe(pathToFileURL(path.resolve('base')).href)
    expect(normalizeStoreUrl('/data/base/')).toBe('file:///data/base')
  })

  it('refuses empty locations, queries and fragments', () => {
    expect(() => normalizeStoreUrl('')).toThrow(expect.objectContaining({ code: 'STRATA_INVALID_ARGUMENT' }))
    expect(() => normalizeStoreUrl('s3://bucket?versionId=1')).toThrow(/query or fragment/)
    expect(() => normalizeStoreUrl('s3://')).toThrow(/names no location/)
  })
})

describe('parseStoreRef', () => {
  it('is null for a local branch or snapshot', () => {
    expect(parseStoreRef('main')).toBeNull()
    expect(parseStoreRef('feature/x')).toBeNull()
    expect(parseStoreRef('3fa9c1e0')).toBeNull()
  })

  it('splits <store-url>#<branch-or-snapshot> at the last #', () => {
    expect(parseStoreRef('s3://base-bucket/prefix#main')).toEqual({ store: 's3://base-bucket/prefix', target: 'main' })
    expect(parseStoreRef('file:///data/base/#3fa9c1e0')).toEqual({ store: 'file:///data/base', target: '3fa9c1e0' })
    expect(parseStoreRef('/data/we#ird#feature/x')).toEqual({ store: 'file:///data/we%23ird', target: 'feature/x' })
  })

  it('refuses an empty store or target', () => {
    expect(() => parseStoreRef('#main')).toThrow(/<store-url>#<branch-or-snapshot>/)
    expect(() => parseStoreRef('s3://bucket#')).toThrow(expect.objectContaining({ code: 'STRATA_INVALID_ARGUMENT' }))
  })

  it('formats back to the same spec', () => {
    const ref = parseStoreRef('s3://base-bucket/prefix/#main')!
    expect(formatStoreRef(ref)).toBe('s3://base-bucket/prefix#main')
    expect(parseStoreRef(formatStoreRef(ref))).toEqual(ref)
  })
})

// Put/get/list/delete throughput of S3Store against the local test server (fauxqs behind the
// conditional-write proxy, in this process), or against S3_TEST_ENDPOINT + S3_TEST_BUCKET.
// Run: node --conditions=source --import tsx packages/s3/scripts/measure-throughput.ts
import { randomBytes } from 'node:crypto'
import { S3Store } from '@strata/s3'
import { localTarget, newS3TestLocation, startTestS3, type S3TestTarget } from '@strata/s3/testing'

const MiB = 1024 * 1024
const concurrency = Number(process.env['CONCURRENCY'] ?? 16)

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const value = await fn()
  return [value, (performance.now() - start) / 1000]
}

async function run(target: S3TestTarget, label: string): Promise<void> {
  const loc = await newS3TestLocation('throughput', target)
  const store: S3Store = loc.open('bench', { concurrency })
  try {
    for (const [count, size] of [
      [2000, 4 * 1024],
      [48, 1 * MiB],
      [8, 8 * MiB],
    ] as const) {
      const body = randomBytes(size)
      const keys = Array.from({ length: count }, (_, i) => `obj/${size}/${String(i).padStart(6, '0')}`)
      const [, put] = await timed(() => Promise.all(keys.map((k) => store.put(k, body))))
      const [got, get] = await timed(() => Promise.all(keys.map((k) => store.get(k))))
      if (got.some((g) => g?.body.byteLength !== size)) throw new Error('short read')
      const total = (count * size) / MiB
      console.log(
        `${label} ${String(count).padStart(5)} × ${(size / 1024).toString().padStart(5)} KiB: ` +
          `put ${(count / put).toFixed(0).padStart(5)} obj/s ${(total / put).toFixed(1).padStart(6)} MiB/s | ` +
          `get ${(count / get).toFixed(0).padStart(5)} obj/s ${(total / get).toFixed(1).padStart(6)} MiB/s`,
      )
    }
    const [listed, list] = await timed(async () => {
      let n = 0
      for await (const _ of store.list('')) n++
      return n
    })
    const all: string[] = []
    for await (const o of store.list('')) all.push(o.key)
    const [, del] = await timed(() => store.delete(all))
    console.log(`${label} list ${listed} keys: ${(listed / list).toFixed(0)} keys/s | delete: ${(all.length / del).toFixed(0)} keys/s`)
  } finally {
    await store.close()
    await loc.cleanup()
  }
}

const real = process.env['S3_TEST_ENDPOINT']
if (real) {
  await run({ real: true, endpoint: real, options: { endpoint: real } }, 'real')
} else {
  const s3 = await startTestS3()
  try {
    await run(localTarget(s3.endpoint), 'proxy ')
    await run(localTarget(s3.upstreamEndpoint), 'fauxqs')
  } finally {
    await s3.stop()
  }
}
console.log(`(concurrency ${concurrency}, node ${process.version})`)

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const FIXTURE = fileURLToPath(new URL('./fixtures/guard-proc.ts', import.meta.url))

async function run (kind: string): Promise<{ code: number | null, out: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, ['--import', 'tsx', FIXTURE, kind], (err, stdout) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, out: stdout })
    })
  })
}

describe('libp2p guard', function () {
  this.timeout(30_000)
  it('contains the yamux StreamStateError race and nothing else', async () => {
    assert.deepEqual(await run('stream'), { code: 0, out: 'survived\n' })
    const other = await run('other')
    assert.equal(other.code, 1)
    assert.equal(other.out, '')
  })
})

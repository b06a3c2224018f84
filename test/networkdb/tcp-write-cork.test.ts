import assert from 'node:assert/strict'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import '../../networkdb/tcp-write-cork.js'

interface Conn { send: (b: Uint8Array) => boolean }
const socketToConn = new URL('./socket-to-conn.js', import.meta.resolve('@libp2p/tcp')).href
const { toMultiaddrConnection } = await import(socketToConn) as {
  toMultiaddrConnection: (init: Record<string, unknown>) => Conn
}

describe('TCP write coalescing (patched @libp2p/tcp connection)', () => {
  let server: Server
  let client: Socket
  let received: Buffer[]
  let writes: { write: number, writev: number }

  beforeEach(async () => {
    received = []
    server = createServer(s => { s.on('data', b => { received.push(b) }) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    client = connect(port, '127.0.0.1')
    await new Promise(resolve => client.once('connect', resolve))
    writes = { write: 0, writev: 0 }
    const c = client as unknown as { _write: (...a: unknown[]) => void, _writev: (...a: unknown[]) => void }
    const w = c._write.bind(c)
    const wv = c._writev.bind(c)
    c._write = (...a) => { writes.write++; w(...a) }
    c._writev = (...a) => { writes.writev++; wv(...a) }
  })

  afterEach(async () => {
    client.destroy()
    await new Promise(resolve => server.close(resolve))
  })

  const conn = (): Conn => toMultiaddrConnection({
    socket: client, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1'), log: Object.assign(() => {}, { trace: () => {}, error: () => {} })
  })
  const bytes = async (n: number): Promise<Buffer> => {
    for (let i = 0; i < 200 && Buffer.concat(received).byteLength < n; i++) await new Promise(resolve => setTimeout(resolve, 5))
    return Buffer.concat(received)
  }

  it('frames sent in one turn of the event loop leave in one writev, in order', async () => {
    const c = conn()
    c.send(Buffer.from('first|'))
    c.send(Buffer.from('second|'))
    await Promise.resolve()
    c.send(Buffer.from('third')) // a microtask later: still the same turn
    assert.equal(writes.write + writes.writev, 0, 'nothing written before the turn ends')
    assert.equal((await bytes(18)).toString(), 'first|second|third')
    assert.deepEqual(writes, { write: 0, writev: 1 })
  })

  it('a frame of a later turn is not held back', async () => {
    const c = conn()
    c.send(Buffer.from('a'))
    assert.equal((await bytes(1)).toString(), 'a')
    c.send(Buffer.from('b'))
    assert.equal((await bytes(2)).toString(), 'ab')
    assert.equal(writes.write + writes.writev, 2)
    assert.equal(client.writableCorked, 0)
  })
})

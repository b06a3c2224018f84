import assert from 'node:assert/strict'
import { benchArgs } from '../../bench/args.js'

describe('bench argv (node:util parseArgs)', () => {
  it('defaults, given numbers and flags', () => {
    const a = benchArgs({ nodes: 20, 'big-joins': 3 }, ['trace'], ['--nodes', '5', '--trace'])
    assert.equal(a.nodes, 5)
    assert.equal(a['big-joins'], 3)
    assert.equal(a.flags.has('trace'), true)
    assert.equal(benchArgs({ nodes: 20 }, ['trace'], ['--nodes=7']).flags.has('trace'), false)
  })

  it('an unknown option or a non-number is an error', () => {
    assert.throws(() => benchArgs({ nodes: 20 }, [], ['--nodez', '5']), /Unknown option '--nodez'/)
    assert.throws(() => benchArgs({ nodes: 20 }, [], ['--nodes', 'many']), /--nodes: not a number: many/)
    assert.throws(() => benchArgs({ nodes: 20 }, [], ['stray']), /Unexpected argument 'stray'|positional/)
  })
})

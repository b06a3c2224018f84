import assert from 'node:assert/strict'
import { httpStatusOf } from '../../agent/errors.js'
import { ErrPoolOverlap } from '../../ipam/index.js'
import {
  EntryExistsError, EntryNotFoundError, InvalidArgumentError, JoinError, NetworkDBError, NotInNetworkError, NotOwnerError,
  NotStartedError
} from '../../networkdb/index.js'
import { InvalidParameterError } from '../../overlay/index.js'

describe('one error-kind union: every layer\'s errors reach the API with their status', () => {
  it('NetworkDB errors carry a kind and are no 500', () => {
    assert.equal(httpStatusOf(new EntryExistsError('t', 'n', 'k')), 409)
    assert.equal(httpStatusOf(new EntryNotFoundError('t', 'n', 'k')), 404)
    assert.equal(httpStatusOf(new NotOwnerError('t', 'n', 'k', 'o')), 409)
    assert.equal(httpStatusOf(new NotInNetworkError('n')), 404)
    assert.equal(httpStatusOf(new InvalidArgumentError('bad')), 400)
    assert.equal(httpStatusOf(new NotStartedError()), 503)
    assert.equal(httpStatusOf(new JoinError('no seed answered')), 503)
    assert.equal(httpStatusOf(new NetworkDBError('anything else')), 500)
  })

  it('the overlay\'s and the IPAM\'s errors map through the same union', () => {
    assert.equal(httpStatusOf(new InvalidParameterError('bad option')), 400)
    assert.equal(httpStatusOf(new ErrPoolOverlap()), 409)
    assert.equal(httpStatusOf(new Error('plain')), 500)
  })
})

/**
 * The layer rule is on: `npm run lint` (the project's own eslint.config.js, through ESLint's Node
 * API) reports an import into another layer's internals and one against the arrows, and accepts
 * the same import through the layer's index. Snippets are linted as if they were real files.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ESLint } from 'eslint'
import { REPO } from '../agent/helpers.js'

describe('lint: layer boundaries (eslint.config.js)', function () {
  this.timeout(120_000)
  const eslint = new ESLint({ cwd: REPO })

  async function layerErrors (code: string, file: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: join(REPO, file) })
    return (result?.messages ?? []).filter(m => m.ruleId === 'layers/imports').map(m => m.message)
  }

  it('fails an import into another layer\'s internals', async () => {
    const errs = await layerErrors("import { Tables } from '../networkdb/tables.js'\nexport { Tables }\n", 'overlay/driver.ts')
    assert.equal(errs.length, 1, errs.join('\n'))
    assert.match(errs[0]!, /reaches into networkdb's internals/)
  })

  it('fails an import against the arrows', async () => {
    const errs = await layerErrors("export { OverlayDriver } from '../overlay/index.js'\n", 'ipam/ipam.ts')
    assert.equal(errs.length, 1, errs.join('\n'))
    assert.match(errs[0]!, /ipam may not import overlay/)
    const dyn = await layerErrors("export const m = () => import('../agent/index.js')\n", 'networkdb/networkdb.ts')
    assert.match(dyn.join('\n'), /networkdb may not import agent/)
  })

  it('accepts the index, and a layer\'s own tests reaching into its internals', async () => {
    assert.deepEqual(await layerErrors("export { NetworkDBNode } from '../networkdb/index.js'\n", 'overlay/driver.ts'), [])
    assert.deepEqual(await layerErrors("export { Tables } from '../../networkdb/tables.js'\n", 'test/networkdb/cluster.test.ts'), [])
    const other = await layerErrors("export { Tables } from '../../networkdb/tables.js'\n", 'test/overlay/driver.test.ts')
    assert.match(other.join('\n'), /reaches into networkdb's internals/)
  })
})

// ESLint rule `layers/imports`: the layer arrows and each layer's surface, checked on every relative
// import, re-export and dynamic import. (Plain JS: eslint.config.js loads it without a TypeScript
// step. test/lint/layers.test.ts proves the rule fires.)
//
//   core, proto                       base layers: import no other layer (and not each other)
//   core <- networkdb <- {overlay, ipam} <- agent; proto below networkdb, overlay, ipam and agent
//   deploy, bench, test               may import any layer
//
// Across a layer boundary only the layer's index (`networkdb/index.js`), a room's index
// (`agent/egress/index.js`, `deploy/lab/index.js`) or a declared entry module (ENTRIES) may be
// imported. Tests under test/<dir>/ are the unit tests of their home layer(s) (TEST_HOMES) and may
// reach into those layers' internals; other layers only through their surface.
import { dirname, relative, resolve, sep } from 'node:path'

export const ALLOWED = {
  core: [],
  proto: [],
  networkdb: ['core', 'proto'],
  overlay: ['core', 'proto', 'networkdb'],
  ipam: ['core', 'proto', 'networkdb'],
  agent: ['core', 'proto', 'networkdb', 'overlay', 'ipam'],
  deploy: ['core', 'proto', 'networkdb', 'overlay', 'ipam', 'agent'],
  bench: ['core', 'proto', 'networkdb', 'overlay', 'ipam', 'agent', 'deploy'],
  test: ['core', 'proto', 'networkdb', 'overlay', 'ipam', 'agent', 'deploy']
}
export const LAYERS = Object.keys(ALLOWED).filter(l => l !== 'bench' && l !== 'test')

/** Modules outside an index that other layers may import: entry points with a documented effect. */
export const ENTRIES = new Set([
  'core/polyfill', // the polyfill: loaded first by entry points and test runners
  'networkdb/adapters', // libp2p/LMDB adapters and the dependency patches they need
  'ipam/adapters' // the LMDB store
])

/** test/<dir>/ -> the layers whose internals those tests exercise. */
export const TEST_HOMES = {
  core: ['core'],
  proto: ['proto'],
  networkdb: ['networkdb'],
  overlay: ['overlay'],
  ipam: ['ipam'],
  agent: ['agent'],
  cni: ['agent'],
  'docker-plugin': ['agent'],
  chaos: ['deploy'],
  deploy: ['deploy'],
  fuzz: ['proto', 'networkdb']
}

const strip = p => p.replace(/\.(js|ts)$/, '')

/** The problem with importing `spec` from `file` (repo-relative paths, '/'-separated), or undefined. */
export function checkImport (file, spec) {
  if (!spec.startsWith('./') && !spec.startsWith('../')) return undefined
  const from = file.split('/')
  const home = from[0]
  if (!(home in ALLOWED)) return undefined
  const target = relative('.', resolve(dirname(file), spec)).split(sep).join('/')
  const to = target.split('/')
  const layer = to[0]
  if (layer === home && home !== 'test') return undefined
  if (home === 'test') {
    if (layer === 'test' || layer === 'bench') return undefined
    const homes = TEST_HOMES[from[1]] ?? []
    if (homes.includes(layer)) return undefined
  }
  if (layer === 'test' || layer === 'bench') return `${home} may not import ${layer}/ ('${spec}')`
  if (!LAYERS.includes(layer)) return undefined
  if (!ALLOWED[home].includes(layer)) {
    return `${home} may not import ${layer} ('${spec}'): layers import downwards only ` +
      '(core, proto <- networkdb <- overlay, ipam <- agent)'
  }
  const base = strip(target)
  const isIndex = (to.length === 2 || to.length === 3) && to[to.length - 1].startsWith('index.')
  if (isIndex || ENTRIES.has(base)) return undefined
  return `'${spec}' reaches into ${layer}'s internals: import ${layer}/index.js (export what you need there)`
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'layers import downwards, and other layers only through their index.ts' },
    schema: [],
    messages: { layer: '{{problem}}' }
  },
  create (context) {
    const file = relative(context.cwd, context.filename).split(sep).join('/')
    const check = (node) => {
      const src = node.source
      if (src == null || src.type !== 'Literal' || typeof src.value !== 'string') return
      const problem = checkImport(file, src.value)
      if (problem !== undefined) context.report({ node: src, messageId: 'layer', data: { problem } })
    }
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check
    }
  }
}

export default { rules: { imports: rule } }

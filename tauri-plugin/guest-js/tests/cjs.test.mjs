// Tests of the npm package's entry points: package.json's `exports` sends
// `require` to dist-js/index.cjs and `import` to dist-js/index.js, both
// export the same names (those dist-js/index.d.ts declares), and the
// CommonJS build works against @tauri-apps/api's CommonJS build. Needs
// `npm ci` first (@tauri-apps/api is a dependency). Run with
// `node --test guest-js/tests/` in tauri-plugin/.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

// The package refers to itself by name, through its `exports`.
const require = createRequire(import.meta.url)
const dist = new URL('../../dist-js/', import.meta.url)

test('require and import resolve to the CommonJS and ESM builds', () => {
  assert.equal(require.resolve('tauri-plugin-wasp-api'), fileURLToPath(new URL('index.cjs', dist)))
  assert.equal(import.meta.resolve('tauri-plugin-wasp-api'), new URL('index.js', dist).href)
})

test('both builds export the names index.d.ts declares', async () => {
  const cjs = Object.keys(require('tauri-plugin-wasp-api')).sort()
  const esm = Object.keys(await import('tauri-plugin-wasp-api')).sort()
  assert.deepEqual(cjs, esm)
  const declared = [...readFileSync(new URL('index.d.ts', dist), 'utf8').matchAll(/^export declare (?:async )?(?:function|class) (\w+)/gm)]
  assert.deepEqual(esm, declared.map((m) => m[1]).sort())
  assert.ok(esm.includes('request') && esm.includes('listen') && esm.includes('WaspError'))
})

test('the CommonJS build invokes the plugin and rejects with its WaspError', async () => {
  const api = require('tauri-plugin-wasp-api')
  const calls = []
  globalThis.window = {
    __TAURI_INTERNALS__: {
      async invoke(cmd, args) {
        calls.push([cmd, args])
        if (args.to === 'nobody') throw { code: 'not_found', message: 'no plugin `nobody`' }
        return 'hi'
      }
    }
  }
  try {
    assert.equal(await api.request('echo', 'say', 'hi'), 'hi')
    await assert.rejects(api.request('nobody', 'say'), (e) => e instanceof api.WaspError && e.code === 'not_found')
    assert.deepEqual(calls[0], ['plugin:wasp|request', { to: 'echo', topic: 'say', payload: 'hi', timeoutMs: undefined }])
  } finally {
    delete globalThis.window
  }
})

// Builds the committed outputs of guest-js/index.ts, so that using the
// plugin needs no Node: dist-js/index.js (ESM) and dist-js/index.cjs
// (CommonJS), with dist-js/index.d.ts, for bundlers (the npm package
// tauri-plugin-wasp-api; @tauri-apps/api stays an import), and api-iife.js
// (the global script the plugin injects into every page, with
// @tauri-apps/api bundled in). scripts/check-js checks they are up to date.
import resolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'

const onwarn = (warning) => {
  throw Object.assign(new Error(warning.message), warning)
}

export default [
  {
    input: 'guest-js/index.ts',
    external: [/^@tauri-apps\/api/],
    onwarn,
    output: [
      { file: 'dist-js/index.js', format: 'es' },
      { file: 'dist-js/index.cjs', format: 'cjs' }
    ],
    plugins: [typescript({ declaration: true, declarationDir: 'dist-js', outDir: 'dist-js', rootDir: 'guest-js' })]
  },
  {
    input: 'guest-js/index.ts',
    onwarn,
    output: {
      file: 'api-iife.js',
      format: 'iife',
      name: '__TAURI_PLUGIN_WASP__',
      // Kept out of the global scope but for the two names below; `var` at
      // the top of an injected script is not guaranteed to land on `window`.
      banner: ';(function () {',
      footer: [
        'window.__TAURI_PLUGIN_WASP__ = __TAURI_PLUGIN_WASP__',
        "if ('__TAURI__' in window && !('wasp' in window.__TAURI__)) {",
        "  Object.defineProperty(window.__TAURI__, 'wasp', { value: __TAURI_PLUGIN_WASP__ })",
        '}',
        '})()'
      ].join('\n')
    },
    plugins: [
      resolve(),
      typescript({ declaration: false }),
      terser({ format: { preamble: '// Generated from guest-js/index.ts by `npm run build`: do not edit.' } })
    ]
  }
]

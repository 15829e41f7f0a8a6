// Lint: typescript-eslint's recommended rules, two type-aware rules (floating promises,
// exhaustive switches), and the import direction of docs/ARCHITECTURE.md "Layers": protocol ->
// errors only; crypto -> protocol; store/client -> crypto, protocol; relay -> protocol (never
// crypto's secret-key code); only src/cli prints or exits.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((group) => ({ group: [group], message })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.bench-tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Type-aware rules, on the TypeScript files only (tsconfig.json covers them all). A promise
    // nobody awaits hides its rejection; a switch that misses a union member hides a new case
    // (a `default:` clause counts as handling the rest: it is a decision, not an omission).
    files: ['**/*.ts', '**/*.cts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  layer(
    ['src/protocol/**/*.ts'],
    ['**/crypto/**', '**/store/**', '**/client/**', '**/cli/**', '**/relay/**', 'tweetnacl', 'argon2', 'ws', 'better-sqlite3'],
    'protocol is pure: it imports only errors',
  ),
  layer(
    ['src/crypto/**/*.ts'],
    ['**/store/**', '**/client/**', '**/cli/**', '**/relay/**', 'argon2', 'ws', 'better-sqlite3', 'node:fs', 'fs', 'node:fs/promises'],
    'crypto is pure: no I/O, no upper layers',
  ),
  layer(['src/store/**/*.ts', 'src/client/**/*.ts'], ['**/cli/**', '**/relay/**', '**/daemon/**'], 'store and client sit below the cli and the daemon'),
  layer(
    ['relay/**/*.ts'],
    ['**/src/crypto/seal*', '**/src/crypto/keyring*', '**/src/crypto/identity*', '**/src/store/**', '**/src/client/**', '**/src/cli/**'],
    'the relay is blind: protocol and signature checks only',
  ),
  {
    files: ['src/**/*.{ts,cts}', 'relay/**/*.ts'],
    ignores: ['src/cli/**', 'relay/main.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'only src/cli (and relay/main.ts) may exit' }],
    },
  },
  {
    files: ['scripts/**/*.{js,mjs}', 'bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
  },
  {
    // bin/ is CommonJS (bin/package.json; bin/hush.js says why).
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

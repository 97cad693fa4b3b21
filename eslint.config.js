// Typed lint. src/machines/** must stay pure: machines decide, hosts act.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const devtoolsApart = 'Developer tools (src/devtools/) are for people, not for the services: only the gateway and the composition root may load them.';

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'docs', 'coverage', 'test-results', '*.config.js', '.scratch-*/**', '.bench-scratch/**', '.exp-*'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['src/machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'crypto', 'path'], message: 'Machines are pure: no Node I/O.' },
            { group: ['@nats-io/*', 'better-sqlite3', 'fastify', 'fastify-*', '@fastify/*'], message: 'Machines are pure: the host does the I/O.' },
            { group: ['**/runtime/**', '**/actors/**', '**/gateway/**'], message: 'Machines must not depend on hosts.' },
            { group: ['**/devtools/**'], message: devtoolsApart },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'Date', 'setTimeout', 'setInterval', 'fetch', 'crypto', 'process'],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Machines are pure: ids and randomness come in events.' }],
    },
  },
  // Developer tools stay apart from what the services run on (tests/unit/import-graph.test.ts also
  // follows chains of imports, dynamic ones included, and checks the graph has no circle).
  {
    files: ['src/actors/**/*.ts', 'src/contracts/**/*.ts', 'src/runtime/**/*.ts', 'src/registry.ts', 'src/config.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/devtools/**'], message: devtoolsApart }] }],
    },
  },
  // The storefront's and explorer's browser scripts: plain JavaScript outside the TypeScript project.
  plainJavaScript(['src/*/public/**/*.js', 'src/devtools/*/public/**/*.js'], globals.browser),
  // The service threads' bootstrap: plain JavaScript, run before the TypeScript loader exists.
  plainJavaScript(['src/threads/*.mjs'], globals.node),
);

/** Files outside the TypeScript project: linted without type information, as ES modules. */
function plainJavaScript(files, fileGlobals) {
  return {
    files,
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'module', globals: fileGlobals },
  };
}

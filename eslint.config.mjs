// `make lint` checks the console's own scripts (vendored libraries aside).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['internal/web/ui/static/vendor/**', 'node_modules/**', 'bin/**', 'var/**', 'testout/**'] },
  js.configs.recommended,
  {
    files: ['internal/web/ui/static/**/*.js'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.browser, htmx: 'readonly' } },
    rules: { 'no-var': 'error', 'prefer-const': 'error', eqeqeq: 'error', 'no-implicit-globals': 'error' },
  },
  {
    // Runs before the page paints, so a classic script.
    files: ['internal/web/ui/static/theme.js'],
    languageOptions: { sourceType: 'script' },
  },
];

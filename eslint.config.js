// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', '.bench-build/', 'node_modules/', 'coverage/', 'reports/', '.stryker-tmp/'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // As tsc's noUnusedLocals: a name starting with _ is unused on purpose (`for await (const _ of rows)`),
      // and so is a property destructured only to leave it out of the rest (`({ id: _, ...rest }) => rest`).
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  // This file is JavaScript outside tsconfig.json: it is linted without type information.
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);

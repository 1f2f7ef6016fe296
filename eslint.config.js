import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["**/node_modules/**", "**/.next/**", "**/.next-e2e*/**", "**/test-results/**", "**/dist/**", "**/generated/**", ".data/**", "**/next-env.d.ts"],
  },
  js.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      // Configuration is read once, validated, in each app's env.ts (formbricks' rule): nowhere else.
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration through the app's env.ts (validated with zod)." },
      ],
    },
  },
  {
    files: [
      "**/env.ts",
      "**/test/**",
      "**/*.test.ts",
      "**/bench/**",
      "e2e/**",
      "scripts/**",
      "apps/cli/src/**",
      "packages/db/src/seed/**",
      "packages/db/src/migrate/cli.ts",
      "packages/db/src/secrets/index.ts",
      "packages/db/src/testing/**",
      "**/*.config.{ts,js,mjs}",
    ],
    rules: { "no-restricted-properties": "off" },
  },
);

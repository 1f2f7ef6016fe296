import type { NextConfig } from "next";
import { STATIC_SECURITY_HEADERS } from "./src/lib/security-headers";

const nextConfig: NextConfig = {
  // The e2e harness builds into its own directory so a test run never collides with `next dev`
  // or with another run's build in the shared working tree.
  distDir: process.env.PORTCULLIS_NEXT_DIST_DIR || ".next",
  // libpg-query loads a .wasm next to its JS and argon2 is a native addon: bundling breaks both,
  // so Node loads them from node_modules at run time.
  serverExternalPackages: ["libpg-query", "@node-rs/argon2", "pg", "bullmq", "ioredis", "nodemailer"],
  // Workspace packages are exported as TypeScript source (no dist/), so Next compiles them.
  transpilePackages: ["@portcullis/db", "@portcullis/jobs", "@portcullis/policy", "@portcullis/oauth"],
  poweredByHeader: false,
  // Workspace packages use NodeNext-style "./x.js" specifiers for ".ts" files. Turbopack cannot map
  // those yet (vercel/next.js#82945), so the app builds with webpack and this alias.
  webpack(config: { resolve: { extensionAlias?: Record<string, string[]>; alias?: Record<string, string | false | string[]> } }) {
    config.resolve.extensionAlias = { ".js": [".ts", ".tsx", ".js"], ".mjs": [".mts", ".mjs"] };
    // ssh2 (SSH tunnels, through @portcullis/db) tries the optional native `cpu-features` inside a
    // try/catch; bundled, its unbuilt .node file fails the build. An empty module: ssh2's catch runs.
    config.resolve.alias = { ...config.resolve.alias, "cpu-features": false };
    return config;
  },
  typedRoutes: false,
  // The request-independent security headers on everything, static files included; the CSP (with its
  // per-request nonce) and HSTS come from src/proxy.ts.
  async headers() {
    return [{ source: "/:path*", headers: STATIC_SECURITY_HEADERS }];
  },
};

export default nextConfig;

import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // PGlite ships WASM and data files it loads from its own package folder: keep it out of the bundle.
  serverExternalPackages: ['@electric-sql/pglite'],
  // The embedded database lives under .data/ locally; never trace it into a deployment. PGlite itself (20 MB of the
  // 23 MB each function carried) is imported lazily (lib/db/index.ts), but Next traces a lazy import all the same, so
  // it is left out here unless the build chooses it (DATABASE=pglite at build time; see docs/deploy.md).
  outputFileTracingExcludes: {
    '*': ['.data/**', ...(process.env.DATABASE?.trim() === 'pglite' ? [] : ['node_modules/@electric-sql/pglite/**'])],
  },
  // vercel.json and the migrations are read at run time by /admin and /api/health.
  outputFileTracingIncludes: { '*': ['vercel.json'] },
  poweredByHeader: false,
  // The local cron runner and tests call the dev server on 127.0.0.1; let Next serve its dev assets there too.
  allowedDevOrigins: ['127.0.0.1'],
  distDir: process.env.NEXT_DIST_DIR || '.next', // tests/helpers/next-server.ts builds into its own .next-*
};

export default nextConfig;

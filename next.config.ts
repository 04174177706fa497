import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // PGlite ships WASM and data files it loads from its own package folder: keep it out of the bundle.
  serverExternalPackages: ['@electric-sql/pglite'],
  // The embedded database lives under .data/ locally; never trace it into a deployment.
  outputFileTracingExcludes: { '*': ['.data/**'] },
  // vercel.json and the migrations are read at run time by /admin and /api/health.
  outputFileTracingIncludes: { '*': ['vercel.json'] },
  poweredByHeader: false,
  // The local cron runner and tests call the dev server on 127.0.0.1; let Next serve its dev assets there too.
  allowedDevOrigins: ['127.0.0.1'],
  distDir: process.env.NEXT_DIST_DIR || '.next', // tests/helpers/next-server.ts builds into its own .next-*
};

export default nextConfig;

import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  // PGlite ships WASM and data files it loads from its own package folder: keep it out of the bundle.
  serverExternalPackages: ['@electric-sql/pglite'],
  // The embedded database lives under .data/ locally; never trace it into a deployment.
  outputFileTracingExcludes: { '*': ['.data/**'] },
  // vercel.json and the migrations are read at run time by /admin and /api/health.
  outputFileTracingIncludes: { '*': ['vercel.json'] },
  poweredByHeader: false,
};

export default nextConfig;

import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, test } from 'vitest';
import { DemoBanner } from '../app/admin/demo-banner.tsx';
import { demoParts } from '../lib/deployment.ts';

describe('/admin demo banner', () => {
  test('a production deployment on demo parts chosen on purpose says so; development and real parts show nothing', () => {
    const demo = demoParts({
      NODE_ENV: 'production',
      DATABASE: 'pglite',
      PROVIDER: 'sandbox',
      CRON_SECRET: 'x'.repeat(32),
    });
    expect(demo).toHaveLength(2);
    const html = renderToStaticMarkup(<DemoBanner parts={demo} />);
    expect(html).toContain('This deployment runs on demo parts');
    expect(html).toMatch(/DATABASE=pglite/);
    expect(html).toMatch(/PROVIDER=sandbox/);
    const real = demoParts({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u@db.example.com:6543/postgres',
      UNIPILE_DSN: 'api1.unipile.com:13111',
      UNIPILE_API_KEY: 'k',
    });
    expect(renderToStaticMarkup(<DemoBanner parts={real} />)).toBe('');
    expect(demoParts({ NODE_ENV: 'development' })).toEqual([]);
  });
});

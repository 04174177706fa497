import type { ReactNode } from 'react';

export const metadata = {
  title: 'pg-cron-jobs',
  description: 'Background work for Next.js on Vercel with Postgres as the only state',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', margin: 0, color: '#111' }}>{children}</body>
    </html>
  );
}

import { schedules } from '../lib/schedules.ts';

export default function Home() {
  return (
    <main style={{ maxWidth: 720, margin: '2rem auto', padding: '0 1rem', lineHeight: 1.5 }}>
      <h1>pg-cron-jobs</h1>
      <p>
        Background work for this Next.js app runs as Vercel Cron calls to secret-protected routes, each draining a
        bounded batch of Postgres rows. No worker box, no Redis.
      </p>
      <ul>
        <li>
          <a href="/admin">Admin dashboard</a>
        </li>
        <li>
          <a href="/api/health">Health</a> (JSON; 503 when a job is overdue)
        </li>
      </ul>
      <h2>Schedules</h2>
      <ul>
        {schedules().map((c) => (
          <li key={c.path}>
            <code>{c.path}</code> <code>{c.schedule}</code> {c.timezone}
          </li>
        ))}
      </ul>
    </main>
  );
}

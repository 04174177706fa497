import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Db } from '../../lib/db/types.ts';
import { freshDb, serverAvailable, sql } from '../helpers/db.ts';
import { insertAccount, insertDms } from '../helpers/fixtures.ts';
import { type NextServer, startNextServer } from '../helpers/next-server.ts';

const SECRET = 'crash-mid-send-secret-0123456789';

/**
 * A Unipile stand-in on 127.0.0.1 that records every DM it receives. While `hang` is set it never answers (the
 * request has reached it: the DM may be out); afterwards it answers 201 at once. Lookups find nothing.
 */
function unipileStub() {
  const received: string[] = [];
  const state = { hang: true };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === 'POST' && req.url === '/api/v1/chats') {
      const form = await new Response(body, {
        headers: { 'content-type': req.headers['content-type'] ?? '' },
      }).formData();
      received.push(String(form.get('text')));
      if (state.hang) return; // never answers
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ object: 'ChatStarted', chat_id: `c${received.length}`, message_id: `m${received.length}` }),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ title: 'Not found', type: 'errors/not_found', status: 404 }));
  });
  return { server, received, state };
}

/**
 * `kill -9` of `next start` while DMs are in flight against a provider that hangs: after the lease (maxDuration + 30 s)
 * every started DM is `uncertain`, none is re-sent, none is left `sending`, and the rest are sent normally by a new
 * server.
 */
describe.runIf(serverAvailable('crash mid-send [postgres, next start]'))(
  'crash mid-send [postgres, next start]',
  () => {
    let db: Db;
    let url: string;
    let dispose: () => Promise<void>;
    const stub = unipileStub();
    let app: NextServer | undefined;

    beforeAll(async () => {
      ({ db, url, dispose } = (await freshDb('postgres')) as { db: Db; url: string; dispose: () => Promise<void> });
      const a = await insertAccount(db, { dm_daily_limit: 1000 });
      await insertDms(db, a, 60);
      await new Promise<void>((r) => stub.server.listen(0, '127.0.0.1', () => r()));
    });
    afterAll(async () => {
      await app?.stop();
      stub.server.closeAllConnections();
      await new Promise((r) => stub.server.close(r));
      await dispose?.();
    });

    const env = () => ({
      DATABASE_URL: url,
      CRON_SECRET: SECRET,
      UNIPILE_DSN: `http://127.0.0.1:${(stub.server.address() as AddressInfo).port}`,
      UNIPILE_API_KEY: 'stub-key',
      UNIPILE_TIMEOUT_MS: '30000',
      DM_CONCURRENCY: '8',
    });

    test('started DMs end uncertain, none re-sent, none left sending, the rest sent', async () => {
      app = await startNextServer({ mode: 'start', env: env() });
      const call = fetch(`${app.url}/api/cron/dm-queue`, { headers: { authorization: `Bearer ${SECRET}` } }).catch(
        () => null,
      );
      for (let i = 0; i < 300 && stub.received.length < 8; i++) await new Promise((r) => setTimeout(r, 100));
      expect(stub.received).toHaveLength(8);
      await app.crash();
      expect(await call).toBeNull(); // the connection died with the server
      const started = [...stub.received];
      const [sending] = await sql<{ n: number; lease: string }>(
        db,
        "select count(*)::int as n, max(lease_until) as lease from dm_queue where status = 'sending'",
      );
      expect(sending!.n).toBe(8);

      // A new server; the provider answers now. Wait out the lease (at most maxDuration + 30 s after the claim).
      stub.state.hang = false;
      app = await startNextServer({ mode: 'start', env: env() });
      const waitMs = new Date(sending!.lease).getTime() - Date.now() + 1_000;
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      let body: Record<string, unknown> = {};
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${app.url}/api/cron/dm-queue`, { headers: { authorization: `Bearer ${SECRET}` } });
        expect(res.status).toBe(200);
        body = (await res.json()) as Record<string, unknown>;
        if (body.remaining === 0) break;
      }
      const rows = await sql<{ body: string; status: string }>(db, 'select body, status from dm_queue');
      const uncertain = rows
        .filter((r) => r.status === 'uncertain')
        .map((r) => r.body)
        .sort();
      expect(uncertain).toEqual([...started].sort()); // exactly the started ones
      expect(rows.filter((r) => r.status === 'sending')).toEqual([]);
      expect(rows.filter((r) => r.status === 'sent')).toHaveLength(52);
      expect(new Set(stub.received).size).toBe(stub.received.length); // none re-sent
      expect(stub.received).toHaveLength(60);
      console.log(
        `[crash] kill -9 with 8 DMs in flight: 8 uncertain after the lease, 52 sent by the next server, 0 re-sent`,
      );
    });
  },
);

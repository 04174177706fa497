import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubMode = 'ok' | 'hang';

export interface StubUnipile {
  url: string;
  /** 'ok' answers after the latency; 'hang' never answers (the worst a provider can do). */
  setMode(mode: StubMode): void;
  requests(): number;
  close(): Promise<void>;
}

/**
 * A stand-in for Unipile's `POST /api/v1/chats` on 127.0.0.1: reads the multipart body, waits `latencyMs`, answers
 * 201 `{"object":"ChatStarted","chat_id":…,"message_id":…}`. Anything else is 404.
 */
export async function startStubUnipile(latencyMs: number): Promise<StubUnipile> {
  let mode: StubMode = 'ok';
  let count = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/api/v1/chats') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":404,"type":"errors/not_found"}');
      return;
    }
    const n = ++count;
    req.resume();
    req.on('end', () => {
      if (mode === 'hang') return; // never answers; the connection is destroyed by the client's timeout or close()
      setTimeout(() => {
        const body = JSON.stringify({ object: 'ChatStarted', chat_id: `chat-${n}`, message_id: `msg-${n}` });
        res.writeHead(201, { 'content-type': 'application/json' }).end(body);
      }, latencyMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setMode: (m) => {
      mode = m;
    },
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

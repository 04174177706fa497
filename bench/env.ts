import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describeUrl, serverUrl, serverVersion } from './pg.ts';

export interface EnvInfo {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  loadAverage: string;
  node: string;
  postgres: string;
  pgBoss: string;
  graphileWorker: string;
  next: string;
  project: string;
  server: string;
}

const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  try {
    const file = path.join(process.cwd(), 'node_modules', name, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    try {
      return (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      return '?';
    }
  }
}

export const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

export async function collectEnv(): Promise<EnvInfo> {
  const project = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  let commit = '';
  try {
    const head = fs.readFileSync(path.join(process.cwd(), '.git', 'HEAD'), 'utf8').trim();
    const ref = head.startsWith('ref: ') ? head.slice(5) : null;
    commit = ref ? fs.readFileSync(path.join(process.cwd(), '.git', ref), 'utf8').trim() : head;
  } catch {
    commit = '';
  }
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model.trim() ?? '?',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadAverage(),
    node: process.version,
    postgres: await serverVersion(),
    pgBoss: packageVersion('pg-boss'),
    graphileWorker: packageVersion('graphile-worker'),
    next: packageVersion('next'),
    project: `${project.name}@${project.version}${commit ? ` (${commit.slice(0, 10)}, working tree)` : ''}`,
    server: describeUrl(serverUrl().url),
  };
}

import fs from 'node:fs';

/**
 * CPU time is far less sensitive than wall time to other work on the machine, so the bench reports it beside
 * throughput: the server's (every backend connected to one database, read from /proc when PostgreSQL runs on this
 * machine) and this process's (process.cpuUsage).
 */
const TICK_MS = 10; // USER_HZ is 100 on Linux

function procCpuMs(pid: string): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at the last ')'; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU ms used so far by the backends connected to `database`, per pid; empty when the server is not local. */
export function backendCpu(database: string, exclude: ReadonlySet<string> = new Set()): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  const marker = ` ${database} `;
  for (const pid of pids) {
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmd.startsWith('postgres:') && cmd.includes(marker) && !cmd.includes('autovacuum') && !exclude.has(pid)) {
      out.set(pid, procCpuMs(pid));
    }
  }
  return out;
}

export interface CpuWindow {
  /** Server CPU ms of the database's backends inside the window; NaN when the server is not on this machine. */
  serverMs: number;
  /** This process's CPU ms inside the window (user + system). */
  clientMs: number;
}

/**
 * Starts measuring; `stop()` must be called while the measured connections are still open. `exclude`: backend pids
 * that are not part of the work (the bench's own admin connection).
 */
export function startCpuWindow(database: string, exclude: ReadonlySet<string> = new Set()): { stop(): CpuWindow } {
  const before = backendCpu(database, exclude);
  const client0 = process.cpuUsage();
  return {
    stop() {
      const after = backendCpu(database, exclude);
      const client = process.cpuUsage(client0);
      let serverMs = 0;
      for (const [pid, ms] of after) serverMs += ms - (before.get(pid) ?? 0);
      return { serverMs: after.size === 0 ? Number.NaN : serverMs, clientMs: (client.user + client.system) / 1000 };
    },
  };
}

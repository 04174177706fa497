/** Registers a value that no log line of this test file may contain (checked after the file by the setup file). */
export function forbidInLogs(value: string): void {
  (globalThis as unknown as { __forbidInLogs?: (s: string) => void }).__forbidInLogs?.(value);
}

/** The log lines captured so far in this test file, parsed. */
export function capturedLogs(): Record<string, unknown>[] {
  const lines = (globalThis as unknown as { __logLines?: string[] }).__logLines ?? [];
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

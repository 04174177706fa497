'use client';

import { useActionState } from 'react';
import type { ActionResult, AdminAction } from './action-result.ts';

interface Props {
  action: AdminAction;
  /** Hidden inputs: what the action acts on. */
  fields: Record<string, string>;
  label: string;
  /** Accessible name when the label alone is ambiguous (one "Run now" per row). */
  name?: string;
  pendingLabel?: string;
  /** Asked before sending; cancelling sends nothing. */
  confirm?: string;
  variant?: 'primary' | 'danger';
}

/**
 * One button bound to one server action, with its pending state and its answer under it. The button holds both of its
 * labels in one grid cell (the idle one hidden while pending, and the other way round), so it is as wide as the wider
 * label in both states and the buttons beside it stay put. In an `.action-bar` the answer goes on a line of its own
 * below all the bar's buttons and never widens the cell (admin.css).
 */
export function ActionForm({ action, fields, label, name, pendingLabel, confirm, variant }: Props) {
  const [result, formAction, pending] = useActionState<ActionResult | null, FormData>(action, null);
  return (
    <form
      action={formAction}
      className="action"
      onSubmit={(event) => {
        if (confirm && !window.confirm(confirm)) event.preventDefault();
      }}
    >
      {Object.entries(fields).map(([key, value]) => (
        <input key={key} type="hidden" name={key} value={value} />
      ))}
      <button type="submit" className={variant} aria-label={name} aria-busy={pending} disabled={pending}>
        <span className={pending ? 'off' : undefined}>{label}</span>
        <span className={pending ? undefined : 'off'}>{pendingLabel ?? '…'}</span>
      </button>
      {result ? <output className={result.ok ? 'note' : 'note bad'}>{result.message}</output> : null}
    </form>
  );
}

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

/** One button bound to one server action, with its pending state and its answer next to it. */
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
      <button type="submit" className={variant} aria-label={name} disabled={pending}>
        {pending ? (pendingLabel ?? '…') : label}
      </button>
      {result ? <output className={result.ok ? 'note' : 'note bad'}>{result.message}</output> : null}
    </form>
  );
}

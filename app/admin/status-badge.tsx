/** A run's, item's or account's status as a small coloured label; the colour comes from admin.css. */
export function StatusBadge({ status, title }: { status: string; title?: string }) {
  return (
    <span className={`badge s-${status}`} title={title}>
      {status}
    </span>
  );
}

/** Shown when a production deployment runs on demo parts chosen on purpose (DATABASE=pglite, PROVIDER=sandbox). */
export function DemoBanner({ parts }: { parts: string[] }) {
  if (parts.length === 0) return null;
  return (
    <div className="banner" role="alert">
      <strong>This deployment runs on demo parts</strong>:
      <ul>
        {parts.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
    </div>
  );
}

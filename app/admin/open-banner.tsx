/** Shown when /admin is open because ADMIN_PASSWORD is unset in development. */
export function OpenBanner() {
  return (
    <p className="banner" role="alert">
      <strong>/admin is open to anyone who can reach this server</strong>: <code>ADMIN_PASSWORD</code> is not set, which
      is allowed in development only. Set it in <code>.env.local</code> to require a password; a production deployment
      without it answers 404 here.
    </p>
  );
}

'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';

/**
 * Re-renders the page on the server every few seconds while the tab is visible; the checkbox stops it. Disabled until
 * React has hydrated the page (without JavaScript it could not refresh anything).
 */
export function AutoRefresh({ seconds }: { seconds: number }) {
  const router = useRouter();
  const [on, setOn] = useState(true);
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);
  useEffect(() => {
    if (!on) return;
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') router.refresh();
    }, seconds * 1000);
    return () => clearInterval(id);
  }, [on, seconds, router]);
  return (
    <label className="refresh">
      <input type="checkbox" checked={on} disabled={!ready} onChange={(e) => setOn(e.target.checked)} /> refresh every{' '}
      {seconds} s
    </label>
  );
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) from a provider or a webhook receiver is untrusted input: one absurd value must not
 * freeze a queue or an account for years, nor overflow a column. The one bound, for every parser of this product:
 * a wait is capped at RETRY_AFTER_MAX_MS (24 h, the default of queue_policies.retry_after_max_seconds); the settle
 * functions bound it again per queue (6 h for webhooks). Anything that is not a delay in seconds or an HTTP-date is
 * ignored (the queue's own backoff applies), rather than guessed at: `Date.parse` alone reads "-5" as the year 2001.
 */
export const RETRY_AFTER_MAX_MS = 24 * 60 * 60 * 1000;

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** The three HTTP-date forms a recipient must accept: IMF-fixdate, the obsolete RFC 850 form, and asctime. */
const HTTP_DATE = new RegExp(
  `^(?:${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT` +
    `|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT` +
    `|${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4})$`,
  'i',
);
/** delay-seconds is 1*DIGIT; a fraction ("1.5") is read too, as some servers send one. */
const DELAY_SECONDS = /^\d+(?:\.\d+)?$/;

/** The wait a `Retry-After` asks for, in ms from `nowMs`, within [0, RETRY_AFTER_MAX_MS]; undefined when unusable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  let ms: number;
  if (DELAY_SECONDS.test(v)) ms = Number(v) * 1000;
  else if (HTTP_DATE.test(v)) ms = Date.parse(v) - nowMs;
  else return undefined;
  // A date of the right shape that Date.parse cannot place (day 32, hour 25) is as unusable as garbage.
  if (Number.isNaN(ms)) return undefined;
  return Math.round(Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS));
}

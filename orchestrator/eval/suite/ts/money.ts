// Money amounts in integer minor units (cents), so that sums never drift.

export interface Money {
  readonly currency: string;
  readonly cents: number;
}

export class CurrencyMismatch extends Error {
  constructor(a: string, b: string) {
    super(`cannot combine ${a} with ${b}`);
  }
}

export function money(currency: string, cents: number): Money {
  if (!Number.isSafeInteger(cents)) {
    throw new RangeError(`cents must be a safe integer, got ${cents}`);
  }
  return { currency: currency.toUpperCase(), cents };
}

export function add(a: Money, b: Money): Money {
  if (a.currency !== b.currency) {
    throw new CurrencyMismatch(a.currency, b.currency);
  }
  return money(a.currency, a.cents + b.cents);
}

/** Splits an amount into `parts` shares that differ by at most one cent and sum to it. */
export function split(amount: Money, parts: number): Money[] {
  if (!Number.isInteger(parts) || parts < 1) {
    throw new RangeError(`parts must be a positive integer, got ${parts}`);
  }
  const base = Math.trunc(amount.cents / parts);
  const remainder = amount.cents - base * parts;
  const step = Math.sign(remainder);
  return Array.from({ length: parts }, (_, i) =>
    money(amount.currency, base + (i < Math.abs(remainder) ? step : 0)),
  );
}

export function format(amount: Money, locale = 'en-US'): string {
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: amount.currency,
  }).format(amount.cents / 100);
}

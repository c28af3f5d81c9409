// fetch with a timeout per attempt and retries on network errors and 5xx answers.

export interface RetryOptions {
  attempts: number;
  timeoutMs: number;
  backoffMs: number;
}

const DEFAULTS: RetryOptions = { attempts: 3, timeoutMs: 10_000, backoffMs: 300 };

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`${url} answered ${status}`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function fetchWithRetry(
  url: string,
  init: RequestInit = {},
  options: Partial<RetryOptions> = {},
): Promise<Response> {
  const { attempts, timeoutMs, backoffMs } = { ...DEFAULTS, ...options };
  let lastError: unknown = new Error('no attempt was made');
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(url, { ...init, signal: controller.signal });
      if (response.status < 500) {
        return response;
      }
      lastError = new HttpError(response.status, url);
    } catch (error) {
      lastError = error;
    } finally {
      clearTimeout(timer);
    }
    if (attempt < attempts) {
      await sleep(backoffMs * 2 ** (attempt - 1));
    }
  }
  throw lastError;
}

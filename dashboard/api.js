// The JSON API client of the dashboard. Same origin, authenticated only by the HttpOnly
// cookies the API sets at login (__Host-access, __Secure-refresh): no token is ever read,
// kept or stored by this code. The access token is renewed by a refresh shortly before it
// expires, and once more on a 401 (then the failed call is retried once).

/** An API answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = body?.code;
    this.retryAfter = retryAfter;
  }
}

let refreshTimer = 0;
let renewAt = 0; // when the access token is due for renewal (ms; 0: unknown or signed out)
let refreshing = null;
let sessionEnded = () => {};

/** Called when the session is over (refresh refused): the app shows the login screen. */
export function onSessionEnd(handler) {
  sessionEnded = handler;
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, null, null);
  }
  let data = null;
  if ((res.headers.get("Content-Type") || "").includes("json")) {
    data = await res.json().catch(() => null);
  }
  return { res, data };
}

// Calls whose 401 is an answer about credentials, not about the session.
const NO_REFRESH = /^\/api\/auth\/(login|register|refresh|password-reset\/)/;

function sessionProblem(res, data) {
  return res.status === 401 && data?.code !== "invalid_credentials";
}

/** One API call: resolves with the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  // A timer can be late (a sleeping laptop, a throttled tab): renew first when due, or a
  // public read would quietly go out anonymous once the access cookie has expired.
  if (renewAt && Date.now() >= renewAt && !NO_REFRESH.test(path)) await refresh().catch(() => {});
  let { res, data } = await send(method, path, body);
  if (sessionProblem(res, data) && !NO_REFRESH.test(path)) {
    if (!(await refresh())) {
      endSession();
      throw new ApiError(401, data, null);
    }
    ({ res, data } = await send(method, path, body));
    if (sessionProblem(res, data)) endSession();
  }
  if (!res.ok) throw new ApiError(res.status, data, res.headers.get("Retry-After"));
  return data;
}

/**
 * Renews the access token with the refresh cookie. Resolves true (renewed) or false (the
 * session is over); a transient failure (429, 5xx, no answer) rejects with its ApiError.
 * Concurrent callers share one request.
 */
export function refresh() {
  refreshing ??= (async () => {
    try {
      const { res, data } = await send("POST", "/api/auth/refresh");
      if (res.ok) {
        scheduleRefresh(data?.expiresIn);
        return true;
      }
      if (res.status === 429 || res.status >= 500) throw new ApiError(res.status, data, res.headers.get("Retry-After"));
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Plans the next refresh before an access token of `expiresIn` seconds runs out. */
export function scheduleRefresh(expiresIn) {
  clearTimeout(refreshTimer);
  const life = Number(expiresIn);
  if (!(life > 0)) return;
  const lead = Math.min(60, Math.max(1, life / 5));
  renewAt = Date.now() + (life - lead) * 1000;
  refreshTimer = setTimeout(() => {
    refresh().then(
      (ok) => ok || endSession(),
      // Transient: the next call's 401 retries the refresh.
      () => {},
    );
  }, (life - lead) * 1000);
}

export function stopRefresh() {
  clearTimeout(refreshTimer);
  renewAt = 0;
}

/** Whether the access token's lifetime is known (it is after a login or a refresh). */
export function expiryKnown() {
  return renewAt !== 0;
}

function endSession() {
  stopRefresh();
  sessionEnded();
}

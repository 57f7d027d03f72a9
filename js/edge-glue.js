// The JavaScript half of the Rust worker's hottest runtime calls (src/edge/platform.rs).
// Each function replaces a series of wasm-to-JS calls, one per header or property with a
// string decode each, by a single call: on cheap routes those calls were most of the
// worker's own CPU per request. Bundled into build/index.js by worker-build.

// A random UUID v4 (CSPRNG), formatted natively.
export function randomUuid() {
  return crypto.randomUUID();
}

// `method \n url \n value \n value ...`: the request's method, URL and the values of
// `names` (header values never contain a line feed or NUL); an absent header is "\0".
export function requestHead(request, names) {
  const headers = request.headers;
  let head = request.method + "\n" + request.url;
  for (let i = 0; i < names.length; i++) {
    const value = headers.get(names[i]);
    head += value === null ? "\n\0" : "\n" + value;
  }
  return head;
}

// A Response from its status, body (a string, or undefined for none) and its headers as
// `Name: value` lines. Set-Cookie lines add a header each; any other name set again
// replaces the earlier value (so a route's own Cache-Control wins over the default).
export function respond(status, body, head) {
  const headers = new Headers();
  let start = 0;
  while (start < head.length) {
    let end = head.indexOf("\n", start);
    if (end < 0) end = head.length;
    const colon = head.indexOf(":", start);
    const name = head.slice(start, colon);
    const value = head.slice(colon + 2, end);
    if (name === "Set-Cookie") headers.append(name, value);
    else headers.set(name, value);
    start = end + 1;
  }
  return new Response(body, { status, headers });
}

// One operation on Durable Object `name` of `namespace`: POSTs `body` and resolves to the
// answer's text; an answer other than 200 rejects with its status and text.
export async function gateCall(namespace, name, body) {
  const response = await namespace.getByName(name).fetch("https://gate/", { method: "POST", body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status} ${text}`);
  return text;
}

// A Durable Object SQL statement (`storage.sql.exec`) with its bindings given as a JSON
// array; the first row's values as a JSON array, "null" when it returns none.
export function sqlFirst(sql, query, args) {
  const next = sql.exec(query, ...JSON.parse(args)).raw().next();
  return next.done ? "null" : JSON.stringify(next.value);
}

// D1 statements on `session` (a D1 database session), given as a JSON array of
// `[sql, ...bindings]`: one runs alone (`all`), several as one atomic `batch`. Resolves to
// a JSON array with `[changes, rows]` per statement: the statements' rows cross into the
// wasm as one string.
export async function d1(session, statements) {
  const prepared = JSON.parse(statements).map(([sql, ...args]) => session.prepare(sql).bind(...args));
  const answers = prepared.length === 1 ? [await prepared[0].all()] : await session.batch(prepared);
  return JSON.stringify(answers.map((a) => [a.meta?.changes ?? 0, a.results ?? []]));
}

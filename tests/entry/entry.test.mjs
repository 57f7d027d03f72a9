// The worker entry (js/entry.mjs) turns any exception of the Rust worker, a panic included,
// into the contract's JSON 500 with the security headers, and passes everything else through.
import { register } from "node:module";
import { test } from "node:test";
import assert from "node:assert/strict";
// The headers both the wrapper and the Rust worker send (their values are checked against the
// contract in src/web/headers.rs).
import SECURITY_HEADERS from "../../src/web/security-headers.json" with { type: "json" };

register("./hooks.mjs", import.meta.url);
const { default: Entry, Gate } = await import("../../js/entry.mjs");
const { default: Stub } = await import("./stub-rust-worker.mjs");

// The generated shim's state object (see js/entry.mjs).
globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
const call = (mode) => Entry.fetch(new Request("https://api.example/api/posts?x=1"), { MODE: mode }, {});

for (const mode of ["panic", "throw"]) {
  test(`an uncaught ${mode} becomes a JSON 500 with security headers`, async () => {
    const res = await call(mode);
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.code, "internal_error");
    assert.equal(body.error, "Internal server error");
    assert.match(body.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get("X-Request-Id"), body.requestId);
    assert.match(res.headers.get("Content-Type"), /^application\/json/);
    assert.ok(SECURITY_HEADERS.length > 0);
    for (const [name, value] of SECURITY_HEADERS) {
      assert.equal(res.headers.get(name), value, name);
    }
    assert.ok(!JSON.stringify(body).includes("D1_ERROR"));
    assert.ok(!JSON.stringify(body).includes("unreachable"));
  });
}

test("normal answers and scheduled events pass through unchanged", async () => {
  const res = await call("ok");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok" });
  assert.equal(await Entry.scheduled({ cron: "17 * * * *" }, {}, {}), "ran");
});

test("after a panic the next request goes through the shim's constructor (which re-creates the wasm instance)", async () => {
  globalThis.__worker_init_state.criticalError = false;
  const before = Stub.constructed;
  assert.equal((await call("ok")).status, 200);
  assert.equal(Stub.constructed, before, "no construction on the normal path");
  assert.equal((await call("throw")).status, 500);
  assert.equal(globalThis.__worker_init_state.criticalError, false, "a JS exception is not an abort");
  assert.equal((await call("panic")).status, 500);
  assert.equal(globalThis.__worker_init_state.criticalError, true);
  assert.equal((await call("ok")).status, 200);
  assert.equal(Stub.constructed, before + 1);
});

// The Durable Object wrapper: the wasm decides, the wrapper sets the alarm, deletes the
// storage and answers.
function object(plan) {
  const calls = [];
  const storage = {
    setAlarm: async (at) => void calls.push(["setAlarm", at]),
    deleteAll: async () => void calls.push(["deleteAll"]),
  };
  return { gate: new Gate({ storage, plan }, {}), calls };
}
const op = () => new Request("https://gate/", { method: "POST", body: "{\"op\":\"count\"}" });

test("an object operation answers the wasm's answer, setting the alarm first when it moved", async () => {
  const moved = object({ apply: (text) => `1796400061000\n{"seen":${text}}` });
  const res = await moved.gate.fetch(op());
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { seen: { op: "count" } });
  assert.deepEqual(moved.calls, [["setAlarm", 1796400061000]]);

  const kept = object({ apply: () => "0\n{\"ok\":true}" });
  assert.deepEqual(await (await kept.gate.fetch(op())).json(), { ok: true });
  assert.deepEqual(kept.calls, []);

  const failed = object({ apply: () => "!\nobject storage: disk full" });
  const res503 = await failed.gate.fetch(op());
  assert.equal(res503.status, 503);
  assert.deepEqual(failed.calls, []);
});

test("an object's alarm deletes its storage past keep-until, else sets itself again", async () => {
  const over = object({ alarmAt: () => 0 });
  await over.gate.alarm();
  assert.deepEqual(over.calls, [["deleteAll"]]);

  const later = object({ alarmAt: () => 1796400121000 });
  await later.gate.alarm();
  assert.deepEqual(later.calls, [["setAlarm", 1796400121000]]);

  // A storage failure in the wasm rejects the alarm (the runtime retries it); nothing is deleted.
  const broken = object({ alarmAt: () => { throw new Error("object storage: locked"); } });
  await assert.rejects(broken.gate.alarm(), /locked/);
  assert.deepEqual(broken.calls, []);
});

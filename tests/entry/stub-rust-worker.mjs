// Stands in for build/index.js: behaves as the test asks through env.MODE.
export default class Stub {
  // How many times the shim's constructor ran (the entry only constructs to recover).
  static constructed = 0;
  constructor(ctx, env) {
    this.env = env;
    Stub.constructed++;
  }
  async fetch(request) {
    if (this.env.MODE === "panic") {
      // What the generated shim rethrows when Rust panics (the wasm instance aborts).
      throw new WebAssembly.RuntimeError("unreachable executed");
    }
    if (this.env.MODE === "throw") throw new Error("D1_ERROR: secret internals");
    return new Response("{\"status\":\"ok\"}", { status: 200 });
  }
  async scheduled() {
    return "ran";
  }
}

// The wasm side of the Durable Object the entry wraps: answers as the test's `state.plan`
// says (`apply`: "<alarm ms>\n<answer>" or "!\n<cause>"; `alarmAt`: ms, 0, or a throw).
export class Gate {
  constructor(state) {
    this.plan = state.plan;
  }
  apply(text) {
    return this.plan.apply(text);
  }
  alarmAt() {
    return this.plan.alarmAt();
  }
}

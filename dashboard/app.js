// secure-api dashboard: a small single-page app over the JSON API (hash routes, vanilla JS,
// DOM built from the <template>s of index.html; text is only ever set as textContent).
import { api, ApiError, expiryKnown, onSessionEnd, refresh, scheduleRefresh, stopRefresh } from "./api.js";

const $ = (sel, root = document) => root.querySelector(sel);
const main = $("#main");
const PAGE_SIZE = 10;
// The contract's role → permission table: the scopes an API key of this user may carry.
const POSTS = ["posts:read", "posts:create", "posts:update", "posts:delete"];
const ROLE_SCOPES = {
  viewer: ["posts:read"],
  user: POSTS,
  editor: [...POSTS, "posts:update:any", "posts:delete:any"],
  admin: [...POSTS, "posts:update:any", "posts:delete:any", "users:read", "users:manage", "audit:read", "api_keys:manage"],
};

let me = null; // the signed-in user (GET /api/auth/me), or null
let pendingFlash = null; // a message for the next screen
let view = 0; // bumped on every render: late answers for an old screen are dropped
let registeredEmail = ""; // prefills the login form after registration

// --- messages

function flash(text, kind = "info") {
  const box = $("#flash");
  box.replaceChildren();
  if (text) box.append(el("p", `msg ${kind}`, text));
}

/** A sentence for an error: the API's message, with the wait for 429 and a plain 5xx text. */
function describe(err) {
  if (!(err instanceof ApiError)) return "Something went wrong in this page. Reload it and try again.";
  if (err.status === 0) return "The service cannot be reached. Check your connection and try again.";
  if (err.status === 429) {
    const wait = Number.parseInt(err.retryAfter, 10);
    const when = Number.isFinite(wait) ? `in ${wait} second${wait === 1 ? "" : "s"}` : "in a moment";
    return `${err.body?.error || "Too many requests"}. Try again ${when}.`;
  }
  if (err.status >= 500) return "The service is unavailable right now. Please try again in a moment.";
  return err.body?.error || `The request failed (HTTP ${err.status}).`;
}

function clearFieldErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) p.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.endsWith("-err"));
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
    else el.removeAttribute("aria-describedby");
  }
}

/**
 * Shows each {field, message} of `details` under its form field (a group of checkboxes:
 * under its fieldset) and moves focus to the first; returns the details naming no field.
 */
function fieldErrors(form, details) {
  let first = null;
  const unplaced = [];
  for (const { field, message } of details) {
    const named = form.elements[field];
    const input = named instanceof RadioNodeList ? named[0] : named;
    if (!input) {
      unplaced.push(`${field}: ${message}`);
      continue;
    }
    const msg = el("p", "field-error", message);
    msg.id = `${input.id || `${form.id}-${field}`}-err`;
    (input.closest(".field") || input.parentElement).append(msg);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), msg.id].filter(Boolean).join(" "));
    first ??= input;
  }
  first?.focus();
  return unplaced;
}

function showError(err, form) {
  if (!me && err instanceof ApiError && err.status === 401 && !form) return; // session over: login shown
  let text = describe(err);
  if (form) {
    clearFieldErrors(form);
    const details = err instanceof ApiError && Array.isArray(err.body?.details) ? err.body.details : [];
    const unplaced = fieldErrors(form, details);
    if (details.length) {
      if (!/[.!?]$/.test(text)) text += ".";
      text += unplaced.length ? ` ${unplaced.join("; ")}.` : " Check the marked fields.";
    }
  }
  flash(text, "error");
}

/** Runs `work` for a form: submit disabled meanwhile, errors shown on the form. */
function onSubmit(form, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    flash(""); // a new action: the last one's message goes
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    clearFieldErrors(form);
    try {
      await work(form.elements);
    } catch (err) {
      if (form.isConnected) showError(err, form);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** Runs `work` on click, one at a time (aria-busy meanwhile; `disabled` stays the screen's). */
function clickBusy(button, work) {
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-busy")) return;
    button.setAttribute("aria-busy", "true");
    flash("");
    try {
      await work();
    } catch (err) {
      showError(err);
    } finally {
      button.removeAttribute("aria-busy");
    }
  });
}

// --- helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className, onClick) {
  const b = el("button", className, text);
  b.type = "button";
  if (onClick) clickBusy(b, onClick);
  return b;
}

function when(iso) {
  if (!iso) return el("span", "", "never");
  const t = el("time", "", new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
  t.dateTime = iso;
  return t;
}

/** `<dl>` of [term, value (string or node)] pairs. */
function props(pairs) {
  const dl = el("dl", "props");
  for (const [term, value] of pairs) {
    const dd = el("dd");
    dd.append(value);
    dl.append(el("dt", "", term), dd);
  }
  return dl;
}

function badge(text, kind) {
  return el("span", `badge ${kind}`, text);
}

function emptyItem(text) {
  return el("li", "item empty muted", text);
}

const BROWSERS = [["Edg", "Edge"], ["OPR", "Opera"], ["Firefox"], ["HeadlessChrome"], ["Chrome"], ["Version", "Safari"]];
const SYSTEMS = [["Android"], ["iPhone"], ["iPad"], ["Windows"], ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux"]];

/** "Chrome 148 on Linux" from a User-Agent string. */
function device(ua) {
  if (!ua) return "Unknown device";
  const browser = BROWSERS.map(([k, name = k]) => [name, ua.match(new RegExp(`${k}/(\\d+)`))]).find(([, m]) => m);
  const os = SYSTEMS.find(([k]) => ua.includes(k));
  const label = [browser && `${browser[0]} ${browser[1][1]}`, os && `on ${os[1] || os[0]}`].filter(Boolean).join(" ");
  return label || ua.slice(0, 60);
}

// --- routing

// Each screen: its <template id="tpl-NAME">, its code, and whether it is for signed-out users.
const screens = {
  "/login": [loginScreen, true],
  "/register": [registerScreen, true],
  "/forgot": [forgotScreen, true],
  "/posts": [postsScreen],
  "/keys": [keysScreen],
  "/sessions": [sessionsScreen],
  "/account": [accountScreen],
};

function go(path, message, kind = "success") {
  if (message) pendingFlash = [message, kind];
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function route() {
  let path = location.hash.startsWith("#/") ? location.hash.slice(1) : "";
  if (!screens[path]) path = me ? "/posts" : "/login";
  if (!me && !screens[path][1]) path = "/login";
  if (me && screens[path][1]) path = "/posts";
  if (location.hash !== `#${path}`) history.replaceState(null, "", `#${path}`);
  view += 1;
  flash(...(pendingFlash || [""]));
  pendingFlash = null;
  $("#nav").hidden = !me;
  $("#who").hidden = !me;
  $("#who-email").textContent = me ? me.email : "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.route === path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const tpl = document.getElementById(`tpl-${path.slice(1)}`);
  main.replaceChildren(tpl.content.cloneNode(true));
  const h1 = $("h1", main);
  document.title = `${h1.textContent} · secure-api`;
  h1.focus();
  screens[path][0](view);
}

function current(token) {
  return token === view;
}

/** The session is over (refresh refused): back to the login screen. */
function signedOut(message, kind = "info") {
  stopRefresh();
  me = null;
  go("/login", message, kind);
}

onSessionEnd(() => {
  if (me) signedOut("Your session has ended. Please sign in again.");
});

// --- auth screens

function loginScreen() {
  const form = $("#login-form");
  onSubmit(form, async (f) => {
    const data = await api("POST", "/api/auth/login", { email: f.email.value.trim(), password: f.password.value });
    // The tokens in the body are ignored: the HttpOnly cookies carry the session.
    scheduleRefresh(data.expiresIn);
    me = await api("GET", "/api/auth/me");
    go("/posts", `Signed in as ${me.email}.`);
  });
  form.elements.email.value = registeredEmail;
  if (registeredEmail) form.elements.password.focus();
}

function registerScreen() {
  onSubmit($("#register-form"), async (f) => {
    const email = f.email.value.trim();
    await api("POST", "/api/auth/register", { email, password: f.password.value });
    registeredEmail = email;
    go("/login", "Account created. Sign in with your new password.");
  });
}

function forgotScreen() {
  onSubmit($("#forgot-form"), async (f) => {
    const data = await api("POST", "/api/auth/password-reset/request", { email: f.email.value.trim() });
    f.email.value = "";
    flash(data?.message || "If an account exists for that email, a reset link is on its way.", "success");
  });
}

// --- posts

function mayChange(post) {
  return post.authorId === me.id || me.role === "editor" || me.role === "admin";
}

function postsScreen(token) {
  let page = 1;
  let pages = 1;
  const list = $("#post-list");
  const filter = $("#post-filter");
  const prev = $("#post-prev");
  const next = $("#post-next");
  const pager = () => {
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
  };

  async function load() {
    const q = new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE) });
    if (filter.value) q.set("published", filter.value);
    list.setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", `/api/posts?${q}`);
      if (!current(token)) return;
      pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      if (page > pages && data.total > 0) {
        page = pages;
        return load();
      }
      list.replaceChildren(...data.posts.map(postItem));
      if (!data.posts.length) list.append(emptyItem("No posts yet."));
      $("#post-page").textContent = `Page ${page} of ${pages} · ${data.total} post${data.total === 1 ? "" : "s"}`;
    } finally {
      list.removeAttribute("aria-busy");
      pager();
    }
  }
  const reload = () => load().catch((err) => current(token) && showError(err));
  async function turn(delta) {
    const before = page;
    flash("");
    page = Math.max(1, page + delta);
    prev.disabled = next.disabled = true;
    try {
      await load();
    } catch (err) {
      page = before;
      pager();
      showError(err);
    }
  }

  function postItem(post) {
    const item = $("#tpl-post").content.firstElementChild.cloneNode(true);
    item.dataset.id = post.id;
    $(".post-title", item).textContent = post.title;
    const badges = $(".badges", item);
    badges.append(post.published ? badge("Published", "ok") : badge("Draft", "draft"));
    if (post.authorId === me.id) badges.append(badge("Yours", "mine"));
    const meta = $(".meta", item);
    meta.append("Created ", when(post.createdAt));
    if (post.updatedAt && post.updatedAt !== post.createdAt) meta.append(" · edited ", when(post.updatedAt));
    $(".post-body", item).textContent = post.body;
    const actions = $(".actions", item);
    if (!mayChange(post)) actions.remove();
    else {
      const label = `“${post.title}”`;
      const edit = button("Edit", "secondary", async () => editPost(item, post));
      edit.setAttribute("aria-label", `Edit ${label}`);
      const del = button("Delete", "danger");
      del.setAttribute("aria-label", `Delete ${label}`);
      del.addEventListener("click", () => confirmDelete(actions, post, label));
      actions.append(edit, del);
    }
    return item;
  }

  function confirmDelete(actions, post, label) {
    const keep = [...actions.childNodes];
    const ask = el("span", "", `Delete ${label}?`);
    const cancel = button("Cancel", "secondary", async () => {
      actions.replaceChildren(...keep);
      keep[1].focus();
    });
    const yes = button("Yes, delete", "danger", async () => {
      await api("DELETE", `/api/posts/${encodeURIComponent(post.id)}`);
      flash(`Deleted ${label}.`, "success");
      await load();
    });
    actions.replaceChildren(ask, yes, cancel);
    yes.focus();
  }

  function editPost(item, post) {
    const form = $("#tpl-post-edit").content.firstElementChild.cloneNode(true);
    form.id = `edit-${post.id}`;
    form.elements.title.value = post.title;
    form.elements.body.value = post.body;
    form.elements.published.checked = post.published;
    const old = [...item.childNodes];
    item.replaceChildren(form);
    form.elements.title.focus();
    $(".cancel", form).addEventListener("click", () => {
      item.replaceChildren(...old);
      $(".actions button", item)?.focus();
    });
    onSubmit(form, async (f) => {
      const saved = await api("PUT", `/api/posts/${encodeURIComponent(post.id)}`, {
        title: f.title.value,
        body: f.body.value,
        published: f.published.checked,
      });
      flash(`Saved “${saved.title}”.`, "success");
      await load();
    });
  }

  onSubmit($("#post-form"), async (f) => {
    const post = await api("POST", "/api/posts", {
      title: f.title.value,
      body: f.body.value,
      published: f.published.checked,
    });
    $("#post-form").reset();
    flash(`Created “${post.title}”${post.published ? "" : " as a draft"}.`, "success");
    page = 1;
    await load();
  });
  filter.addEventListener("change", () => {
    page = 1;
    reload();
  });
  clickBusy($("#post-reload"), load);
  prev.addEventListener("click", () => turn(-1));
  next.addEventListener("click", () => turn(1));
  reload();
}

// --- API keys

function keysScreen(token) {
  const list = $("#key-list");
  const scopes = $("#key-scopes");
  for (const scope of ROLE_SCOPES[me.role] || ["posts:read"]) {
    const id = `scope-${scope.replace(/:/g, "-")}`;
    const box = el("div", "check");
    const input = el("input");
    Object.assign(input, { type: "checkbox", id, name: "scopes", value: scope, defaultChecked: scope === "posts:read" });
    const label = el("label", "mono", scope);
    label.htmlFor = id;
    box.append(input, label);
    scopes.append(box);
  }

  async function load() {
    const data = await api("GET", "/api/api-keys");
    if (!current(token)) return;
    list.replaceChildren(...data.apiKeys.map(keyItem));
    if (!data.apiKeys.length) list.append(emptyItem("No API keys."));
  }

  function keyItem(key) {
    const item = el("li", "item");
    item.dataset.id = key.id;
    const head = el("div", "row between");
    head.append(el("h3", "", key.name), el("code", "", `${key.keyPrefix}…`));
    const revoke = button("Revoke", "danger", async () => {
      await api("DELETE", `/api/api-keys/${encodeURIComponent(key.id)}`);
      flash(`Revoked the key “${key.name}”.`, "success");
      await load();
      $("#h-key-list").focus();
    });
    revoke.setAttribute("aria-label", `Revoke the key “${key.name}”`);
    const actions = el("div", "actions row");
    actions.append(revoke);
    item.append(
      head,
      props([
        ["Scopes", key.scopes.join(", ")],
        ["Created", when(key.createdAt)],
        ["Last used", when(key.lastUsedAt)],
        ["Expires", when(key.expiresAt)],
      ]),
      actions,
    );
    return item;
  }

  const secret = $("#key-secret");
  const value = $("#key-secret-value");
  onSubmit($("#key-form"), async (f) => {
    const chosen = [...scopes.querySelectorAll("input:checked")].map((c) => c.value);
    const body = { name: f.name.value.trim(), scopes: chosen };
    if (f.expiresInDays.value !== "") body.expiresInDays = Number(f.expiresInDays.value);
    const created = await api("POST", "/api/api-keys", body);
    $("#key-form").reset();
    value.value = created.key;
    secret.hidden = false;
    flash(`Created the key “${created.name}”. Copy it now: it is not shown again.`, "success");
    value.focus();
    value.select();
    await load();
  });
  clickBusy($("#key-copy"), async () => {
    try {
      await navigator.clipboard.writeText(value.value);
      flash("Key copied to the clipboard.", "success");
    } catch {
      value.focus();
      value.select();
      flash("Copying was refused by the browser: the key is selected, copy it with Ctrl+C (⌘C).", "error");
    }
  });
  $("#key-secret-done").addEventListener("click", () => {
    value.value = "";
    secret.hidden = true;
    $("#key-name").focus();
  });
  load().catch((err) => current(token) && showError(err));
}

// --- sessions

function sessionsScreen(token) {
  const list = $("#session-list");

  async function load() {
    const data = await api("GET", "/api/auth/sessions");
    if (!current(token)) return;
    list.replaceChildren(...data.sessions.map(sessionItem));
    $("#session-others").disabled = !data.sessions.some((s) => !s.current);
  }

  function sessionItem(s) {
    const item = el("li", `item${s.current ? " current" : ""}`);
    item.dataset.id = s.id;
    const head = el("div", "row between");
    const name = el("h3", "", device(s.userAgent));
    if (s.userAgent) name.title = s.userAgent;
    head.append(name);
    if (s.current) head.append(badge("This browser", "mine"));
    const actions = el("div", "actions row");
    if (s.current) actions.append(button("Sign out", "secondary", logout));
    else {
      const revoke = button("Revoke", "danger", async () => {
        await api("DELETE", `/api/auth/sessions/${encodeURIComponent(s.id)}`);
        flash(`Signed out ${device(s.userAgent)}.`, "success");
        await load();
        $("#h-session-list").focus();
      });
      revoke.setAttribute("aria-label", `Revoke the session of ${device(s.userAgent)} (${s.ipPrefix || "unknown network"})`);
      actions.append(revoke);
    }
    item.append(
      head,
      props([
        ["Network", s.ipPrefix || "unknown"],
        ["Signed in", when(s.createdAt)],
        ["Last active", s.lastUsedAt ? when(s.lastUsedAt) : "not since sign-in"],
        ["Expires", when(s.expiresAt)],
      ]),
      actions,
    );
    return item;
  }

  clickBusy($("#session-others"), async () => {
    await api("POST", "/api/auth/logout", { others: true });
    flash("Signed out of every other session.", "success");
    await load();
  });
  load().catch((err) => current(token) && showError(err));
}

// --- account

function accountScreen() {
  $("#me-email").textContent = me.email;
  $("#me-role").textContent = me.role;
  $("#me-active").textContent = me.isActive === false ? "disabled" : "active";
  $("#me-created").append(when(me.createdAt));
  $("#me-id").textContent = me.id;
  const form = $("#password-form");
  form.elements.username.value = me.email;
  onSubmit(form, async (f) => {
    if (f.newPassword.value !== f.confirm.value) {
      clearFieldErrors(form);
      fieldErrors(form, [{ field: "confirm", message: "The two new passwords differ." }]);
      flash("The two new passwords differ.", "error");
      return;
    }
    await api("PUT", "/api/auth/password", {
      currentPassword: f.currentPassword.value,
      newPassword: f.newPassword.value,
      keepApiKeys: f.keepApiKeys.checked,
    }).catch((err) => {
      if (err.code === "invalid_credentials") err.body.details = [{ field: "currentPassword", message: err.body.error }];
      throw err;
    });
    signedOut("Password changed. Every session was signed out: sign in with your new password.", "success");
  });
  clickBusy($("#logout-all"), async () => {
    await api("POST", "/api/auth/logout", { all: true });
    signedOut("Signed out of every session.", "success");
  });
}

// --- start

async function logout() {
  await api("POST", "/api/auth/logout", {});
  signedOut("You have signed out.", "success");
}
clickBusy($("#logout"), logout);

async function start() {
  try {
    // A 401 here tries one refresh (the refresh cookie may outlive the access cookie).
    me = await api("GET", "/api/auth/me");
    // The access cookie's remaining life is unknown until a refresh says it: renew now, so
    // that the next renewal can be planned.
    if (!expiryKnown()) await refresh().catch(() => {});
  } catch (err) {
    me = null;
    if (!(err instanceof ApiError && err.status === 401)) pendingFlash = [describe(err), "error"];
  }
  // Only "#/..." names a screen (the skip link's "#main" just moves focus).
  window.addEventListener("hashchange", () => (location.hash.startsWith("#/") || !location.hash) && route());
  route();
}

start();

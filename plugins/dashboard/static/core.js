// The dashboard's core: DOM and format helpers, the admin API with the session's credential, sign-in, views.
//
// Rules this file keeps:
// - Whatever the gateway sends is put into the page as text (textContent, Node.append of a string), never as
//   HTML: logged prompts and answers are whatever a caller sent, and must never run.
// - The admin credential lives in sessionStorage only (gone with the tab), is sent as an Authorization header,
//   and never goes into a URL (access logs would keep it). So the live tail reads the SSE stream with fetch and
//   a stream reader (EventSource cannot send headers).

const AUTH_KEY = "gateway.dashboard.authorization";
const VIEWS = ["overview", "logs", "keys", "providers"];
const BUCKETS = { 900: 15, 3600: 60, 86400: 900 }; // range (s) -> bucket (s): 60, 60 and 96 points
const SVG = "http://www.w3.org/2000/svg";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// --- DOM helpers: elements from tags, attributes and text children -----------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttrs(node, attrs);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name === "className" ? "class" : name, value === true ? "" : String(value));
  }
}

function showMessage(selector, text) {
  const node = $(selector);
  node.textContent = text || "";
  node.hidden = !text;
}

// --- formatting --------------------------------------------------------------------------------------------

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

function count(n) {
  return n === null || n === undefined ? "—" : n >= 10000 ? compactFormat.format(n) : numberFormat.format(n);
}

function ms(v) {
  if (v === null || v === undefined) return "—";
  if (v === 0) return "0";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

function usd(v) {
  if (v === null || v === undefined) return "—";
  if (v === 0) return "$0";
  return v < 0.01 ? `$${v.toPrecision(2)}` : `$${v.toFixed(2)}`;
}

function percent(v) {
  return v === null || v === undefined ? "—" : `${v < 10 && v > 0 ? v.toFixed(1) : Math.round(v)}%`;
}

function clock(seconds, withDate = false) {
  const date = new Date(seconds * 1000);
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return withDate || !sameDay ? `${date.toLocaleDateString()} ${time}` : time;
}

function ago(seconds) {
  const delta = Math.max(0, Date.now() / 1000 - seconds);
  if (delta < 60) return `${Math.round(delta)} s ago`;
  if (delta < 3600) return `${Math.round(delta / 60)} min ago`;
  return `${Math.round(delta / 3600)} h ago`;
}

function statusBadge(status) {
  const kind = status >= 500 ? "bad" : status >= 400 ? "warn" : "ok";
  return el("span", { class: `badge ${kind}` }, status);
}

// --- the admin API, with the session's credential ----------------------------------------------------------

class SignedOut extends Error {}

const session = {
  get: () => sessionStorage.getItem(AUTH_KEY),
  set: (value) => sessionStorage.setItem(AUTH_KEY, value),
  clear: () => sessionStorage.removeItem(AUTH_KEY),
};

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Authorization: session.get() || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(path, init);
  if (response.status === 401) {
    signOut("The gateway refused the saved credentials (changed, or the session ended): sign in again.");
    throw new SignedOut();
  }
  return response;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    return body?.error?.message || `the gateway answered ${response.status}`;
  } catch {
    return `the gateway answered ${response.status}`;
  }
}

// Runs a view's loader; a sign-out needs no message of its own, anything else is shown in the view.
async function guarded(errorSelector, load) {
  try {
    await load();
  } catch (error) {
    if (error instanceof SignedOut || error.name === "AbortError") return;
    showMessage(errorSelector, `Could not load: ${error.message}`);
  }
}

// --- sign in and out ---------------------------------------------------------------------------------------

function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

// Why a credential is refused, or null when one of the admin APIs takes it.
async function verdict(authorization) {
  for (const path of ["/api/governance/virtual-keys", "/api/logs?limit=1", "/api/providers/health"]) {
    const response = await fetch(path, { headers: { Authorization: authorization } });
    if (response.status === 404) continue; // that plugin is off: ask the next API
    if (response.ok) return null;
    if (response.status === 401) {
      return "Wrong admin credentials. (The gateway takes governance.auth_config.admin_token; without one set, nobody can sign in.)";
    }
    if (response.status === 429) return "Too many wrong attempts: wait a minute before trying again.";
    return `The gateway answered ${response.status}: ${await errorOf(response)}`;
  }
  return "This gateway has no admin API on (governance and logging are both off): nothing to show.";
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#login-token").value.trim();
  const user = $("#login-user").value;
  const password = $("#login-password").value;
  if (!token && !(user && password)) {
    showMessage("#login-error", "Enter the admin token, or a username and password.");
    return;
  }
  const authorization = user && password ? basic(user, password) : `Bearer ${token}`;
  $("#login-submit").disabled = true;
  try {
    const refused = await verdict(authorization);
    showMessage("#login-error", refused);
    if (refused) return;
    session.set(authorization);
    $("#login-form").reset();
    start();
  } catch (error) {
    showMessage("#login-error", `Could not reach the gateway: ${error.message}`);
  } finally {
    $("#login-submit").disabled = false;
  }
}

function signOut(message) {
  session.clear();
  leaveView();
  $("#detail").close();
  $("#app").hidden = true;
  $("#login").hidden = false;
  showMessage("#login-error", message || "");
  $("#login-token").focus();
}

// --- navigation --------------------------------------------------------------------------------------------

let current = null; // the view shown: its name and how to leave it
const handlers = {};

function viewOf(path) {
  const name = path.replace(/^\/ui\/?/, "").split("/")[0];
  return VIEWS.includes(name) ? name : "overview";
}

function show(name) {
  leaveView();
  for (const section of $$("[data-page]")) section.hidden = section.dataset.page !== name;
  for (const link of $$("#nav a")) link.toggleAttribute("aria-current", link.dataset.nav === name);
  $("#nav").classList.remove("open");
  $("#menu").setAttribute("aria-expanded", "false");
  document.title = `${$(`[data-page="${name}"] h1`).textContent} · Gateway`;
  current = { name, leave: handlers[name].enter() };
}

function leaveView() {
  if (current?.leave) current.leave();
  current = null;
}

function navigate(event) {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  history.pushState(null, "", link.getAttribute("href"));
  show(link.dataset.nav);
}

function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  show(viewOf(location.pathname));
}

// Refreshes a view every `seconds` while it is shown; answers the stop function.
// `load` again `seconds` (a number, or a function giving it) after the last load ended: a slow answer (a day of
// a big log) never piles up requests behind it.
function every(seconds, load) {
  let timer = null;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    const wait = typeof seconds === "function" ? seconds() : seconds;
    timer = setTimeout(async () => {
      try {
        await load();
      } finally {
        next();
      }
    }, wait * 1000);
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function pluginOff(page, off) {
  for (const notice of $$(`[data-page="${page}"] [data-off]`)) notice.hidden = !off;
}

export { $, $$, el, svg, api, errorOf, guarded, showMessage, every, pluginOff, count, ms, usd, percent, clock, ago };
export { statusBadge, handlers, signIn, signOut, navigate, start, show, viewOf, session, BUCKETS };

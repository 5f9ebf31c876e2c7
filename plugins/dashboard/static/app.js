// The dashboard's entry: binds each view and the page's controls, then shows the login or the view the path
// names (/ui/logs ...). No build step: the browser loads these modules as they are.
import { $, handlers, navigate, session, show, signIn, signOut, start, viewOf } from "./core.js";
import { keys } from "./keys.js";
import { logs } from "./logs.js";
import { overview } from "./overview.js";
import { providers } from "./providers.js";

Object.assign(handlers, { overview, logs, keys, providers });
for (const view of Object.values(handlers)) view.bind();

$("#login-form").addEventListener("submit", signIn);
$("#logout").addEventListener("click", () => signOut(""));
$("#app").addEventListener("click", navigate);
$("#menu").addEventListener("click", () => {
  const open = $("#nav").classList.toggle("open");
  $("#menu").setAttribute("aria-expanded", String(open));
});
$("#detail-close").addEventListener("click", () => $("#detail").close());
$("#detail").addEventListener("click", (event) => event.target === $("#detail") && $("#detail").close());
window.addEventListener("popstate", () => session.get() && show(viewOf(location.pathname)));

if (session.get()) start();
else signOut("");

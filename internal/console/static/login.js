// Petrel console login: posts the user and password, then opens the console.
"use strict";

document.getElementById("login").addEventListener("submit", async ev => {
  ev.preventDefault();
  const msg = document.getElementById("login-error");
  msg.textContent = "";
  try {
    const resp = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: document.getElementById("user").value, password: document.getElementById("password").value }) });
    const data = await resp.json();
    if (!resp.ok) { msg.textContent = data.error || resp.statusText; msg.setAttribute("data-done", "1"); return; }
    location.href = "/" + location.hash; // back to the page asked for
  } catch (err) { msg.textContent = err.message; msg.setAttribute("data-done", "1"); }
});
